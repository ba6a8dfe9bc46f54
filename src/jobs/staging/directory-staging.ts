import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type Dirent } from 'node:fs';
import { mkdir, open, readdir, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { canceledError, closedError, isNoSpaceError } from '../../errors.js';
import {
  assertStagingKey,
  normaliseStagingPrefix,
  sortKeys,
  StagingError,
  type StagingDescriptor,
  type StagingStore,
} from './staging-store.js';

/**
 * The longest path component the store writes, in bytes: a temp file adds `.` and
 * `.tmp-<12 hex>` (18 bytes) and must stay under the 255 bytes of ext4, xfs and tmpfs.
 */
const MAX_COMPONENT = 200;
/** Kept as they are in file names; everything else is percent-encoded (UTF-8, upper-case hex). */
const PLAIN = /^[A-Za-z0-9_.~-]$/;
/** What `encodeSegment` can produce: plain characters and `%XX`, and `%` ending a continued component. */
const ENCODED_COMPONENT = /^(?:[A-Za-z0-9_.~-]|%[0-9A-F]{2})+%?$/;

/**
 * A key segment as path components. Anything but `A-Z a-z 0-9 _ . ~ -` is percent-encoded
 * (so names are plain ASCII: no NFC/NFD rewriting by macOS, nothing a shell or a Windows or
 * SMB reader trips on, `%` `#` `+` and spaces unambiguous), and so is a `.` that would start
 * a component: names starting with `.` are the store's own (temp files) or foreign (NFS
 * `.nfsXXXX`, `.DS_Store`), never keys. Encoding can triple a 128-byte id beyond the 255
 * bytes a file name may have, so a long segment is split over nested directories, each but
 * the last ending in a `%` that no escape can end in.
 * @internal
 */
export function encodeSegment(segment: string): string[] {
  const components: string[] = [];
  let current = '';
  for (const char of segment) {
    let token = PLAIN.test(char) ? char : percentEncode(char);
    if (current === '' && token === '.') token = '%2E';
    if (current.length + token.length > MAX_COMPONENT - 1) {
      components.push(`${current}%`);
      current = token === '.' ? '%2E' : token;
    } else {
      current += token;
    }
  }
  components.push(current);
  return components;
}

/** A key as the path components below the root. @internal */
export function encodeKey(key: string): string[] {
  return key.split('/').flatMap(encodeSegment);
}

/**
 * The key stored under these path components, or `undefined` when they are not exactly what
 * {@link encodeKey} makes of some key (a foreign file, a half-made continuation).
 * @internal
 */
export function decodeKey(components: readonly string[]): string | undefined {
  const segments: string[] = [];
  let pending = '';
  for (const component of components) {
    if (!ENCODED_COMPONENT.test(component)) return undefined;
    if (component.endsWith('%')) {
      pending += component.slice(0, -1);
      continue;
    }
    try {
      segments.push(decodeURIComponent(pending + component));
    } catch {
      return undefined; // an escape that is not UTF-8
    }
    pending = '';
  }
  if (pending !== '' || segments.length === 0) return undefined;
  const key = segments.join('/');
  // One spelling per key: `%2e`, `%41` or an unneeded split would decode to a key stored elsewhere.
  const canonical = encodeKey(key);
  return canonical.length === components.length && canonical.every((c, i) => c === components[i]) ? key : undefined;
}

/**
 * Stages files in a directory: one a shared file system mounts on the host and on every
 * worker, or a local one when they all run on one machine. Keys become paths below it with
 * every segment percent-encoded (`encodeSegment`); `..`, absolute keys and NUL are refused.
 *
 * The directory itself must exist: the store creates what is below it, never the root, so
 * that a worker whose shared mount is missing fails (`ERR_STAGING_UNAVAILABLE`) instead of
 * staging into a local directory nobody else sees. The file system must be case-sensitive
 * (keys `Room` and `room` are two files).
 *
 * `put` copies into a temp file beside the target and renames it, so a reader sees the
 * whole file or none; `get` does the same on the reading side. Files are streamed, never
 * read into memory.
 */
export class DirectoryStaging implements StagingStore {
  /** Absolute path of the staging directory. */
  readonly root: string;
  readonly descriptor: StagingDescriptor;
  readonly description: string;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(path: string) {
    if (typeof path !== 'string' || path === '' || path.includes('\u0000')) {
      throw new StagingError('ERR_INVALID_ARGUMENT', 'DirectoryStaging needs the path of the staging directory', {
        retryable: false,
        store: String(path),
      });
    }
    this.root = resolve(path);
    this.descriptor = { type: 'directory', path: this.root };
    this.description = this.root;
  }

  /** True from the moment {@link DirectoryStaging.close} is called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Absolute path a key is stored at. @throws {StagingError} `ERR_INVALID_ARGUMENT` for a key that is not a staging key. */
  pathOf(key: string): string {
    assertStagingKey(key, this.description);
    return join(this.root, ...encodeKey(key));
  }

  /**
   * Copies `file` under `key` (temp file, fsync, rename), replacing what was there.
   * @throws {StagingError} `ERR_SPOOL_FILE_MISSING` when `file` cannot be read,
   *   `ERR_STAGING_UNAVAILABLE` when the staging directory is missing, full or failing,
   *   `ERR_STAGING_ACCESS_DENIED`; `ERR_CANCELED` when `signal` aborts.
   */
  async put(key: string, file: string, signal?: AbortSignal): Promise<{ sizeBytes: number }> {
    this.#assertOpen();
    const target = this.pathOf(key);
    if (signal?.aborted) throw canceledError(`staging ${key}`, signal.reason);
    const source = await stat(file).catch((error: unknown) => error as Error);
    if (source instanceof Error || !source.isFile()) {
      throw new StagingError(
        'ERR_SPOOL_FILE_MISSING',
        `cannot stage ${key}: cannot read ${file}${source instanceof Error ? ` (${source.message})` : ' (not a file)'}`,
        { retryable: false, store: this.description, key },
      );
    }
    await this.#assertRoot(key);
    // A leading `.`: never a key (see encodeSegment), so list() does not show a put in progress.
    const tmp = join(dirname(target), `.${basename(target)}.tmp-${randomBytes(6).toString('hex')}`);
    try {
      // A concurrent deletePrefix may remove the new directories before the temp file is
      // created in them: make them again.
      for (let attempt = 0; ; attempt++) {
        await mkdir(dirname(target), { recursive: true });
        const created = await open(tmp, 'wx').then(
          (handle) => handle.close().then(() => true),
          (error: NodeJS.ErrnoException) => {
            if (error.code !== 'ENOENT' || attempt >= 2) throw error;
            return false;
          },
        );
        if (created) break;
      }
      await pipeline(createReadStream(file), createWriteStream(tmp), signal ? { signal } : {});
      // On disk before it is visible under its key: a host crash must not leave a short file there.
      const handle = await open(tmp, 'r+');
      let sizeBytes: number;
      try {
        await handle.sync();
        sizeBytes = (await handle.stat()).size;
      } finally {
        await handle.close();
      }
      await rename(tmp, target);
      return { sizeBytes };
    } catch (error) {
      await rm(tmp, { force: true });
      if (signal?.aborted) throw canceledError(`staging ${key}`, signal.reason);
      throw this.#fsError(error, `staging ${key} at ${target}`, key);
    }
  }

  /**
   * Copies the file stored under `key` to `file` (temp file beside it, then rename; parent
   * directories created). `file` is never left partial: on any failure it is as it was.
   * @throws {StagingError} `ERR_STAGING_MISSING` naming the key when nothing is stored under
   *   it; `ERR_STAGING_UNAVAILABLE`, `ERR_STAGING_FAILED`; `ERR_CANCELED` when `signal` aborts.
   */
  async get(key: string, file: string, signal?: AbortSignal): Promise<{ sizeBytes: number }> {
    this.#assertOpen();
    const source = this.pathOf(key);
    if (signal?.aborted) throw canceledError(`fetching ${key}`, signal.reason);
    // Checked first, so that a missing key creates nothing at all beside `file`.
    if ((await this.stat(key)) === undefined) throw this.#missing(key);
    const tmp = `${file}.tmp-${randomBytes(6).toString('hex')}`;
    try {
      await mkdir(dirname(file), { recursive: true });
      await pipeline(createReadStream(source), createWriteStream(tmp, { flags: 'wx' }), signal ? { signal } : {});
      const sizeBytes = (await stat(tmp)).size;
      await rename(tmp, file);
      return { sizeBytes };
    } catch (error) {
      await rm(tmp, { force: true });
      if (signal?.aborted) throw canceledError(`fetching ${key}`, signal.reason);
      // Deleted (or replaced by a directory) since it was checked.
      const e = error as NodeJS.ErrnoException;
      if (e.path === source && (e.code === 'ENOENT' || e.code === 'ENOTDIR' || e.code === 'EISDIR')) throw this.#missing(key);
      throw this.#fsError(error, `fetching ${key} from ${source} into ${file}`, key);
    }
  }

  /** The stored size, or `undefined` when nothing is stored under `key`. */
  async stat(key: string): Promise<{ sizeBytes: number } | undefined> {
    this.#assertOpen();
    const path = this.pathOf(key);
    try {
      const info = await stat(path);
      return info.isFile() ? { sizeBytes: info.size } : undefined;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw this.#fsError(error, `checking ${key} at ${path}`, key);
      await this.#assertRoot(key);
      return undefined;
    }
  }

  /** Every key under `prefix` (`''`: every key), sorted by UTF-8 bytes. Temp files of puts in progress are not keys. */
  async list(prefix: string): Promise<string[]> {
    this.#assertOpen();
    const normalised = normaliseStagingPrefix(prefix, this.description, true);
    const base = normalised === '' ? [] : encodeKey(normalised);
    const keys: string[] = [];
    await this.#walk(base, normalised, false, async (components, entry) => {
      if (!entry.isFile()) return;
      const key = decodeKey(components);
      if (key !== undefined) keys.push(key);
    });
    return sortKeys(keys);
  }

  /**
   * Deletes every key under `prefix` (and temp files left there by puts that died), then the
   * emptied directories; returns how many keys it deleted.
   */
  async deletePrefix(prefix: string): Promise<number> {
    this.#assertOpen();
    const normalised = normaliseStagingPrefix(prefix, this.description, false);
    const base = encodeKey(normalised);
    let deleted = 0;
    const dirs: string[] = [];
    await this.#walk(base, normalised, true, async (components, entry) => {
      const path = join(this.root, ...components);
      if (entry.isDirectory()) {
        dirs.push(path);
        return;
      }
      try {
        await unlink(path);
        if (entry.isFile() && decodeKey(components) !== undefined) deleted++;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw this.#fsError(error, `deleting ${path}`, normalised);
      }
    });
    // Deepest first; one a concurrent put has just written into stays.
    dirs.push(join(this.root, ...base));
    for (const dir of dirs.sort((a, b) => b.length - a.length)) {
      await rmdir(dir).catch(() => undefined);
    }
    return deleted;
  }

  /** Nothing to release; `closed` is true at once and later calls fail with `ERR_CLOSED`. Idempotent. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#closing = Promise.resolve();
    return this.#closing;
  }

  // Visits every entry below the directory of `base`, a directory before what it holds. A
  // name starting with `.` is never a key: such directories (`.snapshot`) are not entered,
  // and such files (temp files) are visited only when `dotFiles`. A missing base is empty.
  async #walk(
    base: string[],
    prefix: string,
    dotFiles: boolean,
    visit: (components: string[], entry: Dirent) => Promise<void>,
  ): Promise<void> {
    const recurse = async (components: string[]): Promise<void> => {
      const dir = join(this.root, ...components);
      let entries: Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        // Gone since it was listed (a concurrent deletePrefix), or the root is missing.
        if (code === 'ENOENT' || code === 'ENOTDIR') {
          if (components.length === 0) await this.#assertRoot(prefix);
          return;
        }
        throw this.#fsError(error, `listing ${dir}`, prefix);
      }
      for (const entry of entries) {
        if (entry.name.startsWith('.') && (entry.isDirectory() || !dotFiles)) continue;
        const child = [...components, entry.name];
        await visit(child, entry);
        if (entry.isDirectory()) await recurse(child);
      }
    };
    if (base.length > 0) {
      // The base must be a directory: a key equal to the prefix is not under it.
      const info = await stat(join(this.root, ...base)).catch(() => undefined);
      if (info === undefined) {
        await this.#assertRoot(prefix);
        return;
      }
      if (!info.isDirectory()) return;
    }
    await recurse(base);
  }

  #assertOpen(): void {
    if (this.#closed) throw closedError(`staging directory ${this.root}`);
  }

  // The root is never created here (see the class comment); its absence is named as such.
  async #assertRoot(key: string): Promise<void> {
    const info = await stat(this.root).catch(() => undefined);
    if (info?.isDirectory()) return;
    throw new StagingError(
      'ERR_STAGING_UNAVAILABLE',
      `staging directory ${this.root} ${info ? 'is not a directory' : 'does not exist'} on this machine: create it, or mount the shared staging file system there`,
      { retryable: true, store: this.description, key },
    );
  }

  #missing(key: string): StagingError {
    return new StagingError('ERR_STAGING_MISSING', `nothing is staged under ${key} in ${this.root}`, {
      retryable: false,
      store: this.description,
      key,
    });
  }

  #fsError(error: unknown, what: string, key: string): StagingError {
    if (error instanceof StagingError) return error;
    const code = (error as NodeJS.ErrnoException).code;
    const message = error instanceof Error ? error.message : String(error);
    const opts = { store: this.description, key, cause: error };
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      return new StagingError('ERR_STAGING_ACCESS_DENIED', `${what} failed: ${message}; check that this process may write to ${this.root}`, {
        ...opts,
        retryable: false,
      });
    }
    // A full disk, a dropped NFS mount or an I/O error may clear; a file where a directory
    // must be (a key that is also a prefix of another) will not.
    if (isNoSpaceError(error)) {
      return new StagingError('ERR_STAGING_UNAVAILABLE', `${what} failed: no space left (${message})`, { ...opts, retryable: true });
    }
    const permanent = code === 'EISDIR' || code === 'ENOTDIR' || code === 'EEXIST' || code === 'ENAMETOOLONG' || code === 'ENOTEMPTY';
    return new StagingError(permanent ? 'ERR_STAGING_FAILED' : 'ERR_STAGING_UNAVAILABLE', `${what} failed: ${message}`, {
      ...opts,
      retryable: !permanent,
    });
  }
}

function percentEncode(char: string): string {
  let out = '';
  for (const byte of Buffer.from(char, 'utf8')) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}
