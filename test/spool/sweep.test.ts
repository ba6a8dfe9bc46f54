import { existsSync, mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sessionPaths } from '../../src/spool/layout.js';
import { sweepSpool } from '../../src/spool/sweep.js';

const HOUR = 3_600_000;

function session(spool: string, room: string, id: string, state: string, ageMs: number): string {
  const dir = sessionPaths.dir(spool, room, id);
  mkdirSync(join(dir, 'tracks'), { recursive: true });
  writeFileSync(join(dir, 'tracks', 't.rtpj'), 'journal');
  const manifest = sessionPaths.manifest(dir);
  writeFileSync(manifest, JSON.stringify({ version: 1, roomId: room, sessionId: id, startedAt: 0, state, options: {} }));
  const at = (Date.now() - ageMs) / 1000;
  utimesSync(manifest, at, at);
  return dir;
}

describe('spool sweeping', () => {
  it('removes old finalised sessions only, never live ones or ones with files still to upload', () => {
    const spool = mkdtempSync(join(tmpdir(), 'sweep-'));
    const old = session(spool, 'r', 'old', 'finalised', 25 * HOUR);
    const young = session(spool, 'r', 'young', 'finalised', 1 * HOUR);
    const unfinished = session(spool, 'r', 'crashed', 'ended', 48 * HOUR);
    const uploading = session(spool, 'r', 'uploading', 'finalised', 48 * HOUR);
    const pendingFile = join(uploading, 'streams', 'p', 's', 's.mp4');
    mkdirSync(join(spool, '.outbox'), { recursive: true });

    const removed = sweepSpool(spool, { keepSessionsMs: 24 * HOUR, filesInUse: [pendingFile] });

    expect(removed).toEqual([old]);
    expect(existsSync(old)).toBe(false);
    for (const kept of [young, unfinished, uploading]) expect(existsSync(kept)).toBe(true);
    expect(existsSync(join(spool, '.outbox'))).toBe(true);
  });
});
