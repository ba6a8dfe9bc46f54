import type { SfuRecorderError } from '../errors.js';
import type { SessionEndReason } from '../timeline/events.js';
import type { StreamRef } from './recording-session.js';

export type { StreamRef } from './recording-session.js';

/** A session started recording. */
export interface SessionStartedInfo {
  roomId: string;
  sessionId: string;
  /** Epoch ms. */
  startedAt: number;
  /** The session's spool directory. */
  dir: string;
}

/** A session ended; finalisation of its files starts now. */
export interface SessionEndedInfo extends SessionStartedInfo {
  endedAt: number;
  reason: SessionEndReason;
  /** Streams recorded in the session (each becomes one individual file if it had media). */
  streams: StreamRef[];
}

/** A recording file is finished on local disk and is about to be stored. */
export interface RecordingFinalisedInfo {
  recordingType: 'individual' | 'composite';
  roomId: string;
  sessionId: string;
  peerId?: string;
  streamId?: string;
  /** Absolute path of the mp4 in the spool. */
  file: string;
  /** Epoch ms of the file's first and last media. */
  startedAt: number;
  stoppedAt: number;
  durationMs: number;
  sizeBytes: number;
  codecs: { video?: string; audio?: string };
  /** Media the file lacks because it could not be used (e.g. video that cannot be decoded: the file keeps the audio). */
  dropped?: Array<{ kind: 'audio' | 'video'; reason: string }>;
}

/** A session produced no recording at all (nobody sent media); no file is created. */
export interface SessionEmptyInfo {
  roomId: string;
  sessionId: string;
  reason: string;
}

/** Everything finalisation did for one session. */
export interface SessionFinalisedInfo {
  roomId: string;
  sessionId: string;
  dir: string;
  recordings: RecordingFinalisedInfo[];
  /** Streams that had no media and so no file, with why. */
  skipped: Array<{ peerId: string; streamId: string; reason: string }>;
  /**
   * Failures while finalising. The outputs they cost are tried again by the next
   * `recover()` (every start runs one), up to 3 runs; outputs already stored are never
   * stored again.
   */
  errors: SfuRecorderError[];
}

/** Context of an `error` event. */
export interface RecorderErrorContext {
  roomId?: string;
  sessionId?: string;
  producerId?: string;
  peerId?: string;
  streamId?: string;
}
