import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Job, Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { canceledError, closedError, SfuRecorderError } from '../errors.js';
import { describeJob } from './execute.js';
import type { JobRunner, JobRunOptions } from './runner.js';
import type { StagingStore } from './staging/index.js';
import { QUEUE_NAME, stagingKey, stagingSessionPrefix, type QueuedJobData } from './queue-contract.js';
import type { JobProgress, JobResult, RecordingJob } from './types.js';

/** Options of {@link BullMqJobRunner}. */
export interface BullMqJobRunnerOptions {
  /** `redis://[:password@]host:port[/db]`, or an ioredis connection of yours (not closed by the runner). */
  redis: string | Redis;
  /** Where the host stages job inputs and workers leave their outputs. */
  staging: StagingStore;
  /** BullMQ queue name. Default `sfu-recorder`; workers must use the same. */
  queueName?: string;
  /** Runs of a job before it counts as failed (a stalled run counts too). Default 3. */
  attempts?: number;
  /** First retry delay, doubled each time. Default 2000 ms. */
  backoffMs?: number;
  /** Ended sessions worked on at once. Default 32: the workers, not the host, bound the work. */
  sessionConcurrency?: number;
  /** How often jobs are checked on when no event came (lost events, a Redis that lost its data). Default 3000 ms. */
  pollMs?: number;
}

interface Waiter {
  job: RecordingJob;
  resolve(result: JobResult): void;
  reject(error: unknown): void;
  onProgress: ((progress: JobProgress) => void) | undefined;
}

/**
 * The scale-out {@link JobRunner}: jobs go to a BullMQ queue on Redis and are run by
 * `sfu-recorder worker` processes on any machine. Workers share no disk with the host: the
 * host stages each job's inputs in `staging` (keys `sessions/<room>/<session>/<file>`),
 * workers fetch them, run the job and put its outputs back, and the host fetches what it
 * delivers itself. Storage credentials of rooms stay on the host: delivery runs here.
 *
 * Each job has a deterministic id, so a restarted host finds the jobs it queued, and a
 * job given to a second worker (the first was killed: BullMQ's stalled-job check) makes
 * the same outputs. Waiting follows the queue's events, and every few seconds the jobs
 * themselves, so lost events or a Redis that came back empty (its jobs are queued again)
 * do not leave a session waiting.
 */
