import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { annexBNalUnits, h264CanCopy, H264, parseSps, parseSpsSize } from '../../src/codecs/h264.js';
import { opusPacketSamples } from '../../src/codecs/opus.js';
import { CODECS, findCodec, videoCodecs, type VideoCodecEntry } from '../../src/codecs/registry.js';
import { VP8, vp8FrameSize } from '../../src/codecs/vp8.js';
import { VP9, vp9FrameHeader, vp9FrameSize } from '../../src/codecs/vp9.js';
import { RECORDABLE_MIME_TYPES } from '../../src/capture/codecs.js';
import { InvalidConfigError } from '../../src/errors.js';
import { resolveFfmpegBinaries } from '../../src/ffmpeg/binaries.js';
import { frameSizeProblem } from '../../src/mux/frame-limits.js';
import { DEFAULT_MAX_FRAME_DIMENSION, DEFAULT_MAX_FRAME_PIXELS, resolveMuxOptions } from '../../src/mux/options.js';
import { seededRandom } from '../../src/testing/seeded-random.js';
import { h264Sps, vp8Keyframe, vp9Keyframe, vp9ResizingInterFrame } from '../helpers/bitstreams.js';

const dir = mkdtempSync(join(process.env.SFU_TEST_TMP ?? tmpdir(), 'frame-size-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Encodes 3 frames of a test pattern, every frame a keyframe, and returns each frame's bitstream. */
async function encodeKeyframes(codec: VideoCodecEntry, width: number, height: number, extra: string[] = []): Promise<Buffer[]> {
  const h264 = codec.name === 'H264';
  const file = join(dir, `${codec.name}-${width}x${height}-${extra.join('').replace(/\W/g, '')}.${h264 ? 'h264' : 'ivf'}`);
  const { ffmpegPath } = resolveFfmpegBinaries();
  const args = codec.synthetic!.encoderArgs({ bitrateKbps: 300, gop: 1 });
  await execa(ffmpegPath, [
    '-v', 'error', '-nostdin', '-y', '-f', 'lavfi', '-i', `testsrc=size=${width}x${height}:rate=30`, '-frames:v', '3',
    '-pix_fmt', 'yuv420p', ...args, ...extra, '-f', h264 ? 'h264' : 'ivf', file,
  ], { stdin: 'ignore' });
  const data = readFileSync(file);
  return h264 ? accessUnits(data) : ivfFrames(data);
}

function ivfFrames(data: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  for (let offset = data.readUInt16LE(6); offset + 12 <= data.length; ) {
    const size = data.readUInt32LE(offset);
    frames.push(data.subarray(offset + 12, offset + 12 + size));
    offset += 12 + size;
  }
  return frames;
}

/** Splits an Annex B stream before every SPS (with a keyframe every frame, x264 repeats it on each). */
function accessUnits(stream: Buffer): Buffer[] {
  const units: Buffer[][] = [];
  for (const nal of annexBNalUnits(stream)) {
    if ((nal[0]! & 0x1f) === 7 || units.length === 0) units.push([]);
    units[units.length - 1]!.push(Buffer.from([0, 0, 0, 1]), nal);
  }
  return units.map((parts) => Buffer.concat(parts));
}

describe('the codec registry', () => {
  it('has one consistent entry per recordable codec', () => {
    expect(RECORDABLE_MIME_TYPES).toEqual(CODECS.map((c) => c.mimeType));
    for (const codec of CODECS) {
      expect(codec.mimeType).toBe(`${codec.kind}/${codec.name}`);
      expect(findCodec(codec.mimeType.toUpperCase())).toBe(codec);
      if (codec.kind === 'video') expect(codec.ivfFourcc).toMatch(/^[A-Z0-9]{4}$/);
    }
    expect(findCodec('video/AV1')).toBeUndefined();
  });
});

describe('frame sizes read from real keyframes', () => {
  // Sizes that are not multiples of 16 make H.264 crop; 176x144 is QCIF.
  const sizes: Array<[number, number]> = [[320, 180], [176, 144], [642, 362], [1920, 1080]];
  for (const codec of videoCodecs().filter((c) => c.synthetic)) {
    it(`${codec.name}: every keyframe ffmpeg encodes declares its size`, async () => {
      for (const [width, height] of sizes) {
        const frames = await encodeKeyframes(codec, width, height);
        expect(frames).toHaveLength(3);
        for (const frame of frames) expect(codec.frameSize(frame), `${width}x${height}`).toEqual({ width, height });
      }
    });
  }

  it('H.264 high, 4:4:4 and interlaced: sizes after cropping, and which a copy may carry', async () => {
    const high = await encodeKeyframes(H264, 642, 362, ['-profile:v', 'high']);
    expect(H264.frameSize(high[0]!)).toEqual({ width: 642, height: 362 });
    expect(h264CanCopy(high[0]!)).toBe(true);
    const yuv444 = await encodeKeyframes(H264, 322, 182, ['-profile:v', 'high444', '-pix_fmt', 'yuv444p']);
    expect(H264.frameSize(yuv444[0]!)).toEqual({ width: 322, height: 182 });
    expect(h264CanCopy(yuv444[0]!)).toBe(false);
    // Interlaced: field pairs, so the vertical crop unit doubles.
    const interlaced = await encodeKeyframes(H264, 320, 180, ['-profile:v', 'main', '-flags', '+ildct+ilme', '-x264-params', 'interlaced=1']);
    const sps = parseSps(annexBNalUnits(interlaced[0]!).find((nal) => (nal[0]! & 0x1f) === 7)!)!;
    expect(sps).toMatchObject({ frameMbsOnly: false, width: 320, height: 180 });
    expect(h264CanCopy(interlaced[0]!)).toBe(false);
    const baseline = await encodeKeyframes(H264, 320, 180);
    expect(h264CanCopy(baseline[0]!)).toBe(true);
  });

  it('VP9 profile 1 (4:4:4) keyframes', async () => {
    const frames = await encodeKeyframes(VP9, 322, 182, ['-pix_fmt', 'yuv444p']);
    expect(vp9FrameHeader(frames[0]!)).toEqual({ keyframe: true, size: { width: 322, height: 182 } });
  });
});

describe('frame sizes read from crafted headers', () => {
  it('VP8: absurd and zero sizes are read as declared', () => {
    expect(vp8FrameSize(vp8Keyframe(16383, 16383))).toEqual({ width: 16383, height: 16383 });
    expect(vp8FrameSize(vp8Keyframe(0, 180))).toEqual({ width: 0, height: 180 });
    expect(vp8FrameSize(Buffer.from([0x01, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0, 0, 0, 0]))).toBeUndefined(); // inter frame
    expect(vp8FrameSize(vp8Keyframe(320, 180).subarray(0, 8))).toBeUndefined(); // cut short
    const noStartCode = vp8Keyframe(320, 180);
    noStartCode[3] = 0;
    expect(VP8.frameSize(noStartCode)).toBeUndefined();
  });

  it('VP9: keyframes, intra-free resolution changes and superframes', () => {
    expect(vp9FrameHeader(vp9Keyframe(65536, 65536))).toEqual({ keyframe: true, size: { width: 65536, height: 65536 } });
    expect(vp9FrameHeader(vp9ResizingInterFrame(8193, 100))).toEqual({ keyframe: false, size: { width: 8193, height: 100 } });
    // An inter frame that takes its size from a reference declares none.
    const sameSize = vp9ResizingInterFrame(320, 180);
    sameSize[3] = sameSize[3]! | 0x02; // first found_ref bit (bit 30 of the header)
    expect(vp9FrameHeader(sameSize)).toEqual({ keyframe: false, size: undefined });
    expect(vp9FrameHeader(Buffer.from([0x88]))).toEqual({ keyframe: false, size: undefined }); // show_existing_frame
    expect(vp9FrameHeader(vp9Keyframe(320, 180).subarray(0, 5))).toBeUndefined();
    expect(vp9FrameHeader(Buffer.from([0x00, 0x01]))).toBeUndefined(); // not VP9
    // A superframe's largest layer counts: a small keyframe cannot hide a huge upper layer.
    const key = vp9Keyframe(320, 180);
    const upper = vp9ResizingInterFrame(20000, 20000);
    const index = Buffer.from([0xc1, key.length, upper.length, 0xc1]);
    expect(vp9FrameSize(Buffer.concat([key, upper, index]))).toEqual({ width: 20000, height: 20000 });
  });

  it('H.264: SPS sizes with cropping, every POC type and scaling matrices; bad ones unreadable', () => {
    expect(parseSpsSize(h264Sps({ widthMbs: 1024, heightMapUnits: 1024 }))).toEqual({ width: 16384, height: 16384 });
    expect(parseSpsSize(h264Sps({ widthMbs: 20, heightMapUnits: 12, crop: { left: 0, right: 0, top: 0, bottom: 6 } }))).toEqual({ width: 320, height: 180 });
    for (const pocType of [0, 1, 2] as const) {
      expect(parseSpsSize(h264Sps({ widthMbs: 40, heightMapUnits: 23, pocType, crop: { left: 0, right: 0, top: 0, bottom: 4 } }))).toEqual({ width: 640, height: 360 });
    }
    const scaled = h264Sps({ profileIdc: 100, widthMbs: 120, heightMapUnits: 68, scalingMatrix: true, crop: { left: 0, right: 0, top: 0, bottom: 4 } });
    expect(parseSps(scaled)).toMatchObject({ profileIdc: 100, chromaFormatIdc: 1, bitDepthLuma: 8, width: 1920, height: 1080 });
    expect(parseSps(h264Sps({ profileIdc: 100, widthMbs: 20, heightMapUnits: 12, bitDepth: 11 }))).toMatchObject({ bitDepthLuma: 11 });
    // Field coding: map units are macroblock pairs, and vertical crop units double.
    expect(parseSpsSize(h264Sps({ widthMbs: 20, heightMapUnits: 6, frameMbsOnly: false, crop: { left: 0, right: 0, top: 0, bottom: 3 } }))).toEqual({ width: 320, height: 180 });
    // Cropping more than the picture: declared as it is, refused later.
    expect(parseSpsSize(h264Sps({ widthMbs: 1, heightMapUnits: 1, crop: { left: 8, right: 8, top: 0, bottom: 0 } }))).toEqual({ width: -16, height: 16 });
    const sps = h264Sps({ widthMbs: 20, heightMapUnits: 12 });
    expect(parseSpsSize(sps.subarray(0, 5))).toBeUndefined(); // cut short
    expect(parseSpsSize(Buffer.from([0x67, 0x42, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x00, 0x01]))).toBeUndefined(); // 32+ leading zeros
  });

  it('H.264: an SPS outside the syntax\'s ranges is unreadable, so random bytes rarely pass for one', () => {
    const valid = { widthMbs: 20, heightMapUnits: 12 };
    expect(parseSps(h264Sps({ ...valid, profileIdc: 99 }))).toBeUndefined(); // no such profile
    expect(parseSps(h264Sps({ ...valid, levelIdc: 33 }))).toBeUndefined(); // no such level
    expect(parseSps(h264Sps({ ...valid, profileIdc: 100, bitDepth: 15 }))).toBeUndefined(); // bit depth above 14
    expect(parseSps(h264Sps({ ...valid, profileIdc: 100, chromaFormatIdc: 4 }))).toBeUndefined();
    const random = seededRandom(9);
    let readable = 0;
    for (let i = 0; i < 10_000; i++) {
      const nal = Buffer.from([0x67, ...Array.from({ length: 4 + Math.floor(random() * 40) }, () => Math.floor(random() * 256))]);
      if (parseSps(nal)) readable++;
    }
    expect(readable).toBeLessThan(50);
  });
});

describe('frame size limits', () => {
  const limits = resolveMuxOptions();

  it('defaults to 8192 per side and 8192×4352 pixels', () => {
    expect(limits).toMatchObject({ maxFrameDimension: DEFAULT_MAX_FRAME_DIMENSION, maxFramePixels: DEFAULT_MAX_FRAME_PIXELS });
    expect(DEFAULT_MAX_FRAME_PIXELS).toBe(35_651_584);
  });

  it('refuses absurd, empty and unreadable keyframe sizes, and says which', () => {
    expect(frameSizeProblem({ keyframe: true, width: 7680, height: 4320 }, limits)).toBeUndefined(); // an 8K screen share
    expect(frameSizeProblem({ keyframe: true, width: 16383, height: 16383 }, limits)).toMatch(/^keyframe dimensions 16383×16383 exceed the limit of 8192 per side and 35651584 pixels/);
    expect(frameSizeProblem({ keyframe: true, width: 8193, height: 16 }, limits)).toMatch(/8193×16 exceed/);
    expect(frameSizeProblem({ keyframe: true, width: 8192, height: 8192 }, limits)).toMatch(/8192×8192 exceed/); // pixels
    expect(frameSizeProblem({ keyframe: true, width: 0, height: 180 }, limits)).toBe('keyframe dimensions 0×180 are empty');
    expect(frameSizeProblem({ keyframe: true }, limits)).toBe('keyframe without readable dimensions');
    expect(frameSizeProblem({ keyframe: false }, limits)).toBeUndefined();
    expect(frameSizeProblem({ keyframe: false, width: 20000, height: 20000 }, limits)).toMatch(/^frame dimensions 20000×20000 exceed/);
    const small = resolveMuxOptions({ maxFrameDimension: 1280, maxFramePixels: 1280 * 720 });
    expect(frameSizeProblem({ keyframe: true, width: 1920, height: 1080 }, small)).toMatch(/exceed the limit of 1280 per side and 921600 pixels/);
  });

  it('validates the limit options, naming the field', () => {
    for (const [field, value] of [['maxFrameDimension', 8], ['maxFrameDimension', 1.5], ['maxFrameDimension', 20_000], ['maxFramePixels', 100], ['maxFramePixels', 2 ** 29]] as const) {
      let error: unknown;
      try {
        resolveMuxOptions({ [field]: value });
      } catch (caught) {
        error = caught;
      }
      expect(error, `${field} = ${value}`).toBeInstanceOf(InvalidConfigError);
      expect((error as InvalidConfigError).field).toBe(`mux.${field}`);
      expect((error as Error).message).toContain(String(value));
    }
  });
});

describe('Opus packet validity (RFC 6716 §3.4)', () => {
  it('reads durations of well-formed packets', () => {
    expect(opusPacketSamples(Buffer.from([0xf8, 0xff, 0xfe]))).toBe(960); // code 0, CELT FB 20 ms
    expect(opusPacketSamples(Buffer.from([0xf8]))).toBe(960); // DTX: an empty frame
    expect(opusPacketSamples(Buffer.from([0x09, 1, 2]))).toBe(1920); // code 1, two equal 20 ms frames
    expect(opusPacketSamples(Buffer.from([0xfa, 2, 1, 2, 3]))).toBe(1920); // code 2, frames of 2 and 1 bytes
    expect(opusPacketSamples(Buffer.from([0xfb, 0x03]))).toBe(2880); // code 3 CBR, 3 empty frames
    expect(opusPacketSamples(Buffer.from([0xfb, 0x82, 1, 9, 9]))).toBe(1920); // code 3 VBR: 1 byte, then 1 byte
    expect(opusPacketSamples(Buffer.from([0xfb, 0x41, 2, 7, 0, 0]))).toBe(960); // code 3 with 2 bytes of padding
  });

  it('refuses packets that break the rules', () => {
    expect(opusPacketSamples(Buffer.alloc(0))).toBeUndefined(); // R1
    expect(opusPacketSamples(Buffer.concat([Buffer.from([0xf8]), Buffer.alloc(1276)]))).toBeUndefined(); // R2: frame > 1275 bytes
    expect(opusPacketSamples(Buffer.from([0xf9, 1, 2, 3]))).toBeUndefined(); // R3: odd length for two equal frames
    expect(opusPacketSamples(Buffer.from([0xfa, 5, 1]))).toBeUndefined(); // R4: first frame longer than the packet
    expect(opusPacketSamples(Buffer.from([0xfb, 0x00]))).toBeUndefined(); // R5: zero frames
    expect(opusPacketSamples(Buffer.from([0xfb, 0x07]))).toBeUndefined(); // R5: 7 × 20 ms > 120 ms
    expect(opusPacketSamples(Buffer.from([0xfb, 0x02, 1, 2, 3]))).toBeUndefined(); // R6: 3 bytes in 2 equal frames
    expect(opusPacketSamples(Buffer.from([0xfb, 0x82, 9, 1]))).toBeUndefined(); // R7: coded length beyond the packet
    expect(opusPacketSamples(Buffer.from([0xfb, 0x41, 200]))).toBeUndefined(); // padding beyond the packet
  });
});
