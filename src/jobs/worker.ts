import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { link, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { availableParallelism, hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { EnhancedEventEmitter } from '../enhanced-events.js';
import { toSfuRecorderError } from '../errors.js';
import { resolveFfmpegBinaries, type FfmpegBinaries } from '../ffmpeg/index.js';
import { describeJob, executeJob } from './execute.js';
import { QUEUE_NAME, stagingKey, type QueuedJobData } from './queue-contract.js';
import { openStaging, type StagingDescriptor, type StagingStore } from './staging/index.js';
import type { JobResult, RecordingJob } from './types.js';

/** Options of {@link RecordingJobWorker}. */
export interface RecordingJobWorkerOptions {
  /** `redis://…` or an ioredis connection of yours (duplicated, not closed). */
  redis: string | Redis;
  /** Jobs at once. Default 1: one job per core is the usual deployment. */
  concurrency?: number;
  /**
   * Its own scratch directory (inputs fetched, outputs made), one per worker: what a killed
   * worker left there is removed when the next one starts. Default a directory under the
   * system temp dir.
   */
  workDir?: string;
  /** Named in every result and in the host's `sessionStatus`. Default `<hostname>:<pid>`. */
  name?: string;
  /** The staging store to use; default: the one each job names, with credentials from `stagingCredentials` or the environment. */
  staging?: StagingStore;
  /** Credentials for an S3 staging store that jobs name (default: the AWS SDK's chain: `AWS_ACCESS_KEY_ID`, …). */
  stagingCredentials?: { key: string; secret: string };
  queueName?: string;
  /** How long a job's lock lasts without renewal; a killed worker's job goes to another after about this. Default 30 000 ms. */
  lockDurationMs?: number;
  /** How often stalled jobs are looked for. Default `lockDurationMs`. */
  stalledIntervalMs?: number;
  ffmpegPath?: string;
  ffprobePath?: string;
}

/** Events of {@link RecordingJobWorker}. */
export interface RecordingJobWorkerEvents {
  jobstarted: [{ job: RecordingJob; attempt: number }];
  jobdone: [{ job: RecordingJob; result: JobResult }];
  jobfailed: [{ job: RecordingJob; attempt: number; error: Error }];
  error: [Error];
}

/** Inputs kept for other jobs of the same session (segments read the same streams). */
const INPUT_CACHE_MAX_AGE_MS = 30 * 60_000;

/**
 * A process's share of the scale-out work: takes jobs from the BullMQ queue (see
 * {@link BullMqJobRunner}), fetches their inputs from the staging store into its own work
 * directory, runs them with ffmpeg, and puts the outputs back. It needs no disk shared with
 * the SFU host. `sfu-recorder worker` runs one.
 */
export class RecordingJobWorker extends EnhancedEventEmitter<RecordingJobWorkerEvents> {
  readonly name: string;
  readonly workDir: string;
  readonly #worker: Worker<QueuedJobData, JobResult>;
  readonly #connection: Redis;
  readonly #ffmpeg: FfmpegBinaries;
  readonly #threads: number;
  readonly #stores = new Map<string, StagingStore>();
  readonly #options: RecordingJobWorkerOptions;
  #closing: Promise<void> | undefined;
  #closed = false;

  constructor(options: RecordingJobWorkerOptions) {
    super();
    this.#options = options;
    this.name = options.name ?? `${hostname()}:${process.pid}`;
    this.workDir = options.workDir ?? join(tmpdir(), `sfu-recorder-worker-${process.pid}`);
    this.#ffmpeg = resolveFfmpegBinaries({
      ...(options.ffmpegPath ? { ffmpegPath: options.ffmpegPath } : {}),
      ...(options.ffprobePath ? { ffprobePath: options.ffprobePath } : {}),
    });
    const concurrency = Math.max(1, options.concurrency ?? 1);
    const cores = availableParallelism();
    this.#threads = concurrency > 1 ? Math.max(1, Math.floor(cores / concurrency)) : 0;
    this.#connection =
      typeof options.redis === 'string'
        ? new Redis(options.redis, { maxRetriesPerRequest: null })
        : options.redis.duplicate({ maxRetriesPerRequest: null });
    this.#connection.on('error', () => {});
    const lockDuration = options.lockDurationMs ?? 30_000;
    this.#worker = new Worker<QueuedJobData, JobResult>(options.queueName ?? QUEUE_NAME, (job, token, signal) => this.#process(job, signal), {
      connection: this.#connection,
      concurrency,
      lockDuration,
      stalledInterval: options.stalledIntervalMs ?? lockDuration,
      // A job whose worker died is given to another; twice more at most.
      maxStalledCount: 2,
      autorun: false,
    });
    this.#worker.on('error', (error) => this.emit('error', error));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Starts taking jobs; resolves when the worker is closed. */
  async run(): Promise<void> {
    // What a killed predecessor on this work directory left mid-job (one worker per work directory).
    await rm(join(this.workDir, 'jobs'), { recursive: true, force: true });
    await mkdir(this.workDir, { recursive: true });
    await this.#worker.run();
  }

  /** Waits until the worker is connected and ready to take jobs. */
  waitUntilReady(): Promise<unknown> {
    return this.#worker.waitUntilReady();
  }

  /** Stops taking jobs and lets the ones in flight finish (`force`: abandon them: another worker takes them over). */
  close(force = false): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#closing = (async () => {
      await this.#worker.close(force);
      for (const store of this.#stores.values()) await store.close();
      this.#connection.disconnect();
    })();
    return this.#closing;
  }

  async #process(bullJob: Job<QueuedJobData, JobResult>, signal?: AbortSignal): Promise<JobResult> {
    const { job, staging } = bullJob.data;
    const attempt = bullJob.attemptsMade + 1;
    this.emit('jobstarted', { job, attempt });
    const dir = join(this.workDir, 'jobs', `${job.id}-${attempt}`);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const reportProgress = throttled((percent: number) => void bullJob.updateProgress({ percent, worker: this.name }).catch(() => {}));
    try {
      await bullJob.updateProgress({ percent: 0, worker: this.name });
      const store = this.#store(staging);
      for (const rel of job.inputs) await this.#fetch(store, stagingKey(job, rel), join(dir, rel), signal);
      const result = await executeJob(job, dir, {
        ffmpeg: this.#ffmpeg,
        threads: job.kind === 'render-segment' ? this.#threads : 0,
        worker: this.name,
        ...(signal ? { signal } : {}),
        onProgress: reportProgress,
      });
      for (const rel of result.produced) await store.put(stagingKey(job, rel), join(dir, rel), signal);
      this.emit('jobdone', { job, result });
      return result;
    } catch (error) {
      const failure = toSfuRecorderError(error, 'ERR_JOB_FAILED', describeJob(job));
      const short = (failure as { shortMessage?: string }).shortMessage ?? failure.message;
      const reported = new Error(`${failure.code}: ${short.split('\n')[0]}`);
      this.emit('jobfailed', { job, attempt, error: reported });
      throw reported;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  #store(descriptor: StagingDescriptor): StagingStore {
    if (this.#options.staging) return this.#options.staging;
    const id = JSON.stringify(descriptor);
    let store = this.#stores.get(id);
    if (!store) {
      store = openStaging(descriptor, this.#options.stagingCredentials);
      this.#stores.set(id, store);
    }
    return store;
  }

  /** Fetches an input, through a cache: the segments of one session read the same stream files. */
  async #fetch(store: StagingStore, key: string, target: string, signal?: AbortSignal): Promise<void> {
    const there = await store.stat(key);
    const cacheDir = join(this.workDir, 'cache');
    const cached = join(cacheDir, `${createHash('sha256').update(`${store.description}\0${key}`).digest('hex')}-${there?.sizeBytes ?? 0}`);
    await mkdir(dirname(target), { recursive: true });
    if (!there || !existsSync(cached)) {
      await store.get(key, there ? cached : target, signal);
      if (!there) return;
      void pruneCache(cacheDir);
    }
    await link(cached, target);
  }
}

/** Removes cached inputs not used for a while. */
async function pruneCache(dir: string): Promise<void> {
  try {
    const now = Date.now();
    for (const name of await readdir(dir)) {
      const file = join(dir, name);
      const { mtimeMs, nlink } = await stat(file);
      if (nlink <= 1 && now - mtimeMs > INPUT_CACHE_MAX_AGE_MS) await rm(file, { force: true });
    }
  } catch {
    // A cache that cannot be pruned is only bigger.
  }
}

/** At most one call per half second, and always the last value (100). */
function throttled(fn: (percent: number) => void): (percent: number) => void {
  let last = 0;
  return (percent) => {
    const now = Date.now();
    if (percent < 100 && now - last < 500) return;
    last = now;
    fn(percent);
  };
}
