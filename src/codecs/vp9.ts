import { BitReader, InvalidBitstream } from './bit-reader.js';
import { constantRate, fixedGop } from './encoder-args.js';
import type { FrameSize, VideoCodecEntry, VideoPayload, VideoPayloadReader } from './types.js';

interface Vp9Extra {
  data: Buffer;
  /** B bit: first packet of a layer frame. */
  layerStart: boolean;
  /** E bit: last packet of a layer frame. */
  layerEnd: boolean;
  /** P bit: inter-picture predicted. */
  predicted: boolean;
  spatialId: number | undefined;
  /** Resolution of the highest spatial layer from the scalability structure. */
  ssSize: FrameSize | undefined;
}

/**
 * VP9 payloads (RFC 9628): flexible and non-flexible descriptors. A picture may hold
 * several spatial-layer frames (SVC); they are joined into one VP9 superframe. A keyframe
 * is a picture whose first layer frame has P = 0 and a keyframe header. Its size comes
 * from the scalability structure or the layer frames' own headers, whichever is larger.
 */
export class Vp9PayloadReader implements VideoPayloadReader<Vp9Extra> {
  read(payload: Buffer): VideoPayload<Vp9Extra> | undefined {
    if (payload.length < 1) return undefined;
    const first = payload[0]!;
    const hasPictureId = (first & 0x80) !== 0;
    const predicted = (first & 0x40) !== 0;
    const hasLayers = (first & 0x20) !== 0;
    const flexible = (first & 0x10) !== 0;
    const layerStart = (first & 0x08) !== 0;
    const layerEnd = (first & 0x04) !== 0;
    const hasSs = (first & 0x02) !== 0;
    let offset = 1;
    const need = (bytes: number) => offset + bytes <= payload.length;
    if (hasPictureId) {
      if (!need(1)) return undefined;
      offset += payload[offset]! & 0x80 ? 2 : 1;
    }
    let spatialId: number | undefined;
    if (hasLayers) {
      if (!need(1)) return undefined;
      spatialId = (payload[offset]! >> 1) & 0x07;
      offset += flexible ? 1 : 2; // non-flexible adds TL0PICIDX
    }
    if (flexible && predicted) {
      // Up to 3 reference indices, each with an N bit saying another follows.
      for (let i = 0; i < 3; i++) {
        if (!need(1)) return undefined;
        const more = (payload[offset]! & 0x01) !== 0;
        offset++;
        if (!more) break;
      }
    }
    let ssSize: Vp9Extra['ssSize'];
    if (hasSs) {
      if (!need(1)) return undefined;
      const ss = payload[offset]!;
      offset++;
      const layers = (ss >> 5) + 1;
      const hasSizes = (ss & 0x10) !== 0;
      const hasGroup = (ss & 0x08) !== 0;
      if (hasSizes) {
        if (!need(layers * 4)) return undefined;
        for (let i = 0; i < layers; i++) {
          ssSize = { width: payload.readUInt16BE(offset), height: payload.readUInt16BE(offset + 2) };
          offset += 4;
        }
      }
      if (hasGroup) {
        if (!need(1)) return undefined;
        const groups = payload[offset]!;
        offset++;
        for (let i = 0; i < groups; i++) {
          if (!need(1)) return undefined;
          const references = (payload[offset]! >> 2) & 0x03;
          offset += 1 + references;
        }
      }
    }
    if (offset >= payload.length) return undefined;
    return {
      startsFrame: layerStart && (spatialId ?? 0) === 0,
      endsFrame: layerEnd,
      extra: { data: payload.subarray(offset), layerStart, layerEnd, predicted, spatialId, ssSize },
    };
  }

  build(parts: ReadonlyArray<VideoPayload<Vp9Extra>>) {
    const layers: Buffer[][] = [];
    for (const part of parts) {
      if (part.extra.layerStart || layers.length === 0) layers.push([]);
      layers[layers.length - 1]!.push(part.extra.data);
    }
    const frames = layers.map((chunks) => Buffer.concat(chunks));
    const data = frames.length === 1 ? frames[0]! : superframe(frames);
    if (data === undefined || data.length === 0) return undefined;
    // The P bit says "predicted"; the bitstream has the final word (some packetisers,
    // ffmpeg's among them, never set P).
    const keyframe = !parts[0]!.extra.predicted && vp9FrameHeader(frames[0]!)?.keyframe === true;
    const declared = [parts.find((part) => part.extra.ssSize !== undefined)?.extra.ssSize, ...frames.map((f) => vp9FrameHeader(f)?.size)];
    const size = largest(declared);
    return { data, keyframe, ...(size ? { width: size.width, height: size.height } : {}) };
  }
}

/** Joins layer frames into a VP9 superframe (VP9 bitstream spec, Annex B). */
function superframe(frames: Buffer[]): Buffer | undefined {
  if (frames.length > 8) return undefined;
  const longest = Math.max(...frames.map((frame) => frame.length));
  const sizeBytes = longest < 0x100 ? 1 : longest < 0x10000 ? 2 : longest < 0x1000000 ? 3 : 4;
  const marker = 0xc0 | ((sizeBytes - 1) << 3) | (frames.length - 1);
  const index = Buffer.alloc(2 + sizeBytes * frames.length);
  index[0] = marker;
  frames.forEach((frame, i) => index.writeUIntLE(frame.length, 1 + i * sizeBytes, sizeBytes));
  index[index.length - 1] = marker;
  return Buffer.concat([...frames, index]);
}

