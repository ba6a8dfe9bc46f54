import { createHash } from 'node:crypto';
import { EventEmitter } from 'eventemitter3';
import { Webhook } from 'standardwebhooks';
import type { Logger } from '../config/logger.js';
import { redact } from '../config/redact.js';
import type { WebhookConfig } from '../config/room-config.js';
import { SfuRecorderError } from '../errors.js';
import { PersistentQueue } from '../storage/persistent-queue.js';
import { DEFAULT_WEBHOOK_RETRY, resolveRetryPolicy, type RetryPolicy } from '../storage/retry.js';

/** One webhook message in the outbox (`<dir>/<id>.json`). */
export interface WebhookEntry {
  version: 1;
  /** The `webhook-id`: the same on every attempt, so receivers can deduplicate. */
  id: string;
  /** {@link WebhookSender.endpointId} of the receiver. */
  endpoint: string;
  /** Event type, for logs. */
  type: string;
  /** The exact JSON body that is signed and posted. */
  body: string;
  state: 'pending' | 'failed';
  createdAt: number;
  attempts: number;
  firstAttemptAt?: number;
  nextAttemptAt: number;
  lastError?: string;
}

/** Events of {@link WebhookSender}. */
export interface WebhookSenderEvents {
  /** The receiver answered 2xx. */
  delivered: [entry: WebhookEntry, status: number];
  /** An attempt failed; another follows after `delayMs`. */
  retrying: [entry: WebhookEntry, reason: string, delayMs: number];
  /** Given up after the retry budget; the entry stays in the outbox as `failed`. */
  failed: [entry: WebhookEntry, reason: string];
}

/** Options of {@link WebhookSender}. */
export interface WebhookSenderOptions {
  /** Outbox directory (see `outboxPaths.webhooks`). */
  dir: string;
  /** Receivers known from the start (validated configs); more with {@link WebhookSender.registerEndpoint}. */
  endpoints?: WebhookConfig[];
  /** `maxAttempts` here is overridden by each endpoint's `maxAttempts`. */
  retry?: Partial<RetryPolicy>;
  /** Messages posted at once; default 4. */
  concurrency?: number;
  logger?: Logger;
}

/**
 * Posts webhooks signed the [Standard Webhooks](https://www.standardwebhooks.com/) way
 * (`webhook-id`, `webhook-timestamp`, `webhook-signature`), retried with exponential backoff
 * and jitter while the receiver fails (non-2xx, timeout, refused connection). Messages are
 * persisted before the first attempt, so a restart resumes them; the signature is computed
 * afresh for each attempt (receivers reject old timestamps), the `webhook-id` never changes.
 */
export class WebhookSender extends EventEmitter<WebhookSenderEvents> {
  readonly #queue: PersistentQueue<WebhookEntry>;
  readonly #retry: RetryPolicy;
  readonly #logger: Logger;
  readonly #endpoints = new Map<string, Endpoint>();

  /** Stable id of a receiver: derived from its URL, without the secret. */
  static endpointId(url: string): string {
    return `wh_${createHash('sha256').update(url).digest('hex').slice(0, 16)}`;
  }

