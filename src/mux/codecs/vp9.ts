import type { VideoPayload, VideoPayloadReader } from './types.js';

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
  ssSize: { width: number; height: number } | undefined;
}

/**
 * VP9 payloads (draft-ietf-payload-vp9-16 / RFC 9628): flexible and non-flexible
 * descriptors. A picture may hold several spatial-layer frames (SVC); they are joined
 * into one VP9 superframe. A keyframe is a picture whose first layer frame has P = 0.
 * The size comes from the scalability structure or, failing that, from the keyframe's
 * uncompressed header.
 */
export class Vp9PayloadReader implements VideoPayloadReader<Vp9Extra> {
  readonly codec = 'VP9';

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
    const baseLayerSize = parts[0]!.extra.predicted ? undefined : keyframeSize(frames[0]!);
    const keyframe = baseLayerSize !== undefined;
    const ss = parts.find((part) => part.extra.ssSize !== undefined)?.extra.ssSize;
    const size = ss ?? (keyframe ? (keyframeSize(frames[frames.length - 1]!) ?? baseLayerSize) : undefined);
    return { data, keyframe, ...(size ? { width: size.width, height: size.height } : {}) };
  }
}

/** Joins layer frames into a VP9 superframe (VP9 bitstream spec, Annex B). */
function superframe(frames: Buffer[]): Buffer | undefined {
  if (frames.length > 8) return undefined;
  const largest = Math.max(...frames.map((frame) => frame.length));
  const sizeBytes = largest < 0x100 ? 1 : largest < 0x10000 ? 2 : largest < 0x1000000 ? 3 : 4;
  const marker = 0xc0 | ((sizeBytes - 1) << 3) | (frames.length - 1);
  const index = Buffer.alloc(2 + sizeBytes * frames.length);
  index[0] = marker;
  frames.forEach((frame, i) => index.writeUIntLE(frame.length, 1 + i * sizeBytes, sizeBytes));
  index[index.length - 1] = marker;
  return Buffer.concat([...frames, index]);
}

/** Reads frame_width/height from a VP9 keyframe's uncompressed header. */
export function keyframeSize(frame: Buffer): { width: number; height: number } | undefined {
  let bit = 0;
  const read = (count: number): number => {
    let value = 0;
    for (let i = 0; i < count; i++) {
      const byte = frame[bit >> 3];
      if (byte === undefined) throw new RangeError('short VP9 header');
      value = (value << 1) | ((byte >> (7 - (bit & 7))) & 1);
      bit++;
    }
    return value;
  };
  try {
    if (read(2) !== 2) return undefined; // frame_marker
    const profile = read(1) | (read(1) << 1);
    if (profile === 3) read(1);
    if (read(1)) return undefined; // show_existing_frame
    if (read(1) !== 0) return undefined; // frame_type: 0 = KEY_FRAME
    read(2); // show_frame, error_resilient_mode
    if (read(24) !== 0x498342) return undefined;
    if (profile >= 2) read(1);
    const colorSpace = read(3);
    if (colorSpace !== 7) {
      read(1);
      if (profile === 1 || profile === 3) read(3);
    } else if (profile === 1 || profile === 3) {
      read(1);
    }
    return { width: read(16) + 1, height: read(16) + 1 };
  } catch {
    return undefined;
  }
}
