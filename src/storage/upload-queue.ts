import { createHash } from 'node:crypto';
import { rm, stat } from 'node:fs/promises';
import type { Logger } from '../config/logger.js';
import { redact } from '../config/redact.js';
import type { RetentionConfig } from '../config/room-config.js';
import { EnhancedEventEmitter } from '../enhanced-events.js';
import { canceledError, closedError, SfuRecorderError } from '../errors.js';
import { assertSafeKey } from './key-layout.js';
import { PersistentQueue } from './persistent-queue.js';
import { backoffDelay, DEFAULT_UPLOAD_RETRY, resolveRetryPolicy, type RetryPolicy } from './retry.js';
import {
  assertRecordingMetadata,
  isRetryableUploadError,
  MP4_CONTENT_TYPE,
  type RecordingMetadata,
  type UploadDestination,
  type UploadResult,
} from './upload-destination.js';

/** One upload in the outbox (`<dir>/<id>.json`). */
export interface UploadEntry {
  version: 1;
  /** Derived from destination and key, so enqueueing the same file twice is idempotent. */
  id: string;
  /** {@link UploadDestination.id}. */
  destination: string;
  /** Spool file. */
  file: string;
  key: string;
  contentType: string;
  metadata: RecordingMetadata;
  /** `pending`: to upload; `stored`: uploaded, spool file kept until `deleteFileAt`; `failed`: given up, file kept. */
  state: 'pending' | 'stored' | 'failed';
  /** What to do with the spool file once stored. */
  keepFile: boolean | number;
  createdAt: number;
  /** Failed attempts so far (persisted: restarts do not reset the budget). */
  attempts: number;
  /** Epoch ms of the first attempt; the elapsed-time budget counts from it. */
  firstAttemptAt?: number;
  /** Epoch ms before which no attempt starts. */
  nextAttemptAt: number;
  lastError?: UploadFailure;
  result?: UploadResult;
  /** For `stored` entries kept for a while: when the spool file is deleted. */
  deleteFileAt?: number;
  /** Opaque data of the caller, persisted with the entry (e.g. which webhook to notify). */
  context?: Record<string, string>;
}

/** Why an upload failed; safe to log and post (no credentials). */
export interface UploadFailure {
  code: string;
  message: string;
  retryable: boolean;
}

/** Events of {@link UploadQueue}. */
export interface UploadQueueEvents {
  /** The file is stored and confirmed. */
  uploaded: [entry: UploadEntry, result: UploadResult];
  /** Given up: a permanent error, or the retry budget ran out. The spool file is kept. */
  failed: [entry: UploadEntry, failure: UploadFailure];
  /** An attempt failed and another is scheduled. */
  retrying: [entry: UploadEntry, failure: UploadFailure, delayMs: number];
  progress: [entry: UploadEntry, loadedBytes: number, totalBytes: number];
}

/** Options of {@link UploadQueue}. */
export interface UploadQueueOptions {
  /** Outbox directory (see `outboxPaths.uploads`). */
  dir: string;
  /** Destinations known from the start; more with {@link UploadQueue.registerDestination}. */
  destinations?: UploadDestination[];
  retry?: Partial<RetryPolicy>;
  /** Uploads running at once; default 2. */
  concurrency?: number;
  logger?: Logger;
  /**
   * Awaited before an entry is marked stored or failed, so whatever it persists (a
   * webhook, say) is durable before the upload is forgotten. If it throws, the entry stays
   * pending and the outcome is retried.
   */
  beforeSettle?(entry: UploadEntry, outcome: { result: UploadResult } | { failure: UploadFailure }): Promise<void>;
}

/** What {@link UploadQueue.enqueue} takes. */
export interface EnqueueUpload {
  file: string;
  key: string;
  metadata: RecordingMetadata;
  destination: UploadDestination | string;
  contentType?: string;
  retention?: RetentionConfig;
  /** Opaque data persisted with the entry and handed back in events (no secrets: it is stored in clear). */
  context?: Record<string, string>;
}

