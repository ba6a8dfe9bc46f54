import { readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FfmpegError } from '../../src/ffmpeg/run.js';
import { finaliseStream, type FinaliseStreamResult } from '../../src/mux/index.js';
import type { FinalisedStream } from '../../src/mux/stream-result.js';
import { sessionPaths } from '../../src/spool/layout.js';
import { h264Sps, setVp8KeyframeSize } from '../helpers/bitstreams.js';
import { expectGoodMp4 } from '../helpers/mux-assert.js';
import { frameSizes, lumaTimeline, probeFile } from '../helpers/mux-probe.js';
import { captureTestRtp, type CapturedRtpStream } from '../helpers/mux-rtp-source.js';
import { seededRandom, synthesiseArrivals, testClock, writeTestSession, type TestSession } from '../helpers/mux-session.js';
import { mapH264Nals, payloadOf, vp8FrameOffset, vp8StartsFrame, withPayload } from '../helpers/rtp-mutate.js';
import { measureAvSync, measureBeepOnsets } from '../helpers/sync-measure.js';

const sessions: TestSession[] = [];
afterAll(() => {
  for (const s of sessions) rmSync(dirname(dirname(s.sessionDir)), { recursive: true, force: true });
});

/** Copies of a captured stream's packets, with `mutate` applied to each (given its media time in ms). */
function mutated(stream: CapturedRtpStream, mutate: (packet: Buffer, mediaMs: number) => Buffer): CapturedRtpStream {
  const firstTs = stream.packets[0]!.data.readUInt32BE(4);
  return {
    ...stream,
    packets: stream.packets.map(({ data, arrivalMono }) => {
      const mediaMs = (((data.readUInt32BE(4) - firstTs) >>> 0) * 1000) / stream.clockRate;
      return { data: mutate(Buffer.from(data), mediaMs), arrivalMono };
    }),
  };
}

/** Every VP8 keyframe in `[fromMs, toMs)` of media time declares `width`×`height`. */
function vp8KeyframesSized(stream: CapturedRtpStream, width: number, height: number, fromMs = 0, toMs = Infinity): CapturedRtpStream {
  return mutated(stream, (packet, mediaMs) => {
    const payload = payloadOf(packet);
    const offset = vp8FrameOffset(payload);
    if (mediaMs < fromMs || mediaMs >= toMs || !vp8StartsFrame(payload) || offset < 0 || (payload[offset]! & 0x01) !== 0) return packet;
    setVp8KeyframeSize(payload.subarray(offset), width, height);
    return withPayload(packet, payload);
  });
}

/** Every H.264 SPS in `[fromMs, toMs)` of media time is replaced by `sps`. */
function h264SpsReplaced(stream: CapturedRtpStream, sps: Buffer, fromMs = 0, toMs = Infinity): CapturedRtpStream {
  return mutated(stream, (packet, mediaMs) =>
    mediaMs < fromMs || mediaMs >= toMs ? packet : withPayload(packet, mapH264Nals(payloadOf(packet), (nal) => ((nal[0]! & 0x1f) === 7 ? sps : nal))),
  );
}

async function finalise(audio: CapturedRtpStream, video: CapturedRtpStream): Promise<{ session: TestSession; result: FinaliseStreamResult }> {
  const { originMono, monoToEpochMs } = testClock();
  const session = await writeTestSession({
    monoToEpochMs,
    tracks: [
      { trackId: 'mic', stream: audio, entries: synthesiseArrivals(audio, { originMono, senderReportIntervalMs: 1000, seed: 11 }) },
      { trackId: 'cam', stream: video, entries: synthesiseArrivals(video, { originMono, delayMs: 5, senderReportIntervalMs: 1000 }) },
    ],
  });
  sessions.push(session);
  const result = await finaliseStream({ sessionDir: session.sessionDir, peerId: session.peerId, streamId: session.streamId, options: { x264Preset: 'ultrafast' } });
  return { session, result };
}

function streamJson(session: TestSession): FinalisedStream {
  return JSON.parse(readFileSync(sessionPaths.streamResult(session.sessionDir, session.peerId, session.streamId), 'utf8')) as FinalisedStream;
}

