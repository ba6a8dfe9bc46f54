import { setMaxListeners } from 'node:events';
import { availableParallelism } from 'node:os';
import { closedError } from '../errors.js';
import type { FfmpegBinaries } from '../ffmpeg/index.js';
import { executeJob } from './execute.js';
import type { JobRunner, JobRunOptions } from './runner.js';
import type { JobResult, RecordingJob } from './types.js';

/** Options of {@link InProcessJobRunner}. */
export interface InProcessJobRunnerOptions {
  ffmpeg: FfmpegBinaries;
  /** Jobs at once. Default `os.availableParallelism()`. */
  concurrency?: number;
}

/**
 * The default {@link JobRunner}: jobs run in this process, in the spool itself (nothing is
 * copied), a few at a time, and ended sessions one at a time, so finalisation never takes
 * more than the machine's cores from the live calls beside it.
 */
export class InProcessJobRunner implements JobRunner {
  readonly name = 'in-process';
  readonly sessionConcurrency = 1;
  readonly runsInSpool = true;
  readonly #ffmpeg: FfmpegBinaries;
  readonly #concurrency: number;
  readonly #threads: number;
  readonly #waiting: Array<() => void> = [];
  readonly #abort = new AbortController();
  #running = 0;
  #closed = false;

  constructor(options: InProcessJobRunnerOptions) {
    this.#ffmpeg = options.ffmpeg;
    const cores = availableParallelism();
    this.#concurrency = Math.max(1, options.concurrency ?? cores);
    // Parallel encoders share the cores instead of each starting a thread per core.
    this.#threads = this.#concurrency > 1 ? Math.max(1, Math.floor(cores / this.#concurrency)) : 0;
    // Each running job listens to it.
    setMaxListeners(0, this.#abort.signal);
  }

  get closed(): boolean {
    return this.#closed;
  }

  async run(job: RecordingJob, sessionDir: string, options: JobRunOptions = {}): Promise<JobResult> {
    if (this.#closed) throw closedError('the in-process job runner');
    await this.#slot();
    const signal = options.signal ? AbortSignal.any([options.signal, this.#abort.signal]) : this.#abort.signal;
    try {
      options.onProgress?.({ percent: 0, worker: this.name });
      return await executeJob(job, sessionDir, {
        ffmpeg: this.#ffmpeg,
        threads: job.kind === 'render-segment' ? this.#threads : 0,
        worker: this.name,
        signal,
        ...(options.onProgress ? { onProgress: (percent: number) => options.onProgress!({ percent, worker: this.name }) } : {}),
      });
    } finally {
      this.#running--;
      this.#waiting.shift()?.();
    }
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#abort.abort(closedError('the in-process job runner'));
    for (const wake of this.#waiting.splice(0)) wake();
    return Promise.resolve();
  }

  async #slot(): Promise<void> {
    while (this.#running >= this.#concurrency) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    if (this.#closed) throw closedError('the in-process job runner');
    this.#running++;
  }
}
