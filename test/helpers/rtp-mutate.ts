/**
 * Rewrites of real RTP packets for hostile-media tests: the payload of one packet, the NAL
 * units of an H.264 packet, the frame inside a VP8 or VP9 packet.
 */
import { parseRtp } from '../../src/mux/rtp.js';

/** The packet with its payload replaced (header, CSRCs and extension kept; padding dropped). */
export function withPayload(packet: Buffer, payload: Buffer): Buffer {
  const parsed = parseRtp(packet);
  if (!parsed) return packet;
  const headerLength = parsed.payload.byteOffset - packet.byteOffset;
  const header = Buffer.from(packet.subarray(0, headerLength));
  header[0] = header[0]! & ~0x20; // no padding any more
  return Buffer.concat([header, payload]);
}

/** The RTP payload of a packet (a copy), or an empty buffer if it does not parse. */
export function payloadOf(packet: Buffer): Buffer {
  return Buffer.from(parseRtp(packet)?.payload ?? Buffer.alloc(0));
}

/**
 * Maps the complete NAL units of an H.264 payload (a single NAL unit or a STAP-A);
 * FU-A fragments are returned unchanged.
 */
export function mapH264Nals(payload: Buffer, map: (nal: Buffer) => Buffer): Buffer {
  const type = payload[0]! & 0x1f;
  if (type >= 1 && type <= 23) return map(payload);
  if (type !== 24) return payload;
  const parts: Buffer[] = [payload.subarray(0, 1)];
  for (let offset = 1; offset + 2 <= payload.length; ) {
    const size = payload.readUInt16BE(offset);
    const nal = map(payload.subarray(offset + 2, offset + 2 + size));
    const length = Buffer.alloc(2);
    length.writeUInt16BE(nal.length);
    parts.push(length, nal);
    offset += 2 + size;
  }
  return Buffer.concat(parts);
}

/** Offset of the VP8 frame data after the payload descriptor (RFC 7741), or -1. */
export function vp8FrameOffset(payload: Buffer): number {
  const first = payload[0];
  if (first === undefined) return -1;
  let offset = 1;
  if (first & 0x80) {
    const ext = payload[1] ?? 0;
    offset = 2;
    if (ext & 0x80) offset += (payload[2] ?? 0) & 0x80 ? 2 : 1;
    if (ext & 0x40) offset++;
    if (ext & 0x30) offset++;
  }
  return offset < payload.length ? offset : -1;
}

/** Whether a VP8 payload starts a frame (S bit, partition 0). */
export function vp8StartsFrame(payload: Buffer): boolean {
  return payload.length > 0 && (payload[0]! & 0x10) !== 0 && (payload[0]! & 0x07) === 0;
}

/** Offset of the VP9 frame data after a non-flexible payload descriptor without SS (as ffmpeg sends it), or -1. */
export function vp9FrameOffset(payload: Buffer): number {
  const first = payload[0];
  if (first === undefined || first & 0x02 || first & 0x10) return -1;
  let offset = 1;
  if (first & 0x80) offset += (payload[1] ?? 0) & 0x80 ? 2 : 1;
  if (first & 0x20) offset += 2;
  return offset < payload.length ? offset : -1;
}

/** Whether a VP9 payload starts a layer frame (B bit). */
export function vp9StartsFrame(payload: Buffer): boolean {
  return payload.length > 0 && (payload[0]! & 0x08) !== 0;
}
