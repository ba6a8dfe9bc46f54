import { InvalidConfigError } from '../errors.js';
import { MAX_KEY_PREFIX_BYTES } from './ids.js';

// eslint-disable-next-line no-control-regex
const CONTROL = /[\\\u0000-\u001f\u007f]/;

/**
 * Validates an upload key prefix and returns it without leading or trailing `/`
 * (`undefined` when nothing is left), so keys never get an empty segment. A prefix may
 * hold several segments (`a/b`), but no empty, `.` or `..` segment, no `\` and no
 * control character: any of those would put files somewhere other than the documented layout.
 */
export function normaliseKeyPrefix(field: string, value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    throw new InvalidConfigError(field, `${field} must be a string (got ${typeof value})`);
  }
  if (CONTROL.test(value)) {
    throw new InvalidConfigError(field, `${field} ${JSON.stringify(value)} contains "\\" or a control character`);
  }
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > MAX_KEY_PREFIX_BYTES) {
    throw new InvalidConfigError(field, `${field} is ${bytes} bytes in UTF-8; at most ${MAX_KEY_PREFIX_BYTES} are allowed, so that every storage key stays under 1024 bytes`);
  }
  const trimmed = value.replace(/^\/+/, '').replace(/\/+$/, '');
  if (trimmed === '') return undefined;
  for (const segment of trimmed.split('/')) {
    if (segment === '') {
      throw new InvalidConfigError(field, `${field} ${JSON.stringify(value)} contains an empty segment ("//")`);
    }
    if (segment === '.' || segment === '..') {
      throw new InvalidConfigError(field, `${field} ${JSON.stringify(value)} contains a "${segment}" segment`);
    }
  }
  return trimmed;
}
