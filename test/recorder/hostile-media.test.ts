import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { types as ms } from 'mediasoup';
import { SfuRecorder, type RecordingStoredEvent } from '../../src/index.js';
import { finaliseStream, listSessionStreams } from '../../src/mux/index.js';
import type { FinalisedStream } from '../../src/mux/stream-result.js';
import { sessionPaths } from '../../src/spool/layout.js';
import { captureSyntheticMedia, SyntheticPeer, type RtpCapture } from '../../src/testing/index.js';
import { seededRandom } from '../../src/testing/seeded-random.js';
import { h264Sps, setVp8KeyframeSize, setVp9KeyframeSize } from '../helpers/bitstreams.js';
import { HostilePeer, type PacketMutation } from '../helpers/hostile-peer.js';
import { decodeErrors, firstVideoFrame, probeFile } from '../helpers/mux-probe.js';
import { capturedPresence, sleep, startRouter, tempDir } from '../helpers/recorder-fixtures.js';
import { mapH264Nals, payloadOf, vp8FrameOffset, vp8StartsFrame, vp9FrameOffset, vp9StartsFrame, withPayload } from '../helpers/rtp-mutate.js';
import { measureAvSync, measureBeepOnsets, measureFlashOnsets } from '../helpers/sync-measure.js';

/**
 * Hostile and broken media through real PlainTransport producers, each hostile peer
 * recorded next to a healthy synthetic peer in one session of the real recorder: the
 * host must not crash, the healthy file must be intact, and a hostile stream keeps the
 * kind of media that was fine, with the reason for what it lost.
 */

const SECONDS = 4;
const VIDEO = { width: 320, height: 180, fps: 30, bitrateKbps: 300, noise: 0 };

/** Rewrites the payload of a packet with `rewrite` (which edits it in place). */
const onPayload = (rewrite: (payload: Buffer) => boolean): PacketMutation => (packet) => {
  const payload = payloadOf(packet);
  return [rewrite(payload) ? withPayload(packet, payload) : packet];
};

/** Every VP8 keyframe declares `width`×`height`. */
const vp8KeyframesSized = (width: number, height: number): PacketMutation =>
  onPayload((payload) => {
    const offset = vp8FrameOffset(payload);
    if (!vp8StartsFrame(payload) || offset < 0 || (payload[offset]! & 0x01) !== 0) return false;
    setVp8KeyframeSize(payload.subarray(offset), width, height);
    return true;
  });

/** Every VP9 keyframe declares `width`×`height`. */
const vp9KeyframesSized = (width: number, height: number): PacketMutation =>
  onPayload((payload) => {
    const offset = vp9FrameOffset(payload);
    return vp9StartsFrame(payload) && offset >= 0 && setVp9KeyframeSize(payload.subarray(offset), width, height);
  });

/** Every H.264 SPS is replaced by `sps`. */
const h264SpsReplaced = (sps: Buffer): PacketMutation => (packet) => [withPayload(packet, mapH264Nals(payloadOf(packet), (nal) => ((nal[0]! & 0x1f) === 7 ? sps : nal)))];

/**
 * Seeded chaos on a track: random payloads, truncated packets (down to a few bytes),
 * header-only packets, header extension junk (some with a length beyond the packet), the
 * payload type of another codec, random sequence numbers, duplicates, and from 2 s on an
 * RTP timestamp one hour ahead (a sender whose clock jumped).
 */
function chaos(seed: number, otherPayloadType: number, clockRate: number): PacketMutation {
  const random = seededRandom(seed);
  const randomBytes = (length: number) => Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)));
  return (packet, { mediaMs }) => {
    if (mediaMs >= 2000) packet.writeUInt32BE((packet.readUInt32BE(4) + 3600 * clockRate) >>> 0, 4);
    const header = packet.subarray(0, 12);
    const r = random();
    if (r < 0.1) return [Buffer.concat([header, randomBytes(packet.length - 12)])];
    if (r < 0.18) return [packet.subarray(0, Math.floor(random() * packet.length))];
    if (r < 0.22) return [Buffer.from(header)];
    if (r < 0.3) {
      const words = 1 + Math.floor(random() * 4);
      const extension = Buffer.concat([Buffer.from([0xbe, 0xde, 0, random() < 0.3 ? 200 : words]), randomBytes(words * 4)]);
      const out = Buffer.concat([header, extension, packet.subarray(12)]);
      out[0] = out[0]! | 0x10;
      return [out];
    }
    if (r < 0.34) {
      const out = Buffer.from(packet);
      out[1] = (out[1]! & 0x80) | otherPayloadType;
      return [out];
    }
    if (r < 0.37) {
      const out = Buffer.from(packet);
      out.writeUInt16BE(Math.floor(random() * 65536), 2);
      return [out];
    }
    if (r < 0.4) return [packet, packet];
    return [packet];
  };
}

