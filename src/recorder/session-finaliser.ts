import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { composeSession, type CompositeOptions } from '../compose/index.js';
import type { RoomRecordingConfig, WebhookConfig } from '../config/room-config.js';
import type { FfmpegBinaries } from '../ffmpeg/index.js';
import { isNoSpaceError, SfuRecorderError, toSfuRecorderError } from '../errors.js';
import { finaliseStream, listSessionStreams, type FinalisedStream, type MuxOptions } from '../mux/index.js';
import type { RecordingDelivery } from '../notify/delivery.js';
import { sessionPaths, type SessionManifest, type SessionOutputRecord } from '../spool/layout.js';
import { readManifest, writeManifest } from '../spool/manifest.js';
import { listSubdirectories } from '../spool/list.js';
import type { RecordingMetadata, UploadDestination } from '../storage/upload-destination.js';
import { readTimeline, TimelineWriter } from '../timeline/timeline-file.js';
import type { RecorderErrorContext, RecordingFinalisedInfo, SessionEmptyInfo, SessionFinalisedInfo } from './events.js';

/** Finalisation runs a session gets before its failing outputs are given up on. */
const MAX_FINALISE_ATTEMPTS = 3;
const COMPOSITE_OUTPUT = 'composite';

/** How individual and composite files are produced. */
export interface FinaliseOptions {
  /** Options for individual files (output size, gap fill, paused time, encoder). */
  individualOptions?: Omit<MuxOptions, 'ffmpeg'>;
  /** Options for the composite (layout, size, frame rate, encoder). */
  compositeOptions?: Omit<CompositeOptions, 'ffmpegPath' | 'ffprobePath' | 'outFile'>;
}

/** How a room's files are stored, as registered by `enableRoom()`. */
interface RoomDelivery {
  config: RoomRecordingConfig;
  destination: UploadDestination;
}

/** Where the finaliser reports. */
export interface FinaliserListener {
  finalised(info: RecordingFinalisedInfo): void;
  sessionFinalised(info: SessionFinalisedInfo): void;
  empty(info: SessionEmptyInfo): void;
  error(error: SfuRecorderError, context: RecorderErrorContext): void;
}

/**
 * Turns ended sessions into files, one session at a time so that finalisation
 * never competes with live calls for more than one core's worth of ffmpeg.
 */
export class SessionFinaliser {
  readonly #spoolDir: string;
  readonly #binaries: FfmpegBinaries;
  readonly #options: FinaliseOptions;
  readonly #listener: FinaliserListener;
  readonly #delivery: RecordingDelivery;
  readonly #defaultDestination: UploadDestination;
  readonly #defaultWebhook: WebhookConfig | undefined;
  readonly #rooms = new Map<string, RoomDelivery>();
  /** Finalised sessions whose room (and so its storage credentials) is not known yet. */
  readonly #awaitingRoom = new Map<string, string[]>();
  readonly #queued = new Set<string>();
  #chain: Promise<unknown> = Promise.resolve();
  #paused = false;
  readonly #abort = new AbortController();

  constructor(
    spoolDir: string,
    binaries: FfmpegBinaries,
    options: FinaliseOptions,
    delivery: RecordingDelivery,
    defaultDestination: UploadDestination,
    defaultWebhook: WebhookConfig | undefined,
    listener: FinaliserListener,
  ) {
    this.#defaultWebhook = defaultWebhook;
    this.#spoolDir = spoolDir;
    this.#delivery = delivery;
    this.#defaultDestination = defaultDestination;
    this.#binaries = binaries;
    this.#options = options;
    this.#listener = listener;
  }

  /**
   * Tells the finaliser where a room's files go. Sessions recovered before the room
   * was enabled again (their storage credentials are never written to disk) are
   * finalised now.
   */
  registerRoom(roomId: string, config: RoomRecordingConfig, destination: UploadDestination): void {
    this.#rooms.set(roomId, { config, destination });
    this.#delivery.registerDestination(destination);
    if (config.webhook) this.#delivery.registerWebhook(config.webhook);
    const waiting = this.#awaitingRoom.get(roomId) ?? [];
    this.#awaitingRoom.delete(roomId);
    for (const dir of waiting) void this.enqueue(dir);
  }

  /**
   * Queues a session directory for finalisation; resolves when it is done. Never
   * rejects: every failure reaches the listener's `error` with the session named, and
   * the session's `sessionFinalised` still comes.
   */
  enqueue(sessionDir: string): Promise<SessionFinalisedInfo | undefined> {
    if (this.#queued.has(sessionDir)) return Promise.resolve(undefined);
    this.#queued.add(sessionDir);
    const run = this.#chain.then(async () => {
      try {
        if (this.#paused) return undefined;
        return await this.#finalise(sessionDir);
      } catch (error) {
        return this.#unexpectedFailure(sessionDir, error);
      } finally {
        this.#queued.delete(sessionDir);
      }
    });
    this.#chain = run;
    return run;
  }

