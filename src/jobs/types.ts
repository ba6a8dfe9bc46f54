import type { JoinSpec, SegmentRenderSpec } from '../compose/steps.js';
import type { MuxOptions } from '../mux/options.js';

/**
 * The work after a call, as jobs that carry only data: ids, relative file names, time
 * ranges and options, never a closure, a `Map` or a path of the machine that made them. A
 * job runs in a directory shaped like the session's spool directory that holds its
 * {@link JobCommon.inputs}; it leaves its {@link JobCommon.outputs} there. Any process that
 * can fetch the inputs and store the outputs can run it (see {@link JobRunner}).
 */
export type RecordingJob = FinaliseStreamJob | RenderSegmentJob | JoinCompositeJob;

/** What every job has. */
export interface JobCommon {
  /** Deterministic: the same work of the same session attempt has the same id, so a job is never queued twice. */
  id: string;
  roomId: string;
  sessionId: string;
  /** Files the job reads, relative to the session directory (`timeline.jsonl`, `tracks/<id>.rtpj`, …). */
  inputs: string[];
  /** Files it may write, relative to the session directory. */
  outputs: string[];
}

/** Finalise one peer stream from its capture journals into `<streamId>.mp4` + `stream.json`. */
export interface FinaliseStreamJob extends JobCommon {
  kind: 'finalise-stream';
  peerId: string;
  streamId: string;
  options: Omit<MuxOptions, 'ffmpeg'>;
}

/** Render one composite segment (video mp4 + mixed audio wav) from finalised streams. */
export interface RenderSegmentJob extends JobCommon {
  kind: 'render-segment';
  spec: SegmentRenderSpec;
  /** Where the segment's files go, relative to the session directory. */
  segmentsDir: string;
}

/** Join every rendered segment into the composite mp4. */
export interface JoinCompositeJob extends JobCommon {
  kind: 'join-composite';
  spec: JoinSpec;
  segmentsDir: string;
  /** The joined mp4, relative to the session directory. */
  outFile: string;
}

/** The kinds of {@link RecordingJob}. */
export type RecordingJobKind = RecordingJob['kind'];

/** What a job reports when it is done. Plain data, like the job. */
export interface JobResult {
  /** Who ran it: `in-process`, or a worker's name (`<host>:<pid>` unless named). */
  worker: string;
  /** Epoch ms. */
  startedAt: number;
  finishedAt: number;
  /** The outputs it wrote, relative to the session directory. */
  produced: string[];
  /** Only for `finalise-stream`. */
  stream?: {
    status: 'finalised' | 'empty';
    /** Why there is no file (`empty`). */
    reason?: string;
    /** Media the file was made without. */
    dropped: Array<{ kind: 'audio' | 'video'; reason: string }>;
  };
}

/** Progress of a job, 0–100. */
export interface JobProgress {
  percent: number;
  /** Set once a worker has taken the job. */
  worker?: string;
}
