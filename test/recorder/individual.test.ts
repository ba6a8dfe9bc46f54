import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { types as ms } from 'mediasoup';
import {
  SfuRecorder,
  recordingKey,
  type RecordingFinalisedInfo,
  type RecordingStoredEvent,
  type SessionEmptyInfo,
  type SessionEndedInfo,
} from '../../src/index.js';
import { SyntheticPeer } from '../../src/testing/index.js';
import { decodeErrors, firstVideoFrame, lumaTimeline, probeFile } from '../helpers/mux-probe.js';
import { capturedPresence, sleep, startRouter, tempDir } from '../helpers/recorder-fixtures.js';
import { measureAvSync } from '../helpers/sync-measure.js';

const VIDEO = { width: 320, height: 180, fps: 30, bitrateKbps: 300 };

describe('individual recording of a real call', () => {
  let worker: ms.Worker;
  let router: ms.Router;
  let recorder: SfuRecorder;
  const finalised: RecordingFinalisedInfo[] = [];
  const stored: RecordingStoredEvent[] = [];
  let ended: SessionEndedInfo | undefined;
  let sessionDir = '';
  let storageRoot = '';

  beforeAll(async () => {
    ({ worker, router } = await startRouter());
    storageRoot = tempDir('storage');
    recorder = await SfuRecorder.create({
      spoolDir: tempDir('spool'),
      defaultStorage: { root: storageRoot, baseUrl: 'http://127.0.0.1:9/recordings' },
      gracePeriodMs: 60_000,
      // A peer that leaves is gone at once: a rejoin starts new stream files (no reconnect window).
      reconnectWindowMs: 0,
      recoverOnStart: false,
      individualOptions: { x264Preset: 'ultrafast' },
    });
    recorder.on('recordingfinalised', (info) => finalised.push(info));
    recorder.on('recordingstored', (event) => stored.push(event));
    recorder.on('sessionended', (info) => (ended = info));
    const room = await recorder.enableRoom({ roomId: 'room-1', router, recording: { composite: false } });

    // A: VP8 + Opus for the whole call; mutes audio 5 s, then turns video off 5 s.
    const a = await SyntheticPeer.create(router, { peerId: 'alice', video: { codec: 'VP8', ...VIDEO } });
    // B: H.264; its camera starts 3 s after its microphone.
    const b = await SyntheticPeer.create(router, { peerId: 'bob', video: { codec: 'H264', ...VIDEO } });
    b.stopTrack('video');
    await sleep(1000);
    // C: VP9, joins late, leaves, and comes back: two stream files.
    let c = await SyntheticPeer.create(router, { peerId: 'carol', video: { codec: 'VP9', ...VIDEO } });
    await a.pause('audio');
    await sleep(2000);
    await b.startTrack('video');
    await sleep(3000);
    await a.resume('audio');
    await a.pause('video');
    c.close();
    await sleep(1000);
    c = await SyntheticPeer.create(router, { peerId: 'carol', video: { codec: 'VP9', ...VIDEO } });
    await sleep(4000);
    await a.resume('video');
    await sleep(3000);
    sessionDir = join(recorder.spoolDir, 'room-1', room.sessionId!);
    await room.stop();
    a.close();
    b.close();
    c.close();
    await recorder.whenIdle();
  }, 240_000);

  afterAll(async () => {
    await recorder?.close();
    worker?.close();
  });

  it('ends the session with one stream per camera stream, and a new one for a rejoin', () => {
    expect(ended?.reason).toBe('stopped');
    const byPeer = (peer: string) => finalised.filter((f) => f.peerId === peer);
    expect(byPeer('alice')).toHaveLength(1);
    expect(byPeer('bob')).toHaveLength(1);
    expect(byPeer('carol')).toHaveLength(2);
    expect(new Set(byPeer('carol').map((f) => f.streamId)).size).toBe(2);
  });

  /** The stored copy of each finalised file (the spool copy is removed once stored). */
  const storedFiles = () =>
    finalised.map((f) => ({ ...f, file: stored.find((s) => s.metadata.streamId === f.streamId)!.location }));

  it('writes H.264 + AAC files that decode cleanly from a keyframe first frame', async () => {
    for (const file of storedFiles()) {
      const probe = await probeFile(file.file);
      expect(probe.streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort()).toEqual(['audio:aac', 'video:h264']);
      const first = await firstVideoFrame(file.file);
      expect(first.keyframe).toBe(true);
      expect(await decodeErrors(file.file)).toBe('');
    }
  });

  it('lasts the stream presence ±100 ms, mutes and camera-off included', async () => {
    for (const file of storedFiles()) {
      const presence = capturedPresence(sessionDir, file.streamId!);
      const probe = await probeFile(file.file);
      if (process.env.PRINT_FIGURES) {
        console.info(`duration ${file.streamId}: file ${probe.durationS * 1000} ms, captured ${presence.to - presence.from} ms`);
      }
      expect(Math.abs(probe.durationS * 1000 - (presence.to - presence.from)), file.peerId).toBeLessThanOrEqual(100);
    }
  });

  it('shows real video within 300 ms of the first video packet', async () => {
    for (const peer of ['alice', 'carol']) {
      const file = storedFiles().find((f) => f.peerId === peer)!;
      const presence = capturedPresence(sessionDir, file.streamId!);
      const frames = await lumaTimeline(file.file, 30);
      // Black is luma 16; the synthetic peers' colours and the white flash are far above it.
      const firstPicture = frames.find((f) => f.luma > 30)!;
      const videoStart = (presence.firstVideo! - presence.from) / 1000;
      if (process.env.PRINT_FIGURES) console.info(`first picture ${peer}: ${Math.round((firstPicture.t - videoStart) * 1000)} ms after first video packet`);
      expect(firstPicture.t - videoStart, peer).toBeLessThanOrEqual(0.3);
    }
  });

  it('keeps audio and video in sync within ±20 ms, also when the camera started 3 s late', async () => {
    for (const peer of ['alice', 'bob']) {
      const file = storedFiles().find((f) => f.peerId === peer)!;
      const sync = await measureAvSync(file.file);
      if (process.env.PRINT_FIGURES) console.info(`A/V sync ${peer}: ${sync.offsetsMs.join(', ')} ms`);
      expect(sync.offsetsMs.length, peer).toBeGreaterThanOrEqual(3);
      expect(sync.maxAbsMs, `${peer}: ${sync.offsetsMs.join(', ')}`).toBeLessThanOrEqual(20);
    }
  });

  it('stores every file in the default storage under the documented key, with a signed URL', () => {
    expect(stored).toHaveLength(finalised.length);
    for (const event of stored) {
      const m = event.metadata;
      expect(event.key).toBe(
        recordingKey({ recordingType: 'individual', roomId: 'room-1', sessionId: m.sessionId, sessionStartedAt: m.sessionStartedAt, peerId: m.peerId!, streamId: m.streamId! }),
      );
      expect(event.key).toMatch(/^room-1\/\d{8}\/[\w-]+\/(alice|bob|carol)\/[\w-]+\/[\w-]+\.mp4$/);
      expect(existsSync(join(storageRoot, event.key))).toBe(true);
      expect(event.url).toMatch(/^http:\/\/127\.0\.0\.1:9\/recordings\/.+expires=/);
    }
  });
});

