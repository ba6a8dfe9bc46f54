import { inspect } from 'node:util';

const REDACTED = '[redacted]';

/**
 * A credential value (S3 secret, access key, webhook signing secret) that does not
 * print itself. String conversion, `JSON.stringify` and `util.inspect` all give
 * `[redacted]`; the only way to read the value is {@link Secret.reveal}, which the
 * code that signs requests calls and nothing else.
 */
export class Secret {
  // A private field is invisible to JSON.stringify, Object.keys, spread and inspect.
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The real value. Call it only where the value is handed to a signer. */
  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return `Secret(${REDACTED})`;
  }
}

/** Reads a {@link Secret} or a plain string. */
export function revealSecret(value: Secret | string): string {
  return typeof value === 'string' ? value : value.reveal();
}
