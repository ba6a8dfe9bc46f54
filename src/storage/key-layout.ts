import { assertDerivedId, assertSafeSegment, MAX_KEY_SEGMENT_BYTES } from '../config/ids.js';
import { normaliseKeyPrefix } from '../config/key-prefix.js';
import { InvalidConfigError } from '../errors.js';

/** S3's limit on a key, in UTF-8 bytes; the layout's budgets keep every key under it. */
export const MAX_KEY_BYTES = 1024;

/** What a storage key is made of. */
export interface RecordingKeyParts {
  recordingType: 'individual' | 'composite';
  /** Already normalised or not: leading/trailing `/` are dropped, no prefix means no empty segment. */
  prefix?: string;
  roomId: string;
  sessionId: string;
  /** Epoch ms of the session start: gives `start_date` (UTC) and the composite's `epoch`. */
  sessionStartedAt: number;
  /** Required for `individual`. */
  peerId?: string;
  /** Required for `individual`. */
  streamId?: string;
}

/**
 * The storage key of a recording, exactly as documented:
 *
 * - composite: `<prefix>/<room_id>/<start_date>/<session_id>/Rec-<session_id>-<epoch>.mp4`
 * - individual: `<prefix>/<room_id>/<start_date>/<session_id>/<peer_id>/<stream_id>/<stream_id>.mp4`
 *
 * `start_date` is the session start as UTC `YYYYMMDD`, `epoch` the session start in ms.
 *
 * @throws {InvalidConfigError} when an id would break the layout (`/`, `..`, empty,
 *   control characters) or the start time is not a valid epoch: such a file is refused,
 *   never written somewhere else.
 */
export function recordingKey(parts: RecordingKeyParts): string {
  assertDerivedId('roomId', parts.roomId);
  assertDerivedId('sessionId', parts.sessionId);
  const epoch = sessionEpoch(parts.sessionStartedAt);
  const prefix = normaliseKeyPrefix('prefix', parts.prefix);
  const segments = prefix === undefined ? [] : [prefix];
  segments.push(parts.roomId, formatStartDate(epoch), parts.sessionId);
  if (parts.recordingType === 'composite') {
    segments.push(`Rec-${parts.sessionId}-${epoch}.mp4`);
  } else if (parts.recordingType === 'individual') {
    assertDerivedId('peerId', parts.peerId);
    assertDerivedId('streamId', parts.streamId);
    segments.push(parts.peerId, parts.streamId, `${parts.streamId}.mp4`);
  } else {
    throw new InvalidConfigError(
      'recordingType',
      `recordingType must be "individual" or "composite" (got ${JSON.stringify(parts.recordingType)})`,
    );
  }
  const key = segments.join('/');
  assertSafeKey('key', key);
  return key;
}


/** `YYYYMMDD` of an epoch-ms instant, in UTC. */
export function formatStartDate(epochMs: number): string {
  const date = new Date(epochMs);
  const y = String(date.getUTCFullYear()).padStart(4, '0');
  const m = String(date.getUTCMonth() + 1).padStart(2, '0');
  const d = String(date.getUTCDate()).padStart(2, '0');
  return `${y}${m}${d}`;
}

/**
 * Throws unless `key` is a relative key whose every segment is safe (no empty, `.` or `..`
 * segment, no `\`, no control character). Used for keys that did not come from
 * {@link recordingKey}, e.g. an explicit key or a key read back from the outbox.
 */
export function assertSafeKey(field: string, key: unknown): asserts key is string {
  if (typeof key !== 'string' || key === '') {
    throw new InvalidConfigError(field, `${field} must be a non-empty string`);
  }
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_KEY_BYTES) {
    throw new InvalidConfigError(field, `${field} is ${bytes} bytes in UTF-8; storage keys are at most ${MAX_KEY_BYTES} bytes`);
  }
  for (const segment of key.split('/')) {
    assertSafeSegment(field, segment, MAX_KEY_SEGMENT_BYTES, 'each key segment becomes a file name in local storage');
  }
}

function sessionEpoch(value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 253402300799999) {
    throw new InvalidConfigError(
      'sessionStartedAt',
      `sessionStartedAt must be an epoch time in milliseconds (got ${String(value)})`,
    );
  }
  // Same rounding as the spool's composite file name.
  return Math.round(value);
}
