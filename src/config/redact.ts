import { Secret } from './secret.js';

/** What replaces a credential in anything logged, thrown, emitted or posted. */
export const REDACTED = '[redacted]';

// Property names whose values are credentials wherever they appear. `key` is only a
// credential inside a `credentials` object (elsewhere it is a storage key).
const SECRET_NAMES = new Set([
  'secret',
  'secretaccesskey',
  'accesskeyid',
  'sessiontoken',
  'password',
  'authorization',
  'signingsecret',
  'credentials',
]);

/**
 * Returns a deep copy of `value` that is safe to log, emit or post: `credentials`
 * objects, `secret`-like fields and {@link Secret} values become `[redacted]`, and every
 * occurrence of a string in `knownSecrets` inside any string (an error message from a
 * dependency, say) is replaced too. Errors become plain `{ name, code, message }` objects.
 * Cycles are cut.
 */
export function redact<T>(value: T, knownSecrets: readonly string[] = []): unknown {
  const secrets = knownSecrets.filter((s) => s.length > 0);
  return redactValue(value, secrets, new WeakSet());
}

/** Replaces every occurrence of each of `knownSecrets` in `text` with `[redacted]`. */
export function redactString(text: string, knownSecrets: readonly string[]): string {
  let out = text;
  for (const secret of knownSecrets) {
    if (secret.length > 0 && out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  return out;
}

function redactValue(value: unknown, secrets: readonly string[], seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return redactString(value, secrets);
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Secret) return REDACTED;
  if (seen.has(value)) return '[circular]';
  seen.add(value);
  if (value instanceof Error) {
    const out: Record<string, unknown> = { name: value.name, message: redactString(value.message, secrets) };
    const code = (value as { code?: unknown }).code;
    if (code !== undefined) out.code = code;
    const field = (value as { field?: unknown }).field;
    if (field !== undefined) out.field = field;
    return out;
  }
  if (Array.isArray(value)) return value.map((item) => redactValue(item, secrets, seen));
  const out: Record<string, unknown> = {};
  for (const [name, item] of Object.entries(value)) {
    out[name] = SECRET_NAMES.has(name.toLowerCase()) && item !== undefined ? REDACTED : redactValue(item, secrets, seen);
  }
  return out;
}
