import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { link, mkdir, open, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Secret } from '../config/secret.js';
import {
  describeType,
  describeValue,
  expectObject,
  fieldPath,
  integerIn,
  nonEmptyString,
  optionNames,
  parseHttpUrl,
} from '../config/validate.js';
import { canceledError, closedError, InvalidConfigError, SfuRecorderError } from '../errors.js';
import { assertSafeKey } from './key-layout.js';
import { UploadError, type UploadDestination, type UploadRequest, type UploadResult } from './upload-destination.js';

/** Signed URLs of the default storage are valid this long: 12 hours. */
export const SIGNED_URL_TTL_MS = 12 * 60 * 60 * 1000;
/** The longest lifetime a signed URL may be given: 7 days, as for S3 presigned URLs. */
export const MAX_SIGNED_URL_TTL_MS = 7 * 24 * 60 * 60 * 1000;
/** The shortest lifetime: 1 s (`expires` is in whole seconds, so a shorter one could be expired when issued). */
const MIN_SIGNED_URL_TTL_MS = 1000;
/**
 * The shortest `signingSecret` accepted, in bytes (UTF-8): 32, the HMAC-SHA256 output length,
 * below which RFC 2104 says an HMAC key is weakened; the generated default key has 32 random bytes.
 */
export const MIN_SIGNING_SECRET_BYTES = 32;
const MAX_SIGNING_SECRET_BYTES = 1024;
/** The known fields of {@link LocalStorageOptions}. */
const LOCAL_STORAGE_OPTION_NAMES = optionNames<LocalStorageOptions>({
  root: true,
  baseUrl: true,
  signingSecret: true,
  urlTtlMs: true,
  id: true,
});
/** A signature is the unpadded base64url of an HMAC-SHA256: 43 characters. */
const SIGNATURE_PATTERN = /^[A-Za-z0-9_-]{43}$/;
/** `expires`: epoch seconds, canonical decimal (no sign, no leading zero, at most 15 digits). */
const EXPIRES_PATTERN = /^(0|[1-9][0-9]{0,14})$/;
/** The storage's private directory inside the root (signing key, temp files); never served. */
const PRIVATE_DIR = '.sfu-recorder';

/** Options of {@link LocalStorage}. */
export interface LocalStorageOptions {
  /** Directory files are stored in, with the same key layout as S3. */
  root: string;
  /**
   * Public base URL the signed-URL handler is reachable at (e.g.
   * `https://rec.example.com/recordings`). Without it (and without {@link LocalStorage.listen})
   * uploads return no URL.
   */
  baseUrl?: string;
  /**
   * HMAC key for signed URLs: at least 32 bytes ({@link MIN_SIGNING_SECRET_BYTES}, e.g. 64 hex
   * digits of 32 random bytes), without leading or trailing whitespace. Default: 32 random
   * bytes kept in `<root>/.sfu-recorder/signing-key`.
   */
  signingSecret?: string | Secret;
  /** Lifetime of signed URLs in ms: an integer from 1000 to 7 days; default 12 hours. */
  urlTtlMs?: number;
  /** Overrides the computed id `local:<root>`. */
  id?: string;
}

/** A signed URL and when it stops working. */
export interface SignedUrl {
  url: string;
  /** Epoch ms. */
  expiresAt: number;
}

/** Outcome of checking a signed request. */
export type SignatureCheck = 'valid' | 'invalid' | 'expired';

/**
 * The default storage: a local directory with the S3 key layout, whose files are handed
 * out through HMAC-SHA256 signed URLs valid 12 hours. The URLs are served by
 * {@link createSignedUrlHandler} (mount it in your server) or by {@link LocalStorage.listen}.
 *
 * {@link LocalStorage.close} stops the servers `listen()` started; the stored files stay.
 */
export class LocalStorage implements UploadDestination {
  readonly id: string;
  /** Absolute root directory. */
  readonly root: string;
  readonly #urlTtlMs: number;
  #baseUrl: string | undefined;
  #secret: Promise<Buffer> | undefined;
  readonly #configuredSecret: string | Secret | undefined;
  readonly #servers = new Set<LocalStorageServer>();
  #closed = false;
  #closing: Promise<void> | undefined;

