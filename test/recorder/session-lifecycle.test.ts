import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { types as ms } from 'mediasoup';
import { SfuRecorder, readTimeline, type RecordingStoredEvent, type SessionEndedInfo } from '../../src/index.js';
import { SyntheticPeer } from '../../src/testing/index.js';
import { probeFile } from '../helpers/mux-probe.js';
import { capturedPresence, sleep, startRouter, tempDir } from '../helpers/recorder-fixtures.js';

const VIDEO = { codec: 'VP8' as const, width: 320, height: 180, bitrateKbps: 300 };

describe('session lifecycle', () => {
  let worker: ms.Worker;
  let router: ms.Router;

  beforeAll(async () => {
    ({ worker, router } = await startRouter());
  });

  afterAll(() => worker?.close());

  it('ends a session by itself once the last peer left and the grace period passed; composite only stores no individual file', async () => {
    const recorder = await SfuRecorder.create({
      spoolDir: tempDir('spool'),
      defaultStorage: { root: tempDir('storage') },
      recoverOnStart: false,
      gracePeriodMs: 1500,
      // A peer that leaves is gone at once: a rejoin starts new stream files (no reconnect window).
      reconnectWindowMs: 0,
      individualOptions: { x264Preset: 'ultrafast' },
      compositeOptions: { width: 320, height: 180, preset: 'ultrafast' },
    });
    const ended: SessionEndedInfo[] = [];
    const stored: RecordingStoredEvent[] = [];
    recorder.on('sessionended', (info) => ended.push(info));
    recorder.on('recordingstored', (event) => stored.push(event));
    await recorder.enableRoom({ roomId: 'grace', router, recording: { individual: false } });
    const peer = await SyntheticPeer.create(router, { peerId: 'solo', video: VIDEO });
    await sleep(1500);
    const leftAt = Date.now();
    peer.close();
    await sleep(800);
    expect(ended).toEqual([]);
    await sleep(1500);
    expect(ended).toHaveLength(1);
    expect(ended[0]!.reason).toBe('empty');
    expect(ended[0]!.endedAt - leftAt).toBeGreaterThanOrEqual(1400);
    expect(ended[0]!.endedAt - leftAt).toBeLessThan(2500);
    await recorder.whenIdle();
    expect(stored.map((s) => s.metadata.recordingType)).toEqual(['composite']);
    const streamFile = join(ended[0]!.dir, 'streams', 'solo', 'solo-camera', 'solo-camera.mp4');
    expect(existsSync(streamFile)).toBe(false);
    await recorder.close();
  });

  it('cuts a recording pause out of the file, and a rejoin within the grace period continues the session', async () => {
    const recorder = await SfuRecorder.create({
      spoolDir: tempDir('spool'),
      defaultStorage: { root: tempDir('storage') },
      recoverOnStart: false,
      gracePeriodMs: 5000,
      // A peer that leaves is gone at once: a rejoin starts new stream files (no reconnect window).
      reconnectWindowMs: 0,
      individualOptions: { x264Preset: 'ultrafast' },
    });
    const stored: RecordingStoredEvent[] = [];
    const ended: SessionEndedInfo[] = [];
    recorder.on('recordingstored', (event) => stored.push(event));
    recorder.on('sessionended', (info) => ended.push(info));
    const room = await recorder.enableRoom({ roomId: 'pause', router, recording: { composite: false } });
    let peer = await SyntheticPeer.create(router, { peerId: 'pat', video: VIDEO });
    await sleep(2000);
    await room.pause();
    await sleep(2000);
    await room.resume();
    await sleep(2000);
    peer.close();
    await sleep(500);
    peer = await SyntheticPeer.create(router, { peerId: 'pat', video: VIDEO });
    const sessionId = room.sessionId!;
    await sleep(1500);
    await room.stop();
    peer.close();
    await recorder.whenIdle();

    expect(ended.map((e) => e.sessionId)).toEqual([sessionId]);
    expect(stored).toHaveLength(2);
    const sessionDir = join(recorder.spoolDir, 'pause', sessionId);
    const events = readTimeline(join(sessionDir, 'timeline.jsonl')).events;
    const paused = events.find((e) => e.type === 'recording-paused')!.at;
    const resumed = events.find((e) => e.type === 'recording-resumed')!.at;
    const first = stored.find((s) => s.metadata.streamId === 'pat-camera')!;
    const presence = capturedPresence(sessionDir, 'pat-camera');
    const probe = await probeFile(first.location);
    if (process.env.PRINT_FIGURES) console.info(`pause cut: file ${probe.durationS * 1000} ms, expected ${presence.to - presence.from - (resumed - paused)} ms`);
    expect(Math.abs(probe.durationS * 1000 - (presence.to - presence.from - (resumed - paused)))).toBeLessThanOrEqual(100);
    await recorder.close();
  });
});
