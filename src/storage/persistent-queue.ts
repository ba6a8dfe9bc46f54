import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { readJsonDir, writeJsonAtomic } from './json-file.js';
import { backoffDelay, withinBudget, type RetryPolicy } from './retry.js';

/** What every entry of a {@link PersistentQueue} has; it is stored as `<dir>/<id>.json`. */
export interface QueueEntry {
  /** Format version; only version 1 is loaded, files of another version are left alone. */
  version: number;
  id: string;
  /** Only `pending` entries are attempted; other states are the owner's business. */
  state: string;
  createdAt: number;
  /** Failed attempts so far (persisted: restarts do not reset the budget). */
  attempts: number;
  /** Epoch ms of the first attempt; the elapsed-time budget counts from it. */
  firstAttemptAt?: number;
  /** Epoch ms before which no attempt starts. */
  nextAttemptAt: number;
}

/** What the owner of a {@link PersistentQueue} decides. */
export interface PersistentQueueHooks<Entry extends QueueEntry> {
  /**
   * Returns the attempt to make at a due pending entry, or `undefined` while it cannot
   * start (its target is not registered yet). The attempt must not throw, and must not
   * count itself as failed once `signal` is aborted (that is {@link PersistentQueue.close}).
   */
  start(entry: Entry): ((signal: AbortSignal) => Promise<void>) | undefined;
  /** Runs once an attempt is no longer in flight, before the queue is scheduled again. Must not throw. */
  afterAttempt?(entry: Entry): Promise<void>;
  /** Looks after an entry that is not pending; returns when (epoch ms) it wants to be looked at again. */
  visitSettled?(entry: Entry, now: number): number | undefined;
  /** Called with everything read from the directory on load (before the first schedule). */
  loaded?(entries: Entry[]): void;
  /** A file in the directory could not be read; it is left in place. */
  unreadable?(file: string, error: unknown): void;
}

/** Options of {@link PersistentQueue}. */
export interface PersistentQueueOptions<Entry extends QueueEntry> extends PersistentQueueHooks<Entry> {
  dir: string;
  /** Attempts running at once (at least 1). */
  concurrency: number;
}

/**
 * The retry machinery shared by the outboxes: entries persisted one JSON file each in a
 * directory, loaded on resume, attempted when due by at most `concurrency` at once, with a
 * single timer that wakes at the next due entry. What an attempt does, and what a settled
 * entry becomes, is left to the owner (see {@link PersistentQueueHooks}), which also emits
 * events. One process per directory.
 */
