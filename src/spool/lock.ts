import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { SfuRecorderError } from '../errors.js';

/** Who holds a spool: written into `<spool>/.lock`. */
export interface SpoolLockOwner {
  pid: number;
  hostname: string;
  /** The owner's start time as the kernel counts it (`/proc/<pid>/stat`), so a reused pid is not mistaken for it. */
  processStart?: string;
  /** Epoch ms the lock was taken. */
  acquiredAt: number;
  token: string;
}

/** How often the owner touches the lock, and how old a lock of another host may get before it counts as abandoned. */
const HEARTBEAT_MS = 10_000;
const ABANDONED_AFTER_MS = 60_000;

/**
 * One process owns a spool: two recorders on one spool would finalise the same
 * sessions and delete each other's work. The lock is a file holding the owner's pid;
 * a lock whose process is gone (a crash, `kill -9`) is taken over, as is one from
 * another host that has not been refreshed for a minute (a spool on shared storage
 * whose owner died). Owners refresh it every 10 s.
 */
export class SpoolLock {
  readonly path: string;
  readonly #token: string;
  readonly #heartbeat: NodeJS.Timeout;
  #released = false;

  private constructor(path: string, token: string) {
    this.path = path;
    this.#token = token;
    this.#heartbeat = setInterval(() => this.#touch(), HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  /**
   * Takes the spool for this process.
   *
   * @throws {SfuRecorderError} `ERR_SPOOL_LOCKED` naming the process that owns it.
   */
  static acquire(spoolDir: string): SpoolLock {
    const path = join(spoolDir, '.lock');
    const owner: SpoolLockOwner = {
      pid: process.pid,
      hostname: hostname(),
      ...(processStartOf(process.pid) !== undefined ? { processStart: processStartOf(process.pid)! } : {}),
      acquiredAt: Date.now(),
      token: randomBytes(12).toString('hex'),
    };
    for (let attempt = 0; attempt < 5; attempt++) {
      if (tryCreate(path, owner)) return new SpoolLock(path, owner.token);
      const holder = readOwner(path);
      if (holder && !isAbandoned(path, holder)) {
        const who = holder.hostname === owner.hostname ? `process ${holder.pid}` : `process ${holder.pid} on host ${holder.hostname}`;
        throw new SfuRecorderError(
          'ERR_SPOOL_LOCKED',
          `spool directory ${spoolDir} is in use by ${who} (since ${new Date(holder.acquiredAt).toISOString()}); give each recorder process a spoolDir of its own`,
        );
      }
      // Abandoned (or unreadable): move it aside atomically, so that of two processes
      // taking over at once only one succeeds, then try again.
      const aside = `${path}.stale-${randomBytes(4).toString('hex')}`;
      try {
        renameSync(path, aside);
        rmSync(aside, { force: true });
      } catch {
        // Someone else moved it first.
      }
    }
    throw new SfuRecorderError('ERR_SPOOL_LOCKED', `spool directory ${spoolDir}: could not take its lock ${path}`);
  }

  /** Gives the spool up (only if this process still holds it). */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    clearInterval(this.#heartbeat);
    if (readOwner(this.path)?.token === this.#token) rmSync(this.path, { force: true });
  }

  #touch(): void {
    try {
      const now = new Date();
      utimesSync(this.path, now, now);
    } catch {
      // A full disk or a removed lock: the next acquire by someone else decides.
    }
  }
}

/** Creates the lock file with its content in one step (link of a complete temporary file). */
function tryCreate(path: string, owner: SpoolLockOwner): boolean {
  const tmp = `${path}.${owner.token}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(owner)}\n`);
  try {
    linkSync(tmp, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new SfuRecorderError('ERR_SPOOL_NOT_WRITABLE', `cannot create the spool lock ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  } finally {
    rmSync(tmp, { force: true });
  }
}

function readOwner(path: string): SpoolLockOwner | undefined {
  try {
    const owner = JSON.parse(readFileSync(path, 'utf8')) as SpoolLockOwner;
    return typeof owner.pid === 'number' && typeof owner.hostname === 'string' ? owner : undefined;
  } catch {
    return undefined;
  }
}

function isAbandoned(path: string, holder: SpoolLockOwner): boolean {
  if (holder.hostname === hostname()) {
    if (holder.pid === process.pid && holder.processStart === processStartOf(process.pid)) return false;
    if (!isAlive(holder.pid)) return true;
    const start = processStartOf(holder.pid);
    return holder.processStart !== undefined && start !== undefined && start !== holder.processStart;
  }
  try {
    return Date.now() - statSync(path).mtimeMs > ABANDONED_AFTER_MS;
  } catch {
    return true;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Field 22 of `/proc/<pid>/stat` (start time in clock ticks since boot), where there is a /proc. */
function processStartOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}
