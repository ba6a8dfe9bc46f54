/**
 * The logging surface the library writes to: any object with these optional methods
 * (pino, winston, `console`) fits. Fields are always passed through `redact()` first,
 * so no credential reaches a log line.
 */
export interface Logger {
  debug?(message: string, fields?: Record<string, unknown>): void;
  info?(message: string, fields?: Record<string, unknown>): void;
  warn?(message: string, fields?: Record<string, unknown>): void;
  error?(message: string, fields?: Record<string, unknown>): void;
}

/** A logger that drops everything. */
export const silentLogger: Logger = {};
