import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { composeSession, type CompositeOptions } from '../compose/index.js';
import type { RoomRecordingConfig, WebhookConfig } from '../config/room-config.js';
import type { FfmpegBinaries } from '../ffmpeg/index.js';
import { finaliseStream, listSessionStreams, type MuxOptions } from '../mux/index.js';
import type { RecordingDelivery } from '../notify/delivery.js';
import { sessionPaths, type SessionManifest } from '../spool/layout.js';
import { listSubdirectories } from '../spool/list.js';
import type { RecordingMetadata, UploadDestination } from '../storage/upload-destination.js';
import { readTimeline, TimelineWriter } from '../timeline/timeline-file.js';
import type { RecorderErrorContext, RecordingFinalisedInfo, SessionEmptyInfo, SessionFinalisedInfo } from './events.js';
import { writeManifest } from './recording-session.js';

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
  error(error: Error, context: RecorderErrorContext): void;
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

  /** Queues a session directory for finalisation; resolves when it is done. */
  enqueue(sessionDir: string): Promise<SessionFinalisedInfo | undefined> {
    if (this.#queued.has(sessionDir)) return Promise.resolve(undefined);
    this.#queued.add(sessionDir);
    const run = this.#chain.then(async () => {
      try {
        if (this.#paused) return undefined;
        return await this.#finalise(sessionDir);
      } finally {
        this.#queued.delete(sessionDir);
      }
    });
    this.#chain = run.catch(() => undefined);
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
    const manifest = readManifest(sessionDir);
    if (!manifest) return undefined;
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
    const signal = this.#abort.signal;
    const timeline = readTimeline(sessionPaths.timeline(sessionDir));
    // Each output is attempted on its own: one failing stream must not cost the others.
    const attempt = async (
      context: RecorderErrorContext,
      produce: () => Promise<RecordingFinalisedInfo | undefined>,
    ): Promise<void> => {
      try {
        const recording = await produce();
        if (!recording) return;
        info.recordings.push(recording);
        this.#listener.finalised(recording);
      } catch (error) {
        if (signal.aborted) throw error;
        const failure = asError(error);
        info.errors.push(failure);
        this.#listener.error(failure, context);
      }
    };
    const sessionContext = { roomId: manifest.roomId, sessionId: manifest.sessionId };
    for (const stream of listSessionStreams(sessionDir, timeline)) {
      await attempt({ ...sessionContext, peerId: stream.peerId, streamId: stream.streamId }, async () => {
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
          return undefined;
        }
        const finalised = result.stream;
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
      });
    }
    if (info.recordings.length === 0) {
      if (info.errors.length === 0) {
        const reason = info.skipped.length > 0 ? 'no stream had any media' : 'nobody published media';
        this.#listener.empty({ ...sessionContext, reason });
      }
    } else if (room.config.composite) {
      await attempt(sessionContext, async () => {
        const composite = await composeSession(sessionDir, {
          ...this.#options.compositeOptions,
          ffmpegPath: this.#binaries.ffmpegPath,
          ffprobePath: this.#binaries.ffprobePath,
          skipMissingSources: true,
          signal,
        });
        return {
          recordingType: 'composite',
          ...sessionContext,
          file: composite.file,
          startedAt: composite.startedAt,
          stoppedAt: composite.endedAt,
          durationMs: composite.durationMs,
          sizeBytes: composite.sizeBytes,
          codecs: { video: composite.video.codec, audio: composite.audio.codec },
        };
      });
    }
    for (const recording of info.recordings) {
      // Individual files feed the composite, so they are handed to storage only now;
      // with individual recording switched off they are not stored, and their spool
      // copy goes (the journals stay, so `sfu-recorder compose` can make them again).
      if (recording.recordingType === 'individual' && !room.config.individual) {
        if (info.errors.length === 0) rmSync(recording.file, { force: true });
        continue;
      }
      await this.#delivery.deliver({
        file: recording.file,
        metadata: metadataOf(recording, manifest.startedAt),
        destination: room.destination,
        ...(room.config.webhook ? { webhook: room.config.webhook } : {}),
        retention: room.config.retention,
      });
    }
    // A session with failures stays `ended`, so the next start (or recover()) tries again.
    if (info.errors.length === 0) writeManifest(sessionDir, { ...manifest, state: 'finalised' });
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

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
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


function readManifest(dir: string): SessionManifest | undefined {
  try {
    return JSON.parse(readFileSync(sessionPaths.manifest(dir), 'utf8')) as SessionManifest;
  } catch {
    return undefined;
  }
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
  const writer = new TimelineWriter(timelinePath);
  writer.append({ type: 'session-ended', at: lastWrite, reason: 'recovered' });
  writer.close();
}

function safeReaddirFiles(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
