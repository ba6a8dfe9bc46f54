import { assertDerivedId } from '../config/ids.js';
import { InvalidConfigError, SfuRecorderError, type SfuRecorderErrorCode } from '../errors.js';

/** MIME type of every recording. */
export const MP4_CONTENT_TYPE = 'video/mp4';

/** What is known about a finished recording file; travels with it to storage and into notifications. */
export interface RecordingMetadata {
  recordingType: 'individual' | 'composite';
  roomId: string;
  sessionId: string;
  /** Present for individual recordings. */
  peerId?: string;
  /** Present for individual recordings. */
  streamId?: string;
  /** Epoch ms of the session start (gives the key's `start_date` and the composite's `epoch`). */
  sessionStartedAt: number;
  /** Epoch ms of the file's first media. */
  startedAt: number;
  /** Epoch ms of the file's last media. */
  stoppedAt: number;
  durationMs: number;
  sizeBytes: number;
  /** Output codecs, e.g. `{ video: 'h264', audio: 'aac' }`. */
  codecs: { video?: string; audio?: string };
}

/** One finished file to store. */
export interface UploadRequest {
  /** Absolute path of the file. The destination reads it and must leave it in place. */
  file: string;
  /** Storage key (see `recordingKey`); relative, `/`-separated, no prefix handling needed. */
  key: string;
  /** Always `video/mp4` for recordings. */
  contentType: string;
  metadata: RecordingMetadata;
  /** Aborted when the recorder closes; the destination should stop promptly and throw. */
  signal?: AbortSignal;
  /** Progress in bytes, if the destination can report it. */
  onProgress?(loadedBytes: number, totalBytes: number): void;
}

/** Where a file went. */
export interface UploadResult {
  /** `s3://bucket/key`, a local path, or the custom destination's own notation. */
  location: string;
  /** A URL that downloads the file without further credentials (presigned / signed). */
  url?: string;
  /** Epoch ms at which {@link UploadResult.url} stops working. */
  urlExpiresAt?: number;
  /** Bytes stored. */
  sizeBytes: number;
}

/**
 * A place finished recordings are stored. The S3 destination and the default local
 * storage implement it; so can any custom storage.
 *
 * Contract: `upload()` resolves only once the file is durably stored (it will be deleted
 * from the spool after that), must be safe to call again for the same key (retries and
 * restarts re-upload), and throws on failure. Throw an {@link UploadError} with
 * `retryable: false` for failures that retrying cannot fix (access denied, no such
 * bucket); any other error is retried with backoff.
 */
export interface UploadDestination {
  /**
   * Stable identity that survives restarts and holds no secret, e.g. `s3:my-bucket@ap-south-1`.
   * Pending uploads in the outbox name their destination by this id.
   */
  readonly id: string;
  /** Key prefix this destination wants (`upload.prefix`); keys are built with it. */
  readonly keyPrefix?: string;
  upload(request: UploadRequest): Promise<UploadResult>;
  /** Releases connections. */
  close?(): Promise<void> | void;
}

/** A failed upload. `retryable` says whether trying again later may succeed. */
export class UploadError extends SfuRecorderError {
  readonly retryable: boolean;
  /** The destination's id. */
  readonly destination: string;
  readonly key: string;

  constructor(
    code: SfuRecorderErrorCode,
    message: string,
    options: { retryable: boolean; destination: string; key: string; cause?: unknown },
  ) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UploadError';
    this.retryable = options.retryable;
    this.destination = options.destination;
    this.key = options.key;
  }
}

const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

const RETRYABLE_NAMES = new Set([
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'InternalError',
  'ServiceUnavailable',
  'BadDigest',
  'IncompleteBody',
]);

const PERMANENT_NAMES = new Set([
  'AccessDenied',
  'AllAccessDisabled',
  'NoSuchBucket',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidBucketName',
  'AccountProblem',
  'CredentialsProviderError',
]);

/**
 * Whether an upload failure is worth retrying: throttling, 5xx, timeouts and dropped
 * connections are; access denied, missing bucket, rejected credentials and a missing
 * source file are not. Unknown errors count as retryable, so a file is never given up
 * on because of an error nobody classified.
 */
export function isRetryableUploadError(error: unknown): boolean {
  if (error === null || typeof error !== 'object') return true;
  const e = error as {
    retryable?: unknown;
    name?: unknown;
    code?: unknown;
    Code?: unknown;
    message?: unknown;
    $metadata?: { httpStatusCode?: number };
    $retryable?: unknown;
    cause?: unknown;
  };
  if (typeof e.retryable === 'boolean') return e.retryable;
  const name = typeof e.name === 'string' ? e.name : '';
  const code = typeof e.code === 'string' ? e.code : typeof e.Code === 'string' ? e.Code : '';
  if (code === 'ENOENT' || code === 'EISDIR' || code === 'EACCES') return false;
  if (PERMANENT_NAMES.has(name) || PERMANENT_NAMES.has(code)) return false;
  if (RETRYABLE_NAMES.has(name) || RETRYABLE_NAMES.has(code) || RETRYABLE_CODES.has(code)) return true;
  if (e.$retryable !== undefined) return true;
  const status = e.$metadata?.httpStatusCode;
  if (typeof status === 'number') return status >= 500 || status === 408 || status === 429;
  if (typeof e.message === 'string' && /socket hang up|timed? ?out|network/i.test(e.message)) return true;
  if (e.cause !== undefined && e.cause !== error) return isRetryableUploadError(e.cause);
  return true;
}

/**
 * Checks the ids and times of a recording's metadata.
 * @throws {InvalidConfigError} naming the field at fault.
 */
export function assertRecordingMetadata(metadata: RecordingMetadata): void {
  if (metadata === null || typeof metadata !== 'object') {
    throw new InvalidConfigError('metadata', 'metadata must be an object');
  }
  if (metadata.recordingType !== 'individual' && metadata.recordingType !== 'composite') {
    throw new InvalidConfigError(
      'metadata.recordingType',
      `metadata.recordingType must be "individual" or "composite" (got ${JSON.stringify(metadata.recordingType)})`,
    );
  }
  assertDerivedId('metadata.roomId', metadata.roomId);
  assertDerivedId('metadata.sessionId', metadata.sessionId);
  if (metadata.recordingType === 'individual') {
    assertDerivedId('metadata.peerId', metadata.peerId);
    assertDerivedId('metadata.streamId', metadata.streamId);
  }
  for (const field of ['sessionStartedAt', 'startedAt', 'stoppedAt', 'durationMs', 'sizeBytes'] as const) {
    const value = metadata[field];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new InvalidConfigError(`metadata.${field}`, `metadata.${field} must be a number >= 0 (got ${String(value)})`);
    }
  }
}
