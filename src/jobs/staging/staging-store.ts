import { SfuRecorderError, type SfuRecorderErrorCode } from '../../errors.js';

/** Where staged files live, as data a worker can be handed (never credentials). */
export type StagingDescriptor =
  | { type: 'directory'; path: string }
  | { type: 's3'; bucket: string; prefix?: string; region: string; endpoint?: string; forcePathStyle?: boolean };

/**
 * The store that carries a job's files between the SFU host and the workers, which share
 * no file system: the host puts what a job needs, a worker gets it into a local temp dir,
 * works, and puts its results back.
 *
 * Keys are relative, `/`-separated spool paths under a per-session prefix, e.g.
 * `<roomId>/<sessionId>/tracks/<trackId>.rtpj`; ids are used in them as they are (any
 * UTF-8). A key is refused (`ERR_INVALID_ARGUMENT`) when it is absolute, has an empty, `.`
 * or `..` segment, holds a control character (NUL included) or a lone surrogate, or is
 * longer than S3 allows; every store accepts exactly the same keys.
 *
 * A prefix (`list`, `deletePrefix`) is a whole number of key segments: `room/s1` covers
 * `room/s1/...`, never `room/s10/...`.
 *
 * Failures are {@link StagingError}s (or `ERR_CLOSED` after {@link StagingStore.close},
 * `ERR_CANCELED` when a signal aborts); messages name the key and what to check, never
 * credentials.
 */
export interface StagingStore {
  readonly descriptor: StagingDescriptor;
  /** For logs and status: `s3://bucket/prefix` or the directory; never credentials. */
  readonly description: string;
  /** Stores a local file under key; atomic: a reader never sees a partial object. Overwrites. */
  put(key: string, file: string, signal?: AbortSignal): Promise<{ sizeBytes: number }>;
  /** Writes the object to file atomically (temp name + rename, parent dirs created). ERR_STAGING_MISSING (SfuRecorderError) naming the key when absent. */
  get(key: string, file: string, signal?: AbortSignal): Promise<{ sizeBytes: number }>;
  /** Size in bytes, or undefined when absent. */
  stat(key: string): Promise<{ sizeBytes: number } | undefined>;
  /** Keys under a prefix (recursive); `''` lists every key. Sorted by their UTF-8 bytes, as S3 lists them. */
  list(prefix: string): Promise<string[]>;
  /** Deletes every key under prefix; returns how many. An empty prefix is refused (it would delete everything). */
  deletePrefix(prefix: string): Promise<number>;
  /** Idempotent; sets `closed` first, same promise for concurrent calls (house style, see src/storage/s3-destination.ts). */
  close(): Promise<void>;
  readonly closed: boolean;
}

/** A staging operation failed. `retryable` says whether trying again later may succeed. */
export class StagingError extends SfuRecorderError {
  readonly retryable: boolean;
  /** The store's {@link StagingStore.description}. */
  readonly store: string;
  /** The key (or prefix) the operation was about, when there was one. */
  readonly key?: string;

  constructor(
    code: SfuRecorderErrorCode,
    message: string,
    options: { retryable: boolean; store: string; key?: string | undefined; cause?: unknown },
  ) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StagingError';
    this.retryable = options.retryable;
    this.store = options.store;
    if (options.key !== undefined) this.key = options.key;
  }
}

/** S3's limit on a key, in UTF-8 bytes: no store accepts a longer one, so all accept the same keys. */
export const MAX_STAGING_KEY_BYTES = 1024;

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
/** A lone UTF-16 surrogate: no UTF-8 form, so no file name or S3 key. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Throws `ERR_INVALID_ARGUMENT` unless `key` is a staging key (see {@link StagingStore}).
 * `maxBytes` is what is left of S3's 1024 bytes once the store's own prefix is added.
 */
export function assertStagingKey(key: unknown, store: string, maxBytes = MAX_STAGING_KEY_BYTES): asserts key is string {
  const refuse = (why: string): never => {
    throw new StagingError('ERR_INVALID_ARGUMENT', `staging key ${JSON.stringify(key)} ${why}`, {
      retryable: false,
      store,
      ...(typeof key === 'string' ? { key } : {}),
    });
  };
  if (typeof key !== 'string' || key === '') {
    throw new StagingError('ERR_INVALID_ARGUMENT', `staging key must be a non-empty string (got ${typeof key === 'string' ? '""' : typeof key})`, {
      retryable: false,
      store,
    });
  }
  if (key.startsWith('/')) refuse('is absolute: keys are relative to the staging root');
  // XML 1.0 (S3's list responses) cannot carry most control characters, and no id holds one.
  if (CONTROL.test(key)) refuse('contains NUL or another control character');
  if (LONE_SURROGATE.test(key)) refuse('contains a lone UTF-16 surrogate, which has no UTF-8 form');
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > maxBytes) refuse(`is ${bytes} bytes in UTF-8; at most ${maxBytes} fit in an S3 key here`);
  for (const segment of key.split('/')) {
    if (segment === '') refuse('has an empty segment ("//" or a trailing "/")');
    if (segment === '.' || segment === '..') refuse(`has a "${segment}" segment`);
  }
}

/**
 * A prefix for `list`/`deletePrefix`, checked as a key and without a trailing `/`; `''`
 * (every key) only when `allowEmpty`.
 * @internal
 */
export function normaliseStagingPrefix(prefix: unknown, store: string, allowEmpty: boolean, maxBytes = MAX_STAGING_KEY_BYTES): string {
  if (typeof prefix === 'string' && (prefix === '' || prefix === '/')) {
    if (allowEmpty) return '';
    throw new StagingError('ERR_INVALID_ARGUMENT', 'deletePrefix needs a non-empty prefix: an empty one would delete everything staged', {
      retryable: false,
      store,
    });
  }
  const trimmed = typeof prefix === 'string' && prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  assertStagingKey(trimmed, store, maxBytes);
  return trimmed;
}

/** Sorts keys by their UTF-8 bytes (S3's list order), in place. @internal */
export function sortKeys(keys: string[]): string[] {
  return keys.sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
}
