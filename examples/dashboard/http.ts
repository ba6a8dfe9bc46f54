/**
 * The few HTTP helpers the dashboard's API needs on top of `node:http`: JSON bodies
 * (bounded, parsed, checked), JSON answers, and an error type that carries its status
 * and the field at fault.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Bodies are small JSON documents (SDP parameters are the largest, a few KiB). */
const MAX_BODY_BYTES = 256 * 1024;

/** An answer other than 2xx, with the request field at fault when there is one. */
export class HttpError extends Error {
  readonly status: number;
  readonly field: string | undefined;

  constructor(status: number, message: string, field?: string) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.field = field;
  }
}

/** Reads a JSON object body; 413 when too large, 400 when it is not a JSON object. */
export async function readJsonObject(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  let body: unknown;
  try {
    body = text === '' ? {} : JSON.parse(text);
  } catch {
    // Never echo the body: it may hold credentials.
    throw new HttpError(400, 'the request body is not valid JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'the request body must be a JSON object');
  return body as Record<string, unknown>;
}

/** A required string field of 1 to `maxLength` characters. */
export function stringField(body: Record<string, unknown>, field: string, maxLength = 200): string {
  const value = body[field];
  if (typeof value !== 'string' || value.trim() === '') throw new HttpError(400, `${field} is required (a non-empty string)`, field);
  if (value.length > maxLength) throw new HttpError(400, `${field} is longer than ${maxLength} characters`, field);
  return value.trim();
}

/** A required field that must be one of `allowed`. */
export function oneOf<T extends string>(body: Record<string, unknown>, field: string, allowed: readonly T[]): T {
  const value = body[field];
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw new HttpError(400, `${field} must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`, field);
  }
  return value as T;
}

/** A required JSON object field (mediasoup checks its contents). */
export function objectField(body: Record<string, unknown>, field: string): Record<string, unknown> {
  const value = body[field];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new HttpError(400, `${field} is required (an object)`, field);
  return value as Record<string, unknown>;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

export function sendError(res: ServerResponse, status: number, error: { code: string; message: string; field?: string | undefined }): void {
  sendJson(res, status, { error: { code: error.code, message: error.message, ...(error.field !== undefined ? { field: error.field } : {}) } });
}