/** The sync pattern is all there: an onset at the start of every second of the capture. */
function expectEverySecond(onsets: number[], what: string): void {
  expect(onsets.length, `${what} at ${onsets.join(', ')} s`).toBe(SECONDS);
  onsets.forEach((onset, i) => expect(Math.abs(onset - onsets[0]! - i), `${what} at ${onsets.join(', ')} s`).toBeLessThanOrEqual(0.04));
}

/** What each hostile peer sends, and what its recording must keep. */
interface HostileCase {
  peerId: string;
  capture: () => RtpCapture;
  audio?: PacketMutation;
  video?: PacketMutation;
  timestampStart?: Partial<Record<'audio' | 'video', number>>;
  sequenceStart?: Partial<Record<'audio' | 'video', number>>;
  /** `intact`: must be in the file; `dropped`: must be missing and say why (matching the pattern); `either`. */
  expectVideo: Expectation;
  expectAudio: Expectation;
}

/** `intact`: in the file, all of it; `dropped`: not in the file, with a reason matching; `either`: one or the other. */
type Expectation = 'intact' | { dropped: RegExp } | 'either';

/** Every Opus payload breaks RFC 6716's rules (code 3 with no frames, or more than 120 ms of them). */
function invalidOpus(seed: number): PacketMutation {
  const random = seededRandom(seed);
  return (packet) => [withPayload(packet, Buffer.from([(Math.floor(random() * 32) << 3) | 0x03, random() < 0.5 ? 0x00 : 0x3f, 0xff]))];
}