  /** Finalises every session in the spool that is not live and not yet finalised. */
  async recover(liveSessionIds: Set<string>): Promise<SessionFinalisedInfo[]> {
    const results: SessionFinalisedInfo[] = [];
    const pending: Array<Promise<SessionFinalisedInfo | undefined>> = [];
    for (const dir of listSessionDirs(this.#spoolDir)) {
      const manifest = readManifest(dir);
      if (!manifest || manifest.state === 'finalised' || liveSessionIds.has(manifest.sessionId)) continue;
      pending.push(this.enqueue(dir));
    }
    for (const result of await Promise.all(pending)) if (result) results.push(result);
    return results;
  }

  whenIdle(): Promise<void> {
    return this.#chain.then(() => undefined);
  }

  /** Stops taking new work; queued sessions stay in the spool for the next start. */
  pause(): void {
    this.#paused = true;
  }

  async close(): Promise<void> {
    this.#paused = true;
    this.#abort.abort();
    await this.#chain;
  }

  async #finalise(sessionDir: string): Promise<SessionFinalisedInfo | undefined> {
    const found = readManifest(sessionDir);
    if (!found) {
      throw new SfuRecorderError('ERR_FINALISE_FAILED', `${sessionPaths.manifest(sessionDir)} is missing or not JSON`);
    }
    let manifest: SessionManifest = found;
    const room = this.#roomFor(manifest);
    if (!room) {
      // The session stored to a configured upload whose credentials only the
      // application holds: wait until it enables the room again.
      const waiting = this.#awaitingRoom.get(manifest.roomId) ?? [];
      if (!waiting.includes(sessionDir)) waiting.push(sessionDir);
      this.#awaitingRoom.set(manifest.roomId, waiting);
      return undefined;
    }
    closeTimelineAfterCrash(sessionDir);
    const info: SessionFinalisedInfo = {
      roomId: manifest.roomId,
      sessionId: manifest.sessionId,
      dir: sessionDir,
      recordings: [],
      skipped: [],
      errors: [],
    };
    const outputs: Record<string, SessionOutputRecord> = { ...manifest.outputs };
    const save = (changes: Partial<SessionManifest>): void => {
      manifest = { ...manifest, ...changes, outputs };
      writeManifest(sessionDir, manifest);
    };
    const signal = this.#abort.signal;
    const timeline = readTimeline(sessionPaths.timeline(sessionDir));
    const sessionContext = { roomId: manifest.roomId, sessionId: manifest.sessionId };
    const fail = (error: unknown, context: RecorderErrorContext, what: string): void => {
      const failure = toSfuRecorderError(error, 'ERR_FINALISE_FAILED', what);
      info.errors.push(failure);
      this.#listener.error(failure, context);
    };
    const wantComposite = room.config.composite && !isSettled(outputs[COMPOSITE_OUTPUT]);
    /** Finalised now, to be handed to storage. */
    const fresh: Array<{ output: string; recording: RecordingFinalisedInfo }> = [];
    let compositeSources = 0;
    // Each output is attempted on its own: one failing stream must not cost the others.
    for (const stream of listSessionStreams(sessionDir, timeline)) {
      const output = individualOutput(stream.peerId, stream.streamId);
      const context = { ...sessionContext, peerId: stream.peerId, streamId: stream.streamId };
      const settled = outputs[output];
      if (isSettled(settled)) {
        // Stored by an earlier run: made again only if the composite still needs it.
        if (settled.state === 'skipped' || !wantComposite) continue;
        if (existsSync(sessionPaths.streamResult(sessionDir, stream.peerId, stream.streamId))) {
          compositeSources++;
          continue;
        }
      }
      try {
        const result = await finaliseStream({
          sessionDir,
          peerId: stream.peerId,
          streamId: stream.streamId,
          timeline,
          options: { ...this.#options.individualOptions, ffmpeg: this.#binaries },
          signal,
        });
        if (result.status === 'empty') {
          info.skipped.push({ peerId: stream.peerId, streamId: stream.streamId, reason: result.reason });
          outputs[output] = { state: 'skipped', reason: result.reason };
          continue;
        }
        compositeSources++;
        if (isSettled(settled)) continue;
        const recording = individualRecording(result.stream, sessionContext);
        // The file is made without media that could not be used: said in the event and as an error.
        if (result.dropped.length > 0) recording.dropped = result.dropped.map(({ kind, reason }) => ({ kind, reason }));
        for (const dropped of result.dropped) this.#listener.error(dropped.error, context);
        info.recordings.push(recording);
        this.#listener.finalised(recording);
        fresh.push({ output, recording });
      } catch (error) {
        if (signal.aborted) return undefined;
        fail(error, context, `finalising stream ${stream.streamId} of peer ${stream.peerId}`);
      }
    }
    // A composite made without a stream that failed would never get it back: wait for
    // the next attempt, unless this is the last one (then it shows what there is).
    const lastAttempt = (manifest.failedAttempts ?? 0) + 1 >= MAX_FINALISE_ATTEMPTS;
    const streamsFailed = info.errors.length > 0;
    if (wantComposite && compositeSources > 0 && (!streamsFailed || lastAttempt)) {
      try {
        const composite = await composeSession(sessionDir, {
          ...this.#options.compositeOptions,
          ffmpegPath: this.#binaries.ffmpegPath,
          ffprobePath: this.#binaries.ffprobePath,
          skipMissingSources: true,
          signal,
        });
        const recording: RecordingFinalisedInfo = {
          recordingType: 'composite',
          ...sessionContext,
          file: composite.file,
          startedAt: composite.startedAt,
          stoppedAt: composite.endedAt,
          durationMs: composite.durationMs,
          sizeBytes: composite.sizeBytes,
          codecs: { video: composite.video.codec, audio: composite.audio.codec },
        };
        info.recordings.push(recording);
        this.#listener.finalised(recording);
        fresh.push({ output: COMPOSITE_OUTPUT, recording });
      } catch (error) {
        if (signal.aborted) return undefined;
        fail(error, sessionContext, 'composing the session');
      }
    }
    if (info.recordings.length === 0 && info.errors.length === 0 && !hasDelivered(outputs)) {
      const reason = info.skipped.length > 0 ? 'no stream had any media' : 'nobody published media';
      this.#listener.empty({ ...sessionContext, reason });
    }
    for (const { output, recording } of fresh) {
      // Individual files feed the composite, so they are handed to storage only now;
      // with individual recording switched off they are not stored, and their spool
      // copy goes (the journals stay, so `sfu-recorder compose` can make them again).
      if (recording.recordingType === 'individual' && !room.config.individual) {
        outputs[output] = { state: 'skipped', reason: 'individual recording is off' };
        if (info.errors.length === 0) rmSync(recording.file, { force: true });
        continue;
      }
      const context: RecorderErrorContext = {
        ...sessionContext,
        ...(recording.peerId !== undefined ? { peerId: recording.peerId } : {}),
        ...(recording.streamId !== undefined ? { streamId: recording.streamId } : {}),
      };
      try {
        const key = await this.#delivery.deliver({
          file: recording.file,
          metadata: metadataOf(recording, manifest.startedAt),
          destination: room.destination,
          ...(room.config.webhook ? { webhook: room.config.webhook } : {}),
          retention: room.config.retention,
        });
        outputs[output] = { state: 'delivered', key };
        // Saved at once: a crash after this point must not hand the file over again.
        save({});
      } catch (error) {
        if (signal.aborted) return undefined;
        fail(error, context, `handing ${basename(recording.file)} to storage`);
      }
    }
    if (info.errors.length === 0) {
      save({ state: 'finalised' });
    } else if (!info.errors.every(isTransient)) {
      // A session with failures stays `ended`, so the next start (or recover()) tries
      // again, up to a limit: a failure that repeats every time is given up on, recorded.
      const failedAttempts = (manifest.failedAttempts ?? 0) + 1;
      if (failedAttempts >= MAX_FINALISE_ATTEMPTS) {
        const gaveUp = new SfuRecorderError(
          'ERR_FINALISE_GAVE_UP',
          `session ${manifest.sessionId} of room ${manifest.roomId}: gave up after ${failedAttempts} attempts; last errors: ${info.errors.map((e) => (e as { shortMessage?: string }).shortMessage ?? e.message).join('; ')}`,
        );
        for (const stream of listSessionStreams(sessionDir, timeline)) {
          const output = individualOutput(stream.peerId, stream.streamId);
          if (!isSettled(outputs[output])) outputs[output] = { state: 'failed', error: { code: gaveUp.code, message: gaveUp.message } };
        }
        if (room.config.composite && !isSettled(outputs[COMPOSITE_OUTPUT]) && (compositeSources > 0 || hasDelivered(outputs))) {
          outputs[COMPOSITE_OUTPUT] = { state: 'failed', error: { code: gaveUp.code, message: gaveUp.message } };
        }
        this.#listener.error(gaveUp, sessionContext);
        save({ state: 'finalised', failedAttempts });
      } else {
        save({ failedAttempts });
      }
    }
    this.#listener.sessionFinalised(info);
    return info;
  }

  /** An error outside any one output (unreadable spool, a full disk): reported, and the session ends its turn. */
  #unexpectedFailure(sessionDir: string, error: unknown): SessionFinalisedInfo | undefined {
    if (this.#abort.signal.aborted) return undefined;
    const manifest = readManifest(sessionDir);
    const [roomId, sessionId] = manifest
      ? [manifest.roomId, manifest.sessionId]
      : [basename(dirname(sessionDir)), basename(sessionDir)];
    const failure = toSfuRecorderError(error, 'ERR_FINALISE_FAILED', `finalising session ${sessionId} of room ${roomId}`);
    const info: SessionFinalisedInfo = { roomId, sessionId, dir: sessionDir, recordings: [], skipped: [], errors: [failure] };
    this.#listener.error(failure, { roomId, sessionId });
    this.#listener.sessionFinalised(info);
    return info;
  }

  #roomFor(manifest: SessionManifest): RoomDelivery | undefined {
    const registered = this.#rooms.get(manifest.roomId);
    if (registered) return registered;
    // Without a configured upload the session went to the default storage, which
    // needs nothing from the application; individual and composite come from the manifest.
    if (manifest.options.upload !== undefined) return undefined;
    return {
      config: {
        individual: manifest.options.individual !== false,
        composite: manifest.options.composite !== false,
        retention: { keepUploadedFiles: false },
        ...(this.#defaultWebhook ? { webhook: this.#defaultWebhook } : {}),
      },
      destination: this.#defaultDestination,
    };
  }
}

