import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SpoolLock } from '../../src/spool/lock.js';
import { tempDir } from '../helpers/recorder-fixtures.js';

/** The pid of a process that has exited. */
function deadPid(): number {
  return Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).toString());
}

describe('spool lock', () => {
  it('one owner at a time; released on close, and only by its owner', () => {
    const spoolDir = tempDir('spool');
    const lock = SpoolLock.acquire(spoolDir);
    expect(() => SpoolLock.acquire(spoolDir)).toThrow(expect.objectContaining({ code: 'ERR_SPOOL_LOCKED', message: expect.stringContaining(`process ${process.pid}`) }));
    lock.release();
    expect(existsSync(join(spoolDir, '.lock'))).toBe(false);
    const next = SpoolLock.acquire(spoolDir);
    lock.release(); // a second release of the old owner leaves the new lock alone
    expect(existsSync(join(spoolDir, '.lock'))).toBe(true);
    next.release();
  });

  it('a lock whose process is gone is taken over', () => {
    const spoolDir = tempDir('spool');
    writeFileSync(join(spoolDir, '.lock'), JSON.stringify({ pid: deadPid(), hostname: hostname(), acquiredAt: Date.now(), token: 'old' }));
    const lock = SpoolLock.acquire(spoolDir);
    expect(JSON.parse(readFileSync(join(spoolDir, '.lock'), 'utf8')).pid).toBe(process.pid);
    lock.release();
  });

  it('a lock of another host counts while it is refreshed, and is taken over a minute after it stopped', () => {
    const spoolDir = tempDir('spool');
    const path = join(spoolDir, '.lock');
    writeFileSync(path, JSON.stringify({ pid: 1, hostname: 'elsewhere.example', acquiredAt: Date.now(), token: 'other' }));
    expect(() => SpoolLock.acquire(spoolDir)).toThrow(/in use by process 1 on host elsewhere\.example/);
    const stale = new Date(Date.now() - 61_000);
    utimesSync(path, stale, stale);
    const lock = SpoolLock.acquire(spoolDir);
    lock.release();
  });
});
