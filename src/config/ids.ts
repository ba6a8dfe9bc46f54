import { InvalidConfigError } from '../errors.js';

// Ids become path segments and storage keys, so anything that could change the
// shape of a path (separators, dot segments, control characters) is refused.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[/\\\u0000-\u001f\u007f]/;
/** A lone UTF-16 surrogate: no UTF-8 form, so no file name or key. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * The longest id, in UTF-8 bytes. Ids become file names and storage key segments, and
 * both are limited in bytes, not characters: a file name to 255 bytes (ext4, xfs, tmpfs),
 * an S3 key to 1024. The limit leaves room for what the recorder adds to an id (a
 * restarted stream's `-<n>`, `.mp4`, a temporary suffix), so an id accepted here fits
 * every path and key it later becomes; see {@link MAX_KEY_PREFIX_BYTES}.
 */
export const MAX_ID_BYTES = 128;

/**
 * The longest upload key prefix, in UTF-8 bytes. With every id at {@link MAX_ID_BYTES}, an
 * individual recording's key is at most 256 + 6 × 129 + 8 + 2 × 8 + 4 ≈ 1000 bytes, under
 * S3's 1024-byte key limit.
 */
export const MAX_KEY_PREFIX_BYTES = 256;

/**
 * The longest id once the recorder has added to it (a restarted stream's `-<n>`): what
 * paths and keys built from accepted ids are checked against, so that an id accepted at
 * the door is never refused later.
 */
export const MAX_DERIVED_ID_BYTES = MAX_ID_BYTES + 16;

/** The longest segment of a storage key (a file name in local storage), in UTF-8 bytes: 255 less room for a temporary suffix. */
export const MAX_KEY_SEGMENT_BYTES = 230;

/**
 * Throws an {@link InvalidConfigError} unless `value` is usable as one segment of a
 * storage key and a spool path. `field` names the id in the message (e.g. `peerId`).
 * Checked where an id enters the library (`enableRoom`, `addProducer`, `addPeer`, a new
 * session), so a bad id is refused before anything is recorded under it.
 */
export function assertSafeId(field: string, value: unknown): asserts value is string {
  assertSafeSegment(field, value, MAX_ID_BYTES, 'ids become file names and storage keys');
}

/**
 * Like {@link assertSafeId}, for an id that may carry what the recorder appended to it
 * (metadata read back, a key being built): checked against {@link MAX_DERIVED_ID_BYTES}.
 */
export function assertDerivedId(field: string, value: unknown): asserts value is string {
  assertSafeSegment(field, value, MAX_DERIVED_ID_BYTES, 'ids become file names and storage keys');
}

/**
 * Throws unless `value` is one safe path segment of at most `maxBytes` UTF-8 bytes: not
 * empty, `.` or `..`, no `/`, `\\`, control character or lone surrogate.
 */
export function assertSafeSegment(field: string, value: unknown, maxBytes: number, why: string): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidConfigError(field, `${field} must be a non-empty string (got ${describe(value)})`);
  }
  if (value === '.' || value === '..') {
    throw new InvalidConfigError(field, `${field} must not be "${value}"`);
  }
  if (UNSAFE.test(value)) {
    throw new InvalidConfigError(
      field,
      `${field} ${JSON.stringify(value)} contains "/", "\\" or a control character, which would break the storage key layout`,
    );
  }
  if (LONE_SURROGATE.test(value)) {
    throw new InvalidConfigError(field, `${field} contains a lone UTF-16 surrogate, which has no UTF-8 form for a file name or key`);
  }
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > maxBytes) {
    throw new InvalidConfigError(
      field,
      `${field} is ${bytes} bytes in UTF-8 (${[...value].length} characters); ${why}, so at most ${maxBytes} bytes are allowed (got ${JSON.stringify(`${[...value].slice(0, 24).join('')}…`)})`,
    );
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return '""';
  if (value === null) return 'null';
  return typeof value;
}
