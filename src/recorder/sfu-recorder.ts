import { accessSync, constants, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { EventEmitter } from 'eventemitter3';
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
import { SfuRecorderError } from '../errors.js';
import { resolveFfmpegBinaries, runFfmpeg, type FfmpegBinaries } from '../ffmpeg/index.js';
import {
  RecordingDelivery,
  type RecordingDeliveryOptions,
  type RecordingFailedEvent,
  type RecordingStoredEvent,
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
import { RoomRecorder, type RoomHost } from './room-recorder.js';
import { SessionFinaliser, type FinaliseOptions } from './session-finaliser.js';
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
  error: [Error, RecorderErrorContext];
}

/**
 * Records calls on a mediasoup SFU. Create one per process, enable recording per
 * room with {@link SfuRecorder.enableRoom}, and listen for events.
 *
 * @example
 * ```ts
 * const recorder = await SfuRecorder.create({ spoolDir: '/var/spool/sfu-recorder' });
 * recorder.on('recordingstored', (r) => console.log(r.url));
 * await recorder.enableRoom({ roomId, router, recording: { upload: { type: 's3', location: 'bucket' } } });
 * ```
 */
export class SfuRecorder extends EventEmitter<SfuRecorderEvents> {
  readonly spoolDir: string;
  readonly binaries: FfmpegBinaries;
  /** The local storage used by rooms without an upload configuration (unless `destination` replaces it). */
  readonly defaultStorage: LocalStorage;
  readonly #delivery: RecordingDelivery;
  readonly #defaultDestination: UploadDestination;
  readonly #defaultWebhook: RoomRecordingConfig['webhook'];
  readonly #keepSessionsMs: number;
  readonly #captureThread: CaptureThread;
  #sweepTimer: NodeJS.Timeout | undefined;
  readonly #rooms = new Map<string, RoomRecorder>();
  readonly #finaliser: SessionFinaliser;
  readonly #host: RoomHost;
  #closed = false;

  private constructor(options: ResolvedRecorderOptions, spoolDir: string, binaries: FfmpegBinaries) {
    super();
    this.spoolDir = spoolDir;
    this.binaries = binaries;
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
    this.#finaliser = new SessionFinaliser(spoolDir, binaries, options, this.#delivery, this.#defaultDestination, this.#defaultWebhook, {
      finalised: (info) => this.emit('recordingfinalised', info),
      sessionFinalised: (info) => this.emit('sessionfinalised', info),
      empty: (info) => this.emit('sessionempty', info),
      error: (error, context) => this.emit('error', error, context),
    });
    this.#keepSessionsMs = options.keepSessionsMs;
    const { gracePeriodMs, reconnectWindowMs } = options;
    this.#captureThread = CaptureThread.start();
    this.#host = {
      spoolDir,
      captureThread: this.#captureThread,
      identifyProducer: options.identifyProducer ?? identifyFromAppData,
      gracePeriodMs,
      reconnectWindowMs,
      newSessionId: options.newSessionId,
      sessionStarted: (room, session) =>
        this.emit('sessionstarted', {
          roomId: room.roomId,
          sessionId: session.sessionId,
          startedAt: session.startedAt,
          dir: session.dir,
        }),
      sessionEnded: (room, session, reason, streams) => {
        this.emit('sessionended', {
          roomId: room.roomId,
          sessionId: session.sessionId,
          startedAt: session.startedAt,
          endedAt: Date.now(),
          dir: session.dir,
          reason,
          streams,
        });
        this.#finaliser.enqueue(session.dir);
      },
      streamStarted: (ref) => this.emit('streamstarted', ref),
      streamStopped: (ref) => this.emit('streamstopped', ref),
      error: (error, context) => this.emit('error', error, context),
      roomClosed: (room) => {
        if (this.#rooms.get(room.roomId) === room) this.#rooms.delete(room.roomId);
      },
    };
  }

  /**
   * Checks the spool directory and ffmpeg, then returns a recorder. Unless
   * `recoverOnStart` is false, sessions a previous process left unfinished are
   * finalised in the background.
   *
   * @throws {InvalidConfigError} for any option that is not acceptable (checked before
   *   anything is created on disk): `field` is its full path, e.g. `delivery.uploadConcurrency`.
   * @throws {SfuRecorderError} `ERR_SPOOL_NOT_WRITABLE` naming the directory, or
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
    const recorder = new SfuRecorder(options, spoolDir, binaries);
    if (options.recoverOnStart !== false) void recorder.recover();
    if (Number.isFinite(recorder.#keepSessionsMs)) {
      recorder.#sweepTimer = setInterval(() => recorder.sweepSpool(), Math.min(recorder.#keepSessionsMs, 3_600_000) / 4 + 1000);
      recorder.#sweepTimer.unref();
    }
    return recorder;
  }

  get closed(): boolean {
    return this.#closed;
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
    if (this.#closed) throw new SfuRecorderError('ERR_RECORDER_CLOSED', 'the recorder is closed');
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
    this.#finaliser.registerRoom(options.roomId, config, destination);
    const room = await RoomRecorder.create({
      roomId: options.roomId,
      router: options.router,
      manifestOptions: manifestOptionsOf(config),
      host: this.#host,
    });
    this.#rooms.set(options.roomId, room);
    return room;
  }

  /** The room's recorder, if recording is enabled for it. */
  getRoom(roomId: string): RoomRecorder | undefined {
    return this.#rooms.get(roomId);
  }

  /**
   * Finalises every session in the spool that a previous process left unfinished
   * (its timeline is closed as `recovered` at the last media received) and hands
   * the files on like any other recording.
   */
  async recover(): Promise<SessionFinalisedInfo[]> {
    const live = new Set([...this.#rooms.values()].map((r) => r.sessionId).filter((id) => id !== undefined));
    await this.#delivery.resume();
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
      this.emit('error', error instanceof Error ? error : new Error(String(error)), {});
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
   * everything, including the capture thread (which keeps the process alive until then).
   */
  async close(options: { finalise?: boolean } = {}): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#sweepTimer) clearInterval(this.#sweepTimer);
    if (options.finalise === false) this.#finaliser.pause();
    await Promise.all([...this.#rooms.values()].map((room) => room.close('recorder-closed')));
    await this.#captureThread.close();
    if (options.finalise !== false) await this.whenIdle();
    await this.#finaliser.close();
    await this.#delivery.close();
  }
}

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