  constructor(options: WebhookSenderOptions) {
    super();
    this.#retry = resolveRetryPolicy('webhookRetry', options.retry, DEFAULT_WEBHOOK_RETRY);
    this.#logger = options.logger ?? {};
    this.#queue = new PersistentQueue<WebhookEntry>({
      dir: options.dir,
      concurrency: options.concurrency ?? 4,
      start: (entry) => {
        // Messages left by a previous process wait until their receiver is registered.
        const endpoint = this.#endpoints.get(entry.endpoint);
        if (!endpoint) return undefined;
        return (signal) => this.#attempt(entry, endpoint, signal);
      },
      unreadable: (file, error) => this.#log('error', 'unreadable webhook outbox entry left in place', { file, error }),
    });
    for (const endpoint of options.endpoints ?? []) this.registerEndpoint(endpoint);
  }

  get closed(): boolean {
    return this.#queue.closed;
  }

  /** Makes a receiver available (also to messages left by a previous process); returns its id. */
  registerEndpoint(config: WebhookConfig): string {
    const id = WebhookSender.endpointId(config.url);
    const known = this.#endpoints.get(id);
    if (known?.config !== config) {
      this.#endpoints.set(id, { config, signer: new Webhook(config.secret.reveal()) });
      this.#queue.schedule();
    }
    return id;
  }

  /** Loads messages left by a previous process and starts sending them. Idempotent. */
  resume(): Promise<void> {
    return this.#queue.resume();
  }

  /**
   * Persists a message and schedules it. Resolves once it is on disk. Enqueueing the same
   * `messageId` again replaces the pending message (same id: the receiver sees one event).
   */
  async enqueue(endpoint: WebhookConfig | string, messageId: string, type: string, payload: unknown): Promise<void> {
    if (this.#queue.closed) throw new SfuRecorderError('ERR_CLOSED', 'webhook sender is closed');
    if (!/^[A-Za-z0-9_.-]{1,128}$/.test(messageId)) {
      throw new SfuRecorderError('ERR_INVALID_ARGUMENT', `webhook message id ${JSON.stringify(messageId)} must match [A-Za-z0-9_.-]{1,128}`);
    }
    const endpointId = typeof endpoint === 'string' ? endpoint : this.registerEndpoint(endpoint);
    await this.resume();
    const now = Date.now();
    const entry: WebhookEntry = {
      version: 1,
      id: messageId,
      endpoint: endpointId,
      type,
      body: JSON.stringify(payload),
      state: 'pending',
      createdAt: now,
      attempts: 0,
      nextAttemptAt: now,
    };
    await this.#queue.persist(entry);
    if (!this.#queue.isInFlight(messageId)) this.#queue.entries.set(messageId, entry);
    this.#queue.schedule();
  }

  /** Messages in the outbox (copies). */
  list(): WebhookEntry[] {
    return [...this.#queue.entries.values()].map((entry) => structuredClone(entry));
  }

  /** Resolves when no message is pending (each delivered or failed). */
  idle(): Promise<void> {
    return this.#queue.idle();
  }

  /** Aborts requests in flight (their messages stay pending on disk) and stops. */
  async close(): Promise<void> {
    if (this.#queue.closed) return;
    await this.#queue.close();
    this.removeAllListeners();
  }

  async #attempt(entry: WebhookEntry, endpoint: Endpoint, signal: AbortSignal): Promise<void> {
    let status: number | undefined;
    let reason: string | undefined;
    try {
      const now = new Date();
      const response = await fetch(endpoint.config.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'sfu-recorder',
          'webhook-id': entry.id,
          'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
          'webhook-signature': endpoint.signer.sign(entry.id, now, entry.body),
        },
        body: entry.body,
        // A redirect is a misconfiguration; following it could post the event elsewhere.
        redirect: 'manual',
        signal: AbortSignal.any([signal, AbortSignal.timeout(endpoint.config.timeoutMs)]),
      });
      await response.arrayBuffer().catch(() => undefined);
      status = response.status;
      if (status < 200 || status > 299) reason = `HTTP ${status}`;
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      reason = cause?.code ?? cause?.message ?? (error as Error).message ?? String(error);
      if ((error as Error).name === 'TimeoutError') reason = `no answer within ${endpoint.config.timeoutMs} ms`;
    }
    try {
      if (signal.aborted) {
        // Closing: the message stays pending on disk, this attempt does not count.
      } else if (reason === undefined) {
        this.#queue.entries.delete(entry.id);
        await this.#queue.remove(entry.id);
        this.#log('info', 'webhook delivered', { id: entry.id, type: entry.type, status });
        this.emit('delivered', structuredClone(entry), status ?? 0);
      } else {
        await this.#onFailedAttempt(entry, endpoint.config, reason);
      }
    } catch (error) {
      this.#log('error', 'could not record webhook outcome', { id: entry.id, error });
    }
  }

  async #onFailedAttempt(entry: WebhookEntry, config: WebhookConfig, reason: string): Promise<void> {
    entry.lastError = reason;
    const policy = { ...this.#retry, maxAttempts: config.maxAttempts };
    const delay = this.#queue.countFailure(entry, policy);
    if (delay !== undefined) {
      await this.#queue.persist(entry);
      this.#log('warn', 'webhook attempt failed; retrying', { id: entry.id, attempt: entry.attempts, delayMs: delay, reason });
      this.emit('retrying', structuredClone(entry), reason, delay);
      return;
    }
    entry.state = 'failed';
    await this.#queue.persist(entry);
    this.#log('error', 'webhook given up', { id: entry.id, attempts: entry.attempts, reason });
    this.emit('failed', structuredClone(entry), reason);
  }

  #log(level: 'info' | 'warn' | 'error', message: string, fields: Record<string, unknown>): void {
    this.#logger[level]?.(message, redact(fields) as Record<string, unknown>);
  }
}

/** A registered receiver. */
interface Endpoint {
  config: WebhookConfig;
  signer: Webhook;
}
