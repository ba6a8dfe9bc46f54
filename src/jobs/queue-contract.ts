import type { StagingDescriptor } from './staging/index.js';
import type { JobCommon, RecordingJob } from './types.js';

/**
 * What the host and the workers agree on: the queue's name, the data of a queued job, and
 * where a job's files are staged. Changing any of it needs hosts and workers of the same
 * version.
 */

/** The default BullMQ queue name. */
export const QUEUE_NAME = 'sfu-recorder';

/** The data of a BullMQ job. */
export interface QueuedJobData {
  version: 1;
  job: RecordingJob;
  /** Where the inputs are and the outputs go; credentials come from the worker's own configuration. */
  staging: StagingDescriptor;
}

/** `sessions/<roomId>/<sessionId>/`: everything staged for one session. */
export function stagingSessionPrefix(roomId: string, sessionId: string): string {
  return `sessions/${roomId}/${sessionId}/`;
}

/** The staging key of one of a job's files (relative to the session directory). */
export function stagingKey(job: Pick<JobCommon, 'roomId' | 'sessionId'>, rel: string): string {
  return `${stagingSessionPrefix(job.roomId, job.sessionId)}${rel.split('\\').join('/')}`;
}
