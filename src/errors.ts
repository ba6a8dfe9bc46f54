/**
 * Base class of every error the library throws on purpose. `code` is stable and
 * meant for programs; `message` is for people and names the field or value at fault.
 */
export class SfuRecorderError extends Error {
  /** Stable, machine-readable error code, e.g. `ERR_INVALID_CONFIG`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SfuRecorderError';
    this.code = code;
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