/**
 * The persistent upload outbox. An entry is written to disk (atomically) before its upload
 * starts and removed only after the destination confirmed the upload; in between it is
 * retried with exponential backoff and jitter, across restarts, until the retry budget
 * runs out. A permanent error (access denied, no such bucket) ends it at once. Either way a
 * failed entry keeps its spool file. One process per outbox directory.
 *
 * A listener that throws is logged (`ERR_LISTENER`) and changes nothing: the entry is
 * settled as if it had not. After {@link UploadQueue.close}, `enqueue`, `retryFailed`,
 * `resume` and `registerDestination` fail with `ERR_CLOSED`; `list` still answers.
 */
export class UploadQueue extends EnhancedEventEmitter<UploadQueueEvents> {
  readonly #queue: PersistentQueue<UploadEntry>;
  readonly #retry: RetryPolicy;
  readonly #logger: Logger;
  readonly #beforeSettle: UploadQueueOptions['beforeSettle'];
  readonly #destinations = new Map<string, UploadDestination>();
  readonly #rerun = new Set<string>();
  readonly #waitingForDestination = new Set<string>();
  #closing: Promise<void> | undefined;

  constructor(options: UploadQueueOptions) {
    super();
    this.#retry = resolveRetryPolicy('retry', options.retry, DEFAULT_UPLOAD_RETRY);
    this.#logger = options.logger ?? {};
    this.#beforeSettle = options.beforeSettle;
    this.setListenerErrorHandler((error, eventName) => this.#listenerFailed(error, eventName));
    this.#queue = new PersistentQueue<UploadEntry>({
      dir: options.dir,
      concurrency: options.concurrency ?? 2,
      start: (entry) => this.#start(entry),
      afterAttempt: (entry) => this.#afterAttempt(entry),
      visitSettled: (entry, now) => this.#visitSettled(entry, now),
      loaded: (entries) => {
        if (entries.length === 0) return;
        const pending = entries.filter((e) => e.state === 'pending').length;
        this.#log('info', 'upload outbox resumed', { pending, total: entries.length });
      },
      unreadable: (file, error) => this.#log('error', 'unreadable upload outbox entry left in place', { file, error }),
    });
    for (const destination of options.destinations ?? []) this.registerDestination(destination);
  }

  /** True once {@link UploadQueue.close} was called. */
  get closed(): boolean {
    return this.#queue.closed;
  }

  /**
   * Makes a destination available to entries that name its id (also entries left by a
   * previous process, which wait until their destination is registered).
   */
  registerDestination(destination: UploadDestination): void {
    this.#assertOpen();
    const known = this.#destinations.get(destination.id);
    if (known === destination) return;
    this.#destinations.set(destination.id, destination);
    this.#waitingForDestination.clear();
    this.#queue.schedule();
  }

  /**
   * Loads the entries left in the outbox by a previous process and starts working on them.
   * Called by the first {@link UploadQueue.enqueue} too; calling it again does nothing.
   */
  async resume(): Promise<void> {
    this.#assertOpen();
    return this.#queue.resume();
  }

  /**
   * Persists an upload and schedules it. Resolves once the entry is on disk (it will then
   * survive a crash), not when the upload is done: listen to `uploaded` / `failed`.
   */
  async enqueue(request: EnqueueUpload): Promise<UploadEntry> {
    this.#assertOpen();
    assertSafeKey('key', request.key);
    assertRecordingMetadata(request.metadata);
    const destination = typeof request.destination === 'string' ? request.destination : request.destination.id;
    if (typeof request.destination !== 'string') this.registerDestination(request.destination);
    try {
      await stat(request.file);
    } catch (cause) {
      throw new SfuRecorderError('ERR_SPOOL_FILE_MISSING', `cannot enqueue ${request.file}: the file does not exist`, {
        cause,
      });
    }
    await this.resume();
    const id = entryId(destination, request.key);
    const now = Date.now();
    const running = this.#queue.entries.get(id);
    if (running && this.#queue.isInFlight(id)) {
      // Same key enqueued again while it uploads: take the new file and upload once more
      // after the current attempt (the attempt works on this same object).
      running.file = request.file;
      running.metadata = request.metadata;
      running.keepFile = request.retention?.keepUploadedFiles ?? false;
      if (request.context !== undefined) running.context = request.context;
      await this.#queue.persist(running);
      this.#rerun.add(id);
      return structuredClone(running);
    }
    const entry: UploadEntry = {
      version: 1,
      id,
      destination,
      file: request.file,
      key: request.key,
      contentType: request.contentType ?? MP4_CONTENT_TYPE,
      metadata: request.metadata,
      state: 'pending',
      keepFile: request.retention?.keepUploadedFiles ?? false,
      createdAt: now,
      attempts: 0,
      nextAttemptAt: now,
    };
    if (request.context !== undefined) entry.context = request.context;
    await this.#queue.persist(entry);
    this.#queue.entries.set(id, entry);
    this.#queue.schedule();
    return structuredClone(entry);
  }

  /** Entries currently in the outbox (copies). */
  list(): UploadEntry[] {
    return [...this.#queue.entries.values()].map((entry) => structuredClone(entry));
  }

  /** Puts failed entries back to pending with a fresh budget; returns how many. */
  async retryFailed(): Promise<number> {
    this.#assertOpen();
    await this.resume();
    let count = 0;
    for (const entry of this.#queue.entries.values()) {
      if (entry.state !== 'failed') continue;
      entry.state = 'pending';
      entry.attempts = 0;
      delete entry.firstAttemptAt;
      delete entry.lastError;
      entry.nextAttemptAt = Date.now();
      await this.#queue.persist(entry);
      count++;
    }
    this.#queue.schedule();
    return count;
  }

  /**
   * Resolves when no entry is pending any more (each is stored or failed). With storage
   * down this waits until the retry budget runs out; an entry whose destination is never
   * registered keeps it waiting (or until {@link UploadQueue.close}; after it, at once).
   */
  idle(): Promise<void> {
    return this.#queue.idle();
  }

  /**
   * Stops: aborts uploads in flight (their entries stay pending on disk, without counting
   * the aborted attempt; the destination's signal carries an `ERR_CANCELED` reason) and waits
   * for them to unwind. Destinations are not closed: they belong to the caller. `closed` is
   * true at once; calling it again (also while it runs) returns the same promise.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closing = this.#queue.close(canceledError('the upload', closedError('the upload queue'))).then(() => {
      this.removeAllListeners();
    });
    return this.#closing;
  }

  // A due pending entry can start once its destination is registered.
  #start(entry: UploadEntry): ((signal: AbortSignal) => Promise<void>) | undefined {
    const destination = this.#destinations.get(entry.destination);
    if (!destination) {
      if (!this.#waitingForDestination.has(entry.id)) {
        this.#waitingForDestination.add(entry.id);
        this.#log('warn', 'upload waits until its destination is registered', {
          destination: entry.destination,
          key: entry.key,
        });
      }
      return undefined;
    }
    return (signal) => this.#attempt(entry, destination, signal);
  }

  // Stored entries: finish due spool deletions, or say when the next one is due.
  #visitSettled(entry: UploadEntry, now: number): number | undefined {
    if (entry.state !== 'stored') return undefined;
    if (entry.deleteFileAt !== undefined && entry.deleteFileAt > now) return entry.deleteFileAt;
    void this.#finishStored(entry);
    return undefined;
  }

  async #attempt(entry: UploadEntry, destination: UploadDestination, signal: AbortSignal): Promise<void> {
    let outcome: { result: UploadResult } | { failure: UploadFailure; aborted: boolean };
    try {
      const result = await destination.upload({
        file: entry.file,
        key: entry.key,
        contentType: entry.contentType,
        metadata: entry.metadata,
        signal,
        onProgress: (loaded, total) => this.emit('progress', entry, loaded, total),
      });
      outcome = { result };
    } catch (error) {
      outcome = { failure: toFailure(error), aborted: signal.aborted };
    }
    try {
      if ('result' in outcome) await this.#onStored(entry, outcome.result);
      else if (!outcome.aborted) await this.#onFailedAttempt(entry, outcome.failure);
    } catch (error) {
      // Could not record the outcome (disk full?): leave the entry pending and try later.
      entry.nextAttemptAt = Date.now() + backoffDelay(Math.max(1, entry.attempts), this.#retry);
      this.#log('error', 'could not record upload outcome; will retry', { key: entry.key, error });
    }
  }

  // Enqueued again while uploading: upload once more, with the new file.
  async #afterAttempt(entry: UploadEntry): Promise<void> {
    if (!this.#rerun.delete(entry.id) || entry.state === 'pending' || this.#queue.closed) return;
    entry.state = 'pending';
    entry.attempts = 0;
    entry.nextAttemptAt = Date.now();
    delete entry.result;
    delete entry.deleteFileAt;
    await this.#queue.persist(entry).catch((error: unknown) =>
      this.#log('error', 'could not re-queue upload', { key: entry.key, error }),
    );
  }

  async #onStored(entry: UploadEntry, result: UploadResult): Promise<void> {
    if (this.#queue.closed) return;
    await this.#beforeSettle?.(entry, { result });
    const stored: UploadEntry = { ...entry, state: 'stored', result };
    delete stored.lastError;
    const keep = entry.keepFile;
    if (typeof keep === 'number' && keep > 0) stored.deleteFileAt = Date.now() + keep;
    // Persist "stored" before touching the spool file: a crash in between must not
    // turn into a re-upload of a deleted file (which would be announced as failed).
    await this.#queue.persist(stored);
    Object.assign(entry, stored);
    this.#log('info', 'recording stored', { key: entry.key, location: result.location, sizeBytes: result.sizeBytes });
    // The spool file is deleted by #visitSettled once the attempt has unwound.
    this.emit('uploaded', structuredClone(entry), result);
  }

  async #onFailedAttempt(entry: UploadEntry, failure: UploadFailure): Promise<void> {
    entry.lastError = failure;
    const delay = this.#queue.countFailure(entry, this.#retry, failure.retryable);
    if (delay !== undefined) {
      await this.#queue.persist(entry);
      this.#log('warn', 'upload attempt failed; retrying', {
        key: entry.key,
        attempt: entry.attempts,
        delayMs: delay,
        error: failure,
      });
      this.emit('retrying', structuredClone(entry), failure, delay);
      return;
    }
    const final: UploadFailure = failure.retryable
      ? {
          code: 'ERR_UPLOAD_RETRIES_EXHAUSTED',
          message: `gave up after ${entry.attempts} attempts over ${Math.round((Date.now() - (entry.firstAttemptAt ?? entry.createdAt)) / 1000)} s; last error: ${failure.message}`,
          retryable: false,
        }
      : failure;
    if (this.#queue.closed) return;
    await this.#beforeSettle?.(entry, { failure: final });
    await this.#queue.persist({ ...entry, state: 'failed', lastError: final });
    entry.state = 'failed';
    entry.lastError = final;
    this.#log('error', 'upload failed; spool file kept', { key: entry.key, file: entry.file, error: final });
    this.emit('failed', structuredClone(entry), final);
  }

  // Deletes the spool file per retention, then the entry.
  async #finishStored(entry: UploadEntry): Promise<void> {
    if (!this.#queue.entries.has(entry.id) || this.#queue.isInFlight(entry.id)) return;
    this.#queue.entries.delete(entry.id);
    await this.#queue.track(
      (async () => {
        try {
          if (entry.keepFile !== true) await rm(entry.file, { force: true });
          await this.#queue.remove(entry.id);
        } catch (error) {
          this.#log('warn', 'could not clean up after upload', { file: entry.file, error });
        }
      })(),
    );
  }

  #assertOpen(): void {
    if (this.#queue.closed) throw closedError('the upload queue');
  }

  // A host's listener threw: the queue's bookkeeping already happened, so only tell the logger.
  #listenerFailed(error: unknown, eventName: string): void {
    this.#log('error', `a "${eventName}" listener of the upload queue threw`, { code: 'ERR_LISTENER', event: eventName, error });
  }

  #log(level: 'info' | 'warn' | 'error', message: string, fields: Record<string, unknown>): void {
    this.#logger[level]?.(message, redact(fields) as Record<string, unknown>);
  }
}

function entryId(destination: string, key: string): string {
  return createHash('sha256').update(`${destination}\n${key}`).digest('hex').slice(0, 32);
}

function toFailure(error: unknown): UploadFailure {
  const e = error as { code?: unknown; name?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : typeof e?.name === 'string' ? e.name : 'ERR_UPLOAD_FAILED';
  const message = typeof e?.message === 'string' ? e.message : String(error);
  return { code, message, retryable: isRetryableUploadError(error) };
}