  /**
   * @throws {InvalidConfigError} naming the option at fault: a missing `root`, a `baseUrl` that is
   *   not plain http(s), a `signingSecret` shorter than 32 bytes (its value is never shown), a
   *   `urlTtlMs` outside 1 s to 7 days, an unknown option.
   */
  constructor(options: LocalStorageOptions) {
    validateLocalStorageOptions(options);
    this.root = resolve(options.root);
    this.id = options.id ?? `local:${this.root}`;
    this.#urlTtlMs = options.urlTtlMs ?? SIGNED_URL_TTL_MS;
    this.#configuredSecret = options.signingSecret;
    if (options.baseUrl !== undefined) this.baseUrl = options.baseUrl;
  }

  /** True from the moment {@link LocalStorage.close} is called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Public base URL of the handler, without trailing `/`; `undefined` until known. */
  get baseUrl(): string | undefined {
    return this.#baseUrl;
  }

  set baseUrl(value: string | undefined) {
    this.#baseUrl = value === undefined ? undefined : parseBaseUrl('baseUrl', value);
  }

  /** Absolute path a key is stored at. @throws {InvalidConfigError} for a key outside the layout. */
  pathOf(key: string): string {
    assertSafeKey('key', key);
    if (key.split('/')[0] === PRIVATE_DIR) throw new InvalidConfigError('key', `key must not start with ${PRIVATE_DIR}`);
    return join(this.root, ...key.split('/'));
  }

