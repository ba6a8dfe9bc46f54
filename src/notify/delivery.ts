import type { Logger } from '../config/logger.js';
import { createHash } from 'node:crypto';
import { redact } from '../config/redact.js';
import type { RetentionConfig, WebhookConfig } from '../config/room-config.js';
import { EnhancedEventEmitter } from '../enhanced-events.js';
import { closedError, SfuRecorderError } from '../errors.js';
import { outboxPaths } from '../spool/layout.js';
import { recordingKey } from '../storage/key-layout.js';
import type { RetryPolicy } from '../storage/retry.js';
import {
  assertRecordingMetadata,
  type RecordingMetadata,
  type UploadDestination,
  type UploadResult,
} from '../storage/upload-destination.js';
import { UploadQueue, type UploadEntry, type UploadFailure } from '../storage/upload-queue.js';
import { failurePayload, successPayload, type RecordingWebhookPayload } from './payload.js';
import { WebhookSender, type WebhookEntry } from './webhook-sender.js';

/** Emitted once a recording is stored and confirmed. camelCase mirror of the `recording.success` webhook. */
export interface RecordingStoredEvent {
  type: 'recording.success';
  metadata: RecordingMetadata;
  key: string;
  /** {@link UploadDestination.id}. */
  destination: string;
  /** `s3://bucket/key` or a local path. */
  location: string;
  url?: string;
  urlExpiresAt?: number;
  sizeBytes: number;
}

/** Emitted when a recording could not be stored (permanent error or retry budget spent); the spool file is kept. */
export interface RecordingFailedEvent {
  type: 'recording.failed';
  metadata: RecordingMetadata;
  key: string;
  destination: string;
  /** The spool file, kept for a later retry. */
  file: string;
  error: { code: string; message: string };
}

/** Events of {@link RecordingDelivery}. */
export interface RecordingDeliveryEvents {
  stored: [event: RecordingStoredEvent];
  failed: [event: RecordingFailedEvent];
  /** An upload attempt failed and will be retried. */
  uploadretry: [event: { key: string; attempt: number; delayMs: number; error: { code: string; message: string } }];
  /** A webhook was accepted (2xx) by its receiver. */
  webhookdelivered: [event: WebhookDeliveredEvent];
  /**
   * A webhook was given up: the receiver's answer was final (a 4xx other than 408, 425 or
   * 429, or a redirect) or the retry budget is spent. `reason` names the last status or the
   * timeout; `status` is the last HTTP status, absent when the receiver did not answer in time.
   */
  webhookfailed: [event: WebhookFailedEvent];
}

/** Which recording a webhook message is about (read from its payload). */
export interface WebhookSubject {
  /** The `webhook-id`. */
  id: string;
  /** `recording.success` or `recording.failed`. */
  type: string;
  /** The recording's storage key, room and session, when the message is a recording payload. */
  key?: string;
  roomId?: string;
  sessionId?: string;
}

/** A webhook accepted (2xx) by its receiver. */
export interface WebhookDeliveredEvent extends WebhookSubject {
  status: number;
}

/** A webhook given up (see {@link RecordingDeliveryEvents.webhookfailed}). */
export interface WebhookFailedEvent extends WebhookSubject {
  reason: string;
  attempts: number;
  status?: number;
}

/** Options of {@link RecordingDelivery}. */
export interface RecordingDeliveryOptions {
  /** The spool directory; the outbox lives in `<spoolDir>/.outbox/`. */
  spoolDir: string;
  /** Used by {@link RecordingDelivery.deliver} when an item names no destination (the default storage). */
  defaultDestination?: UploadDestination;
  /** Destinations to register up front, so uploads left by a previous process can resume. */
  destinations?: UploadDestination[];
  /** Webhook receivers to register up front (validated), for the same reason. */
  webhooks?: WebhookConfig[];
  uploadRetry?: Partial<RetryPolicy>;
  /** `maxAttempts` is taken from each webhook's own config. */
  webhookRetry?: Partial<RetryPolicy>;
  /** Uploads at once; default 2. */
  uploadConcurrency?: number;
  logger?: Logger;
}

