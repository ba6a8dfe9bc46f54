import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { types as ms } from 'mediasoup';
import {
  SfuRecorder,
  type FinalisedStream,
  type RecordingStoredEvent,
  type SfuRecorderError,
  type SpoolAvailableInfo,
  type SpoolFullInfo,
} from '../../src/index.js';
import { SYNTHETIC_ROUTER_CODECS, SyntheticPeer } from '../../src/testing/index.js';
import { probeFile } from '../helpers/mux-probe.js';
import { capturedPresence, sleep, startRouter, tempDir, untilCaptured } from '../helpers/recorder-fixtures.js';

const VIDEO = { codec: 'VP8' as const, width: 320, height: 180, bitrateKbps: 300 };
// A real full filesystem needs a mount of its own: a small tmpfs (root only).
const canMount = process.getuid?.() === 0;

/** Fills the filesystem of `dir` to the last byte; returns the filler to delete. */
function fillDisk(dir: string): string {
  const filler = join(dir, 'filler.bin');
  const fd = openSync(filler, 'w');
  try {
    for (const size of [1024 * 1024, 64 * 1024, 4096, 512, 1]) {
      const chunk = Buffer.alloc(size, 7);
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return filler;
}

async function until(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe.skipIf(!canMount)('a full spool disk', () => {
  let worker: ms.Worker;
  let router: ms.Router;
  let mountPoint: string;

  beforeAll(async () => {
    ({ worker, router } = await startRouter());
    mountPoint = tempDir('full-disk');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m', 'tmpfs', mountPoint]);
  });

  afterAll(() => {
    worker?.close();
    if (mountPoint) execFileSync('umount', ['-l', mountPoint]);
  });

  async function recorderOnTmpfs(name: string) {
    const spoolDir = join(mountPoint, name);
    mkdirSync(spoolDir);
    const recorder = await SfuRecorder.create({
      spoolDir,
      defaultStorage: { root: tempDir('storage') },
      recoverOnStart: false,
      gracePeriodMs: 300,
      individualOptions: { x264Preset: 'ultrafast' },
      compositeOptions: { width: 320, height: 180, preset: 'ultrafast' },
    });
    const events = {
      full: [] as SpoolFullInfo[],
      available: [] as SpoolAvailableInfo[],
      errors: [] as SfuRecorderError[],
      stored: [] as RecordingStoredEvent[],
    };
    recorder.on('spoolfull', (info) => events.full.push(info));
    recorder.on('spoolavailable', (info) => events.available.push(info));
    recorder.on('error', (error) => events.errors.push(error));
    recorder.on('recordingstored', (event) => events.stored.push(event));
    return { recorder, events };
  }

  it('capture waits in memory while the disk is full and writes everything once space returns: no gap in the file', async () => {
    const { recorder, events } = await recorderOnTmpfs('through');
    const room = await recorder.enableRoom({ roomId: 'through', router, recording: { composite: false } });
    const peer = await SyntheticPeer.create(router, { peerId: 'pia', video: VIDEO });
    await untilCaptured(() => room.sessionId && join(recorder.spoolDir, 'through', room.sessionId), 'pia-camera', 1500);
    const filler = fillDisk(mountPoint);
    await until(() => events.full.length === 1, 'spoolfull');
    expect(recorder.spoolFull).toBe(true);
    expect(events.full[0]!.error.code).toBe('ERR_SPOOL_FULL');
    await sleep(2000);
    rmSync(filler);
    await until(() => events.available.length === 1, 'spoolavailable');
    expect(recorder.spoolFull).toBe(false);
    await sleep(1500);
    const sessionDir = join(recorder.spoolDir, 'through', room.sessionId!);
    await room.stop();
    peer.close();
    await recorder.whenIdle();
    await recorder.close();

    expect(events.errors).toEqual([]);
    expect(events.stored).toHaveLength(1);
    // The file spans the whole call, and no video went missing while the disk was full.
    const presence = capturedPresence(sessionDir, 'pia-camera');
    const probe = await probeFile(events.stored[0]!.location);
    expect(Math.abs(probe.durationS * 1000 - (presence.to - presence.from))).toBeLessThanOrEqual(150);
    const result = JSON.parse(readFileSync(join(sessionDir, 'streams', 'pia', 'pia-camera', 'stream.json'), 'utf8')) as FinalisedStream;
    // A hole the full disk made would span it (2 s); a frame or two lost on a busy host's
    // loopback is not the disk's doing.
    const [fullFrom, fullTo] = [events.full[0]!.at, events.available[0]!.at];
    expect(presence.from).toBeLessThan(fullFrom - 1000);
    expect(presence.to).toBeGreaterThan(fullTo + 1000);
    const holesWhileFull = (gaps: Array<{ from: number; to: number }>) =>
      gaps.filter((gap) => gap.to > fullFrom && gap.from < fullTo && gap.to - gap.from > 200);
    expect(holesWhileFull(result.video!.gaps)).toEqual([]);
    expect(holesWhileFull(result.audio!.gaps)).toEqual([]);
    const timeline = readFileSync(join(sessionDir, 'timeline.jsonl'), 'utf8');
    expect(timeline).toMatch(/"fault":"spool-full"/);
    expect(timeline).toMatch(/"fault":"spool-resumed","trackId":"[^"]+","droppedPackets":0/);
  }, 60_000);

  it('sessions that end while the disk is full neither crash nor reject; their files, and a peer that joined meanwhile, are recorded once space returns', async () => {
    const { recorder, events } = await recorderOnTmpfs('ending');
    const otherRouter = await worker.createRouter({ mediaCodecs: [...SYNTHETIC_ROUTER_CODECS] });
    const stopped = await recorder.enableRoom({ roomId: 'stopped', router, recording: { composite: false } });
    const emptied = await recorder.enableRoom({ roomId: 'emptied', router: otherRouter, recording: { composite: false } });
    const quin = await SyntheticPeer.create(router, { peerId: 'quin', video: VIDEO });
    const ravi = await SyntheticPeer.create(otherRouter, { peerId: 'ravi', video: VIDEO });
    await untilCaptured(() => stopped.sessionId && join(recorder.spoolDir, 'stopped', stopped.sessionId), 'quin-camera', 1500);
    await untilCaptured(() => emptied.sessionId && join(recorder.spoolDir, 'emptied', emptied.sessionId), 'ravi-camera', 1500);
    const [stoppedSession, emptiedSession] = [stopped.sessionId!, emptied.sessionId!];
    const filler = fillDisk(mountPoint);
    await until(() => events.full.length === 1, 'spoolfull');
    // Ended from code while full: resolves, the session is over.
    await expect(stopped.stop()).resolves.toBe(stoppedSession);
    // Ended by the grace timer while full: no unhandled rejection (vitest fails the run on one).
    ravi.close();
    await until(() => emptied.sessionId === undefined, 'the grace timer to end the session');
    // A peer joining while full cannot start a session yet.
    const sol = await SyntheticPeer.create(router, { peerId: 'sol', video: VIDEO });
    await until(() => events.errors.length > 0 && stopped.sessionId === undefined, 'the refused session');
    await recorder.whenIdle();
    expect(events.stored).toEqual([]);
    expect(recorder.spoolFull).toBe(true);
    // Nothing but "the spool is full" was reported.
    expect(new Set(events.errors.map((e) => e.code))).toEqual(new Set(['ERR_SPOOL_FULL']));

    rmSync(filler);
    await until(() => events.available.length === 1, 'spoolavailable');
    await until(() => events.stored.length === 2, 'the files of the sessions that ended while full');
    expect(events.stored.map((s) => `${s.metadata.sessionId}:${s.metadata.peerId}`).sort()).toEqual(
      [`${stoppedSession}:quin`, `${emptiedSession}:ravi`].sort(),
    );
    for (const stored of events.stored) expect((await probeFile(stored.location)).durationS).toBeGreaterThan(1.4);
    // The peer that joined while full is recorded now, in a session of its own.
    await until(() => stopped.sessionId !== undefined, 'a session for the peer that joined while full');
    await untilCaptured(() => stopped.sessionId && join(recorder.spoolDir, 'stopped', stopped.sessionId), 'sol-camera', 1000);
    await stopped.stop();
    quin.close();
    sol.close();
    await recorder.whenIdle();
    await recorder.close();
    const solFile = events.stored.find((s) => s.metadata.peerId === 'sol');
    expect(solFile).toBeDefined();
    expect((await probeFile(solFile!.location)).durationS).toBeGreaterThan(0.9);
  }, 90_000);
});