describe('hostile media through real producers', () => {
  let worker: ms.Worker;
  let router: ms.Router;
  let recorder: SfuRecorder;
  let sessionDir = '';
  const captures: Partial<Record<'VP8' | 'VP9' | 'H264', RtpCapture>> = {};
  const stored: RecordingStoredEvent[] = [];
  const recorderErrors: Error[] = [];
  const processErrors: unknown[] = [];
  const onProcessError = (error: unknown) => processErrors.push(error);

  const cases: HostileCase[] = [
    { peerId: 'vp8-absurd', capture: () => captures.VP8!, video: vp8KeyframesSized(16383, 16383), expectVideo: { dropped: /keyframe dimensions 16383×16383 exceed the limit/ }, expectAudio: 'intact' },
    { peerId: 'vp9-absurd', capture: () => captures.VP9!, video: vp9KeyframesSized(65536, 65536), expectVideo: { dropped: /keyframe dimensions 65536×65536 exceed the limit/ }, expectAudio: 'intact' },
    {
      peerId: 'h264-absurd',
      capture: () => captures.H264!,
      video: h264SpsReplaced(h264Sps({ widthMbs: 1024, heightMapUnits: 1024 })),
      expectVideo: { dropped: /keyframe dimensions 16384×16384 exceed the limit/ },
      expectAudio: 'intact',
    },
    {
      // A valid SPS of the right size, with 11-bit samples that ffmpeg does not implement: only ffmpeg can refuse it.
      peerId: 'h264-refused',
      capture: () => captures.H264!,
      video: h264SpsReplaced(h264Sps({ profileIdc: 100, widthMbs: 20, heightMapUnits: 12, bitDepth: 11, crop: { left: 0, right: 0, top: 0, bottom: 6 } })),
      expectVideo: { dropped: /ffmpeg could not encode it/ },
      expectAudio: 'intact',
    },
    { peerId: 'vp8-chaos', capture: () => captures.VP8!, video: chaos(1, 111, 90_000), expectVideo: 'either', expectAudio: 'intact' },
    { peerId: 'vp9-chaos', capture: () => captures.VP9!, video: chaos(2, 96, 90_000), expectVideo: 'either', expectAudio: 'intact' },
    { peerId: 'h264-chaos', capture: () => captures.H264!, video: chaos(3, 96, 90_000), expectVideo: 'either', expectAudio: 'intact' },
    { peerId: 'opus-chaos', capture: () => captures.VP8!, audio: chaos(4, 96, 48_000), expectVideo: 'intact', expectAudio: 'either' },
    { peerId: 'opus-invalid', capture: () => captures.VP8!, audio: invalidOpus(5), expectVideo: 'intact', expectAudio: { dropped: /packets, none a valid opus packet$/ } },
    {
      // Healthy media whose RTP timestamps and sequence numbers wrap around mid-call.
      peerId: 'wraparound',
      capture: () => captures.VP8!,
      timestampStart: { audio: 2 ** 32 - 48_000, video: 2 ** 32 - 90_000 },
      sequenceStart: { audio: 65_500, video: 65_300 },
      expectVideo: 'intact',
      expectAudio: 'intact',
    },
  ];

  beforeAll(async () => {
    process.on('unhandledRejection', onProcessError);
    process.on('uncaughtException', onProcessError);
    ({ worker, router } = await startRouter());
    for (const codec of ['VP8', 'VP9', 'H264'] as const) {
      captures[codec] = await captureSyntheticMedia({ durationSeconds: SECONDS, video: { codec, ...VIDEO } });
    }
    recorder = await SfuRecorder.create({
      spoolDir: tempDir('spool'),
      defaultStorage: { root: tempDir('storage') },
      gracePeriodMs: 60_000,
      reconnectWindowMs: 0,
      recoverOnStart: false,
      individualOptions: { x264Preset: 'ultrafast' },
    });
    recorder.on('recordingstored', (event) => stored.push(event));
    recorder.on('error', (error) => recorderErrors.push(error));
    const room = await recorder.enableRoom({ roomId: 'hostile', router, recording: { composite: false } });
    const healthy = await SyntheticPeer.create(router, { peerId: 'healthy', video: { codec: 'VP8', ...VIDEO } });
    // Each hostile peer sends its one pass of media once the recorder has tapped its tracks.
    const whenRecording = (peerId: string) => async (tracks: number) => {
      for (;;) {
        const dir = room.sessionId ? join(recorder.spoolDir, 'hostile', room.sessionId) : undefined;
        if (dir && (listSessionStreams(dir).find((s) => s.peerId === peerId)?.tracks.length ?? 0) >= tracks) return;
        await sleep(20);
      }
    };
    const hostile = await Promise.all(
      cases.map(({ peerId, capture, audio, video, timestampStart, sequenceStart }) =>
        HostilePeer.create(router, {
          peerId,
          capture: capture(),
          whenRecording: whenRecording(peerId),
          ...(audio ? { audio } : {}),
          ...(video ? { video } : {}),
          ...(timestampStart ? { timestampStart } : {}),
          ...(sequenceStart ? { sequenceStart } : {}),
        }),
      ),
    );
    await Promise.all(hostile.map((peer) => peer.whenDone()));
    await sleep(500);
    sessionDir = join(recorder.spoolDir, 'hostile', room.sessionId!);
    await room.stop();
    healthy.close();
    for (const peer of hostile) peer.close();
    await recorder.whenIdle();
  }, 180_000);

  afterAll(async () => {
    await recorder?.close();
    worker?.close();
    process.off('unhandledRejection', onProcessError);
    process.off('uncaughtException', onProcessError);
  });

  const streamJson = (peerId: string): FinalisedStream =>
    JSON.parse(readFileSync(sessionPaths.streamResult(sessionDir, peerId, `${peerId}-camera`), 'utf8')) as FinalisedStream;
  const storedFile = (peerId: string): string => {
    const event = stored.find((s) => s.metadata.peerId === peerId);
    if (!event) throw new Error(`no stored file for ${peerId}`);
    return event.location;
  };

  it('neither crashes the host nor reports anything but the media it dropped: every stream is finalised and stored', () => {
    expect(processErrors).toEqual([]);
    // Each error is one dropped kind of a hostile stream, as `stream.json` records it.
    const droppedReasons = cases.flatMap((c) => (streamJson(c.peerId).dropped ?? []).map((d) => d.reason));
    expect(recorderErrors.map((e) => e.message).sort()).toEqual(droppedReasons.sort());
    expect(recorderErrors.every((e) => (e as { code?: string }).code === 'ERR_MEDIA_UNUSABLE')).toBe(true);
    expect(worker.died).toBe(false);
    expect(stored.map((s) => s.metadata.peerId).sort()).toEqual(['healthy', ...cases.map((c) => c.peerId)].sort());
  });

  it("keeps the healthy peer's file intact: both kinds, its full length, a keyframe first, in sync", async () => {
    const file = storedFile('healthy');
    const probe = await probeFile(file);
    expect(probe.streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort()).toEqual(['audio:aac', 'video:h264']);
    const presence = capturedPresence(sessionDir, 'healthy-camera');
    expect(Math.abs(probe.durationS * 1000 - (presence.to - presence.from))).toBeLessThanOrEqual(100);
    expect((await firstVideoFrame(file)).keyframe).toBe(true);
    expect(await decodeErrors(file)).toBe('');
    const sync = await measureAvSync(file);
    expect(sync.offsetsMs.length).toBeGreaterThanOrEqual(3);
    expect(sync.maxAbsMs).toBeLessThanOrEqual(20);
    expect(streamJson('healthy').dropped).toEqual([]);
  });

  for (const c of cases) {
    it(`${c.peerId}: keeps the media that was fine and says what it dropped`, async () => {
      const streamId = `${c.peerId}-camera`;
      const file = storedFile(c.peerId);
      const probe = await probeFile(file);
      const kinds = probe.streams.map((s) => s.codec_type);
      const result = streamJson(c.peerId);
      const droppedKinds = (result.dropped ?? []).map((d) => d.kind);
      for (const dropped of result.dropped ?? []) expect(dropped.reason, dropped.kind).toMatch(new RegExp(`^${dropped.kind} of stream ${streamId} \\(peer ${c.peerId}`));
      // Timestamp jumps and garbage never stretch a file beyond the stream's presence.
      const presence = capturedPresence(sessionDir, streamId);
      if (process.env.PRINT_FIGURES) {
        console.info(`${c.peerId}: ${kinds.join('+')}, ${Math.round(probe.durationS * 1000)} ms for ${Math.round(presence.to - presence.from)} ms of presence, dropped ${JSON.stringify(result.dropped)}`);
      }
      expect(Math.abs(probe.durationS * 1000 - (presence.to - presence.from)), 'duration').toBeLessThanOrEqual(100);

      for (const kind of ['audio', 'video'] as const) {
        const expectation = kind === 'audio' ? c.expectAudio : c.expectVideo;
        if (expectation === 'either') {
          expect(kinds.includes(kind) !== droppedKinds.includes(kind), `${kind} is in the file or dropped with a reason`).toBe(true);
        } else if (expectation === 'intact') {
          expect(kinds, kind).toContain(kind);
          expect(droppedKinds, kind).not.toContain(kind);
          expectEverySecond(kind === 'audio' ? await measureBeepOnsets(file) : await measureFlashOnsets(file), kind === 'audio' ? 'beeps' : 'flashes');
        } else {
          expect(kinds, kind).not.toContain(kind);
          expect(result[kind], kind).toBeUndefined();
          expect(result.dropped!.find((d) => d.kind === kind)?.reason, kind).toMatch(expectation.dropped);
        }
      }
      const video = probe.streams.find((s) => s.codec_type === 'video');
      if (video) expect(video).toMatchObject({ codec_name: 'h264', width: VIDEO.width, height: VIDEO.height });
      if (c.expectAudio === 'intact' && c.expectVideo === 'intact') expect((await measureAvSync(file)).maxAbsMs).toBeLessThanOrEqual(20);
    });
  }

  it('gives the caller an ERR_MEDIA_UNUSABLE error naming each stream that lost a kind of media', async () => {
    for (const c of cases.filter((k) => typeof k.expectVideo === 'object' || typeof k.expectAudio === 'object')) {
      const streamId = `${c.peerId}-camera`;
      const result = await finaliseStream({ sessionDir, peerId: c.peerId, streamId, options: { x264Preset: 'ultrafast' } });
      expect(result.status, c.peerId).toBe('finalised');
      if (result.status !== 'finalised') continue;
      expect(result.dropped.map((d) => d.kind)).toEqual([typeof c.expectVideo === 'object' ? 'video' : 'audio']);
      expect(result.dropped[0]!.error.code).toBe('ERR_MEDIA_UNUSABLE');
      expect(result.dropped[0]!.error.message).toContain(`stream ${streamId}`);
      expect(existsSync(result.stream.file)).toBe(true);
    }
  });
});