/** A finished file handed to {@link RecordingDelivery.deliver}. */
export interface DeliveryItem {
  /** Absolute path of the finished mp4 in the spool. */
  file: string;
  metadata: RecordingMetadata;
  /** Default: the options' `defaultDestination`. */
  destination?: UploadDestination;
  /** Where to POST the result; absent: events only. */
  webhook?: WebhookConfig;
  /** What to do with the spool file after the upload; default delete it. */
  retention?: RetentionConfig;
  /** Overrides the documented key layout (built from metadata and the destination's prefix). */
  key?: string;
}

/**
 * Finished file → storage → notification. Each file is put in a persistent outbox,
 * uploaded with retries (also across restarts), and announced by a typed event and, when
 * configured, a signed webhook that is itself persisted and retried. The spool file is
 * deleted only once its upload is confirmed; a file that cannot be stored is announced as
 * failed and kept.
 *
 * A listener that throws is reported to the `logger` (`ERR_LISTENER`); the other listeners
 * still run and the file's bookkeeping is unaffected. `close()` closes the queue and the
 * webhook sender it created, never the destinations it was handed.
 *
 * @example
 * ```ts
 * const delivery = new RecordingDelivery({ spoolDir, defaultDestination: new LocalStorage({ root }) });
 * delivery.on('stored', (e) => console.log(e.location, e.url));
 * await delivery.resume();
 * await delivery.deliver({ file, metadata, webhook });
 * ```
 */
