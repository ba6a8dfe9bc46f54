import { createHash } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { EventEmitter } from 'eventemitter3';
import { Webhook } from 'standardwebhooks';
import type { Logger } from '../config/logger.js';
import { redact } from '../config/redact.js';
import type { WebhookConfig } from '../config/room-config.js';
import { SfuRecorderError } from '../errors.js';
import { readJsonDir, writeJsonAtomic } from '../storage/json-file.js';
import { backoffDelay, DEFAULT_WEBHOOK_RETRY, resolveRetryPolicy, withinBudget, type RetryPolicy } from '../storage/retry.js';

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
  readonly #dir: string;
  readonly #retry: RetryPolicy;
  readonly #concurrency: number;
  readonly #logger: Logger;
  readonly #endpoints = new Map<string, { config: WebhookConfig; signer: Webhook }>();
  readonly #entries = new Map<string, WebhookEntry>();
  readonly #inFlight = new Map<string, AbortController>();
  #idleWaiters: Array<() => void> = [];
  #timer: NodeJS.Timeout | undefined;
  #ready: Promise<void> | undefined;
  #closed = false;

  /** Stable id of a receiver: derived from its URL, without the secret. */
  static endpointId(url: string): string {
    return `wh_${createHash('sha256').update(url).digest('hex').slice(0, 16)}`;
  }

  constructor(options: WebhookSenderOptions) {
    super();
    this.#dir = options.dir;
    this.#retry = resolveRetryPolicy('webhookRetry', options.retry, DEFAULT_WEBHOOK_RETRY);
    this.#concurrency = Math.max(1, options.concurrency ?? 4);
    this.#logger = options.logger ?? {};
    for (const endpoint of options.endpoints ?? []) this.registerEndpoint(endpoint);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Makes a receiver available (also to messages left by a previous process); returns its id. */
  registerEndpoint(config: WebhookConfig): string {
    const id = WebhookSender.endpointId(config.url);
    const known = this.#endpoints.get(id);
    if (known?.config !== config) {
      this.#endpoints.set(id, { config, signer: new Webhook(config.secret.reveal()) });
      this.#schedule();
    }
    return id;
  }

  /** Loads messages left by a previous process and starts sending them. Idempotent. */
  resume(): Promise<void> {
    this.#ready ??= this.#load();
    return this.#ready;
  }

  /**
   * Persists a message and schedules it. Resolves once it is on disk. Enqueueing the same
   * `messageId` again replaces the pending message (same id: the receiver sees one event).
   */
  async enqueue(endpoint: WebhookConfig | string, messageId: string, type: string, payload: unknown): Promise<void> {
    if (this.#closed) throw new SfuRecorderError('ERR_CLOSED', 'webhook sender is closed');
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
    await writeJsonAtomic(this.#path(messageId), entry);
    if (!this.#inFlight.has(messageId)) this.#entries.set(messageId, entry);
    this.#schedule();
  }

  /** Messages in the outbox (copies). */
  list(): WebhookEntry[] {
    return [...this.#entries.values()].map((entry) => structuredClone(entry));
  }

  /** Resolves when no message is pending (each delivered or failed). */
  async idle(): Promise<void> {
    await this.resume();
    if (this.#isIdle()) return;
    await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Aborts requests in flight (their messages stay pending on disk) and stops. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const controller of this.#inFlight.values()) controller.abort();
    while (this.#inFlight.size > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
    this.removeAllListeners();
  }

  async #load(): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    const entries = await readJsonDir<WebhookEntry>(this.#dir, (file, error) =>
      this.#log('error', 'unreadable webhook outbox entry left in place', { file, error }),
    );
    for (const entry of entries) {
      if (entry.version === 1 && typeof entry.id === 'string' && !this.#entries.has(entry.id)) {
        this.#entries.set(entry.id, entry);
      }
    }
    this.#schedule();
  }

  #schedule(): void {
    if (this.#closed || this.#ready === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const now = Date.now();
    let nextWake = Infinity;
    for (const entry of this.#entries.values()) {
      if (entry.state !== 'pending' || this.#inFlight.has(entry.id)) continue;
      if (entry.nextAttemptAt > now) {
        nextWake = Math.min(nextWake, entry.nextAttemptAt);
        continue;
      }
      const endpoint = this.#endpoints.get(entry.endpoint);
      if (!endpoint || this.#inFlight.size >= this.#concurrency) continue;
      void this.#attempt(entry, endpoint);
    }
    if (nextWake !== Infinity) {
      this.#timer = setTimeout(() => this.#schedule(), Math.min(Math.max(0, nextWake - now), 2 ** 31 - 1));
      this.#timer.unref();
    }
    this.#checkIdle();
  }

  async #attempt(entry: WebhookEntry, endpoint: { config: WebhookConfig; signer: Webhook }): Promise<void> {
    const controller = new AbortController();
    this.#inFlight.set(entry.id, controller);
    entry.firstAttemptAt ??= Date.now();
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
        signal: AbortSignal.any([controller.signal, AbortSignal.timeout(endpoint.config.timeoutMs)]),
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
      if (controller.signal.aborted) {
        // Closing: the message stays pending on disk, this attempt does not count.
      } else if (reason === undefined) {
        this.#entries.delete(entry.id);
        await rm(this.#path(entry.id), { force: true });
        this.#log('info', 'webhook delivered', { id: entry.id, type: entry.type, status });
        this.emit('delivered', structuredClone(entry), status ?? 0);
      } else {
        await this.#onFailedAttempt(entry, endpoint.config, reason);
      }
    } catch (error) {
      this.#log('error', 'could not record webhook outcome', { id: entry.id, error });
    } finally {
      this.#inFlight.delete(entry.id);
      this.#schedule();
    }
  }

  async #onFailedAttempt(entry: WebhookEntry, config: WebhookConfig, reason: string): Promise<void> {
    entry.attempts += 1;
    entry.lastError = reason;
    const policy = { ...this.#retry, maxAttempts: config.maxAttempts };
    const delay = backoffDelay(entry.attempts, policy);
    const nextAt = Date.now() + delay;
    if (withinBudget(entry.attempts, entry.firstAttemptAt ?? entry.createdAt, nextAt, policy)) {
      entry.nextAttemptAt = nextAt;
      await writeJsonAtomic(this.#path(entry.id), entry);
      this.#log('warn', 'webhook attempt failed; retrying', { id: entry.id, attempt: entry.attempts, delayMs: delay, reason });
      this.emit('retrying', structuredClone(entry), reason, delay);
      return;
    }
    entry.state = 'failed';
    await writeJsonAtomic(this.#path(entry.id), entry);
    this.#log('error', 'webhook given up', { id: entry.id, attempts: entry.attempts, reason });
    this.emit('failed', structuredClone(entry), reason);
  }

  #isIdle(): boolean {
    if (this.#inFlight.size > 0) return false;
    for (const entry of this.#entries.values()) if (entry.state === 'pending') return false;
    return true;
  }

  #checkIdle(): void {
    if (this.#idleWaiters.length > 0 && this.#isIdle()) for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }

  #path(id: string): string {
    return join(this.#dir, `${id}.json`);
  }

  #log(level: 'info' | 'warn' | 'error', message: string, fields: Record<string, unknown>): void {
    this.#logger[level]?.(message, redact(fields) as Record<string, unknown>);
  }
}
