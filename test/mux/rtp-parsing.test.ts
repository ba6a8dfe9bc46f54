import { describe, expect, it } from 'vitest';
import { TrackClock } from '../../src/mux/clock.js';
import { H264PayloadReader, parseSpsSize } from '../../src/codecs/h264.js';
import { opusPacketSamples } from '../../src/codecs/opus.js';
import { VideoFrameAssembler } from '../../src/mux/video-assembler.js';
import { Vp8PayloadReader } from '../../src/codecs/vp8.js';
import { SequenceReorderer } from '../../src/mux/reorder.js';
import { parseRtcpSenderReports, parseRtp, type RtpPacket } from '../../src/mux/rtp.js';
import { senderReport } from '../helpers/mux-session.js';

function rtp(seq: number, ts: number, payload: Buffer, options: { marker?: boolean; csrcs?: number; extensionWords?: number; padding?: number } = {}): Buffer {
  const csrcs = options.csrcs ?? 0;
  const ext = options.extensionWords;
  const head = Buffer.alloc(12 + csrcs * 4 + (ext !== undefined ? 4 + ext * 4 : 0));
  head[0] = 0x80 | (ext !== undefined ? 0x10 : 0) | (options.padding ? 0x20 : 0) | csrcs;
  head[1] = (options.marker ? 0x80 : 0) | 96;
  head.writeUInt16BE(seq & 0xffff, 2);
  head.writeUInt32BE(ts >>> 0, 4);
  head.writeUInt32BE(1234, 8);
  if (ext !== undefined) {
    head.writeUInt16BE(0xbede, 12 + csrcs * 4);
    head.writeUInt16BE(ext, 14 + csrcs * 4);
  }
  const padding = options.padding ? Buffer.alloc(options.padding) : Buffer.alloc(0);
  if (options.padding) padding[options.padding - 1] = options.padding;
  return Buffer.concat([head, payload, padding]);
}

describe('RTP and RTCP parsing', () => {
  it('skips CSRCs, header extensions and padding', () => {
    const packet = parseRtp(rtp(65535, 0xfffffff0, Buffer.from('abc'), { marker: true, csrcs: 2, extensionWords: 2, padding: 4 }))!;
    expect(packet.payload.toString()).toBe('abc');
    expect(packet).toMatchObject({ sequenceNumber: 65535, timestamp: 0xfffffff0, marker: true, payloadType: 96, ssrc: 1234 });
    expect(parseRtp(Buffer.alloc(5))).toBeUndefined();
    expect(parseRtp(rtp(1, 1, Buffer.alloc(0), { extensionWords: 2 }).subarray(0, 18))).toBeUndefined();
  });

  it('reads sender reports from a compound packet with mediasoup NTP (monotonic ms)', () => {
    const rr = Buffer.from([0x80, 201, 0, 1, 0, 0, 0, 1]);
    const reports = parseRtcpSenderReports(Buffer.concat([rr, senderReport(42, 123_456.5, 9000)]));
    expect(reports).toHaveLength(1);
    expect(reports[0]!.ssrc).toBe(42);
    expect(reports[0]!.rtpTimestamp).toBe(9000);
    expect(reports[0]!.ntpMs).toBeCloseTo(123_456, 0);
  });

  it('reads Opus durations from the TOC byte', () => {
    expect(opusPacketSamples(Buffer.from([0xf8, 0xff, 0xfe]))).toBe(960); // CELT FB 20 ms
    expect(opusPacketSamples(Buffer.from([0x09]))).toBe(1920); // SILK NB 40 ms
    expect(opusPacketSamples(Buffer.from([0xfb, 0x03]))).toBe(2880); // code 3, 3 frames of 20 ms
  });
});

describe('SequenceReorderer', () => {
  it('reorders across the 16-bit wrap-around and drops duplicates and late packets', () => {
    const reorderer = new SequenceReorderer<number>({ maxDelayMs: 100 });
    const out: number[] = [];
    const push = (seq: number, at: number) => out.push(...reorderer.push(seq & 0xffff, at, seq).map((p) => p.extendedSeq));
    push(65534, 0);
    push(65536, 1); // 0 after wrap, 65535 still missing
    push(65535, 2);
    push(65535, 3); // again, after release: late
    push(65538, 4); // 65537 missing ...
    push(65538, 5); // duplicate while waiting
    push(65539, 200); // ... waited too long: released with the hole
    push(65537, 201); // too late
    out.push(...reorderer.flush().map((p) => p.extendedSeq));
    expect(out).toEqual([65534, 65535, 65536, 65538, 65539]);
    expect(reorderer.duplicates).toBe(1);
    expect(reorderer.late).toBe(2);
  });
});