export class RecordingDelivery extends EnhancedEventEmitter<RecordingDeliveryEvents> {
  readonly #queue: UploadQueue;
  readonly #webhooks: WebhookSender;
  readonly #defaultDestination: UploadDestination | undefined;
  readonly #logger: Logger;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(options: RecordingDeliveryOptions) {
    super();
    this.#logger = options.logger ?? {};
    this.setListenerErrorHandler((error, eventName) => {
      this.#logger.error?.(`a "${eventName}" listener of the recording delivery threw`, redact({ code: 'ERR_LISTENER', event: eventName, error }) as Record<string, unknown>);
    });
    this.#defaultDestination = options.defaultDestination;
    this.#webhooks = new WebhookSender({
      dir: outboxPaths.webhooks(options.spoolDir),
      ...(options.webhooks ? { endpoints: options.webhooks } : {}),
      ...(options.webhookRetry ? { retry: options.webhookRetry } : {}),
      logger: this.#logger,
    });
    const destinations = [...(options.destinations ?? [])];
    if (options.defaultDestination) destinations.push(options.defaultDestination);
    this.#queue = new UploadQueue({
      dir: outboxPaths.uploads(options.spoolDir),
      destinations,
      ...(options.uploadRetry ? { retry: options.uploadRetry } : {}),
      ...(options.uploadConcurrency ? { concurrency: options.uploadConcurrency } : {}),
      logger: this.#logger,
      // Runs before the upload entry is settled: the webhook is on disk before the upload is forgotten.
      beforeSettle: (entry, outcome) => this.#enqueueWebhook(entry, outcome),
    });
    this.#queue.on('uploaded', (entry, result) => this.#emitStored(entry, result));
    this.#queue.on('failed', (entry, failure) => this.#emitFailed(entry, failure));
    this.#queue.on('retrying', (entry, failure, delayMs) =>
      this.emit('uploadretry', {
        key: entry.key,
        attempt: entry.attempts,
        delayMs,
        error: { code: failure.code, message: failure.message },
      }),
    );
    this.#webhooks.on('delivered', (entry: WebhookEntry, status: number) =>
      this.emit('webhookdelivered', { ...webhookSubject(entry), status }),
    );
    this.#webhooks.on('failed', (entry: WebhookEntry, reason: string) =>
      this.emit('webhookfailed', {
        ...webhookSubject(entry),
        reason,
        attempts: entry.attempts,
        ...(entry.lastStatus !== undefined ? { status: entry.lastStatus } : {}),
      }),
    );
  }

  /** True from the moment {@link RecordingDelivery.close} is called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Registers a destination, so uploads (also from a previous process) that name it can proceed.
   * @throws {SfuRecorderError} `ERR_CLOSED` after {@link RecordingDelivery.close}.
   */
  registerDestination(destination: UploadDestination): void {
    this.#assertOpen();
    this.#queue.registerDestination(destination);
  }

  /**
   * Registers a webhook receiver, so messages (also from a previous process) for it can be sent.
   * @throws {SfuRecorderError} `ERR_CLOSED` after {@link RecordingDelivery.close}.
   */
  registerWebhook(webhook: WebhookConfig): void {
    this.#assertOpen();
    this.#webhooks.registerEndpoint(webhook);
  }

  /**
   * Picks up uploads and webhooks left by a previous process. Idempotent.
   * @throws {SfuRecorderError} `ERR_CLOSED` after {@link RecordingDelivery.close}.
   */
  async resume(): Promise<void> {
    this.#assertOpen();
    await Promise.all([this.#webhooks.resume(), this.#queue.resume()]);
  }

  /**
   * Hands a finished file over. Resolves once it is durably in the outbox (it then
   * survives a crash), not when it is stored: listen to `stored` / `failed`.
   *
   * @returns the storage key.
   * @throws {InvalidConfigError} for metadata whose ids would break the key layout.
   * @throws {SfuRecorderError} `ERR_NO_DESTINATION` when neither the item nor the options give a
   *   destination; `ERR_CLOSED` after {@link RecordingDelivery.close}.
   */
  async deliver(item: DeliveryItem): Promise<string> {
    this.#assertOpen();
    assertRecordingMetadata(item.metadata);
    const destination = item.destination ?? this.#defaultDestination;
    if (!destination) {
      throw new SfuRecorderError('ERR_NO_DESTINATION', 'no upload destination: configure upload or a default storage');
    }
    const key =
      item.key ??
      recordingKey({
        ...item.metadata,
        ...(destination.keyPrefix !== undefined ? { prefix: destination.keyPrefix } : {}),
      });
    const context: Record<string, string> = {};
    if (item.webhook) context.webhook = this.#webhooks.registerEndpoint(item.webhook);
    await this.resume();
    await this.#queue.enqueue({
      file: item.file,
      key,
      metadata: item.metadata,
      destination,
      ...(item.retention ? { retention: item.retention } : {}),
      context,
    });
    return key;
  }

  /**
   * Announces a recording that could not be made (its job failed on every attempt): a
   * `failed` event and, with a `webhook`, a signed `recording.failed` message carrying the
   * cause. Nothing is uploaded; `location` says where the inputs are kept for a re-run.
   *
   * @returns the storage key the recording would have had.
   * @throws {SfuRecorderError} `ERR_CLOSED` after {@link RecordingDelivery.close}.
   */
  async announceFailure(item: {
    metadata: RecordingMetadata;
    destination?: UploadDestination;
    webhook?: WebhookConfig;
    location: string;
    error: { code: string; message: string };
  }): Promise<string> {
    this.#assertOpen();
    assertRecordingMetadata(item.metadata);
    const destination = item.destination ?? this.#defaultDestination;
    const key = recordingKey({
      ...item.metadata,
      ...(destination?.keyPrefix !== undefined ? { prefix: destination.keyPrefix } : {}),
    });
    const error = { code: item.error.code, message: item.error.message };
    if (item.webhook) {
      const endpoint = this.#webhooks.registerEndpoint(item.webhook);
      await this.#webhooks.resume();
      const payload = failurePayload(key, item.metadata, item.location, error);
      // Deterministic id: announcing the same failure again re-sends the same message id.
      const id = `msg_${createHash('sha256').update(key).digest('hex').slice(0, 24)}_failed`;
      await this.#webhooks.enqueue(endpoint, id, payload.type, payload);
    }
    this.emit('failed', {
      type: 'recording.failed',
      metadata: item.metadata,
      key,
      destination: destination?.id ?? 'none',
      file: item.location,
      error,
    });
    return key;
  }

  /** Upload entries in the outbox. */
  pendingUploads(): UploadEntry[] {
    return this.#queue.list();
  }

  /** Webhook messages in the outbox. */
  pendingWebhooks(): WebhookEntry[] {
    return this.#webhooks.list();
  }

  /**
   * Puts failed uploads back in the queue with a fresh retry budget.
   * @throws {SfuRecorderError} `ERR_CLOSED` after {@link RecordingDelivery.close}.
   */
  async retryFailed(): Promise<number> {
    this.#assertOpen();
    return this.#queue.retryFailed();
  }

  /** Resolves when every upload and webhook is settled (done or given up), or at once after close. */
  async idle(): Promise<void> {
    await this.#queue.idle();
    await this.#webhooks.idle();
  }

  /**
   * Stops: aborts uploads and webhooks in flight (they stay in the outbox and resume on the
   * next start). Destinations are not closed: they belong to the caller. `closed` is true at
   * once; calling it again (also while it runs) returns the same promise.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#closing = Promise.all([this.#queue.close(), this.#webhooks.close()]).then(() => {
      this.removeAllListeners();
    });
    return this.#closing;
  }

  #assertOpen(): void {
    if (this.#closed) throw closedError('the recording delivery');
  }

  async #enqueueWebhook(entry: UploadEntry, outcome: { result: UploadResult } | { failure: UploadFailure }): Promise<void> {
    const endpoint = entry.context?.webhook;
    if (endpoint === undefined) return;
    let payload: RecordingWebhookPayload;
    if ('result' in outcome) payload = successPayload(entry.key, entry.metadata, outcome.result);
    else payload = failurePayload(entry.key, entry.metadata, entry.file, outcome.failure);
    // Deterministic id: a crash between this and settling the upload re-sends the same id.
    const suffix = payload.type === 'recording.success' ? 'success' : 'failed';
    await this.#webhooks.enqueue(endpoint, `msg_${entry.id}_${suffix}`, payload.type, payload);
  }

  #emitStored(entry: UploadEntry, result: UploadResult): void {
    const event: RecordingStoredEvent = {
      type: 'recording.success',
      metadata: entry.metadata,
      key: entry.key,
      destination: entry.destination,
      location: result.location,
      sizeBytes: result.sizeBytes,
    };
    if (result.url !== undefined) event.url = result.url;
    if (result.urlExpiresAt !== undefined) event.urlExpiresAt = result.urlExpiresAt;
    this.emit('stored', event);
  }

  #emitFailed(entry: UploadEntry, failure: UploadFailure): void {
    this.emit('failed', {
      type: 'recording.failed',
      metadata: entry.metadata,
      key: entry.key,
      destination: entry.destination,
      file: entry.file,
      error: { code: failure.code, message: failure.message },
    });
  }
}

/**
 * The recording a webhook entry is about, read back from its signed body (the outbox keeps
 * only the body, so this also works for messages a previous process left).
 */
function webhookSubject(entry: WebhookEntry): WebhookSubject {
  const subject: WebhookSubject = { id: entry.id, type: entry.type };
  try {
    const data = (JSON.parse(entry.body) as Partial<RecordingWebhookPayload>).data;
    if (typeof data?.key === 'string') subject.key = data.key;
    if (typeof data?.room_id === 'string') subject.roomId = data.room_id;
    if (typeof data?.session_id === 'string') subject.sessionId = data.session_id;
  } catch {
    // Not a recording payload: the id and type are all there is to tell.
  }
  return subject;
}