export class BullMqJobRunner implements JobRunner {
  readonly name = 'bullmq';
  readonly sessionConcurrency: number;
  readonly #staging: StagingStore;
  readonly #queue: Queue;
  readonly #events: QueueEvents;
  readonly #connections: Redis[] = [];
  readonly #attempts: number;
  readonly #backoffMs: number;
  readonly #waiters = new Map<string, Waiter>();
  readonly #staged = new Map<string, Promise<void>>();
  readonly #poll: NodeJS.Timeout;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(options: BullMqJobRunnerOptions) {
    this.#staging = options.staging;
    this.#attempts = options.attempts ?? 3;
    this.#backoffMs = options.backoffMs ?? 2000;
    this.sessionConcurrency = options.sessionConcurrency ?? 32;
    const queueName = options.queueName ?? QUEUE_NAME;
    const connect = (): Redis => {
      // `maxRetriesPerRequest: null`: while Redis is away commands wait for it instead of failing.
      const connection =
        typeof options.redis === 'string'
          ? new Redis(options.redis, { maxRetriesPerRequest: null })
          : options.redis.duplicate({ maxRetriesPerRequest: null });
      connection.on('error', () => {
        // Reconnecting is ioredis's job; a job that cannot progress is seen by its waiter.
      });
      this.#connections.push(connection);
      return connection;
    };
    this.#queue = new Queue(queueName, { connection: connect() });
    this.#queue.on('error', () => {});
    this.#events = new QueueEvents(queueName, { connection: connect() });
    this.#events.on('error', () => {});
    this.#events.on('completed', ({ jobId, returnvalue }) => this.#completed(jobId, returnvalue));
    this.#events.on('failed', ({ jobId }) => void this.#check(jobId));
    this.#events.on('progress', ({ jobId, data }) => {
      const waiter = this.#waiters.get(jobId);
      if (waiter && isProgress(data)) waiter.onProgress?.(data);
    });
    this.#poll = setInterval(() => {
      for (const id of this.#waiters.keys()) void this.#check(id);
    }, options.pollMs ?? 3000);
    this.#poll.unref();
  }

  get closed(): boolean {
    return this.#closed;
  }

  async run(job: RecordingJob, sessionDir: string, options: JobRunOptions = {}): Promise<JobResult> {
    if (this.#closed) throw closedError('the BullMQ job runner');
    const { signal } = options;
    if (signal?.aborted) throw canceledError(describeJob(job), signal.reason);
    if (this.#waiters.has(job.id)) throw new SfuRecorderError('ERR_INVALID_STATE', `${describeJob(job)} is already being waited for`);
    await Promise.all(job.inputs.map((rel) => this.#stage(job, sessionDir, rel, signal)));
    let result = await this.#runOnce(job, options);
    // A job done before whose outputs are no longer staged (released after an earlier
    // finalisation of the session) is done again.
    const gone = await Promise.all(result.produced.map(async (rel) => (await this.#staging.stat(stagingKey(job, rel))) === undefined));
    if (gone.some(Boolean)) {
      await (await Job.fromId(this.#queue, job.id))?.remove();
      result = await this.#runOnce(job, options);
    }
    for (const rel of options.returns ?? []) {
      if (result.produced.includes(rel)) await this.#staging.get(stagingKey(job, rel), join(sessionDir, rel), signal);
    }
    return result;
  }

  /** Queues the job (or finds it queued or done already) and waits for its result. */
  async #runOnce(job: RecordingJob, options: JobRunOptions): Promise<JobResult> {
    const { signal } = options;
    const done = new Promise<JobResult>((resolve, reject) => {
      this.#waiters.set(job.id, { job, resolve, reject, onProgress: options.onProgress });
    });
    const onAbort = () => this.#settle(job.id, { error: canceledError(describeJob(job), signal?.reason) });
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await this.#add(job);
      void this.#check(job.id); // done already (a restarted host's job)?
      return await done;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.#waiters.delete(job.id);
    }
  }

  inputsLocation(roomId: string, sessionId: string): string {
    return `${this.#staging.description.replace(/\/$/, '')}/${stagingSessionPrefix(roomId, sessionId)}`;
  }

  /** Deletes a session's staged files, unless a re-run may still need them. */
  async release(roomId: string, sessionId: string, options: { keepInputs: boolean }): Promise<void> {
    const prefix = stagingSessionPrefix(roomId, sessionId);
    for (const key of this.#staged.keys()) if (key.startsWith(prefix)) this.#staged.delete(key);
    if (!options.keepInputs) await this.#staging.deletePrefix(prefix);
  }

  /** Closes the queue connections it opened; jobs in Redis stay for the workers and the next start. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    clearInterval(this.#poll);
    for (const id of [...this.#waiters.keys()]) this.#settle(id, { error: closedError('the BullMQ job runner') });
    this.#closing = (async () => {
      await Promise.allSettled([this.#events.close(), this.#queue.close()]);
      for (const connection of this.#connections) connection.disconnect();
    })();
    return this.#closing;
  }

  /**
   * Uploads an input once per host process (a restarted host skips what is staged whole).
   * An input the host does not have (a segment a worker rendered) must be staged already.
   */
  #stage(job: RecordingJob, sessionDir: string, rel: string, signal?: AbortSignal): Promise<void> {
    const key = stagingKey(job, rel);
    let staged = this.#staged.get(key);
    if (!staged) {
      staged = (async () => {
        const file = join(sessionDir, rel);
        const local = await stat(file).catch(() => undefined);
        const there = await this.#staging.stat(key);
        if (!local) {
          if (there) return;
          throw new SfuRecorderError('ERR_STAGING_MISSING', `${describeJob(job)} needs ${rel}, which is neither in ${sessionDir} nor staged at ${key}`);
        }
        if (there?.sizeBytes === local.size) return;
        await this.#staging.put(key, file, signal);
      })();
      staged.catch(() => this.#staged.delete(key));
      this.#staged.set(key, staged);
    }
    return staged;
  }

  async #add(job: RecordingJob): Promise<void> {
    const data: QueuedJobData = { version: 1, job, staging: this.#staging.descriptor };
    await this.#queue.add(job.kind, data, {
      jobId: job.id,
      attempts: this.#attempts,
      backoff: { type: 'exponential', delay: this.#backoffMs },
      // Kept a while after the end, so a host that restarts finds the result of what it queued.
      removeOnComplete: { age: 24 * 3600 },
      removeOnFail: { age: 7 * 24 * 3600 },
    });
  }

  #completed(jobId: string, returnvalue: unknown): void {
    if (!this.#waiters.has(jobId)) return;
    const result = parseResult(returnvalue);
    if (result) this.#settle(jobId, { result });
    else void this.#check(jobId);
  }

  /** Looks at the job itself: done, failed for good, or gone (Redis lost it: queued again). */
  async #check(jobId: string): Promise<void> {
    const waiter = this.#waiters.get(jobId);
    if (!waiter || this.#closed) return;
    try {
      const job = await Job.fromId(this.#queue, jobId);
      if (!this.#waiters.has(jobId)) return;
      if (!job) {
        await this.#add(waiter.job);
        return;
      }
      const state = await job.getState();
      if (state === 'completed') {
        const result = parseResult(job.returnvalue);
        if (result) this.#settle(jobId, { result });
        else {
          await job.remove();
          await this.#add(waiter.job);
        }
      } else if (state === 'failed') {
        this.#settle(jobId, {
          error: new SfuRecorderError(
            'ERR_JOB_FAILED',
            `${describeJob(waiter.job)} failed on ${job.attemptsMade} attempt${job.attemptsMade === 1 ? '' : 's'}: ${job.failedReason ?? 'no reason given'}`,
          ),
        });
      }
    } catch {
      // Redis is away: the next poll looks again.
    }
  }

  #settle(jobId: string, outcome: { result: JobResult } | { error: unknown }): void {
    const waiter = this.#waiters.get(jobId);
    if (!waiter) return;
    this.#waiters.delete(jobId);
    if ('result' in outcome) waiter.resolve(outcome.result);
    else waiter.reject(outcome.error);
  }
}

function parseResult(value: unknown): JobResult | undefined {
  let parsed = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  const result = parsed as Partial<JobResult> | null;
  return result && typeof result.worker === 'string' && Array.isArray(result.produced) ? (result as JobResult) : undefined;
}

function isProgress(data: unknown): data is JobProgress {
  return typeof data === 'object' && data !== null && typeof (data as JobProgress).percent === 'number';
}
