import { createHash } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import type { Logger } from '../config/logger.js';
import { redact } from '../config/redact.js';
import type { WebhookConfig } from '../config/room-config.js';
import { EnhancedEventEmitter } from '../enhanced-events.js';
import { canceledError, closedError, SfuRecorderError } from '../errors.js';
import { PersistentQueue } from '../storage/persistent-queue.js';
import { DEFAULT_WEBHOOK_RETRY, resolveRetryPolicy, withinBudget, type RetryPolicy } from '../storage/retry.js';

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
  /** Why the last attempt failed: `HTTP 503`, `no answer within 15000 ms`, `ECONNREFUSED`. */
  lastError?: string;
  /** The HTTP status of the last attempt, when the receiver answered in time. */
  lastStatus?: number;
}

/** Events of {@link WebhookSender}. */
export interface WebhookSenderEvents {
  /** The receiver answered 2xx within the timeout. */
  delivered: [entry: WebhookEntry, status: number];
  /** An attempt failed; another follows after `delayMs` (the receiver's `Retry-After` when it gave one). */
  retrying: [entry: WebhookEntry, reason: string, delayMs: number];
  /**
   * Given up: a final answer (see {@link WebhookSender}) or the retry budget spent. `reason`
   * names the last status or the timeout; the entry stays in the outbox as `failed`.
   */
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
 * (`webhook-id`, `webhook-timestamp`, `webhook-signature`). Messages are persisted before the
 * first attempt, so a restart resumes them; the signature is computed afresh for each attempt
 * (receivers reject old timestamps), the `webhook-id` never changes.
 *
 * What each answer means:
 *
 * - **2xx** within the timeout: delivered.
 * - **408, 425, 429, 5xx**, a refused or dropped connection, no answer within `timeoutMs`:
 *   retried with exponential backoff and jitter, or after the receiver's `Retry-After`
 *   (seconds or an HTTP date) when it sends one, bounded by the policy's `maxDelayMs`.
 * - **Any other 4xx** (400, 401, 403, 404, 410 Gone, 413, 422, ...) and **3xx** (redirects
 *   are never followed): final, given up at once. The receiver refused this request, and the
 *   same signed body to the same URL gets the same answer; retrying for a day would only
 *   load a receiver that said no (410 is the Standard Webhooks way to say "stop sending").
 *
 * One rule decides an attempt: it is delivered if and only if the receiver's status line
 * arrives before `timeoutMs`. When the timeout fires the request is aborted and its
 * connection closed, so a receiver answering later writes to a closed socket (it can tell
 * its answer was not received) and gets the message again under the same `webhook-id`, by
 * which Standard Webhooks receivers deduplicate. Every event reports exactly that decision.
 *
 * A listener that throws is logged (`ERR_LISTENER`) and changes nothing. After
 * {@link WebhookSender.close}, `enqueue`, `resume` and `registerEndpoint` fail with
 * `ERR_CLOSED`; `list` still answers.
 */
export class WebhookSender extends EnhancedEventEmitter<WebhookSenderEvents> {
  readonly #queue: PersistentQueue<WebhookEntry>;
  readonly #retry: RetryPolicy;
  readonly #logger: Logger;
  readonly #endpoints = new Map<string, Endpoint>();
  #closing: Promise<void> | undefined;

  /** Stable id of a receiver: derived from its URL, without the secret. */
  static endpointId(url: string): string {
    return `wh_${createHash('sha256').update(url).digest('hex').slice(0, 16)}`;
  }

