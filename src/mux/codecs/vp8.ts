import type { VideoPayload, VideoPayloadReader } from './types.js';

interface Vp8Extra {
  data: Buffer;
}

/**
 * VP8 payloads (RFC 7741): strips the payload descriptor. A frame starts with the
 * S bit set on partition 0; a keyframe has the P bit of the VP8 frame tag clear and
 * carries its size after the start code `9d 01 2a` (RFC 6386 §9.1).
 */
export class Vp8PayloadReader implements VideoPayloadReader<Vp8Extra> {
  readonly codec = 'VP8';

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
    const keyframe = (data[0]! & 0x01) === 0;
    if (!keyframe) return { data, keyframe };
    if (data.length < 10 || data[3] !== 0x9d || data[4] !== 0x01 || data[5] !== 0x2a) return undefined;
    return { data, keyframe, width: data.readUInt16LE(6) & 0x3fff, height: data.readUInt16LE(8) & 0x3fff };
  }
}