/** A failure that says nothing about the session itself: it is retried without counting an attempt. */
function isTransient(error: SfuRecorderError): boolean {
  return error.code === 'ERR_SPOOL_FULL' || error.code === 'ERR_CANCELED' || isNoSpaceError(error);
}

function isSettled(record: SessionOutputRecord | undefined): record is SessionOutputRecord {
  return record !== undefined;
}

function hasDelivered(outputs: Record<string, SessionOutputRecord>): boolean {
  return Object.values(outputs).some((o) => o.state === 'delivered');
}

function individualOutput(peerId: string, streamId: string): string {
  return `individual:${peerId}/${streamId}`;
}

function individualRecording(
  finalised: FinalisedStream,
  sessionContext: { roomId: string; sessionId: string },
): RecordingFinalisedInfo {
  return {
    recordingType: 'individual',
    ...sessionContext,
    peerId: finalised.peerId,
    streamId: finalised.streamId,
    file: finalised.file,
    startedAt: finalised.startedAt,
    stoppedAt: finalised.endedAt,
    durationMs: finalised.durationMs,
    sizeBytes: finalised.sizeBytes,
    codecs: {
      ...(finalised.video ? { video: finalised.video.codec } : {}),
      ...(finalised.audio ? { audio: finalised.audio.codec } : {}),
    },
  };
}