  constructor(options: WebhookSenderOptions) {
    super();
    this.#retry = resolveRetryPolicy('webhookRetry', options.retry, DEFAULT_WEBHOOK_RETRY);
    this.#logger = options.logger ?? {};
    // A host's listener threw: the outcome is already recorded, so only tell the logger.
    this.setListenerErrorHandler((error, eventName) =>
      this.#log('error', `a "${eventName}" listener of the webhook sender threw`, { code: 'ERR_LISTENER', event: eventName, error }),
    );
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

  /** True from the moment {@link WebhookSender.close} is called. */
  get closed(): boolean {
    return this.#queue.closed;
  }

  /** Makes a receiver available (also to messages left by a previous process); returns its id. */
  registerEndpoint(config: WebhookConfig): string {
    this.#assertOpen();
    const id = WebhookSender.endpointId(config.url);
    const known = this.#endpoints.get(id);
    if (known?.config !== config) {
      this.#endpoints.set(id, { config, signer: new Webhook(config.secret.reveal()) });
      this.#queue.schedule();
    }
    return id;
  }

  /** Loads messages left by a previous process and starts sending them. Idempotent. */
  async resume(): Promise<void> {
    this.#assertOpen();
    return this.#queue.resume();
  }

  /**
   * Persists a message and schedules it. Resolves once it is on disk. Enqueueing the same
   * `messageId` again replaces the pending message (same id: the receiver sees one event).
   */
  async enqueue(endpoint: WebhookConfig | string, messageId: string, type: string, payload: unknown): Promise<void> {
    this.#assertOpen();
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

  /** Resolves when no message is pending (each delivered or failed), or on close (at once after it). */
  idle(): Promise<void> {
    return this.#queue.idle();
  }

  /**
   * Aborts requests in flight (their messages stay pending on disk) and stops. `closed` is
   * true at once; calling it again (also while it runs) returns the same promise.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closing = this.#queue.close(canceledError('the webhook request', closedError('the webhook sender'))).then(() => {
      this.removeAllListeners();
    });
    return this.#closing;
  }

  #assertOpen(): void {
    if (this.#queue.closed) throw closedError('the webhook sender');
  }

  async #attempt(entry: WebhookEntry, endpoint: Endpoint, signal: AbortSignal): Promise<void> {
    const outcome = await this.#post(entry, endpoint, signal);
    try {
      if (signal.aborted) {
        // Closing: the message stays pending on disk, this attempt does not count.
      } else if (outcome.delivered) {
        this.#queue.entries.delete(entry.id);
        await this.#queue.remove(entry.id);
        this.#log('info', 'webhook delivered', { id: entry.id, type: entry.type, status: outcome.status });
        this.emit('delivered', structuredClone(entry), outcome.status ?? 0);
      } else {
        await this.#onFailedAttempt(entry, endpoint.config, outcome);
      }
    } catch (error) {
      this.#log('error', 'could not record webhook outcome', { id: entry.id, error });
    }
  }

  /** One POST. The outcome is decided when the status line arrives, or when the timeout fires. */
  async #post(entry: WebhookEntry, endpoint: Endpoint, signal: AbortSignal): Promise<AttemptOutcome> {
    const { timeoutMs } = endpoint.config;
    let response: Response;
    try {
      const now = new Date();
      response = await fetch(endpoint.config.url, {
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
        signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
      });
    } catch (error) {
      // Aborting the request closes its connection: a late answer is never read.
      if ((error as Error).name === 'TimeoutError') return { delivered: false, final: false, reason: `no answer within ${timeoutMs} ms` };
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      return { delivered: false, final: false, reason: cause?.code ?? cause?.message ?? (error as Error).message ?? String(error) };
    }
    // The status decides; the body is not needed (and a receiver that trickles it must not hold the attempt open).
    await response.body?.cancel().catch(() => undefined);
    const { status } = response;
    if (status >= 200 && status <= 299) return { delivered: true, status };
    const retryable = status === 408 || status === 425 || status === 429 || status >= 500;
    const retryAfterMs = retryable ? parseRetryAfter(response.headers.get('retry-after')) : undefined;
    return {
      delivered: false,
      final: !retryable,
      status,
      reason: retryable ? `HTTP ${status}` : `HTTP ${status}, not retried (a ${status < 400 ? 'redirect' : '4xx answer other than 408, 425 or 429'} is final)`,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    };
  }

  async #onFailedAttempt(entry: WebhookEntry, config: WebhookConfig, outcome: FailedAttempt): Promise<void> {
    const { reason } = outcome;
    entry.lastError = reason;
    if (outcome.status === undefined) delete entry.lastStatus;
    else entry.lastStatus = outcome.status;
    const policy = { ...this.#retry, maxAttempts: config.maxAttempts };
    let delay = this.#queue.countFailure(entry, policy, !outcome.final);
    if (delay !== undefined && outcome.retryAfterMs !== undefined) {
      // The receiver said when: wait that long (never beyond maxDelayMs), within the same budget.
      const wait = Math.min(outcome.retryAfterMs, policy.maxDelayMs);
      const nextAt = Date.now() + wait;
      if (withinBudget(entry.attempts, entry.firstAttemptAt ?? entry.createdAt, nextAt, policy)) {
        entry.nextAttemptAt = nextAt;
        delay = wait;
      } else {
        delay = undefined;
      }
    }
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

/** What one attempt came to. */
type AttemptOutcome = { delivered: true; status: number } | FailedAttempt;

interface FailedAttempt {
  delivered: false;
  /** Not to be retried: the receiver's answer is final. */
  final: boolean;
  /** Present when the receiver answered in time. */
  status?: number;
  reason: string;
  /** The receiver's `Retry-After`, in ms from now. */
  retryAfterMs?: number;
}

/** `Retry-After` as delay-seconds or an HTTP date, in ms from now; `undefined` when absent or unreadable. */
function parseRetryAfter(header: string | null, now = Date.now()): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  if (/^\d{1,10}$/.test(text)) return Number(text) * 1000;
  // IMF-fixdate, e.g. `Wed, 21 Oct 2015 07:28:00 GMT` (Date.parse alone reads "-5" as a year).
  if (!/^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