/** The stream's audio is all there: one beep at the start of every second of the capture. */
async function expectBeepsEverySecond(file: string, seconds: number): Promise<void> {
  const beeps = await measureBeepOnsets(file);
  expect(beeps).toHaveLength(seconds);
  beeps.forEach((beep, i) => expect(Math.abs(beep - i), `beep ${i} at ${beep} s`).toBeLessThanOrEqual(0.03));
}

describe('finaliseStream: a stream keeps the media it can use', () => {
  let vp8: { video?: CapturedRtpStream; audio?: CapturedRtpStream };
  let h264: { video?: CapturedRtpStream; audio?: CapturedRtpStream };

  beforeAll(async () => {
    vp8 = await captureTestRtp({ video: 'VP8', audio: true, durationS: 4, width: 320, height: 180 });
    h264 = await captureTestRtp({ video: 'H264', audio: true, durationS: 4, width: 320, height: 180 });
  });

  it('keeps the audio when every keyframe declares absurd dimensions, and says why the video is missing', async () => {
    const { session, result } = await finalise(vp8.audio!, vp8KeyframesSized(vp8.video!, 16383, 16383));
    const stream = await expectGoodMp4(result, 4000, { video: false });
    await expectBeepsEverySecond(stream.file, 4);
    if (result.status !== 'finalised') throw new Error('expected a file');
    expect(result.dropped).toHaveLength(1);
    const [dropped] = result.dropped;
    expect(dropped!.kind).toBe('video');
    expect(dropped!.error.code).toBe('ERR_MEDIA_UNUSABLE');
    expect(dropped!.error.message).toBe(dropped!.reason);
    expect(dropped!.reason).toMatch(/^video of stream cam1 \(peer peer1\): track cam: keyframe dimensions 16383×16383 exceed the limit of 8192 per side/);
    expect(result.report.tracks.find((t) => t.trackId === 'cam')).toMatchObject({ usedFrames: 0, refusedFrames: 12 });
    expect(streamJson(session).dropped).toEqual([{ kind: 'video', reason: dropped!.reason }]);
  });

  it('skips keyframes with refused dimensions mid-stream and uses the valid keyframes after them', async () => {
    // Keyframes every 333 ms; those at 1.33, 1.67 and 2.0 s declare 16383×16383.
    const { result } = await finalise(vp8.audio!, vp8KeyframesSized(vp8.video!, 16383, 16383, 1200, 2200));
    const stream = await expectGoodMp4(result, 4000);
    if (result.status !== 'finalised') throw new Error('expected a file');
    expect(result.dropped).toEqual([]);
    expect(result.report.tracks.find((t) => t.trackId === 'cam')).toMatchObject({ refusedFrames: 3 });
    expect(result.report.tracks.find((t) => t.trackId === 'cam')!.refusal).toMatch(/16383×16383/);
    expect(stream.video).toMatchObject({ width: 320, height: 180 });
    expect(await frameSizes(stream.file)).toEqual(['320x180']);
    const luma = await lumaTimeline(stream.file, 30);
    const at = (t: number) => luma.find((f) => f.t >= t)!.luma;
    // The flash at 2 s fell on refused frames (the picture before them is held); the one at 3 s is back.
    expect(at(2.05)).toBeLessThan(150);
    expect(at(3.05)).toBeGreaterThan(200);
    const sync = await measureAvSync(stream.file);
    expect(sync.offsetsMs.length).toBeGreaterThanOrEqual(3); // 0, 1 and 3 s
    expect(sync.maxAbsMs).toBeLessThanOrEqual(20);
  });

  it('retries without the video when ffmpeg refuses it, and keeps ffmpeg\'s error', async () => {
    // A valid SPS of the right size that ffmpeg's decoder does not implement (11-bit
    // samples): it passes every check here, so only ffmpeg can tell.
    const video = h264SpsReplaced(h264.video!, h264Sps({ profileIdc: 100, widthMbs: 20, heightMapUnits: 12, bitDepth: 11, crop: { left: 0, right: 0, top: 0, bottom: 6 } }));
    const { session, result } = await finalise(h264.audio!, video);
    const stream = await expectGoodMp4(result, 4000, { video: false });
    await expectBeepsEverySecond(stream.file, 4);
    if (result.status !== 'finalised') throw new Error('expected a file');
    expect(result.dropped.map((d) => d.kind)).toEqual(['video']);
    const [dropped] = result.dropped;
    expect(dropped!.reason).toMatch(/^video of stream cam1 \(peer peer1, track cam\): ffmpeg could not encode it \(.+\); the file has the audio alone$/);
    expect(dropped!.error.code).toBe('ERR_MEDIA_UNUSABLE');
    expect(dropped!.error.cause).toBeInstanceOf(FfmpegError);
    expect((dropped!.error.cause as FfmpegError).stderrTail).toMatch(/bit depth/);
    expect(streamJson(session).dropped).toEqual([{ kind: 'video', reason: dropped!.reason }]);
  });

  it('leaves out only the run of video ffmpeg cannot decode, as a gap, when a keyframe of a new size is refused', async () => {
    // The keyframes at 1.33, 1.67 and 2.0 s switch to 336×192 with 11-bit samples.
    const bad = h264Sps({ profileIdc: 100, widthMbs: 21, heightMapUnits: 12, bitDepth: 11 });
    const { result } = await finalise(h264.audio!, h264SpsReplaced(h264.video!, bad, 1200, 2200));
    const stream = await expectGoodMp4(result, 4000);
    if (result.status !== 'finalised') throw new Error('expected a file');
    expect(result.dropped).toEqual([]);
    expect(result.report.undecodableVideo).toEqual([{ codec: 'H264', width: 336, height: 192, frames: 30 }]);
    expect(stream.video).toMatchObject({ width: 320, height: 180, copied: false });
    // The refused run is a gap, painted black; the picture is there before and after it.
    const gap = stream.video!.gaps.find((g) => g.to - g.from > 900)!;
    expect((gap.from - stream.startedAt) / 1000).toBeCloseTo(1.33, 1);
    expect((gap.to - stream.startedAt) / 1000).toBeCloseTo(2.33, 1);
    const luma = await lumaTimeline(stream.file, 30);
    const at = (t: number) => luma.find((f) => f.t >= t)!.luma;
    expect(at(1.25)).toBeGreaterThan(50);
    expect(at(1.8)).toBeLessThan(20);
    expect(at(2.5)).toBeGreaterThan(50);
    const sync = await measureAvSync(stream.file);
    expect(sync.offsetsMs.length).toBeGreaterThanOrEqual(3); // 0, 1 and 3 s
    expect(sync.maxAbsMs).toBeLessThanOrEqual(20);
  });

  it('keeps the video when no audio packet is a valid Opus packet', async () => {
    const random = seededRandom(5);
    // Code 3 (any frame count) with zero frames, or a frame count above 120 ms: never valid.
    const audio = mutated(vp8.audio!, (packet) => withPayload(packet, Buffer.from([(Math.floor(random() * 32) << 3) | 0x03, random() < 0.5 ? 0x00 : 0x3f])));
    const { session, result } = await finalise(audio, vp8.video!);
    const stream = await expectGoodMp4(result, 4000, { audio: false });
    expect((await probeFile(stream.file)).streams.map((s) => s.codec_type)).toEqual(['video']);
    if (result.status !== 'finalised') throw new Error('expected a file');
    expect(result.dropped).toHaveLength(1);
    expect(result.dropped[0]).toMatchObject({ kind: 'audio' });
    expect(result.dropped[0]!.reason).toMatch(/^audio of stream cam1 \(peer peer1\): track mic: \d+ packets, none a valid opus packet$/);
    expect(streamJson(session).dropped).toEqual([{ kind: 'audio', reason: result.dropped[0]!.reason }]);
  });

  it('makes no file when neither kind is usable, and names both', async () => {
    const audio = mutated(vp8.audio!, (packet) => withPayload(packet, Buffer.from([0xfb, 0x00])));
    const { result } = await finalise(audio, vp8KeyframesSized(vp8.video!, 0, 180));
    expect(result.status).toBe('empty');
    if (result.status !== 'empty') return;
    expect(result.reason).toMatch(/^stream cam1 has no usable media \(audio of stream cam1 \(peer peer1\): track mic: .*; video of stream cam1 \(peer peer1\): track cam: keyframe dimensions 0×180 are empty/);
  });
});
