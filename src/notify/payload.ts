import type { RecordingMetadata, UploadResult } from '../storage/upload-destination.js';

/** Event types of recording results (webhook `type`). */
export type RecordingEventType = 'recording.success' | 'recording.failed';

/**
 * The `data` of a recording webhook. Field names are snake_case, as in the webhooks of the
 * hosted services users come from; times are ISO 8601 UTC strings; absent values are `null`.
 */
export interface RecordingWebhookData {
  recording_type: 'individual' | 'composite';
  room_id: string;
  session_id: string;
  /** `null` for composite recordings. */
  peer_id: string | null;
  /** `null` for composite recordings. */
  stream_id: string | null;
  /** Storage key (`<prefix>/<room_id>/<start_date>/...`). */
  key: string;
  /** `s3://bucket/key` or a local path; for a failed recording, the spool file that was kept. */
  location: string;
  /** Presigned / signed download URL (valid 12 hours), `null` when failed or unavailable. */
  url: string | null;
  url_expires_at: string | null;
  duration_ms: number;
  size_bytes: number;
  session_started_at: string;
  started_at: string;
  stopped_at: string;
  codecs: { video: string | null; audio: string | null };
  /** Only for `recording.failed`: why the file could not be stored. */
  error?: { code: string; message: string };
}

/**
 * A recording webhook body: the [Standard Webhooks](https://www.standardwebhooks.com/)
 * envelope `{ type, timestamp, data }`.
 */
export interface RecordingWebhookPayload {
  type: RecordingEventType;
  /** When the event happened (ISO 8601). */
  timestamp: string;
  data: RecordingWebhookData;
}

/** Builds the payload of a stored recording. */
export function successPayload(key: string, metadata: RecordingMetadata, result: UploadResult, at = Date.now()): RecordingWebhookPayload {
  return {
    type: 'recording.success',
    timestamp: iso(at),
    data: {
      ...common(key, metadata),
      location: result.location,
      url: result.url ?? null,
      url_expires_at: result.urlExpiresAt === undefined ? null : iso(result.urlExpiresAt),
      size_bytes: result.sizeBytes,
    },
  };
}

/** Builds the payload of a recording that could not be stored; `location` is the kept spool file. */
export function failurePayload(
  key: string,
  metadata: RecordingMetadata,
  spoolFile: string,
  error: { code: string; message: string },
  at = Date.now(),
): RecordingWebhookPayload {
  return {
    type: 'recording.failed',
    timestamp: iso(at),
    data: {
      ...common(key, metadata),
      location: spoolFile,
      url: null,
      url_expires_at: null,
      size_bytes: metadata.sizeBytes,
      error: { code: error.code, message: error.message },
    },
  };
}

function common(key: string, m: RecordingMetadata) {
  return {
    recording_type: m.recordingType,
    room_id: m.roomId,
    session_id: m.sessionId,
    peer_id: m.peerId ?? null,
    stream_id: m.streamId ?? null,
    key,
    duration_ms: m.durationMs,
    session_started_at: iso(m.sessionStartedAt),
    started_at: iso(m.startedAt),
    stopped_at: iso(m.stoppedAt),
    codecs: { video: m.codecs.video ?? null, audio: m.codecs.audio ?? null },
  };
}

function iso(epochMs: number): string {
  return new Date(epochMs).toISOString();
}
