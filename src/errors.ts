/**
 * Every code an {@link SfuRecorderError} can carry. Codes are stable: programs switch on
 * them, people read the message.
 *
 * - configuration and arguments: `ERR_INVALID_CONFIG`, `ERR_INVALID_ARGUMENT`, `ERR_ROOM_EXISTS`,
 *   `ERR_UNSUPPORTED_CODEC`
 * - lifecycle: `ERR_CLOSED` (the object, or the router it was given, is closed), `ERR_CANCELED`
 *   (work stopped by `close()` or an abort signal; `isCanceled` is true)
 * - the spool: `ERR_SPOOL_NOT_WRITABLE`, `ERR_SPOOL_LOCKED` (another process owns it),
 *   `ERR_SPOOL_FULL` (no space left), `ERR_SPOOL_FILE_MISSING`
 * - capture: `ERR_CAPTURE` (a request to the capture thread failed), `ERR_CAPTURE_THREAD`
 *   (the thread died), `ERR_CAPTURE_SOCKET`, `ERR_JOURNAL_WRITE` (a track's journal could not
 *   be written), `ERR_JOURNAL_UNREADABLE` (a file in the spool is not a capture journal)
 * - files: `ERR_FFMPEG_MISSING`, `ERR_FFMPEG_FAILED`, `ERR_MEDIA_UNUSABLE` (a track's media
 *   cannot be decoded or encoded), `ERR_MUX_OUTPUT_INVALID`, `ERR_STREAM_NOT_FOUND`,
 *   `ERR_COMPOSE_EMPTY`, `ERR_COMPOSE_FAILED`, `ERR_COMPOSE_SOURCE_MISSING`,
 *   `ERR_COMPOSE_SOURCE_BROKEN`, `ERR_FINALISE_FAILED` (a session's finalisation stopped on
 *   an unexpected error), `ERR_FINALISE_GAVE_UP` (an output failed on every attempt)
 * - jobs: `ERR_JOB_FAILED` (a job failed on every attempt its runner made)
 * - storage: `ERR_NO_DESTINATION`, `ERR_NO_BASE_URL`, `ERR_UPLOAD_FAILED`,
 *   `ERR_UPLOAD_INCOMPLETE`, `ERR_UPLOAD_RETRIES_EXHAUSTED`,
 *   `ERR_STORAGE_ACCESS_DENIED`, `ERR_STORAGE_CREDENTIALS_REJECTED`,
 *   `ERR_STORAGE_NO_CREDENTIALS`, `ERR_STORAGE_NO_SUCH_BUCKET`, `ERR_STORAGE_UNAVAILABLE`
 * - job staging (the store job files travel through between the host and workers):
 *   `ERR_STAGING_ACCESS_DENIED`, `ERR_STAGING_CREDENTIALS_REJECTED`, `ERR_STAGING_FAILED`,
 *   `ERR_STAGING_MISSING` (no object under the key), `ERR_STAGING_NO_CREDENTIALS`,
 *   `ERR_STAGING_NO_SUCH_BUCKET`, `ERR_STAGING_UNAVAILABLE` (worth retrying)
 * - a listener of the host's threw: `ERR_LISTENER` (the pipeline went on)
 * - testing helpers: `ERR_TIMEOUT`, `ERR_INVALID_STATE`, `ERR_CAPTURE_EMPTY`, `ERR_CAPTURE_LOSS`,
 *   `ERR_BROWSER_MISSING`, `ERR_BROWSER_DTLS`
 */