/** The frames of a VP9 superframe (Annex B), or the frame itself when it is not one. */
export function splitSuperframe(data: Buffer): Buffer[] {
  const marker = data[data.length - 1];
  if (marker === undefined || (marker & 0xe0) !== 0xc0) return [data];
  const sizeBytes = ((marker >> 3) & 0x03) + 1;
  const count = (marker & 0x07) + 1;
  const indexLength = 2 + sizeBytes * count;
  if (data.length < indexLength || data[data.length - indexLength] !== marker) return [data];
  const frames: Buffer[] = [];
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const length = data.readUIntLE(data.length - indexLength + 1 + i * sizeBytes, sizeBytes);
    if (offset + length > data.length - indexLength) return [data];
    frames.push(data.subarray(offset, offset + length));
    offset += length;
  }
  return frames;
}

/** What a VP9 frame's uncompressed header says (VP9 bitstream spec §6.2). */
export interface Vp9FrameHeader {
  keyframe: boolean;
  /** The size the frame declares: keyframes, intra-only frames, and inter frames that change size. */
  size: FrameSize | undefined;
}

const SYNC_CODE = 0x498342;
const CS_RGB = 7;

/**
 * Reads a VP9 frame's uncompressed header up to its frame size: a keyframe's or an
 * intra-only frame's `frame_size()`, or an inter frame's `frame_size_with_refs()` when
 * no reference gives the size (a resolution change without a keyframe). `undefined` for
 * a header that is not VP9 or is cut short.
 */
export function vp9FrameHeader(frame: Buffer): Vp9FrameHeader | undefined {
  const bits = new BitReader(frame);
  try {
    if (bits.u(2) !== 2) return undefined; // frame_marker
    const profile = bits.u(1) | (bits.u(1) << 1);
    if (profile === 3 && bits.u(1) !== 0) return undefined; // reserved_zero
    if (bits.u(1)) return { keyframe: false, size: undefined }; // show_existing_frame: no header follows
    const keyframe = bits.u(1) === 0; // frame_type: 0 = KEY_FRAME
    const showFrame = bits.u(1);
    const errorResilient = bits.u(1);
    if (keyframe) {
      if (bits.u(24) !== SYNC_CODE) return undefined;
      colorConfig(bits, profile);
      return { keyframe, size: frameSize(bits) };
    }
    const intraOnly = showFrame ? 0 : bits.u(1);
    if (!errorResilient) bits.u(2); // reset_frame_context
    if (intraOnly) {
      if (bits.u(24) !== SYNC_CODE) return undefined;
      if (profile > 0) colorConfig(bits, profile);
      bits.u(8); // refresh_frame_flags
      return { keyframe, size: frameSize(bits) };
    }
    bits.u(8); // refresh_frame_flags
    for (let i = 0; i < 3; i++) bits.u(4); // ref_frame_idx, ref_frame_sign_bias
    for (let i = 0; i < 3; i++) {
      if (bits.u(1)) return { keyframe, size: undefined }; // found_ref: the size of a reference
    }
    return { keyframe, size: frameSize(bits) };
  } catch (error) {
    if (error instanceof InvalidBitstream) return undefined;
    throw error;
  }
}

function colorConfig(bits: BitReader, profile: number): void {
  if (profile >= 2) bits.u(1); // ten_or_twelve_bit
  const colorSpace = bits.u(3);
  if (colorSpace !== CS_RGB) {
    bits.u(1); // color_range
    if (profile === 1 || profile === 3) bits.u(3); // subsampling_x, subsampling_y, reserved_zero
  } else if (profile === 1 || profile === 3) {
    bits.u(1); // reserved_zero
  }
}

function frameSize(bits: BitReader): FrameSize {
  return { width: bits.u(16) + 1, height: bits.u(16) + 1 };
}

/** The largest size a VP9 frame or superframe declares in any of its layer frames. */
export function vp9FrameSize(frame: Buffer): FrameSize | undefined {
  return largest(splitSuperframe(frame).map((layer) => vp9FrameHeader(layer)?.size));
}

function largest(sizes: ReadonlyArray<FrameSize | undefined>): FrameSize | undefined {
  let best: FrameSize | undefined;
  for (const size of sizes) {
    if (size && (!best || size.width * size.height > best.width * best.height)) best = size;
  }
  return best;
}

/** VP9 profile 0 (RFC 9628), including SVC as Chromium sends it. */
export const VP9: VideoCodecEntry<'VP9'> = {
  name: 'VP9',
  kind: 'video',
  mimeType: 'video/VP9',
  clockRate: 90_000,
  sdp: { parameters: { 'profile-id': 0 } },
  createPayloadReader: () => new Vp9PayloadReader(),
  frameSize: vp9FrameSize,
  ivfFourcc: 'VP90',
  synthetic: {
    payloadType: 98,
    encoderArgs: ({ bitrateKbps, gop }) => [
      '-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-row-mt', '0', '-lag-in-frames', '0', '-error-resilient', '1',
      ...constantRate(bitrateKbps), ...fixedGop(gop),
      // ffmpeg's VP9 RTP packetiser is marked experimental.
      '-strict', 'experimental',
    ],
  },
};
