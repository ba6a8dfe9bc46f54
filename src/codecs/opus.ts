import type { AudioCodecEntry } from './types.js';

/** Samples per Opus frame at 48 kHz for each TOC configuration (RFC 6716 §3.1). */
const FRAME_SAMPLES = [
  480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 1920, 2880, // SILK NB/MB/WB: 10/20/40/60 ms
  480, 960, 480, 960, // Hybrid SWB/FB: 10/20 ms
  120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, // CELT: 2.5/5/10/20 ms
];

/** No Opus frame is longer than this many bytes (RFC 6716 §3.2.1). */
const MAX_FRAME_BYTES = 1275;
/** No Opus packet lasts longer than 120 ms (RFC 6716 §3.2.5). */
const MAX_PACKET_SAMPLES = 5760;

/**
 * Duration of an Opus packet in 48 kHz samples, read from its TOC byte and frame
 * count; `undefined` for a packet that breaks any of RFC 6716's rules for a
 * well-formed packet (§3.4, R1–R7), so garbage never reaches the decoder.
 */
export function opusPacketSamples(packet: Buffer): number | undefined {
  if (packet.length < 1) return undefined; // R1
  const toc = packet[0]!;
  const perFrame = FRAME_SAMPLES[toc >> 3]!;
  const body = packet.length - 1;
  switch (toc & 0x03) {
    case 0: // one frame
      return body <= MAX_FRAME_BYTES ? perFrame : undefined; // R2
    case 1: // two frames of equal size
      return body % 2 === 0 && body / 2 <= MAX_FRAME_BYTES ? 2 * perFrame : undefined; // R3
    case 2: {
      // two frames, the first one's length coded in one or two bytes
      const first = frameLength(packet, 1);
      if (!first) return undefined;
      const second = packet.length - 1 - first.bytes - first.length;
      return first.length <= MAX_FRAME_BYTES && second >= 0 && second <= MAX_FRAME_BYTES ? 2 * perFrame : undefined; // R4
    }
    default:
      return codeThreeSamples(packet, perFrame);
  }
}

/** An arbitrary number of frames (code 3): frame count, optional padding, CBR or VBR lengths. */
function codeThreeSamples(packet: Buffer, perFrame: number): number | undefined {
  if (packet.length < 2) return undefined; // R6/R7
  const countByte = packet[1]!;
  const frames = countByte & 0x3f;
  if (frames === 0 || frames * perFrame > MAX_PACKET_SAMPLES) return undefined; // R5
  const vbr = (countByte & 0x80) !== 0;
  let offset = 2;
  let padding = 0;
  if (countByte & 0x40) {
    // Padding length: each 255 adds 254 and another byte follows.
    for (;;) {
      const byte = packet[offset++];
      if (byte === undefined) return undefined;
      padding += byte === 255 ? 254 : byte;
      if (byte !== 255) break;
    }
  }
  let remaining = packet.length - offset - padding;
  if (remaining < 0) return undefined;
  if (!vbr) {
    // R6: equal frames that fill the packet exactly.
    return remaining % frames === 0 && remaining / frames <= MAX_FRAME_BYTES ? frames * perFrame : undefined;
  }
  // R7: frames - 1 coded lengths, the last frame takes the rest.
  for (let i = 0; i < frames - 1; i++) {
    const frame = frameLength(packet, offset);
    if (!frame) return undefined;
    offset += frame.bytes;
    remaining -= frame.bytes + frame.length;
    if (frame.length > MAX_FRAME_BYTES || remaining < 0) return undefined;
  }
  return remaining <= MAX_FRAME_BYTES ? frames * perFrame : undefined;
}

/** A frame length coded in one byte (below 252) or two (RFC 6716 §3.2.1). */
function frameLength(packet: Buffer, offset: number): { length: number; bytes: number } | undefined {
  const first = packet[offset];
  if (first === undefined) return undefined;
  if (first < 252) return { length: first, bytes: 1 };
  const second = packet[offset + 1];
  return second === undefined ? undefined : { length: second * 4 + first, bytes: 2 };
}

/** The OpusHead identification header (RFC 7845 §5.1) that Matroska carries as CodecPrivate. */
function opusHead(channels: number): Buffer {
  const head = Buffer.alloc(19);
  head.write('OpusHead', 0, 'latin1');
  head[8] = 1; // version
  head[9] = channels;
  head.writeUInt16LE(0, 10); // pre-skip: WebRTC receivers play RTP timestamps as they are
  head.writeUInt32LE(48_000, 12);
  head.writeInt16LE(0, 16);
  head[18] = 0; // channel mapping family
  return head;
}

/** Opus (RFC 7587): always a 48 kHz RTP clock, signalled as two channels. */
export const OPUS: AudioCodecEntry<'opus'> = {
  name: 'opus',
  kind: 'audio',
  mimeType: 'audio/opus',
  clockRate: 48_000,
  sdp: { channels: 2, parameters: {} },
  packetSamples: opusPacketSamples,
  matroska: { codecId: 'A_OPUS', sampleRate: 48_000, codecPrivate: opusHead },
  // Sent mono (as browsers do by default) but signalled as opus/48000/2, as RFC 7587 requires.
  synthetic: { payloadType: 111, parameters: { minptime: 10, useinbandfec: 1 } },
};
