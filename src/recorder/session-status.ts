import { SfuRecorderError } from '../errors.js';
import type { JobProgress, JobResult, RecordingJob, RecordingJobKind } from '../jobs/types.js';

/** One job of a session, as {@link SfuRecorder.sessionStatus} shows it. */
export interface JobStatus {
  id: string;
  kind: RecordingJobKind;
  /** `queued` until a runner starts it; `done` and `failed` are final. */
  state: 'queued' | 'active' | 'done' | 'failed';
  /** 0–100. */
  percent: number;
  /** Who runs or ran it (`in-process`, or a worker's name). */
  worker?: string;
  peerId?: string;
  streamId?: string;
  /** Composite segment index (render-segment jobs). */
  segment?: number;
  /** Epoch ms, once done. */
  startedAt?: number;
  finishedAt?: number;
  /** Why it failed. */
  error?: { code: string; message: string };
}

/** Finalisation state of one session (see {@link SfuRecorder.sessionStatus}). */
export interface SessionJobsStatus {
  roomId: string;
  sessionId: string;
  /** `finalising` while its jobs run; `finalised` when every output was made; `failed` when one was not. */
  state: 'finalising' | 'finalised' | 'failed';
  /** The job runner's name. */
  runner: string;
  /** Over every job, weighting each alike. */
  percent: number;
  jobs: JobStatus[];
}

/** Sessions remembered after they are finalised, newest kept. */
const KEPT_SESSIONS = 1000;

/** Job state per session, in memory. */
export class SessionStatusBoard {
  readonly #sessions = new Map<string, SessionJobsStatus>();
  readonly #sessionOf = new WeakMap<JobStatus, string>();

  /** Starts (or restarts) a session's board; returns its key. */
  begin(roomId: string, sessionId: string, runner: string): string {
    this.#sessions.delete(sessionId);
    this.#sessions.set(sessionId, { roomId, sessionId, state: 'finalising', runner, percent: 0, jobs: [] });
    while (this.#sessions.size > KEPT_SESSIONS) this.#sessions.delete(this.#sessions.keys().next().value!);
    return sessionId;
  }

  get(sessionId: string): SessionJobsStatus | undefined {
    const status = this.#sessions.get(sessionId);
    return status ? structuredClone(status) : undefined;
  }

  addJob(sessionId: string, job: RecordingJob): JobStatus {
    const entry: JobStatus = { id: job.id, kind: job.kind, state: 'queued', percent: 0 };
    if (job.kind === 'finalise-stream') Object.assign(entry, { peerId: job.peerId, streamId: job.streamId });
    if (job.kind === 'render-segment') entry.segment = job.spec.segment.index;
    this.#sessions.get(sessionId)?.jobs.push(entry);
    this.#sessionOf.set(entry, sessionId);
    this.#update(sessionId);
    return entry;
  }

  progress(entry: JobStatus, progress: JobProgress): void {
    if (entry.state === 'done' || entry.state === 'failed') return;
    entry.state = 'active';
    entry.percent = Math.max(entry.percent, Math.min(100, Math.floor(progress.percent)));
    if (progress.worker) entry.worker = progress.worker;
    this.#update(this.#sessionOf.get(entry) ?? '');
  }

  done(entry: JobStatus, result: JobResult): void {
    Object.assign(entry, { state: 'done', percent: 100, worker: result.worker, startedAt: result.startedAt, finishedAt: result.finishedAt });
    this.#update(this.#sessionOf.get(entry) ?? '');
  }

  failed(entry: JobStatus, error: unknown): void {
    entry.state = 'failed';
    entry.error =
      error instanceof SfuRecorderError
        ? { code: error.code, message: (error as { shortMessage?: string }).shortMessage ?? error.message }
        : { code: 'ERR_JOB_FAILED', message: String((error as Error)?.message ?? error) };
    this.#update(this.#sessionOf.get(entry) ?? '');
  }

  finish(sessionId: string, state: 'finalised' | 'failed'): void {
    const status = this.#sessions.get(sessionId);
    if (!status) return;
    status.state = state;
    this.#update(sessionId);
  }


  #update(sessionId: string): void {
    const status = this.#sessions.get(sessionId);
    if (!status || status.jobs.length === 0) return;
    status.percent = Math.floor(status.jobs.reduce((sum, j) => sum + j.percent, 0) / status.jobs.length);
  }
}
