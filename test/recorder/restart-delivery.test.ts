import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { types as ms } from 'mediasoup';
import { SfuRecorder, type RecordingStoredEvent, type SessionManifest, type SfuRecorderError } from '../../src/index.js';
import { SYNTHETIC_ROUTER_CODECS, SyntheticPeer } from '../../src/testing/index.js';
import { probeFile } from '../helpers/mux-probe.js';
import { sleep, startRouter, tempDir, untilCaptured } from '../helpers/recorder-fixtures.js';
import { newWebhookSecret, startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const VIDEO = { codec: 'VP8' as const, width: 320, height: 180, bitrateKbps: 300 };

interface Run {
  stored: RecordingStoredEvent[];
  errors: SfuRecorderError[];
}

describe('restarts never deliver a file twice', () => {
  let worker: ms.Worker;
  let router: ms.Router;
  let receiver: WebhookReceiver;
  let secret: string;

  beforeAll(async () => {
    ({ worker, router } = await startRouter());
    secret = newWebhookSecret();
    receiver = await startWebhookReceiver(secret);
  });

  afterAll(async () => {
    await receiver?.close();
    worker?.close();
  });

  it('a session with a failing stream delivers each good file once across restarts, the rest when it can, and gives up after 3 runs', async () => {
    const spoolDir = tempDir('spool');
    const storageRoot = tempDir('storage');
    const options = {
      spoolDir,
      defaultStorage: { root: storageRoot },
      webhook: { url: receiver.url, secret },
      individualOptions: { x264Preset: 'ultrafast' as const },
      compositeOptions: { width: 320, height: 180, preset: 'ultrafast' as const },
    };
    // One recording, two rooms: in `heals` a stream fails for two runs, in `stuck` for good.
    const first = await SfuRecorder.create({ ...options, recoverOnStart: false });
    const otherRouter = await worker.createRouter({ mediaCodecs: [...SYNTHETIC_ROUTER_CODECS] });
    const heals = await first.enableRoom({ roomId: 'heals', router });
    const stuck = await first.enableRoom({ roomId: 'stuck', router: otherRouter });
    const peers = await Promise.all([
      SyntheticPeer.create(router, { peerId: 'good', video: VIDEO }),
      SyntheticPeer.create(router, { peerId: 'flaky', video: VIDEO }),
    ]);
    const stuckPeers = await Promise.all([
      SyntheticPeer.create(otherRouter, { peerId: 'fine', video: VIDEO }),
      SyntheticPeer.create(otherRouter, { peerId: 'broken', video: VIDEO }),
    ]);
    for (const [room, roomId, peerId] of [[heals, 'heals', 'good'], [heals, 'heals', 'flaky'], [stuck, 'stuck', 'fine'], [stuck, 'stuck', 'broken']] as const) {
      await untilCaptured(() => room.sessionId && join(spoolDir, roomId, room.sessionId), `${peerId}-camera`, 2000);
    }
    const healsDir = join(spoolDir, 'heals', heals.sessionId!);
    const stuckDir = join(spoolDir, 'stuck', stuck.sessionId!);
    await first.close({ finalise: false });
    for (const peer of [...peers, ...stuckPeers]) peer.close();

    // A file where a stream's directory must go: finalising that stream fails, every time.
    const block = (dir: string, peerId: string): string => {
      const path = join(dir, 'streams', peerId);
      mkdirSync(join(dir, 'streams'), { recursive: true });
      rmSync(path, { recursive: true, force: true });
      writeFileSync(path, 'not a directory');
      return path;
    };
    const flakyBlock = block(healsDir, 'flaky');
    block(stuckDir, 'broken');

    const run = async (): Promise<Run> => {
      const recorder = await SfuRecorder.create({ ...options, recoverOnStart: false });
      const result: Run = { stored: [], errors: [] };
      recorder.on('recordingstored', (event) => result.stored.push(event));
      recorder.on('error', (error) => result.errors.push(error));
      await recorder.recover();
      await recorder.whenIdle();
      await recorder.close();
      return result;
    };
    const manifest = (dir: string): SessionManifest => JSON.parse(readFileSync(join(dir, 'session.json'), 'utf8')) as SessionManifest;
    const names = (r: Run): string[] => r.stored.map((s) => `${s.metadata.roomId}:${s.metadata.peerId ?? 'composite'}`).sort();

    // Run 1: the good streams are stored; the composites wait for the failing streams.
    const run1 = await run();
    expect(names(run1)).toEqual(['heals:good', 'stuck:fine']);
    expect(run1.errors.map((e) => e.code)).toEqual(['ERR_FINALISE_FAILED', 'ERR_FINALISE_FAILED']);
    expect(run1.errors.map((e) => e.message).join('\n')).toMatch(/finalising stream flaky-camera of peer flaky/);
    expect(manifest(healsDir)).toMatchObject({ state: 'ended', failedAttempts: 1 });

    // Run 2: nothing is stored again.
    const run2 = await run();
    expect(names(run2)).toEqual([]);
    expect(run2.errors).toHaveLength(2);

    // The fault goes away in one room. Run 3: only what was missing is made and stored,
    // the composite with both peers; the other room gives up, composing what it has.
    rmSync(flakyBlock);
    const run3 = await run();
    expect(names(run3)).toEqual(['heals:composite', 'heals:flaky', 'stuck:composite']);
    expect(run3.errors.map((e) => e.code).sort()).toEqual(['ERR_FINALISE_FAILED', 'ERR_FINALISE_GAVE_UP']);
    expect(manifest(healsDir).state).toBe('finalised');
    const stuckManifest = manifest(stuckDir);
    expect(stuckManifest.state).toBe('finalised');
    expect(stuckManifest.outputs!['individual:broken/broken-camera']).toMatchObject({ state: 'failed', error: { code: 'ERR_FINALISE_GAVE_UP' } });
    const composite = run3.stored.find((s) => s.metadata.roomId === 'heals' && s.metadata.recordingType === 'composite')!;
    expect((await probeFile(composite.location)).durationS).toBeGreaterThan(1.5);

    // Run 4: everything is settled; nothing happens.
    const run4 = await run();
    expect(names(run4)).toEqual([]);
    expect(run4.errors).toEqual([]);

    // Each stored file was announced by exactly one webhook, under one id.
    const allStored = [...run1.stored, ...run2.stored, ...run3.stored, ...run4.stored];
    expect(new Set(allStored.map((s) => s.key)).size).toBe(allStored.length);
    const accepted = await receiver.waitForAccepted(allStored.length);
    await sleep(500);
    const successes = receiver.accepted().filter((w) => JSON.parse(w.body).type === 'recording.success');
    expect(successes).toHaveLength(allStored.length);
    expect(new Set(accepted.map((w) => w.id)).size).toBe(accepted.length);
  }, 180_000);
});