describe('sessions without media and bad input', () => {
  it('produces no file for a session where nobody published, and says so', async () => {
    const { worker, router } = await startRouter();
    const recorder = await SfuRecorder.create({ spoolDir: tempDir('spool'), defaultStorage: { root: tempDir('storage') }, recoverOnStart: false });
    const empty: SessionEmptyInfo[] = [];
    const finalised: RecordingFinalisedInfo[] = [];
    recorder.on('sessionempty', (info) => empty.push(info));
    recorder.on('recordingfinalised', (info) => finalised.push(info));
    const room = await recorder.enableRoom({ roomId: 'quiet', router });
    await room.addPeer('lurker');
    await sleep(300);
    await room.stop();
    await recorder.whenIdle();
    expect(finalised).toEqual([]);
    expect(empty).toHaveLength(1);
    expect(empty[0]!.reason).toMatch(/no stream|nobody/);
    await recorder.close();
    worker.close();
  });

  it('rejects a closed router, an unwritable spool and a missing ffmpeg with clear errors', async () => {
    const { worker, router } = await startRouter();
    const recorder = await SfuRecorder.create({ spoolDir: tempDir('spool'), recoverOnStart: false, defaultStorage: { root: tempDir('storage') } });
    router.close();
    await expect(recorder.enableRoom({ roomId: 'r', router })).rejects.toThrow(/router .* of room r is closed/);
    await expect(recorder.enableRoom({ roomId: 'a/b', router })).rejects.toThrow(/roomId "a\/b" contains "\/"/);
    await expect(SfuRecorder.create({ spoolDir: '/proc/version/spool' })).rejects.toThrow(/spool directory \/proc\/version\/spool is not writable/);
    await expect(SfuRecorder.create({ spoolDir: tempDir('spool'), ffmpegPath: '/nonexistent/ffmpeg' })).rejects.toMatchObject({ code: 'ERR_FFMPEG_MISSING' });
    await expect(SfuRecorder.create({ spoolDir: tempDir('spool'), gracePeriodMs: Number.NaN })).rejects.toThrow(/gracePeriodMs must be a number >= 0 \(got NaN\)/);
    await expect(SfuRecorder.create({ spoolDir: tempDir('spool'), reconnectWindowMs: -1 })).rejects.toThrow(/reconnectWindowMs must be a number >= 0 \(got -1\)/);
    await recorder.close();
    worker.close();
  });

  it('refuses a codec it cannot record, naming it, and records nothing for it', async () => {
    const { worker } = await startRouter();
    const router = await worker.createRouter({
      mediaCodecs: [{ kind: 'audio', mimeType: 'audio/PCMU', clockRate: 8000, channels: 1, preferredPayloadType: 0 }],
    });
    const recorder = await SfuRecorder.create({ spoolDir: tempDir('spool'), recoverOnStart: false, defaultStorage: { root: tempDir('storage') } });
    const errors: Error[] = [];
    const firstError = new Promise((resolve) => recorder.once('error', resolve));
    recorder.on('error', (error) => errors.push(error));
    await recorder.enableRoom({ roomId: 'pcmu', router });
    const transport = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, comedia: true, rtcpMux: true });
    await transport.produce({
      kind: 'audio',
      rtpParameters: { codecs: [{ mimeType: 'audio/PCMU', payloadType: 0, clockRate: 8000, channels: 1 }], encodings: [{ ssrc: 1111 }] },
      appData: { peerId: 'old-phone' },
    });
    await firstError;
    await sleep(200);
    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/audio\/PCMU, which cannot be recorded/)]);
    await recorder.close();
    worker.close();
  });
});
