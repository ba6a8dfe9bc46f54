import { InvalidConfigError } from '../errors.js';

// Small checks shared by the configuration validators. Every error names the full field
// path; a field that may hold a credential (`secret: true`) is described by its type only.

/**
 * The names of an options type, written once as `{ name: true, ... }`: the compiler refuses a
 * list that misses an option of `T` or names one it does not have, so the unknown-field check
 * cannot drift from the type.
 */
export function optionNames<T>(names: Record<keyof T, true>): readonly string[] {
  return Object.keys(names);
}

/** `prefix.name`, or `name` at the root. */
export function fieldPath(prefix: string | undefined, name: string): string {
  return prefix === undefined || prefix === '' ? name : `${prefix}.${name}`;
}

/** Describes a bad value without printing long strings: `"abc"`, `42`, `null`, `an array`, `object`. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return value.length <= 40 ? JSON.stringify(value) : 'a long string';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return describeType(value);
}

/** Describes only the type of a value (for fields that may hold a credential): `a string`, `number`, `null`, ... */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return value === '' ? 'an empty string' : 'a string';
  return typeof value;
}

/** Options of {@link expectObject}. */
export interface ExpectObjectOptions {
  /** The object may hold a credential: a value that is not an object is described by its type only. */
  secret?: boolean;
  /**
   * The object's fields are credentials: the name of an unknown field is not shown (it may
   * be a credential pasted as a key) unless it is one of `hints`.
   */
  hideUnknownNames?: boolean;
  /** Names shown for the root object in messages (`config`, `options`); its fields have no prefix. */
  root?: boolean;
  /** Unknown field names that are common mistakes, with what to write instead. */
  hints?: Readonly<Record<string, string>>;
}

/**
 * Checks that `value` is a plain object whose own fields are all in `known`, and returns
 * it. An unknown field is refused by name, with the closest known name when one is near
 * (`gracePeriodMS` → `gracePeriodMs`), so a typo is never silently ignored.
 */
export function expectObject(
  field: string,
  value: unknown,
  known: readonly string[],
  options: ExpectObjectOptions = {},
): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const got = options.secret ? describeType(value) : describeValue(value);
    throw new InvalidConfigError(field, `${field} must be an object (got ${got})`);
  }
  for (const name of Object.keys(value)) {
    if (known.includes(name)) continue;
    const path = options.root ? name : `${field}.${name}`;
    const hint = options.hints?.[name];
    if (options.hideUnknownNames && hint === undefined) {
      throw new InvalidConfigError(
        field,
        `${field} has a field that is not one of ${known.join(', ')} (its name is not shown: it may be a credential)`,
      );
    }
    const suggestion = hint ?? closestName(name, known);
    throw new InvalidConfigError(
      path,
      `${path} is not a known field${suggestion ? `: did you mean ${suggestion}?` : ''} (expected one of: ${known.join(', ')})`,
    );
  }
  return value as Record<string, unknown>;
}

/**
 * The known name `name` was probably meant to be: the same in another case, one that starts
 * the other (`maxDelay` → `maxDelayMs`), or a few edits away: 1 for names of up to 4
 * characters, 2 up to 9, 3 beyond (`uploadRetries` → `uploadRetry`); a swap of neighbours
 * counts as one edit (`witdh` → `width`).
 */
export function closestName(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const other = candidate.toLowerCase();
    if (other === lower) return candidate;
    const distance = Math.min(4, lower.length, other.length) >= 4 && (lower.startsWith(other) || other.startsWith(lower)) ? 1 : editDistance(lower, other);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= (name.length <= 4 ? 1 : name.length <= 9 ? 2 : 3) ? best : undefined;
}

// Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps.
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return Infinity;
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, d[i - 2]![j - 2]! + 1);
      d[i]![j] = value;
    }
  }
  return d[a.length]![b.length]!;
}

/** `fallback` when absent, else a boolean. */
export function optionalBoolean(field: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new InvalidConfigError(field, `${field} must be a boolean (got ${describeValue(value)})`);
  return value;
}

/** `fallback` when absent, else an integer from `min` to `max`. */
export function optionalInteger(field: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  return integerIn(field, value, min, max);
}

/** An integer from `min` to `max`, or an error naming the field, the range and the value. */
export function integerIn(field: string, value: unknown, min: number, max: number, unit = ''): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidConfigError(field, `${field} must be an integer from ${min} to ${max}${unit} (got ${describeValue(value)})`);
  }
  return value;
}

/** A finite number from `min` to `max`, or an error naming the field, the range and the value. */
export function numberIn(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new InvalidConfigError(field, `${field} must be a number from ${min} to ${max} (got ${describeValue(value)})`);
  }
  return value;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A non-empty string without control characters (a path, a name), or an error naming the field. */
export function nonEmptyString(field: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') {
    throw new InvalidConfigError(field, `${field} must be a non-empty string (got ${describeValue(value)})`);
  }
  if (CONTROL.test(value)) throw new InvalidConfigError(field, `${field} ${JSON.stringify(value)} contains a control character`);
  return value;
}

/** A function, or an error naming the field and what it got. */
export function expectFunction(field: string, value: unknown, what: string): void {
  if (typeof value !== 'function') {
    throw new InvalidConfigError(field, `${field} must be a function ${what} (got ${describeValue(value)})`);
  }
}

/**
 * Parses an absolute `http:`/`https:` URL. `secret`: the URL may itself be a credential
 * (a webhook URL with a token in its path), so it is never echoed; a URL with a user name
 * or password is refused without echoing it either.
 */
export function parseHttpUrl(field: string, value: string, options: { secret?: boolean } = {}): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    const shown = options.secret || value.includes('@') ? '' : ` (got ${describeValue(value)})`;
    throw new InvalidConfigError(field, `${field} must be an absolute http(s) URL${shown}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidConfigError(field, `${field} must use http: or https: (got ${JSON.stringify(url.protocol)})`);
  }
  if (url.username !== '' || url.password !== '') {
    // Don't echo the URL: it holds a password.
    throw new InvalidConfigError(field, `${field} must not contain a user name or password`);
  }
  return url;
}