export class PersistentQueue<Entry extends QueueEntry> {
  /** Entries in the directory, by id; the owner adds and removes them. */
  readonly entries = new Map<string, Entry>();
  readonly #dir: string;
  readonly #concurrency: number;
  readonly #hooks: PersistentQueueHooks<Entry>;
  readonly #inFlight = new Map<string, AbortController>();
  readonly #background = new Set<Promise<void>>();
  #idleWaiters: Array<() => void> = [];
  #timer: NodeJS.Timeout | undefined;
  #ready: Promise<void> | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(options: PersistentQueueOptions<Entry>) {
    this.#dir = options.dir;
    this.#concurrency = Math.max(1, options.concurrency);
    this.#hooks = options;
  }

  /** True once {@link PersistentQueue.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Whether an attempt at entry `id` is running. */
  isInFlight(id: string): boolean {
    return this.#inFlight.has(id);
  }

  /** Loads the entries left in the directory and starts working on them. Idempotent. */
  resume(): Promise<void> {
    this.#ready ??= this.#load();
    return this.#ready;
  }

  /** Writes an entry to its file atomically. */
  persist(entry: Entry): Promise<void> {
    return writeJsonAtomic(this.#path(entry.id), entry);
  }

  /** Deletes the file of entry `id` (not the in-memory entry). */
  async remove(id: string): Promise<void> {
    await rm(this.#path(id), { force: true });
  }

  /**
   * Counts a failed attempt and, if `retryable` and the budget allows another, sets when
   * it starts. Returns the delay until then, or `undefined` when the entry is to be given up.
   */
  countFailure(entry: Entry, policy: RetryPolicy, retryable = true): number | undefined {
    entry.attempts += 1;
    const delay = backoffDelay(entry.attempts, policy);
    const nextAt = Date.now() + delay;
    if (!retryable || !withinBudget(entry.attempts, entry.firstAttemptAt ?? entry.createdAt, nextAt, policy)) {
      return undefined;
    }
    entry.nextAttemptAt = nextAt;
    return delay;
  }

  /** Keeps {@link PersistentQueue.idle} and {@link PersistentQueue.close} waiting for `work` (cleanup, say). */
  async track(work: Promise<void>): Promise<void> {
    this.#background.add(work);
    await work;
    this.#background.delete(work);
    this.#checkIdle();
  }

  /** Resolves when no entry is pending and nothing is in flight (or on close; at once after it). */
  async idle(): Promise<void> {
    if (this.#closed) return;
    await this.resume();
    if (this.#closed || this.#isIdle()) return;
    await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Stops: aborts attempts in flight with `reason` (their entries stay on disk as they
   * were) and waits for them, and for tracked work, to unwind. `closed` is true at once;
   * calling it again (also while it runs) returns the same promise.
   */
  close(reason?: unknown): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#closing = (async () => {
      for (const controller of [...this.#inFlight.values()]) controller.abort(reason);
      while (this.#inFlight.size > 0) await new Promise((resolve) => setTimeout(resolve, 10));
      await Promise.all(this.#background);
      for (const resolve of this.#idleWaiters.splice(0)) resolve();
    })();
    return this.#closing;
  }

  /**
   * Starts every due pending entry (up to the concurrency), visits settled ones, and arms
   * one timer for the next thing that becomes due. Call it whenever something changed.
   */
  schedule(): void {
    if (this.#closed || this.#ready === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const now = Date.now();
    let nextWake = Infinity;
    for (const entry of this.entries.values()) {
      if (entry.state !== 'pending') {
        const wake = this.#hooks.visitSettled?.(entry, now);
        if (wake !== undefined) nextWake = Math.min(nextWake, wake);
        continue;
      }
      if (this.#inFlight.has(entry.id)) continue;
      if (entry.nextAttemptAt > now) {
        nextWake = Math.min(nextWake, entry.nextAttemptAt);
        continue;
      }
      if (this.#inFlight.size >= this.#concurrency) continue;
      const attempt = this.#hooks.start(entry);
      if (attempt) void this.#run(entry, attempt);
    }
    if (nextWake !== Infinity) {
      // setTimeout's limit is 2^31-1 ms; wake up earlier and re-check rather than overflow.
      const delay = Math.min(Math.max(0, nextWake - now), 2 ** 31 - 1);
      this.#timer = setTimeout(() => this.schedule(), delay);
      this.#timer.unref();
    }
    this.#checkIdle();
  }

  async #load(): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    const entries = await readJsonDir<Entry>(this.#dir, (file, error) => this.#hooks.unreadable?.(file, error));
    for (const entry of entries) {
      if (entry.version !== 1 || typeof entry.id !== 'string' || this.entries.has(entry.id)) continue;
      this.entries.set(entry.id, entry);
    }
    this.#hooks.loaded?.(entries);
    this.schedule();
  }

  async #run(entry: Entry, attempt: (signal: AbortSignal) => Promise<void>): Promise<void> {
    const controller = new AbortController();
    this.#inFlight.set(entry.id, controller);
    entry.firstAttemptAt ??= Date.now();
    try {
      await attempt(controller.signal);
    } finally {
      this.#inFlight.delete(entry.id);
      await this.#hooks.afterAttempt?.(entry);
      this.schedule();
    }
  }

  #isIdle(): boolean {
    if (this.#inFlight.size > 0 || this.#background.size > 0) return false;
    for (const entry of this.entries.values()) if (entry.state === 'pending') return false;
    return true;
  }

  #checkIdle(): void {
    if (this.#idleWaiters.length > 0 && this.#isIdle()) for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }

  #path(id: string): string {
    return join(this.#dir, `${id}.json`);
  }
}
