import type { JobProgress, JobResult, RecordingJob } from './types.js';

/** Per-run controls of {@link JobRunner.run}. */
export interface JobRunOptions {
  /** Aborting gives the job up here (a runner may let a remote worker finish it). */
  signal?: AbortSignal;
  onProgress?: (progress: JobProgress) => void;
  /**
   * Outputs the host needs in its own spool afterwards (a finalised stream to deliver, the
   * joined composite). A runner whose jobs run elsewhere fetches them into `sessionDir`.
   */
  returns?: string[];
}

/**
 * Where the work after a call runs: the recorder's backend. The recorder plans each ended
 * session into {@link RecordingJob}s (plain data) and hands each to `run`; the runner
 * decides where it executes, and must make the job's inputs (files in `sessionDir`,
 * relative names in `job.inputs`) available there and its `returns` available in
 * `sessionDir` before it resolves.
 *
 * Two come with the library: {@link InProcessJobRunner} (the default: this process, in the
 * spool) and {@link BullMqJobRunner} (Redis queue, `sfu-recorder worker` processes on any
 * machine, files staged in an object store). A third (a cloud batch service, a GPU encoder
 * pool) implements this interface and is passed as `jobs: { runner }`; the recorder needs
 * nothing else.
 *
 * Contract:
 * - `run` resolves once with the job's {@link JobResult}, or rejects with an
 *   {@link SfuRecorderError} (`ERR_JOB_FAILED` naming the job and the last cause;
 *   `ERR_CANCELED` when `signal` aborted). A runner retries as it sees fit; a rejection is
 *   final for this attempt of the session.
 * - Jobs with the same `id` are the same work: running one twice (a crashed worker's job
 *   given to another) must leave the same outputs, never a partial one.
 * - `release` is called once a session is finalised, with whether its inputs are still
 *   wanted (they are kept for a re-run while an output failed).
 */
export interface JobRunner {
  /** `in-process`, `bullmq`, or the third runner's name. */
  readonly name: string;
  /**
   * True when jobs run in the host's spool itself (nothing is copied): the recorder then
   * checks the stream files before planning the composite. Default false.
   */
  readonly runsInSpool?: boolean;
  /** How many ended sessions the recorder works on at once with this runner. */
  readonly sessionConcurrency: number;
  run(job: RecordingJob, sessionDir: string, options?: JobRunOptions): Promise<JobResult>;
  /** Where a session's inputs are kept for a re-run (named in `recording.failed`); optional. */
  inputsLocation?(roomId: string, sessionId: string): string;
  /** Drops what the runner keeps for a session (staged copies); optional. */
  release?(roomId: string, sessionId: string, options: { keepInputs: boolean }): Promise<void>;
  /** Stops taking jobs; jobs in flight are given up here. Idempotent. */
  close(): Promise<void>;
}
