import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as mediasoup from 'mediasoup';
import type { types as mediasoupTypes } from 'mediasoup';
import { InvalidConfigError } from '../../src/errors.js';
import { FfmpegError } from '../../src/ffmpeg/run.js';
import {
  RtpProbe,
  RtpReplayer,
  SYNTHETIC_ROUTER_CODECS,
  captureSyntheticMedia,
  SyntheticPeer,
  colorFor,
  isKeyFrameStart,
  type SyntheticVideoCodec,
} from '../../src/testing/index.js';

let worker: mediasoupTypes.Worker;
let router: mediasoupTypes.Router;
const cleanup: Array<{ close(): void }> = [];

beforeAll(async () => {
  worker = await mediasoup.createWorker({ logLevel: 'warn' });
  router = await worker.createRouter({ mediaCodecs: [...SYNTHETIC_ROUTER_CODECS] });
});

afterEach(() => {
  for (const c of cleanup.splice(0)) c.close();
});

afterAll(() => {
  worker?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function peer(options: Parameters<typeof SyntheticPeer.create>[1]): Promise<SyntheticPeer> {
  const p = await SyntheticPeer.create(router, options);
  cleanup.push(p);
  return p;
}

async function probe(): Promise<RtpProbe> {
  const p = await RtpProbe.create(router);
  cleanup.push(p);
  return p;
}

function packetCount(stats: mediasoupTypes.ProducerStat[]): { packets: number; bytes: number } {
  return { packets: stats[0]?.packetCount ?? 0, bytes: stats[0]?.byteCount ?? 0 };
}

describe('SyntheticPeer', () => {
  it.each<SyntheticVideoCodec>(['VP8', 'VP9', 'H264'])('publishes Opus + %s that a consumer receives', async (codec) => {
    const alice = await peer({ peerId: `alice-${codec}`, displayName: 'Alice', video: { codec } });
    const audio = alice.audioProducer!;
    const video = alice.videoProducer!;
    expect(video.rtpParameters.codecs[0]!.mimeType).toBe(`video/${codec}`);
    expect(audio.rtpParameters.codecs[0]!.mimeType).toBe('audio/opus');
    expect(video.appData).toMatchObject({ peerId: `alice-${codec}`, streamId: `alice-${codec}-camera`, source: 'camera', displayName: 'Alice' });
    expect(audio.appData).toMatchObject({ peerId: `alice-${codec}`, streamId: `alice-${codec}-camera`, source: 'microphone' });

    const rx = await probe();
    const audioConsumer = await rx.consume(audio.id);
    const videoConsumer = await rx.consume(video.id);

    const before = await alice.stats();
    await sleep(1000);
    const after = await alice.stats();
    for (const kind of ['audio', 'video'] as const) {
      const a = packetCount(before[kind]!.producerStats);
      const b = packetCount(after[kind]!.producerStats);
      expect(b.packets, `${kind} packetCount`).toBeGreaterThan(a.packets + (kind === 'audio' ? 40 : 25));
      expect(b.bytes, `${kind} byteCount`).toBeGreaterThan(a.bytes);
    }

    for (const consumer of [audioConsumer, videoConsumer]) {
      const got = rx.packetsOf(consumer);
      expect(got.length, `${consumer.kind} packets at the consumer`).toBeGreaterThan(20);
      const pt = consumer.rtpParameters.codecs[0]!.payloadType;
      expect(got.every((p) => p.payloadType === pt)).toBe(true);
    }
    // A consumer starts on a key frame (for VP9 that needs the relay's P-bit fix: ffmpeg
    // marks every VP9 frame as a possible key frame, and mediasoup would start on any).
    const firstVideo = rx.packetsOf(videoConsumer)[0]!;
    expect(isKeyFrameStart(codec, firstVideo.packet)).toBe(true);
  });

  it('pause() stops a track reaching consumers and resume() brings it back on a key frame', async () => {
    const bob = await peer({ peerId: 'bob', video: { codec: 'VP8', width: 320, height: 180, fps: 15 } });
    const rx = await probe();
    const audioConsumer = await rx.consume(bob.audioProducer!.id);
    const videoConsumer = await rx.consume(bob.videoProducer!.id);
    await waitFor('video at the consumer', () => rx.packetsOf(videoConsumer).length > 0);

    await bob.pause('video');
    expect(bob.videoProducer!.paused).toBe(true);
    await waitFor('consumer producerpause', () => videoConsumer.producerPaused);
    const pausedAt = performance.now();
    await sleep(700);
    expect(rx.packetsOf(videoConsumer, pausedAt + 50)).toHaveLength(0);
    expect(rx.packetsOf(audioConsumer, pausedAt + 50).length).toBeGreaterThan(20); // the microphone is untouched

    await bob.resume('video');
    const resumedAt = performance.now();
    await waitFor('video after resume', () => rx.packetsOf(videoConsumer, resumedAt).length > 10);
    expect(isKeyFrameStart('VP8', rx.packetsOf(videoConsumer, resumedAt)[0]!.packet)).toBe(true);

    await bob.pause('audio');
    await waitFor('consumer producerpause', () => audioConsumer.producerPaused);
    const mutedAt = performance.now();
    await sleep(500);
    expect(rx.packetsOf(audioConsumer, mutedAt + 50)).toHaveLength(0);
    await bob.resume('audio');
    const unmutedAt = performance.now();
    await waitFor('audio after resume', () => rx.packetsOf(audioConsumer, unmutedAt).length > 5);
  });

  it('stopTrack() closes the producer and startTrack() publishes a new one that starts on a key frame', async () => {
    const carol = await peer({ peerId: 'carol', video: { codec: 'H264', width: 320, height: 180, fps: 15 } });
    const events: string[] = [];
    carol.on('trackstop', (kind) => events.push(`stop:${kind}`));
    carol.on('trackstart', (kind) => events.push(`start:${kind}`));
    const first = carol.videoProducer!;
    const firstSsrc = first.rtpParameters.encodings![0]!.ssrc;
    const rx = await probe();
    const oldConsumer = await rx.consume(first.id);
    const closed = new Promise<void>((resolve) => oldConsumer.on('producerclose', () => resolve()));

    carol.stopTrack('video');
    await closed;
    expect(first.closed).toBe(true);
    expect(carol.videoProducer).toBeUndefined();
    await expect(carol.pause('video')).rejects.toThrow(/stopped/);
    await sleep(300);
    const stoppedStats = await carol.stats();
    expect(stoppedStats.video!.packetsDropped).toBeGreaterThan(0);

    const second = await carol.startTrack('video');
    expect(second.id).not.toBe(first.id);
    expect(second.rtpParameters.encodings![0]!.ssrc).not.toBe(firstSsrc);
    expect(carol.videoProducer).toBe(second);
    expect(second.appData).toMatchObject({ peerId: 'carol', source: 'camera' });
    const consumer = await rx.consume(second.id);
    await waitFor('video from the new producer', () => rx.packetsOf(consumer).length > 10);
    expect(isKeyFrameStart('H264', rx.packetsOf(consumer)[0]!.packet)).toBe(true);
    expect(events).toEqual(['stop:video', 'start:video']);
    await expect(carol.startTrack('video')).rejects.toThrow(/already started/);
  });

  it('close() kills ffmpeg and closes the transport and producers', async () => {
    const dave = await SyntheticPeer.create(router, { peerId: 'dave', video: { width: 160, height: 90, fps: 10 } });
    const pid = dave.ffmpegPid!;
    const producer = dave.videoProducer!;
    let closeEvents = 0;
    dave.on('close', () => closeEvents++);
    dave.close();
    dave.close();
    expect(dave.closed).toBe(true);
    expect(closeEvents).toBe(1);
    expect(producer.closed).toBe(true);
    expect(dave.transport.closed).toBe(true);
    await waitFor('ffmpeg to exit', () => !alive(pid), 3000);
    expect(() => dave.stopTrack('video')).toThrow(/after close/);
    await expect(dave.pause('video')).rejects.toMatchObject({ code: 'ERR_CLOSED' });
  });

  it('audio-only and video-only peers', async () => {
    const radio = await peer({ peerId: 'radio', video: false });
    expect(radio.videoProducer).toBeUndefined();
    expect(radio.audioProducer?.kind).toBe('audio');
    expect(radio.color).toBeUndefined();
    const cam = await peer({ peerId: 'cam', audio: false, video: { width: 160, height: 90, fps: 10, color: '#123456' } });
    expect(cam.audioProducer).toBeUndefined();
    expect(cam.color).toBe('#123456');
    await expect(cam.pause('audio')).rejects.toBeInstanceOf(InvalidConfigError);
  });

  it('rejects bad options naming the field, and reports a dead ffmpeg with its stderr', async () => {
    await expect(SyntheticPeer.create(router, { peerId: 'a/b' })).rejects.toMatchObject({ field: 'peerId' });
    await expect(SyntheticPeer.create(router, { peerId: 'x', video: { codec: 'AV1' as never } })).rejects.toMatchObject({ field: 'video.codec' });
    await expect(SyntheticPeer.create(router, { peerId: 'x', video: { width: 641 } })).rejects.toThrow(/video.width must be an even integer.*641/);
    await expect(SyntheticPeer.create(router, { peerId: 'x', video: { color: 'red' } })).rejects.toMatchObject({ field: 'video.color' });
    await expect(SyntheticPeer.create(router, { peerId: 'x', audio: false, video: false })).rejects.toBeInstanceOf(InvalidConfigError);
    const vp8Only = await worker.createRouter({ mediaCodecs: [SYNTHETIC_ROUTER_CODECS[0]!, SYNTHETIC_ROUTER_CODECS[1]!] });
    await expect(SyntheticPeer.create(vp8Only, { peerId: 'x', video: { codec: 'H264' } })).rejects.toThrow(/has no video\/H264 codec/);
    vp8Only.close();

    // An ffmpeg that exits at once is reported as an FfmpegError (with its stderr tail).
    const error = await SyntheticPeer.create(router, { peerId: 'x', ffmpegPath: '/bin/false' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FfmpegError);
    const missing = await SyntheticPeer.create(router, { peerId: 'x', ffmpegPath: '/nonexistent/ffmpeg' }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(Error);
    expect(String((missing as Error).message)).toMatch(/\/nonexistent\/ffmpeg/);
    // Nothing leaked on the router from the failed attempts.
    const dump = await router.dump();
    expect(dump.transportIds.length).toBe(0);
  });

  it('derives a distinct, non-white colour per peer', () => {
    const colours = new Set(['a', 'b', 'c', 'd', 'e', 'f'].map(colorFor));
    expect(colours.size).toBe(6);
    for (const c of colours) {
      const [r, g, b] = [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16));
      expect(r! + g! + b!).toBeLessThan(3 * 200);
    }
  });
});

describe('RtpReplayer', () => {
  it('replays a capture, looped, with continuous sequence numbers and timestamps', async () => {
    const capture = await captureSyntheticMedia({ durationSeconds: 1, video: { codec: 'VP8', width: 320, height: 180, fps: 15 } });
    expect(capture.durationMs).toBe(1000);
    const video = capture.packets.filter((p) => p.kind === 'video');
    expect(capture.packets.filter((p) => p.kind === 'audio')).toHaveLength(50); // 20 ms Opus frames
    expect(new Set(video.map((p) => p.relativeTimestamp)).size).toBe(15); // exactly one loop of frames
    expect(isKeyFrameStart('VP8', video[0]!.data)).toBe(true);

    const replayers = await Promise.all([0, 300, 600].map((phaseMs, i) => RtpReplayer.create(router, { peerId: `r${i}`, capture, phaseMs })));
    cleanup.push(...replayers);
    const r0 = replayers[0]!;
    expect(r0.videoProducer!.appData).toMatchObject({ peerId: 'r0', streamId: 'r0-camera', source: 'camera' });
    const rx = await probe();
    const videoConsumer = await rx.consume(r0.videoProducer!.id);
    const audioConsumer = await rx.consume(r0.audioProducer!.id);
    await sleep(2300); // crosses two loop boundaries

    for (const consumer of [videoConsumer, audioConsumer]) {
      const got = rx.packetsOf(consumer);
      expect(got.length).toBeGreaterThan(consumer.kind === 'audio' ? 90 : 30);
      const seqSteps = got.slice(1).map((p, i) => (p.sequenceNumber - got[i]!.sequenceNumber) & 0xffff);
      expect(seqSteps.every((d) => d === 1), `${consumer.kind} sequence numbers`).toBe(true);
      // Timestamps never jump: at most one frame (or a 20 ms audio packet) apart, across loops too.
      const clock = consumer.kind === 'audio' ? 48000 : 90000;
      const tsSteps = got.slice(1).map((p, i) => (p.timestamp - got[i]!.timestamp) >>> 0);
      expect(Math.max(...tsSteps)).toBeLessThanOrEqual(consumer.kind === 'audio' ? 960 : clock / 15);
    }
    expect(isKeyFrameStart('VP8', rx.packetsOf(videoConsumer)[0]!.packet)).toBe(true);
    for (const r of replayers) {
      const [stat] = await r.videoProducer!.getStats();
      expect(stat!.packetCount).toBeGreaterThan(30);
    }
    await r0.pause('video');
    expect(r0.videoProducer!.paused).toBe(true);
    r0.close();
    expect(r0.transport.closed).toBe(true);
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
