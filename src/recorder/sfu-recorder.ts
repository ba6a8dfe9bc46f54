import { accessSync, constants, mkdirSync, statfsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { types as ms } from 'mediasoup';
import type { Logger } from '../config/logger.js';
import {
  validateRoomRecordingConfig,
  validateWebhookConfig,
  type RoomRecordingConfig,
  type RoomRecordingConfigInput,
  type WebhookConfigInput,
} from '../config/room-config.js';
import { assertSafeId } from '../config/ids.js';
import { validateRecorderOptions, type ResolvedRecorderOptions } from '../config/recorder-options.js';
import { EnhancedEventEmitter } from '../enhanced-events.js';
import { closedError, SfuRecorderError, toSfuRecorderError } from '../errors.js';
import { resolveFfmpegBinaries, runFfmpeg, type FfmpegBinaries } from '../ffmpeg/index.js';
import {
  RecordingDelivery,
  type RecordingDeliveryOptions,
  type RecordingFailedEvent,
  type RecordingStoredEvent,
  type WebhookDeliveredEvent,
  type WebhookFailedEvent,
} from '../notify/delivery.js';
import { createUploadDestination } from '../storage/destinations.js';
import { LocalStorage, type LocalStorageOptions } from '../storage/local-storage.js';
import type { UploadDestination } from '../storage/upload-destination.js';
import type {
  RecorderErrorContext,
  RecordingFinalisedInfo,
  SessionEmptyInfo,
  SessionEndedInfo,
  SessionFinalisedInfo,
  SessionStartedInfo,
  StreamRef,
} from './events.js';
import { identifyFromAppData, type IdentifyProducer } from './identity.js';
import type { RecordingSession } from './recording-session.js';
import { listenerError, RoomRecorder, type RoomHost } from './room-recorder.js';
import { SessionFinaliser, type FinaliseOptions } from './session-finaliser.js';
import type { SessionJobsStatus } from './session-status.js';
import type { Redis } from 'ioredis';
import { BullMqJobRunner } from '../jobs/bullmq-runner.js';
import { InProcessJobRunner } from '../jobs/in-process.js';
import type { JobRunner } from '../jobs/runner.js';
import { stagingFromConfig, validateStagingConfig, DirectoryStaging, type StagingConfigInput, type StagingStore } from '../jobs/staging/index.js';
import { SpoolLock } from '../spool/lock.js';
import { sweepSpool } from '../spool/sweep.js';
import { CaptureThread } from '../capture/capture-socket.js';

/** Options of {@link SfuRecorder.create}. */
export interface SfuRecorderOptions extends FinaliseOptions {
  /**
   * Where captures, timelines and finished files wait until they are stored.
   * Default `./sfu-recorder/spool`. Must be writable; keep it on a disk that survives restarts.
   */
  spoolDir?: string;
  /** Which ffmpeg/ffprobe to run; default the ones `@ffmpeg-installer` ships. */
  ffmpegPath?: string;
  ffprobePath?: string;
  /** How long a session waits after the last peer left before it ends. Default 30 000 ms. */
  gracePeriodMs?: number;
  /**
   * How long a peer whose transports all closed may come back on a new transport (a
   * browser reconnecting after a network change) and continue the same stream files,
   * the time between filled as a gap. A later return starts new files. Default 5000 ms;
   * 0 ends a peer's streams as soon as its last transport closes.
   */
  reconnectWindowMs?: number;
  /** Maps producers to peers and streams; default {@link identifyFromAppData}. */
  identifyProducer?: IdentifyProducer;
  /** Generates session ids; default random UUIDs. */
  newSessionId?: () => string;
  /**
   * Finalise sessions left in the spool by a previous process (crash, `kill -9`)
   * right after `create()`, and resume their uploads and webhooks. Default true.
   */
  recoverOnStart?: boolean;
  /**
   * The default storage, used by rooms without `recording.upload`: a {@link LocalStorage}
   * or its options. Default: a local directory `./sfu-recorder/recordings`. Serve its
   * signed URLs with `recorder.defaultStorage.listen()` or `createSignedUrlHandler()`.
   */
  defaultStorage?: LocalStorage | LocalStorageOptions;
  /** A custom storage for rooms without `recording.upload`, instead of the local default. */
  destination?: UploadDestination;
  /** Webhook for rooms whose configuration names none. */
  webhook?: WebhookConfigInput;
  /** Retry budgets and upload concurrency of storage and webhooks. */
  delivery?: Pick<RecordingDeliveryOptions, 'uploadRetry' | 'webhookRetry' | 'uploadConcurrency'>;
  /** Receives the recorder's log lines (never credentials). Default: silent. */
  logger?: Logger;
  /**
   * How long a finalised session's spool directory (capture journals, timeline,
   * finalised streams) is kept, so that `sfu-recorder compose` can re-run on it. Files
   * still waiting for their upload are always kept. Default 24 hours; `Infinity` keeps
   * everything.
   */
  keepSessionsMs?: number;
  /**
   * Where the work after a call runs. Default: in this process (today's behaviour, one
   * session at a time). `{ redis: 'redis://…' }` scales out on BullMQ: `sfu-recorder worker`
   * processes on any machine take the jobs, inputs staged in `staging`. `{ runner }` plugs
   * in a backend of yours (see {@link JobRunner}).
   */
  jobs?: JobsOptions;
}

/** Options of {@link SfuRecorder.enableRoom}. */
export interface EnableRoomOptions {
  /** Your room id; it becomes a segment of every storage key. */
  roomId: string;
  /** The room's mediasoup router. */
  router: ms.Router;
  /** The room's recording configuration (validated now; errors name the field). */
  recording?: RoomRecordingConfigInput;
  /** A custom storage for this room, used when `recording.upload` is absent. */
  destination?: UploadDestination;
}

/** The spool's disk is full: captures wait in memory, finalisation waits; nothing is lost that fits. */
export interface SpoolFullInfo {
  spoolDir: string;
  /** Epoch ms. */
  at: number;
  error: SfuRecorderError;
}

/** The spool has space again: captures are written again and waiting sessions are finalised. */
export interface SpoolAvailableInfo {
  spoolDir: string;
  /** Epoch ms. */
  at: number;
  /** How long the disk was full. */
  fullForMs: number;
}

/** Typed events of {@link SfuRecorder}. */
export interface SfuRecorderEvents {
  sessionstarted: [SessionStartedInfo];
  sessionended: [SessionEndedInfo];
  streamstarted: [StreamRef];
  streamstopped: [StreamRef];
  /** A recording file is complete in the spool (before storage). */
  recordingfinalised: [RecordingFinalisedInfo];
  /** Finalisation of a session is over (every file finalised, or failed). */
  sessionfinalised: [SessionFinalisedInfo];
  /** A session had no media: no file was produced. */
  sessionempty: [SessionEmptyInfo];
  /** A recording is stored and confirmed; carries its location and (signed) URL. */
  recordingstored: [RecordingStoredEvent];
  /** A recording could not be stored after its retry budget; the file is kept in the spool. */
  recordingfailed: [RecordingFailedEvent];
  /** A webhook about a recording was accepted (2xx) by its receiver; carries the recording's key, room and session. */
  webhookdelivered: [WebhookDeliveredEvent];
  /** A webhook about a recording was given up (a final answer, or its retry budget spent). */
  webhookfailed: [WebhookFailedEvent];
  /** The spool's disk is full (see {@link SfuRecorder.spoolFull}). */
  spoolfull: [SpoolFullInfo];
  /** The spool's disk has space again. */
  spoolavailable: [SpoolAvailableInfo];
  /**
   * Something went wrong; the context names the room, session, peer or stream. The
   * recorder goes on: every error is also a state it recovers from (or reports as given up).
   */
  error: [SfuRecorderError, RecorderErrorContext];
}

/** Events of {@link SfuRecorder.observer}. */
export interface SfuRecorderObserverEvents {
  close: [];
  newroom: [RoomRecorder];
}

/** What {@link SfuRecorder.sessionStatus} says about a session. */
export type SessionStatus = SessionJobsStatus | (Omit<SessionJobsStatus, 'state'> & { state: 'recording' });

function isStagingStore(value: unknown): value is StagingStore {
  return typeof (value as StagingStore | undefined)?.put === 'function' && typeof (value as StagingStore).get === 'function';
}

/** {@link SfuRecorderOptions.jobs}. */
export interface JobsOptions {
  /** A job runner of yours (a third backend); the recorder does not close it. Not with `redis`. */
  runner?: JobRunner;
  /** Scale out on BullMQ: `redis://[:password@]host:port[/db]` or an ioredis connection of yours. */
  redis?: string | Redis;
  /**
   * Where job inputs are staged for the workers and their outputs come back: an S3 bucket
   * (`{ type: 's3', location, prefix, options: { region, endpoint }, credentials }`), a
   * directory every process sees (`{ type: 'directory', path }`), or a store of yours.
   * Default with `redis`: `<defaultStorage root>/.staging`, for workers on this machine.
   */
  staging?: StagingConfigInput | StagingStore;
  /** BullMQ queue name; workers must use the same. Default `sfu-recorder`. */
  queueName?: string;
  /** Runs of a job before it fails for good. Default 3. */
  attempts?: number;
  /** In-process: jobs at once. Default `compositeOptions.concurrency`, else the number of cores. */
  concurrency?: number;
}

/** How often a full spool is checked for space again, at first and at most. */
const SPOOL_FULL_POLL_MS = 2000;
const SPOOL_FULL_MAX_POLL_MS = 5 * 60_000;
/** Free space below which the spool still counts as full. */
const SPOOL_MIN_FREE_BYTES = 1024 * 1024;

/**
 * Records calls on a mediasoup SFU. Create one per process, enable recording per
 * room with {@link SfuRecorder.enableRoom}, and listen for events.
 *
 * No listener of yours can break the recorder: one that throws (or rejects) is
 * reported as an `error` with code `ERR_LISTENER`, and everything after the event
 * happens as usual.
 *
 * @example
 * ```ts
 * const recorder = await SfuRecorder.create({ spoolDir: '/var/spool/sfu-recorder' });
 * recorder.on('recordingstored', (r) => console.log(r.url));
 * await recorder.enableRoom({ roomId, router, recording: { upload: { type: 's3', location: 'bucket' } } });
 * ```
 */
export class SfuRecorder extends EnhancedEventEmitter<SfuRecorderEvents> {
  readonly spoolDir: string;
  readonly binaries: FfmpegBinaries;
  /** The local storage used by rooms without an upload configuration (unless `destination` replaces it). */
  readonly defaultStorage: LocalStorage;
  /** Events for monitoring: `close`, `newroom`. */
  readonly observer = new EnhancedEventEmitter<SfuRecorderObserverEvents>();
  readonly #delivery: RecordingDelivery;
  readonly #defaultDestination: UploadDestination;
  readonly #defaultWebhook: RoomRecordingConfig['webhook'];
  readonly #keepSessionsMs: number;
  readonly #logger: Logger;
  readonly #lock: SpoolLock;
  #captureThread: CaptureThread;
  #sweepTimer: NodeJS.Timeout | undefined;
  readonly #rooms = new Map<string, RoomRecorder>();
  /** Destinations the recorder built from room configurations (S3 clients): it closes them. */
  readonly #ownedDestinations = new Set<UploadDestination>();
  /** True when the recorder built the default storage itself (and so stops its servers). */
  readonly #ownsDefaultStorage: boolean;
  readonly #finaliser: SessionFinaliser;
  readonly #runner: JobRunner;
  /** Runner and staging store the recorder built (and so closes). */
  readonly #ownedJobParts: Array<{ close(): Promise<void> }> = [];
  readonly #host: RoomHost;
  /** Ended sessions whose timeline or manifest still wait for disk space. */
  readonly #unwritten = new Set<RecordingSession>();
  #spoolFull: { since: number; timer: NodeJS.Timeout } | undefined;
  /** How often a full spool is checked; doubled when the disk fills again soon after it had space. */
  #spoolPollMs = SPOOL_FULL_POLL_MS;
  #spoolAvailableAt = Number.NEGATIVE_INFINITY;
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(options: ResolvedRecorderOptions, spoolDir: string, binaries: FfmpegBinaries, lock: SpoolLock) {
    super();
    this.spoolDir = spoolDir;
    this.binaries = binaries;
    this.#lock = lock;
    this.#logger = options.logger ?? {};
    const onListenerError = (error: unknown, eventName: string): void => {
      const failure = listenerError(error, eventName);
      // A throwing `error` listener can only be logged: emitting again would loop.
      if (eventName === 'error') this.#logger.error?.(failure.message, { code: failure.code });
      else this.emit('error', failure, {});
    };
    this.setListenerErrorHandler(onListenerError);
    this.observer.setListenerErrorHandler(onListenerError);
    this.#ownsDefaultStorage = !(options.defaultStorage instanceof LocalStorage);
    this.defaultStorage =
      options.defaultStorage instanceof LocalStorage
        ? options.defaultStorage
        : new LocalStorage(options.defaultStorage ?? { root: resolve('sfu-recorder/recordings') });
    this.#defaultDestination = options.destination ?? this.defaultStorage;
    this.#defaultWebhook = options.webhook ? validateWebhookConfig(options.webhook) : undefined;
    this.#delivery = new RecordingDelivery({
      spoolDir,
      defaultDestination: this.#defaultDestination,
      ...(this.#defaultWebhook ? { webhooks: [this.#defaultWebhook] } : {}),
      ...options.delivery,
      ...(options.logger ? { logger: options.logger } : {}),
    });
    this.#delivery.on('stored', (event) => this.emit('recordingstored', event));
    this.#delivery.on('failed', (event) => this.emit('recordingfailed', event));
    this.#delivery.on('webhookdelivered', (event) => this.emit('webhookdelivered', event));
    this.#delivery.on('webhookfailed', (event) => this.emit('webhookfailed', event));
    this.#runner = this.#jobRunner(options.jobs, binaries, options.compositeOptions?.concurrency);
    this.#finaliser = new SessionFinaliser(spoolDir, binaries, options, this.#delivery, this.#defaultDestination, this.#defaultWebhook, {
      finalised: (info) => this.emit('recordingfinalised', info),
      sessionFinalised: (info) => this.emit('sessionfinalised', info),
      empty: (info) => this.emit('sessionempty', info),
      error: (error, context) => {
        if (error.code === 'ERR_SPOOL_FULL') this.#enterSpoolFull(error);
        this.emit('error', error, context);
      },
    }, this.#runner);
    this.#keepSessionsMs = options.keepSessionsMs;
    const { gracePeriodMs, reconnectWindowMs } = options;
    this.#captureThread = this.#startCaptureThread();
    this.#host = {
      spoolDir,
      captureThread: () => this.#captureThread,
      identifyProducer: options.identifyProducer ?? identifyFromAppData,
      gracePeriodMs,
      reconnectWindowMs,
      newSessionId: options.newSessionId,
      sessionStarted: (info) => this.emit('sessionstarted', info),
      sessionEnded: (info, session) => {
        if (!session.written) this.#unwritten.add(session);
        // Queued before any listener runs, so no listener can keep a session from its files.
        void this.#finaliser.enqueue(info.dir);
        this.emit('sessionended', info);
      },
      streamStarted: (ref) => this.emit('streamstarted', ref),
      streamStopped: (ref) => this.emit('streamstopped', ref),
      error: (error, context) => this.emit('error', error, context),
      spoolFull: (error) => this.#enterSpoolFull(error),
      roomClosed: (room) => {
        if (this.#rooms.get(room.roomId) === room) this.#rooms.delete(room.roomId);
      },
    };
  }

  /**
   * Checks the spool directory and ffmpeg, takes the spool for this process, then
   * returns a recorder. Unless `recoverOnStart` is false, sessions a previous process
   * left unfinished are finalised in the background.
   *
   * @throws {InvalidConfigError} for any option that is not acceptable (checked before
   *   anything is created on disk): `field` is its full path, e.g. `delivery.uploadConcurrency`.
   * @throws {SfuRecorderError} `ERR_SPOOL_NOT_WRITABLE` naming the directory,
   *   `ERR_SPOOL_LOCKED` when another live process records into the same spool, or
   *   `ERR_FFMPEG_MISSING` / `ERR_FFMPEG_FAILED` when ffmpeg cannot run.
   */
  static async create(input: SfuRecorderOptions = {}): Promise<SfuRecorder> {
    const options = validateRecorderOptions(input);
    const spoolDir = options.spoolDir;
    try {
      mkdirSync(spoolDir, { recursive: true });
      accessSync(spoolDir, constants.W_OK);
    } catch (cause) {
      throw new SfuRecorderError('ERR_SPOOL_NOT_WRITABLE', `spool directory ${spoolDir} is not writable`, { cause });
    }
    const binaries = resolveFfmpegBinaries({
      ...(options.ffmpegPath ? { ffmpegPath: options.ffmpegPath } : {}),
      ...(options.ffprobePath ? { ffprobePath: options.ffprobePath } : {}),
    });
    await runFfmpeg(binaries.ffmpegPath, ['-version'], { label: `ffmpeg (${binaries.ffmpegPath})` });
    keepFileSizeSignalHarmless();
    const lock = SpoolLock.acquire(spoolDir);
    let recorder: SfuRecorder;
    try {
      recorder = new SfuRecorder(options, spoolDir, binaries, lock);
    } catch (error) {
      lock.release();
      throw error;
    }
    if (options.recoverOnStart !== false) void recorder.recover();
    if (Number.isFinite(recorder.#keepSessionsMs)) {
      recorder.#sweepTimer = setInterval(() => recorder.sweepSpool(), Math.min(recorder.#keepSessionsMs, 3_600_000) / 4 + 1000);
      recorder.#sweepTimer.unref();
    }
    return recorder;
  }

  /** True from the moment `close()` is called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Where a session is: `recording` while it is live, then its finalisation jobs with their
   * state (`queued`, `active`, `done`, `failed`), progress and the worker that ran each;
   * `undefined` for a session this process has not seen.
   */
  sessionStatus(sessionId: string): SessionStatus | undefined {
    const finalising = this.#finaliser.status(sessionId);
    if (finalising) return finalising;
    for (const room of this.#rooms.values()) {
      if (room.sessionId === sessionId) {
        return { roomId: room.roomId, sessionId, state: 'recording', runner: this.#runner.name, percent: 0, jobs: [] };
      }
    }
    return undefined;
  }

  /** The name of the job runner finalisation uses (`in-process`, `bullmq`, or yours). */
  get jobRunner(): string {
    return this.#runner.name;
  }

  #jobRunner(jobs: JobsOptions | undefined, binaries: FfmpegBinaries, compositeConcurrency: number | undefined): JobRunner {
    if (jobs?.runner) return jobs.runner;
    if (jobs?.redis !== undefined) {
      let staging: StagingStore;
      if (isStagingStore(jobs.staging)) staging = jobs.staging;
      else {
        if (jobs.staging) staging = stagingFromConfig(validateStagingConfig(jobs.staging, 'jobs.staging'));
        else {
          // Workers on this machine share the default storage's disk.
          const dir = join(this.defaultStorage.root, '.staging');
          mkdirSync(dir, { recursive: true });
          staging = new DirectoryStaging(dir);
        }
        this.#ownedJobParts.push(staging);
      }
      const runner = new BullMqJobRunner({
        redis: jobs.redis,
        staging,
        ...(jobs.queueName ? { queueName: jobs.queueName } : {}),
        ...(jobs.attempts !== undefined ? { attempts: jobs.attempts } : {}),
      });
      this.#ownedJobParts.unshift(runner);
      return runner;
    }
    const concurrency = jobs?.concurrency ?? compositeConcurrency;
    const runner = new InProcessJobRunner({ ffmpeg: binaries, ...(concurrency !== undefined ? { concurrency } : {}) });
    this.#ownedJobParts.push(runner);
    return runner;
  }

  /**
   * True while the spool's disk is full: captures wait in memory (a bounded amount,
   * beyond which packets are dropped and the gap shows in the file), finalisation
   * waits; when space returns, everything resumes and waiting sessions are finalised.
   */
  get spoolFull(): boolean {
    return this.#spoolFull !== undefined;
  }

  /** Rooms with recording enabled. */
  get rooms(): ReadonlyMap<string, RoomRecorder> {
    return this.#rooms;
  }

  /**
   * Enables recording for a room: validates its configuration (errors name the
   * field at fault, nothing is recorded), then watches the router for producers.
   */
  async enableRoom(options: EnableRoomOptions): Promise<RoomRecorder> {
    if (this.#closed) throw closedError('the recorder');
    assertSafeId('roomId', options.roomId);
    if (this.#rooms.has(options.roomId)) {
      throw new SfuRecorderError('ERR_ROOM_EXISTS', `recording is already enabled for room ${options.roomId}`);
    }
    const validated = validateRoomRecordingConfig(options.recording);
    const config: RoomRecordingConfig =
      validated.webhook || !this.#defaultWebhook ? validated : { ...validated, webhook: this.#defaultWebhook };
    const destination = config.upload
      ? createUploadDestination(config.upload, this.#defaultDestination)
      : (options.destination ?? this.#defaultDestination);
    if (config.upload) this.#ownedDestinations.add(destination);
    this.#finaliser.registerRoom(options.roomId, config, destination);
    const room = await RoomRecorder.create({
      roomId: options.roomId,
      router: options.router,
      manifestOptions: manifestOptionsOf(config),
      host: this.#host,
    });
    this.#rooms.set(options.roomId, room);
    this.observer.emit('newroom', room);
    return room;
  }

  /** The room's recorder, if recording is enabled for it. */
  getRoom(roomId: string): RoomRecorder | undefined {
    return this.#rooms.get(roomId);
  }

  /**
   * Finalises every session in the spool that a previous process left unfinished
   * (its timeline is closed as `recovered` at the last media received), and every one
   * whose finalisation failed earlier, and hands the files on like any other recording.
   * Outputs already stored are not stored again.
   */
  async recover(): Promise<SessionFinalisedInfo[]> {
    if (this.#closed) return [];
    const live = new Set([...this.#rooms.values()].map((r) => r.sessionId).filter((id) => id !== undefined));
    try {
      await this.#delivery.resume();
    } catch (error) {
      this.emit('error', toSfuRecorderError(error, 'ERR_UPLOAD_FAILED', 'resuming the delivery outbox'), {});
    }
    return this.#finaliser.recover(live);
  }

  /**
   * Removes finalised sessions older than `keepSessionsMs` from the spool (never one
   * whose files still wait for their upload). Runs on its own periodically; returns
   * the directories removed.
   */
  sweepSpool(): string[] {
    if (!Number.isFinite(this.#keepSessionsMs)) return [];
    try {
      return sweepSpool(this.spoolDir, {
        keepSessionsMs: this.#keepSessionsMs,
        filesInUse: this.#delivery.pendingUploads().map((entry) => entry.file),
      });
    } catch (error) {
      this.emit('error', toSfuRecorderError(error, 'ERR_SPOOL_NOT_WRITABLE', `sweeping ${this.spoolDir}`), {});
      return [];
    }
  }

  /** Resolves when every ended session is finalised and every file stored (or failed) and announced. */
  async whenIdle(): Promise<void> {
    await this.#finaliser.whenIdle();
    await this.#delivery.idle();
  }

  /**
   * Ends every room's session, waits for their finalisation (unless
   * `{ finalise: false }`: the spool keeps them for the next start), and releases
   * everything it created: the capture thread (which keeps the process alive until
   * then), the S3 clients of room configurations, and the spool. `closed` is true at
   * once; calling it again (also while it runs) returns the same promise.
   */
  close(options: { finalise?: boolean } = {}): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#closing = (async () => {
      if (this.#sweepTimer) clearInterval(this.#sweepTimer);
      if (options.finalise === false) this.#finaliser.pause();
      await Promise.all([...this.#rooms.values()].map((room) => room.close('recorder-closed')));
      await this.#captureThread.close();
      this.#leaveSpoolFull();
      if (options.finalise !== false) await this.whenIdle();
      await this.#finaliser.close();
      for (const part of this.#ownedJobParts) await part.close().catch(() => {});
      await this.#delivery.close();
      await Promise.allSettled([...this.#ownedDestinations].map(async (destination) => destination.close?.()));
      if (this.#ownsDefaultStorage) await this.defaultStorage.close();
      this.#lock.release();
      this.observer.emit('close');
    })();
    return this.#closing;
  }

  #startCaptureThread(): CaptureThread {
    const thread = CaptureThread.start();
    thread.on('died', (error) => void this.#onCaptureThreadDied(thread, error));
    return thread;
  }

  /**
   * The capture thread died under live sessions: they cannot receive anything more, so
   * they end now and are finalised with what they captured; a new thread takes the
   * sessions that start from now on.
   */
  async #onCaptureThreadDied(thread: CaptureThread, error: SfuRecorderError): Promise<void> {
    if (this.#closed || thread !== this.#captureThread) return;
    this.#captureThread = this.#startCaptureThread();
    this.emit('error', error, {});
    await Promise.allSettled([...this.#rooms.values()].map((room) => room.endForCaptureFailure()));
  }

  #enterSpoolFull(error: SfuRecorderError): void {
    if (this.#spoolFull || this.#closed) return;
    // Space that returns only to run out again (a finalisation needing more than there is)
    // is retried less and less often, rather than every 2 s.
    const refilled = Date.now() - this.#spoolAvailableAt < 60_000;
    this.#spoolPollMs = refilled ? Math.min(this.#spoolPollMs * 2, SPOOL_FULL_MAX_POLL_MS) : SPOOL_FULL_POLL_MS;
    const timer = setInterval(() => this.#checkSpoolSpace(), this.#spoolPollMs);
    timer.unref();
    this.#spoolFull = { since: Date.now(), timer };
    this.#logger.warn?.('the spool disk is full', { spoolDir: this.spoolDir, code: error.code });
    this.emit('spoolfull', { spoolDir: this.spoolDir, at: this.#spoolFull.since, error });
  }

  #checkSpoolSpace(): void {
    let free: number;
    try {
      const stats = statfsSync(this.spoolDir);
      free = stats.bavail * stats.bsize;
    } catch {
      return;
    }
    if (free < SPOOL_MIN_FREE_BYTES) return;
    for (const session of [...this.#unwritten]) if (session.flushPending()) this.#unwritten.delete(session);
    for (const room of this.#rooms.values()) room.session?.flushPending();
    if (this.#unwritten.size > 0) return;
    const since = this.#spoolFull!.since;
    this.#leaveSpoolFull();
    this.#spoolAvailableAt = Date.now();
    this.emit('spoolavailable', { spoolDir: this.spoolDir, at: Date.now(), fullForMs: Date.now() - since });
    // Sessions whose finalisation met the full disk are finalised now, and producers
    // that arrived meanwhile are recorded.
    void this.recover();
    for (const room of this.#rooms.values()) room.retryWaitingForSpace();
  }

  #leaveSpoolFull(): void {
    if (!this.#spoolFull) return;
    clearInterval(this.#spoolFull.timer);
    this.#spoolFull = undefined;
  }
}

/**
 * Node ignores SIGXFSZ, so a write past the process's file-size limit (RLIMIT_FSIZE)
 * fails with EFBIG, which the recorder reports like any failed write. execa, which runs
 * ffmpeg, hooks the signal through `signal-exit` and, with no other listener, re-raises
 * it, killing the host. A listener of our own keeps the signal harmless.
 */
function keepFileSizeSignalHarmless(): void {
  if (process.platform === 'win32' || process.listeners('SIGXFSZ').includes(ignoreSignal)) return;
  process.on('SIGXFSZ', ignoreSignal);
}

function ignoreSignal(): void {}

/** What a session remembers of its room's configuration (no credentials, no secrets). */
function manifestOptionsOf(config: RoomRecordingConfig): Record<string, unknown> {
  return {
    individual: config.individual,
    composite: config.composite,
    ...(config.upload
      ? { upload: { type: config.upload.type, location: config.upload.location, prefix: config.upload.prefix } }
      : {}),
  };
}
