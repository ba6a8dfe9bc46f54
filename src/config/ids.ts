import { InvalidConfigError } from '../errors.js';

// Ids become path segments and storage keys, so anything that could change the
// shape of a path (separators, dot segments, control characters) is refused.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[/\\\u0000-\u001f\u007f]/;
const MAX_ID_LENGTH = 200;

/**
 * Throws an {@link InvalidConfigError} unless `value` is usable as one segment of a
 * storage key and a spool path. `field` names the id in the message (e.g. `peerId`).
 */
export function assertSafeId(field: string, value: unknown): asserts value is string {
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
  if (value.length > MAX_ID_LENGTH) {
    throw new InvalidConfigError(field, `${field} is longer than ${MAX_ID_LENGTH} characters`);
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return '""';
  if (value === null) return 'null';
  return typeof value;
}