describe('TrackClock', () => {
  it('maps through 32-bit timestamp wrap-around and uses the sender report in effect', () => {
    const clock = new TrackClock(90_000, [
      { arrivalMono: 1000, rtpTimestamp: 0xffff0000, monoMs: 1000 },
      { arrivalMono: 2000, rtpTimestamp: (0xffff0000 + 90_000) >>> 0, monoMs: 2000 },
    ]);
    expect(clock.toMono((0xffff0000 + 45_000) >>> 0, 1510)).toBeCloseTo(1500, 6);
    expect(clock.toMono((0xffff0000 + 180_000) >>> 0, 3001)).toBeCloseTo(3000, 6);
  });

  it('places frames whose RTP timestamp jumped by their arrival time', () => {
    const clock = new TrackClock(48_000, [{ arrivalMono: 0, rtpTimestamp: 0, monoMs: 0 }]);
    expect(clock.toMono(48_000, 1005)).toBeCloseTo(1000, 6);
    expect(clock.toMono(48_000 * 100, 1025)).toBeCloseTo(1020, 6); // jumped 99 s: by arrival minus the learned lag
    expect(clock.skewedFrames).toBe(1);
  });
});

describe('video frame assembly', () => {
  const vp8 = (start: boolean, data: number[]) => Buffer.from([start ? 0x10 : 0x00, ...data]);
  const keyframe = [0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01]; // 640x360
  const interframe = [0x01, 0x00, 0x00];
  const packet = (seq: number, ts: number, payload: Buffer, marker: boolean): RtpPacket => ({
    payloadType: 96, marker, sequenceNumber: seq, timestamp: ts, ssrc: 1, payload,
  });

  it('emits complete VP8 frames, drops a frame with a lost packet and waits for the next keyframe', () => {
    const assembler = new VideoFrameAssembler(new Vp8PayloadReader());
    const frames = [
      ...assembler.push(packet(1, 0, vp8(true, interframe), true), 1, 0), // before any keyframe: dropped
      ...assembler.push(packet(2, 3000, vp8(true, keyframe), false), 2, 1),
      ...assembler.push(packet(3, 3000, vp8(false, [1, 2]), true), 3, 2),
      ...assembler.push(packet(4, 6000, vp8(true, interframe), true), 4, 3),
      // seq 5 lost: the frame at 9000 is incomplete, 12000 depends on it
      ...assembler.push(packet(6, 9000, vp8(false, [1]), true), 6, 5),
      ...assembler.push(packet(7, 12000, vp8(true, interframe), true), 7, 6),
      ...assembler.push(packet(8, 15000, vp8(true, keyframe), true), 8, 7),
    ];
    expect(frames.map((f) => [f.rtpTimestamp, f.keyframe])).toEqual([
      [3000, true],
      [6000, false],
      [15000, true],
    ]);
    expect(frames[0]).toMatchObject({ width: 640, height: 360 });
    expect(assembler.stats.incompleteFrames).toBe(1);
    expect(assembler.stats.framesAwaitingKeyframe).toBe(2);
  });

  it('reassembles H.264 FU-A and prepends remembered SPS/PPS to an IDR', () => {
    // SPS and PPS of a 640x360 baseline stream (x264 via ffmpeg's RTP muxer), and an IDR split in two FU-A fragments.
    const sps = Buffer.from('6742c01eda0280bfe5c044000003000400000300f23c58ba80', 'hex');
    const pps = Buffer.from('68ce3c80', 'hex');
    expect(parseSpsSize(sps)).toEqual({ width: 640, height: 360 });
    const assembler = new VideoFrameAssembler(new H264PayloadReader());
    const stapA = Buffer.concat([Buffer.from([0x18]), u16(sps.length), sps, u16(pps.length), pps]);
    const frames = [
      ...assembler.push(packet(1, 0, stapA, true), 1, 0), // parameter sets alone: remembered
      ...assembler.push(packet(2, 3000, Buffer.from([0x7c, 0x85, 0x88, 0x01]), false), 2, 1),
      ...assembler.push(packet(3, 3000, Buffer.from([0x7c, 0x45, 0x02, 0x03]), true), 3, 2),
    ];
    const idr = frames.find((f) => f.keyframe)!;
    expect(idr).toMatchObject({ width: 640, height: 360 });
    expect(idr.data.toString('hex')).toBe(`00000001${sps.toString('hex')}00000001${pps.toString('hex')}0000000165880102` + '03');
  });
});

function u16(value: number): Buffer {
  const out = Buffer.alloc(2);
  out.writeUInt16BE(value);
  return out;
}