export type SfuRecorderErrorCode =
  | 'ERR_INVALID_CONFIG'
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_ROOM_EXISTS'
  | 'ERR_UNSUPPORTED_CODEC'
  | 'ERR_CLOSED'
  | 'ERR_CANCELED'
  | 'ERR_SPOOL_NOT_WRITABLE'
  | 'ERR_SPOOL_LOCKED'
  | 'ERR_SPOOL_FULL'
  | 'ERR_SPOOL_FILE_MISSING'
  | 'ERR_CAPTURE'
  | 'ERR_CAPTURE_THREAD'
  | 'ERR_CAPTURE_SOCKET'
  | 'ERR_JOURNAL_WRITE'
  | 'ERR_JOURNAL_UNREADABLE'
  | 'ERR_FFMPEG_MISSING'
  | 'ERR_FFMPEG_FAILED'
  | 'ERR_MEDIA_UNUSABLE'
  | 'ERR_MUX_OUTPUT_INVALID'
  | 'ERR_STREAM_NOT_FOUND'
  | 'ERR_COMPOSE_EMPTY'
  | 'ERR_COMPOSE_FAILED'
  | 'ERR_COMPOSE_SOURCE_MISSING'
  | 'ERR_COMPOSE_SOURCE_BROKEN'
  | 'ERR_FINALISE_FAILED'
  | 'ERR_FINALISE_GAVE_UP'
  | 'ERR_JOB_FAILED'
  | 'ERR_NO_DESTINATION'
  | 'ERR_NO_BASE_URL'
  | 'ERR_UPLOAD_FAILED'
  | 'ERR_UPLOAD_INCOMPLETE'
  | 'ERR_UPLOAD_RETRIES_EXHAUSTED'
  | 'ERR_STORAGE_ACCESS_DENIED'
  | 'ERR_STORAGE_CREDENTIALS_REJECTED'
  | 'ERR_STORAGE_NO_CREDENTIALS'
  | 'ERR_STORAGE_NO_SUCH_BUCKET'
  | 'ERR_STORAGE_UNAVAILABLE'
  | 'ERR_STAGING_ACCESS_DENIED'
  | 'ERR_STAGING_CREDENTIALS_REJECTED'
  | 'ERR_STAGING_FAILED'
  | 'ERR_STAGING_MISSING'
  | 'ERR_STAGING_NO_CREDENTIALS'
  | 'ERR_STAGING_NO_SUCH_BUCKET'
  | 'ERR_STAGING_UNAVAILABLE'
  | 'ERR_LISTENER'
  | 'ERR_TIMEOUT'
  | 'ERR_INVALID_STATE'
  | 'ERR_CAPTURE_EMPTY'
  | 'ERR_CAPTURE_LOSS'
  | 'ERR_BROWSER_MISSING'
  | 'ERR_BROWSER_DTLS';

/**
 * Base class of every error the library throws or emits. `code` is stable and meant
 * for programs; `message` is for people and names the field or value at fault.
 */
export class SfuRecorderError extends Error {
  /** Stable, machine-readable error code, e.g. `ERR_INVALID_CONFIG`. */
  readonly code: SfuRecorderErrorCode;

  constructor(code: SfuRecorderErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SfuRecorderError';
    this.code = code;
  }

  /** True when the work was stopped on purpose (`close()`, an abort signal), not by a fault. */
  get isCanceled(): boolean {
    return this.code === 'ERR_CANCELED';
  }
}

/** A configuration value or id is not acceptable. `field` names it (e.g. `upload.location`). */
export class InvalidConfigError extends SfuRecorderError {
  readonly field: string;

  constructor(field: string, message: string) {
    super('ERR_INVALID_CONFIG', message);
    this.name = 'InvalidConfigError';
    this.field = field;
  }
}

/** The object was closed: `close()` was called on it (or on its owner). */
export function closedError(what: string): SfuRecorderError {
  return new SfuRecorderError('ERR_CLOSED', `${what} is closed`);
}

/**
 * Work was stopped on purpose (`close()` or an abort signal): code `ERR_CANCELED`, so
 * `isCanceled` is true. Its `name` is `AbortError`, as the platform's own abort errors, so
 * code that checks `error.name === 'AbortError'` keeps working. `reason` (the signal's
 * reason, say) is kept as `cause`, and its message is added when it says more than "aborted".
 */
export function canceledError(what: string, reason?: unknown): SfuRecorderError {
  const detail = reason instanceof Error && reason.name !== 'AbortError' ? `: ${reason.message}` : '';
  const error = new SfuRecorderError('ERR_CANCELED', `${what} was cancelled${detail}`, reason === undefined ? undefined : { cause: reason });
  error.name = 'AbortError';
  return error;
}

/**
 * `error` as an {@link SfuRecorderError}: returned as it is when it already is one; an abort
 * becomes `ERR_CANCELED`; anything else is wrapped under `code` with `context` leading the
 * message and the original kept as `cause` (its message, never its data, is repeated).
 */
export function toSfuRecorderError(error: unknown, code: SfuRecorderErrorCode, context?: string): SfuRecorderError {
  if (error instanceof SfuRecorderError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const lead = context ? `${context}: ` : '';
  if (error instanceof Error && error.name === 'AbortError') {
    const canceled = new SfuRecorderError('ERR_CANCELED', `${lead}${message}`, { cause: error });
    canceled.name = 'AbortError';
    return canceled;
  }
  if (isNoSpaceError(error)) return new SfuRecorderError('ERR_SPOOL_FULL', `${lead}no space left on the spool's disk (${message})`, { cause: error });
  return new SfuRecorderError(code, `${lead}${message}`, { cause: error });
}

/** True for "no space left on device" and "disk quota exceeded", however deep in `cause`. */
export function isNoSpaceError(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'ERR_SPOOL_FULL') return true;
    if (e instanceof Error && /\bENOSPC\b|No space left on device/.test(e.message)) return true;
  }
  return false;
}
