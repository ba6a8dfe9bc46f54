import { constantRate, fixedGop } from './encoder-args.js';
import type { FrameSize, VideoCodecEntry, VideoPayload, VideoPayloadReader } from './types.js';

interface Vp8Extra {
  data: Buffer;
}

/**
 * VP8 payloads (RFC 7741): strips the payload descriptor. A frame starts with the
 * S bit set on partition 0; a keyframe has the P bit of the VP8 frame tag clear and
 * carries its size after the start code `9d 01 2a` (RFC 6386 §9.1).
 */
export class Vp8PayloadReader implements VideoPayloadReader<Vp8Extra> {
  read(payload: Buffer): VideoPayload<Vp8Extra> | undefined {
    if (payload.length < 1) return undefined;
    const first = payload[0]!;
    let offset = 1;
    if (first & 0x80) {
      // X: extension byte with I, L, T, K.
      if (payload.length < 2) return undefined;
      const ext = payload[1]!;
      offset = 2;
      if (ext & 0x80) {
        // I: PictureID, 7 or 15 bits (M bit).
        if (payload.length < offset + 1) return undefined;
        offset += payload[offset]! & 0x80 ? 2 : 1;
      }
      if (ext & 0x40) offset += 1; // L: TL0PICIDX
      if (ext & 0x30) offset += 1; // T or K: TID/Y/KEYIDX
    }
    if (offset >= payload.length) return undefined;
    const startsFrame = (first & 0x10) !== 0 && (first & 0x07) === 0;
    return { startsFrame, endsFrame: true, extra: { data: payload.subarray(offset) } };
  }

  build(parts: ReadonlyArray<VideoPayload<Vp8Extra>>) {
    const data = Buffer.concat(parts.map((part) => part.extra.data));
    if (data.length < 3) return undefined;
    if (!isVp8Keyframe(data)) return { data, keyframe: false };
    const size = vp8FrameSize(data);
    // A keyframe without its start code is not a keyframe anyone can decode.
    return size ? { data, keyframe: true, ...size } : undefined;
  }
}

/** The P bit of the frame tag: clear on a keyframe (RFC 6386 §9.1). */
function isVp8Keyframe(frame: Buffer): boolean {
  return frame.length > 0 && (frame[0]! & 0x01) === 0;
}

/**
 * The size a VP8 keyframe declares: 14 bits each of width and height after the start code
 * (the top 2 bits are the scaling mode). Only keyframes declare a size; zero is returned as
 * it is, for the caller to refuse.
 */
export function vp8FrameSize(frame: Buffer): FrameSize | undefined {
  if (!isVp8Keyframe(frame) || frame.length < 10 || frame[3] !== 0x9d || frame[4] !== 0x01 || frame[5] !== 0x2a) return undefined;
  return { width: frame.readUInt16LE(6) & 0x3fff, height: frame.readUInt16LE(8) & 0x3fff };
}

/** VP8 (RFC 7741), as every WebRTC browser sends it. */
export const VP8: VideoCodecEntry<'VP8'> = {
  name: 'VP8',
  kind: 'video',
  mimeType: 'video/VP8',
  clockRate: 90_000,
  sdp: { parameters: {} },
  createPayloadReader: () => new Vp8PayloadReader(),
  frameSize: vp8FrameSize,
  ivfFourcc: 'VP80',
  synthetic: {
    payloadType: 96,
    encoderArgs: ({ bitrateKbps, gop }) => [
      '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-lag-in-frames', '0', '-error-resilient', '1',
      ...constantRate(bitrateKbps), ...fixedGop(gop),
    ],
  },
};