  /**
   * Copies the file under its key (atomically: a reader never sees a partial file).
   * @throws {UploadError} `ERR_CLOSED` after {@link LocalStorage.close}, `ERR_CANCELED` when
   *   `signal` aborts (both retryable), `ERR_SPOOL_FILE_MISSING`, `ERR_STORAGE_UNAVAILABLE`.
   */
  async upload(request: UploadRequest): Promise<UploadResult> {
    const where = { destination: this.id, key: request.key };
    if (this.#closed) throw new UploadError('ERR_CLOSED', `local storage at ${this.root} is closed`, { ...where, retryable: true });
    const target = this.pathOf(request.key);
    if (request.signal?.aborted) throw this.#canceled(request.key, request.signal);
    const tmpDir = join(this.root, PRIVATE_DIR, 'tmp');
    const tmp = join(tmpDir, `${randomBytes(8).toString('hex')}.tmp`);
    try {
      await mkdir(tmpDir, { recursive: true });
      await mkdir(dirname(target), { recursive: true });
      const options = request.signal ? { signal: request.signal } : {};
      await pipeline(createReadStream(request.file), createWriteStream(tmp), options);
      const handle = await open(tmp, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, target);
    } catch (error) {
      await rm(tmp, { force: true });
      if (request.signal?.aborted) throw this.#canceled(request.key, request.signal);
      // A missing source file cannot get better; a full or unmounted disk can.
      const sourceMissing = !(await exists(request.file));
      throw new UploadError(
        sourceMissing ? 'ERR_SPOOL_FILE_MISSING' : 'ERR_STORAGE_UNAVAILABLE',
        sourceMissing
          ? `cannot store ${request.key}: ${request.file} does not exist`
          : `storing ${request.key} in ${this.root} failed: ${(error as Error).message}`,
        { retryable: !sourceMissing, destination: this.id, key: request.key },
      );
    }
    const sizeBytes = (await stat(target)).size;
    request.onProgress?.(sizeBytes, sizeBytes);
    const result: UploadResult = { location: target, sizeBytes };
    if (this.#baseUrl !== undefined) {
      const signed = await this.signUrl(request.key);
      result.url = signed.url;
      result.urlExpiresAt = signed.expiresAt;
    }
    return result;
  }

  /**
   * A URL that downloads `key` until it expires (default 12 hours from now).
   * @throws {SfuRecorderError} `ERR_NO_BASE_URL` when neither `baseUrl` nor `listen()` gave one;
   *   `ERR_CLOSED` after {@link LocalStorage.close}.
   */
  async signUrl(key: string, options: { ttlMs?: number; now?: number } = {}): Promise<SignedUrl> {
    this.#assertOpen();
    if (this.#baseUrl === undefined) {
      throw new SfuRecorderError('ERR_NO_BASE_URL', 'local storage has no baseUrl: pass baseUrl or call listen()');
    }
    const ttlMs = options.ttlMs === undefined ? this.#urlTtlMs : ttlOption('ttlMs', options.ttlMs);
    const now = options.now === undefined ? Date.now() : integerIn('now', options.now, 0, 8.64e15, ' (epoch ms)');
    const expiresAt = now + ttlMs;
    return { url: `${this.#baseUrl}${await this.signPath(key, expiresAt)}`, expiresAt };
  }

  /** `/<encoded key>?expires=<epoch s>&signature=<base64url>`, relative to the handler's mount point. */
  async signPath(key: string, expiresAt: number): Promise<string> {
    this.#assertOpen();
    this.pathOf(key);
    const expires = Math.floor(expiresAt / 1000);
    const signature = await this.#sign(key, expires);
    const encoded = key.split('/').map(encodeURIComponent).join('/');
    return `/${encoded}?expires=${expires}&signature=${signature}`;
  }

  /**
   * Checks a signed request exactly: `expires` must be canonical epoch seconds and
   * `signature` the canonical unpadded base64url of the expected HMAC (no padding, no `+`/`/`
   * alphabet, nothing appended), compared in constant time; then the expiry. Still answers
   * after {@link LocalStorage.close}: URLs handed out stay valid for a handler mounted elsewhere.
   */
  async checkSignature(key: string, expires: string | null, signature: string | null, now = Date.now()): Promise<SignatureCheck> {
    if (expires === null || signature === null || !EXPIRES_PATTERN.test(expires) || !SIGNATURE_PATTERN.test(signature)) {
      return 'invalid';
    }
    const given = Buffer.from(signature, 'base64url');
    // 43 characters carry 258 bits for 256: a string whose last 2 bits are set decodes to the
    // same bytes, so only the canonical encoding is accepted.
    if (given.toString('base64url') !== signature) return 'invalid';
    const expected = Buffer.from(await this.#sign(key, Number(expires)), 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid';
    return Number(expires) * 1000 <= now ? 'expired' : 'valid';
  }

  /**
   * Starts an HTTP server for the signed URLs; sets `baseUrl` if it was not set. The storage
   * owns the server: {@link LocalStorage.close} closes it too.
   * @throws {SfuRecorderError} `ERR_CLOSED` after {@link LocalStorage.close}.
   */
  async listen(options: { port?: number; host?: string } = {}): Promise<LocalStorageServer> {
    this.#assertOpen();
    const server = createServer(createSignedUrlHandler(this));
    const host = options.host ?? '127.0.0.1';
    await new Promise<void>((done, fail) => {
      server.once('error', fail);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', fail);
        done();
      });
    });
    const { port } = server.address() as AddressInfo;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    const handle = new LocalStorageServer(server, url, port, () => this.#servers.delete(handle));
    if (this.#closed) {
      // close() ran while the server was starting: it must not outlive the storage.
      await handle.close();
      throw closedError(`local storage at ${this.root}`);
    }
    this.#servers.add(handle);
    if (this.#baseUrl === undefined) this.baseUrl = url;
    return handle;
  }

  /**
   * Closes the servers {@link LocalStorage.listen} started (nothing else: the files stay, and a
   * handler from {@link createSignedUrlHandler} mounted in your server keeps serving them).
   * `closed` is true at once; calling it again (also while it runs) returns the same promise.
   * Afterwards `upload`, `signUrl`, `signPath` and `listen` fail with `ERR_CLOSED`.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#closing = Promise.all([...this.#servers].map((server) => server.close())).then(() => undefined);
    return this.#closing;
  }

  #assertOpen(): void {
    if (this.#closed) throw closedError(`local storage at ${this.root}`);
  }

  #canceled(key: string, signal: AbortSignal): UploadError {
    return new UploadError('ERR_CANCELED', canceledError(`storing ${key}`, signal.reason).message, {
      retryable: true,
      destination: this.id,
      key,
      cause: signal.reason,
    });
  }

  async #sign(key: string, expires: number): Promise<string> {
    const secret = await this.#loadSecret();
    return createHmac('sha256', secret).update(`GET\n${key}\n${expires}`).digest('base64url');
  }

  #loadSecret(): Promise<Buffer> {
    this.#secret ??= (async () => {
      if (this.#configuredSecret !== undefined) return Buffer.from(secretText(this.#configuredSecret), 'utf8');
      const dir = join(this.root, PRIVATE_DIR);
      const file = join(dir, 'signing-key');
      await mkdir(dir, { recursive: true, mode: 0o700 });
      try {
        return Buffer.from((await readFile(file, 'utf8')).trim(), 'hex');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
      // Write then hard-link: exactly one process's key wins, and nobody reads a half-written file.
      const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
      await writeFile(tmp, randomBytes(32).toString('hex'), { mode: 0o600 });
      try {
        await link(tmp, file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      } finally {
        await rm(tmp, { force: true });
      }
      return Buffer.from((await readFile(file, 'utf8')).trim(), 'hex');
    })();
    this.#secret.catch(() => {
      this.#secret = undefined;
    });
    return this.#secret;
  }
}

/** The HTTP server started by {@link LocalStorage.listen}. */
export class LocalStorageServer {
  /** `http://host:port` */
  readonly url: string;
  readonly port: number;
  readonly #server: Server;
  readonly #onClosed: (() => void) | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  /** @internal Created by {@link LocalStorage.listen}. */
  constructor(server: Server, url: string, port: number, onClosed?: () => void) {
    this.#server = server;
    this.url = url;
    this.port = port;
    this.#onClosed = onClosed;
  }

  /** True from the moment {@link LocalStorageServer.close} is called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Stops accepting connections and closes open ones. `closed` is true at once; calling it
   * again (also while it runs) returns the same promise.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#closing = new Promise<void>((done) => {
      this.#server.close(() => done());
      this.#server.closeAllConnections();
    }).then(() => this.#onClosed?.());
    return this.#closing;
  }
}

/** Options of {@link createSignedUrlHandler}. */
export interface SignedUrlHandlerOptions {
  /** Path the handler is mounted at (e.g. `/recordings`); stripped before the key is read. */
  basePath?: string;
}

/**
 * An HTTP request listener serving a {@link LocalStorage}'s signed URLs: `GET`/`HEAD`,
 * single `Range` requests (206) for seeking, 403 for a bad or expired signature, 404 for a
 * missing file or a key outside the layout, never a path outside the root. Usable with
 * `http.createServer(handler)` or mounted in an Express/Connect app.
 */
export function createSignedUrlHandler(
  storage: LocalStorage,
  options: SignedUrlHandlerOptions = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  const basePath = (options.basePath ?? '').replace(/\/+$/, '');
  return (req, res) => {
    serve(storage, basePath, req, res).catch(() => {
      if (!res.headersSent) send(res, 500, 'internal error');
      else res.destroy();
    });
  };
}

async function serve(storage: LocalStorage, basePath: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return send(res, 405, 'method not allowed');
  }
  // Parse by hand: WHATWG URL parsing would resolve dot segments before we can refuse them.
  const raw = req.url ?? '/';
  const q = raw.indexOf('?');
  let path = q === -1 ? raw : raw.slice(0, q);
  const query = parseSignedQuery(q === -1 ? '' : raw.slice(q + 1));
  if (basePath !== '') {
    if (path !== basePath && !path.startsWith(`${basePath}/`)) return send(res, 404, 'not found');
    path = path.slice(basePath.length);
  }
  let key: string;
  try {
    key = path.replace(/^\//, '').split('/').map(decodeURIComponent).join('/');
    storage.pathOf(key);
  } catch {
    // Malformed escapes, "..", "\", control characters, empty segments: not a key we could have signed.
    return send(res, 404, 'not found');
  }
  if (query === undefined) return send(res, 403, 'invalid signature');
  const check = await storage.checkSignature(key, query.expires, query.signature);
  if (check === 'invalid') return send(res, 403, 'invalid signature');
  if (check === 'expired') return send(res, 403, 'url expired');

  // Symlinks inside the root could still point outside it: compare real paths.
  let file: string;
  let size: number;
  try {
    const [realRoot, realFile] = await Promise.all([realpath(storage.root), realpath(storage.pathOf(key))]);
    if (!realFile.startsWith(realRoot + sep)) return send(res, 404, 'not found');
    const info = await stat(realFile);
    if (!info.isFile()) return send(res, 404, 'not found');
    file = realFile;
    size = info.size;
  } catch {
    return send(res, 404, 'not found');
  }

  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('Content-Type', key.endsWith('.mp4') ? 'video/mp4' : 'application/octet-stream');
  res.setHeader('Cache-Control', 'private, max-age=0');
  const range = parseRange(req.headers.range, size);
  if (range === 'unsatisfiable') {
    res.setHeader('Content-Range', `bytes */${size}`);
    return send(res, 416, 'range not satisfiable');
  }
  if (range) {
    res.statusCode = 206;
    res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
    res.setHeader('Content-Length', range.end - range.start + 1);
  } else {
    res.statusCode = 200;
    res.setHeader('Content-Length', size);
  }
  if (req.method === 'HEAD' || size === 0) {
    res.end();
    return;
  }
  await pipeline(createReadStream(file, range ? { start: range.start, end: range.end } : {}), res);
}

/**
 * The query of a signed URL: exactly `expires` and `signature`, each once, taken verbatim (no
 * percent-decoding: a signed URL is only ever written in its one canonical form). Anything
 * else (a duplicated, unknown, empty or encoded parameter) makes it `undefined`: refused.
 */
function parseSignedQuery(query: string): { expires: string; signature: string } | undefined {
  const values = new Map<string, string>();
  for (const part of query.split('&')) {
    const equals = part.indexOf('=');
    if (equals === -1) return undefined;
    const name = part.slice(0, equals);
    if ((name !== 'expires' && name !== 'signature') || values.has(name)) return undefined;
    values.set(name, part.slice(equals + 1));
  }
  const expires = values.get('expires');
  const signature = values.get('signature');
  return expires === undefined || signature === undefined ? undefined : { expires, signature };
}

/**
 * Checks {@link LocalStorageOptions} (what the {@link LocalStorage} constructor does first).
 * `field` prefixes the names in errors (`defaultStorage` gives `defaultStorage.urlTtlMs`).
 * An error about `signingSecret` names only its type or length, never its value.
 *
 * @throws {InvalidConfigError} naming the option at fault.
 */
export function validateLocalStorageOptions(input: unknown, field?: string): LocalStorageOptions {
  const name = (option: string) => fieldPath(field, option);
  // Holds the signing secret: a wrong value is described by its type only.
  const obj = expectObject(field ?? 'options', input, LOCAL_STORAGE_OPTION_NAMES, { secret: true, root: field === undefined });
  if (obj.root === undefined || obj.root === '') {
    throw new InvalidConfigError(name('root'), `${name('root')} is required (the storage directory)`);
  }
  nonEmptyString(name('root'), obj.root);
  if (obj.baseUrl !== undefined) {
    if (typeof obj.baseUrl !== 'string') {
      throw new InvalidConfigError(name('baseUrl'), `${name('baseUrl')} must be a string (got ${describeValue(obj.baseUrl)})`);
    }
    parseBaseUrl(name('baseUrl'), obj.baseUrl);
  }
  if (obj.signingSecret !== undefined) assertSigningSecret(name('signingSecret'), obj.signingSecret);
  if (obj.urlTtlMs !== undefined) ttlOption(name('urlTtlMs'), obj.urlTtlMs);
  if (obj.id !== undefined) nonEmptyString(name('id'), obj.id);
  return obj as unknown as LocalStorageOptions;
}

function assertSigningSecret(field: string, value: unknown): void {
  if (typeof value !== 'string' && !(value instanceof Secret)) {
    throw new InvalidConfigError(field, `${field} must be a string or a Secret (got ${describeType(value)})`);
  }
  const text = secretText(value);
  const bytes = Buffer.byteLength(text, 'utf8');
  // Only lengths and the rule are named: the value never appears in the message.
  if (bytes < MIN_SIGNING_SECRET_BYTES) {
    throw new InvalidConfigError(
      field,
      `${field} must be at least ${MIN_SIGNING_SECRET_BYTES} bytes (got ${bytes === 0 ? 'an empty string' : `${bytes} bytes`}): anyone could forge signed URLs with a short key; omit it to use a generated one`,
    );
  }
  if (bytes > MAX_SIGNING_SECRET_BYTES) {
    throw new InvalidConfigError(field, `${field} must be at most ${MAX_SIGNING_SECRET_BYTES} bytes (got ${bytes} bytes)`);
  }
  if (text.trim() !== text) throw new InvalidConfigError(field, `${field} has leading or trailing whitespace`);
}

function secretText(value: string | Secret): string {
  return typeof value === 'string' ? value : value.reveal();
}

function ttlOption(field: string, value: unknown): number {
  return integerIn(field, value, MIN_SIGNED_URL_TTL_MS, MAX_SIGNED_URL_TTL_MS, ' ms (7 days)');
}

// The handler's public base: http(s), no credentials, no query or fragment (signed paths are appended to it).
function parseBaseUrl(field: string, value: string): string {
  const url = parseHttpUrl(field, value);
  if (url.search !== '' || url.hash !== '') {
    throw new InvalidConfigError(field, `${field} must not have a query or fragment (signed URLs are appended to it)`);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

// One `bytes=` range (first-last, first-, -suffix). Multiple ranges get the whole file.
function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return undefined;
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return undefined;
  let start: number;
  let end: number;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(first);
    end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
    if (start > end || start >= size) return 'unsatisfiable';
  }
  return { start, end };
}

function send(res: ServerResponse, status: number, message: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(message));
  res.end(message);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