function metadataOf(recording: RecordingFinalisedInfo, sessionStartedAt: number): RecordingMetadata {
  return {
    recordingType: recording.recordingType,
    roomId: recording.roomId,
    sessionId: recording.sessionId,
    ...(recording.peerId !== undefined ? { peerId: recording.peerId } : {}),
    ...(recording.streamId !== undefined ? { streamId: recording.streamId } : {}),
    sessionStartedAt,
    startedAt: recording.startedAt,
    stoppedAt: recording.stoppedAt,
    durationMs: recording.durationMs,
    sizeBytes: recording.sizeBytes,
    codecs: recording.codecs,
  };
}

/** `<spool>/<room>/<session>` directories that hold a `session.json`. */
function listSessionDirs(spoolDir: string): string[] {
  const dirs: string[] = [];
  for (const room of listSubdirectories(spoolDir)) {
    for (const session of listSubdirectories(join(spoolDir, room))) {
      const dir = join(spoolDir, room, session);
      if (existsSync(sessionPaths.manifest(dir))) dirs.push(dir);
    }
  }
  return dirs;
}

/**
 * A session whose process died has no `session-ended`: close it at the moment the
 * last packet was written (the newest journal's mtime), so its duration is what
 * was captured, not the time the recorder was down.
 */
function closeTimelineAfterCrash(sessionDir: string): void {
  const timelinePath = sessionPaths.timeline(sessionDir);
  if (!existsSync(timelinePath)) return;
  const timeline = readTimeline(timelinePath);
  if (timeline.complete) return;
  let lastWrite = Math.max(0, ...timeline.events.map((e) => e.at));
  const tracksDir = sessionPaths.tracksDir(sessionDir);
  for (const name of safeReaddirFiles(tracksDir)) {
    lastWrite = Math.max(lastWrite, statSync(join(tracksDir, name)).mtimeMs);
  }
  let failure: Error | undefined;
  const writer = new TimelineWriter(timelinePath, { onWriteError: (error) => (failure = error) });
  writer.append({ type: 'session-ended', at: lastWrite, reason: 'recovered' });
  writer.close();
  if (failure) throw toSfuRecorderError(failure, 'ERR_FINALISE_FAILED', `closing the timeline of ${sessionDir}`);
}

function safeReaddirFiles(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
