import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { copyFileSync, existsSync, linkSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import type { CompositeOptions, CompositeResult } from '../compose/index.js';
import { runCompositeJobs } from '../jobs/composite-jobs.js';
import type { JobRunner } from '../jobs/runner.js';
import type { JobResult, RecordingJob } from '../jobs/types.js';
import { SessionStatusBoard, type SessionJobsStatus } from './session-status.js';
import type { RoomRecordingConfig, WebhookConfig } from '../config/room-config.js';
import type { FfmpegBinaries } from '../ffmpeg/index.js';
import { isNoSpaceError, SfuRecorderError, toSfuRecorderError } from '../errors.js';
import { listSessionStreams, type FinalisedStream, type MuxOptions } from '../mux/index.js';
import type { TimelineStream } from '../mux/streams.js';
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
 * Turns ended sessions into files: plans each into jobs (every stream at once, then the
 * composite's segments and join) and runs them on the {@link JobRunner}, as many sessions
 * at once as the runner takes (one in-process, so finalisation never takes more than the
 * machine's cores from the live calls), storing each file as soon as it is made.
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
  readonly #runner: JobRunner;
  readonly #status = new SessionStatusBoard();
  /** Sessions being finalised, and those waiting for a turn (at most the runner's `sessionConcurrency` run at once). */
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #turns: Array<() => void> = [];
  #running = 0;
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
    runner: JobRunner,
  ) {
    this.#runner = runner;
    // Every job of every session in flight listens to it.
    setMaxListeners(0, this.#abort.signal);
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
    const run = (async () => {
      await this.#turn();
      try {
        if (this.#paused) return undefined;
        return await this.#finalise(sessionDir);
      } catch (error) {
        return this.#unexpectedFailure(sessionDir, error);
      } finally {
        this.#queued.delete(sessionDir);
        this.#running--;
        this.#turns.shift()?.();
      }
    })();
    this.#inFlight.add(run);
    void run.finally(() => this.#inFlight.delete(run));
    return run;
  }

  /** Job state and progress of a session being finalised or finalised by this process. */
  status(sessionId: string): SessionJobsStatus | undefined {
    return this.#status.get(sessionId);
  }

  async #turn(): Promise<void> {
    while (this.#running >= Math.max(1, this.#runner.sessionConcurrency) && !this.#paused) {
      await new Promise<void>((resolve) => this.#turns.push(resolve));
    }
    this.#running++;
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

  async whenIdle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  /** Stops taking new work; queued sessions stay in the spool for the next start. */
  pause(): void {
    this.#paused = true;
  }

  async close(): Promise<void> {
    this.#paused = true;
    this.#abort.abort();
    for (const wake of this.#turns.splice(0)) wake();
    await this.whenIdle();
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
    const fail = (error: unknown, context: RecorderErrorContext, what: string): SfuRecorderError => {
      const failure = toSfuRecorderError(error, 'ERR_FINALISE_FAILED', what);
      info.errors.push(failure);
      this.#listener.error(failure, context);
      return failure;
    };
    /** Outputs whose job failed on every attempt its runner made: recorded and announced, not retried. */
    const givenUp = new Set<SfuRecorderError>();
    const giveUp = async (error: unknown, output: string, metadata: RecordingMetadata): Promise<boolean> => {
      if (!(error instanceof SfuRecorderError && error.code === 'ERR_JOB_FAILED')) return false;
      outputs[output] = { state: 'failed', error: { code: error.code, message: error.message } };
      save({});
      givenUp.add(error);
      try {
        await this.#delivery.announceFailure({
          metadata,
          destination: room.destination,
          ...(room.config.webhook ? { webhook: room.config.webhook } : {}),
          location: this.#runner.inputsLocation?.(manifest.roomId, manifest.sessionId) ?? sessionDir,
          error: { code: error.code, message: error.message },
        });
      } catch (announceError) {
        this.#listener.error(toSfuRecorderError(announceError, 'ERR_FINALISE_FAILED', `announcing the failure of ${output}`), sessionContext);
      }
      return true;
    };
    // A loop, not a spread: a long session's timeline has more events than a call takes arguments.
    const sessionEnd = timeline.events.reduce((latest, e) => Math.max(latest, e.at), manifest.startedAt);
    const wantComposite = room.config.composite && !isSettled(outputs[COMPOSITE_OUTPUT]);
    const attempt = manifest.failedAttempts ?? 0;
    const board = this.#status.begin(manifest.roomId, manifest.sessionId, this.#runner.name);
    const keepFiles = room.config.retention.keepUploadedFiles === true;
    /** Stream files delivered through a link while the composite still needed them: removed once it is settled. */
    const heldForComposite: string[] = [];
    let compositeSources = 0;
    const deliver = async (recording: RecordingFinalisedInfo, output: string, context: RecorderErrorContext): Promise<void> => {
      let file = recording.file;
      try {
        if (recording.recordingType === 'individual' && wantComposite && !keepFiles) {
          // Storage deletes what it was handed once stored; the composite still reads the stream.
          file = join(dirname(recording.file), `.deliver-${basename(recording.file)}`);
          rmSync(file, { force: true });
          try {
            linkSync(recording.file, file);
          } catch {
            copyFileSync(recording.file, file); // a file system without hard links
          }
          heldForComposite.push(recording.file);
        }
        const key = await this.#delivery.deliver({
          file,
          metadata: metadataOf(recording, manifest.startedAt),
          destination: room.destination,
          ...(room.config.webhook ? { webhook: room.config.webhook } : {}),
          retention: room.config.retention,
        });
        outputs[output] = { state: 'delivered', key };
        // Saved at once: a crash after this point must not hand the file over again.
        save({});
      } catch (error) {
        if (signal.aborted) return;
        fail(error, context, `handing ${basename(recording.file)} to storage`);
      }
    };

    // Each output is attempted on its own (one failing stream must not cost the others), all
    // streams at once (the runner bounds the work), and each is stored as soon as it is made.
    const finaliseOne = async (stream: TimelineStream): Promise<void> => {
      const output = individualOutput(stream.peerId, stream.streamId);
      const context = { ...sessionContext, peerId: stream.peerId, streamId: stream.streamId };
      const settled = outputs[output];
      if (isSettled(settled)) {
        // Stored by an earlier run: made again only if the composite still needs it.
        if (settled.state === 'skipped' || !wantComposite) return;
        if (existsSync(sessionPaths.streamResult(sessionDir, stream.peerId, stream.streamId))) {
          compositeSources++;
          return;
        }
      }
      try {
        const job = streamJob(manifest, attempt, sessionDir, stream, this.#options.individualOptions ?? {});
        const mp4 = relative(sessionDir, sessionPaths.streamFile(sessionDir, stream.peerId, stream.streamId));
        const json = relative(sessionDir, sessionPaths.streamResult(sessionDir, stream.peerId, stream.streamId));
        const storesFile = !isSettled(settled) && room.config.individual;
        const result = await this.#run(job, sessionDir, board, storesFile ? [json, mp4] : [json], signal);
        const outcome = result.stream ?? { status: 'empty', reason: 'the job reported no stream', dropped: [] };
        if (outcome.status === 'empty') {
          const reason = outcome.reason ?? 'no media';
          info.skipped.push({ peerId: stream.peerId, streamId: stream.streamId, reason });
          outputs[output] = { state: 'skipped', reason };
          return;
        }
        compositeSources++;
        if (isSettled(settled)) return;
        const recording = individualRecording(readStreamResult(sessionDir, stream), sessionContext);
        // The file is made without media that could not be used: said in the event and as an error.
        if (outcome.dropped.length > 0) recording.dropped = outcome.dropped;
        for (const dropped of outcome.dropped) this.#listener.error(new SfuRecorderError('ERR_MEDIA_UNUSABLE', dropped.reason), context);
        info.recordings.push(recording);
        this.#listener.finalised(recording);
        if (!room.config.individual) {
          // Made for the composite only: not stored; its spool copy goes once the composite is
          // settled (the journals stay, so `sfu-recorder compose` can make it again).
          outputs[output] = { state: 'skipped', reason: 'individual recording is off' };
          heldForComposite.push(recording.file);
          return;
        }
        await deliver(recording, output, context);
      } catch (error) {
        if (signal.aborted) return;
        const failure = fail(error, context, `finalising stream ${stream.streamId} of peer ${stream.peerId}`);
        await giveUp(failure, output, {
          recordingType: 'individual',
          ...sessionContext,
          peerId: stream.peerId,
          streamId: stream.streamId,
          sessionStartedAt: manifest.startedAt,
          startedAt: stream.startedAt,
          stoppedAt: stream.endedAt ?? sessionEnd,
          durationMs: Math.max(0, (stream.endedAt ?? sessionEnd) - stream.startedAt),
          sizeBytes: 0,
          codecs: {},
        });
      }
    };
    await Promise.all(listSessionStreams(sessionDir, timeline).map(finaliseOne));
    if (signal.aborted) return undefined;

    const compositeMetadata: RecordingMetadata = {
      recordingType: 'composite',
      ...sessionContext,
      sessionStartedAt: manifest.startedAt,
      startedAt: manifest.startedAt,
      stoppedAt: sessionEnd,
      durationMs: Math.max(0, sessionEnd - manifest.startedAt),
      sizeBytes: 0,
      codecs: { video: 'h264', audio: 'aac' },
    };
    if (wantComposite && compositeSources === 0 && givenUp.size > 0) {
      // Every stream's job failed for good: the composite has nothing to show, and says so.
      await giveUp([...givenUp][0], COMPOSITE_OUTPUT, compositeMetadata);
    }
    // A composite made without a stream that failed would never get it back: wait for
    // the next attempt, unless this is the last one (then it shows what there is).
    const lastAttempt = attempt + 1 >= MAX_FINALISE_ATTEMPTS;
    // A stream given up for good is not coming back: the composite goes on without it.
    const streamsFailed = info.errors.some((error) => !givenUp.has(error));
    if (wantComposite && compositeSources > 0 && (!streamsFailed || lastAttempt)) {
      try {
        const composite = await this.#compose(sessionDir, manifest, attempt, board, signal);
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
        await deliver(recording, COMPOSITE_OUTPUT, sessionContext);
      } catch (error) {
        if (signal.aborted) return undefined;
        const failure = fail(error, sessionContext, 'composing the session');
        await giveUp(failure, COMPOSITE_OUTPUT, compositeMetadata);
      }
    }
    if (info.recordings.length === 0 && info.errors.length === 0 && !hasDelivered(outputs)) {
      const reason = info.skipped.length > 0 ? 'no stream had any media' : 'nobody published media';
      this.#listener.empty({ ...sessionContext, reason });
    }
    // Stream files kept for the composite go once it is settled; while it is still to be
    // made (a stream failed), they stay for the next attempt.
    if (!room.config.composite || isSettled(outputs[COMPOSITE_OUTPUT]) || info.errors.length === 0) {
      if (!keepFiles || !room.config.individual) for (const file of heldForComposite) rmSync(file, { force: true });
    }
    if (info.errors.every((error) => givenUp.has(error))) {
      // Nothing left to try (an output whose job failed for good is recorded as failed).
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
    this.#status.finish(manifest.sessionId, info.errors.length === 0 ? 'finalised' : 'failed');
    if (this.#runner.release) {
      // Inputs stay staged while an output is still to be made or failed (a re-run needs them).
      const keepInputs = manifest.state !== 'finalised' || Object.values(outputs).some((o) => o.state === 'failed');
      await this.#runner
        .release(manifest.roomId, manifest.sessionId, { keepInputs })
        .catch((error: unknown) => this.#listener.error(toSfuRecorderError(error, 'ERR_JOB_FAILED', `releasing the staged files of session ${manifest.sessionId}`), sessionContext));
    }
    this.#listener.sessionFinalised(info);
    return info;
  }

  /** Runs one job on the runner, its state and progress on the session's board. */
  async #run(job: RecordingJob, sessionDir: string, board: string, returns: string[], signal: AbortSignal): Promise<JobResult> {
    const entry = this.#status.addJob(board, job);
    try {
      const result = await this.#runner.run(job, sessionDir, {
        signal,
        returns,
        onProgress: (progress) => this.#status.progress(entry, progress),
      });
      this.#status.done(entry, result);
      return result;
    } catch (error) {
      this.#status.failed(entry, error);
      throw error;
    }
  }

  /** The composite as jobs on the runner (see {@link runCompositeJobs}). */
  #compose(sessionDir: string, manifest: SessionManifest, attempt: number, board: string, signal: AbortSignal): Promise<CompositeResult> {
    return runCompositeJobs({
      sessionDir,
      runner: this.#runner,
      binaries: this.#binaries,
      ...(this.#options.compositeOptions ? { compositeOptions: this.#options.compositeOptions } : {}),
      jobId: (kind, what) => jobId(kind, sessionDir, manifest, attempt, what),
      run: (job, returns, jobSignal) => this.#run(job, sessionDir, board, returns, jobSignal),
      signal,
    });
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

/** The job that finalises one stream from its journals (and the timeline). */
function streamJob(
  manifest: SessionManifest,
  attempt: number,
  sessionDir: string,
  stream: TimelineStream,
  options: Omit<MuxOptions, 'ffmpeg'>,
): RecordingJob {
  const rel = (path: string) => relative(sessionDir, path);
  return {
    kind: 'finalise-stream',
    id: jobId('finalise-stream', sessionDir, manifest, attempt, { peerId: stream.peerId, streamId: stream.streamId, options }),
    roomId: manifest.roomId,
    sessionId: manifest.sessionId,
    peerId: stream.peerId,
    streamId: stream.streamId,
    inputs: [rel(sessionPaths.timeline(sessionDir)), ...stream.tracks.filter((t) => existsSync(t.journal)).map((t) => rel(t.journal))],
    outputs: [
      rel(sessionPaths.streamFile(sessionDir, stream.peerId, stream.streamId)),
      rel(sessionPaths.streamResult(sessionDir, stream.peerId, stream.streamId)),
    ],
    options,
  };
}

/**
 * A job id from what the job does: the same work of the same session and attempt gets the
 * same id (so a restarted host finds the job it queued before), other work another one.
 */
function jobId(kind: RecordingJob['kind'], sessionDir: string, manifest: SessionManifest, attempt: number, what: unknown): string {
  // The session directory too: a copy of a spool finalised elsewhere (or a second host
  // given the same ids) is other work, with other staged files.
  const hash = createHash('sha256')
    .update(JSON.stringify([kind, hostname(), sessionDir, manifest.roomId, manifest.sessionId, manifest.startedAt, attempt, what]))
    .digest('hex')
    .slice(0, 32);
  return `${kind}-${hash}`;
}

/** `stream.json` of a finalised stream, its `file` pointing into this spool (a worker wrote it elsewhere). */
function readStreamResult(sessionDir: string, stream: TimelineStream): FinalisedStream {
  const path = sessionPaths.streamResult(sessionDir, stream.peerId, stream.streamId);
  const result = JSON.parse(readFileSync(path, 'utf8')) as FinalisedStream;
  const file = sessionPaths.streamFile(sessionDir, stream.peerId, stream.streamId);
  if (result.file !== file) {
    const fixed = { ...result, file };
    writeFileSync(`${path}.tmp`, `${JSON.stringify(fixed, null, 2)}\n`);
    renameSync(`${path}.tmp`, path);
    return fixed;
  }
  return result;
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
  let lastWrite = timeline.events.reduce((latest, e) => Math.max(latest, e.at), 0);
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
