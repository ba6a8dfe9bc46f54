/**
 * Minimal RTP/RTCP helpers for the synthetic peer's relay: just enough to route
 * packets, rewrite SSRCs and tell keyframes apart. Not a general RTP library.
 */

/** Codec names the synthetic peer can send. */
export type SyntheticVideoCodec = 'VP8' | 'VP9' | 'H264';
/** Audio codec names the synthetic peer can send. */
export type SyntheticAudioCodec = 'opus';

/** RTCP packet types live in 192..223 of the second byte when multiplexed with RTP (RFC 5761). */
export function isRtcp(packet: Buffer): boolean {
  if (packet.length < 8 || packet[0]! >> 6 !== 2) return false;
  const pt = packet[1]!;
  return pt >= 192 && pt <= 223;
}

/** Whether `packet` looks like an RTP packet (version 2, not RTCP, long enough). */
export function isRtp(packet: Buffer): boolean {
  return packet.length >= 12 && packet[0]! >> 6 === 2 && !isRtcp(packet);
}

export function rtpSsrc(packet: Buffer): number {
  return packet.readUInt32BE(8);
}

export function rtpPayloadType(packet: Buffer): number {
  return packet[1]! & 0x7f;
}

export function rtpSequenceNumber(packet: Buffer): number {
  return packet.readUInt16BE(2);
}

export function rtpTimestamp(packet: Buffer): number {
  return packet.readUInt32BE(4);
}

export function rtpMarker(packet: Buffer): boolean {
  return (packet[1]! & 0x80) !== 0;
}

/** Sender SSRC of the first packet of an RTCP compound packet. */
export function rtcpSenderSsrc(packet: Buffer): number {
  return packet.readUInt32BE(4);
}

/** Offset and length of the RTP payload (after CSRCs, header extension and before padding). */
export function rtpPayloadBounds(packet: Buffer): { offset: number; length: number } | undefined {
  const b0 = packet[0]!;
  let offset = 12 + (b0 & 0x0f) * 4;
  if (b0 & 0x10) {
    if (packet.length < offset + 4) return undefined;
    offset += 4 + packet.readUInt16BE(offset + 2) * 4;
  }
  let end = packet.length;
  if (b0 & 0x20) end -= packet[packet.length - 1]!;
  if (end <= offset) return undefined;
  return { offset, length: end - offset };
}

/**
 * Rewrites the first SSRC of every SR, RR, SDES and BYE packet in an RTCP compound
 * packet, in place. ffmpeg sends SR + SDES(CNAME), one SSRC each.
 */
export function rewriteRtcpSsrc(packet: Buffer, ssrc: number): void {
  let offset = 0;
  while (offset + 8 <= packet.length) {
    const pt = packet[offset + 1]!;
    if (pt === 200 || pt === 201 || pt === 202 || pt === 203) packet.writeUInt32BE(ssrc >>> 0, offset + 4);
    offset += (packet.readUInt16BE(offset + 2) + 1) * 4;
  }
}

/** The payload type of an RTCP packet in a compound packet, e.g. 206 for PSFB (PLI/FIR). */
export function rtcpPacketTypes(packet: Buffer): Array<{ pt: number; fmt: number }> {
  const out: Array<{ pt: number; fmt: number }> = [];
  let offset = 0;
  while (offset + 4 <= packet.length) {
    out.push({ pt: packet[offset + 1]!, fmt: packet[offset]! & 0x1f });
    offset += (packet.readUInt16BE(offset + 2) + 1) * 4;
  }
  return out;
}

/** Offset of the VP8 payload header after the VP8 payload descriptor (RFC 7741), or -1. */
function vp8HeaderOffset(payload: Buffer): number {
  let i = 0;
  const b0 = payload[i++]!;
  if (b0 & 0x80) {
    const x = payload[i++];
    if (x === undefined) return -1;
    if (x & 0x80) i += (payload[i]! & 0x80) !== 0 ? 2 : 1; // PictureID, 7 or 15 bits
    if (x & 0x40) i += 1; // TL0PICIDX
    if (x & 0x30) i += 1; // TID / KEYIDX
  }
  return i < payload.length ? i : -1;
}

/** Offset of the VP9 frame after a (non-flexible or flexible) VP9 payload descriptor, or -1. */
function vp9FrameOffset(payload: Buffer): number {
  let i = 0;
  const b0 = payload[i++]!;
  const [I, P, L, F, V] = [b0 & 0x80, b0 & 0x40, b0 & 0x20, b0 & 0x10, b0 & 0x02];
  if (I) i += (payload[i]! & 0x80) !== 0 ? 2 : 1;
  if (L) i += F ? 1 : 2;
  if (F && P) {
    // Up to 3 P_DIFF bytes, each with an N (more) bit.
    for (let n = 0; n < 3 && i < payload.length; n++) if (!(payload[i++]! & 0x01)) break;
  }
  if (V) return -1; // Scalability structure: ffmpeg never sends one; not worth parsing here.
  return i < payload.length ? i : -1;
}

/** Whether a VP9 uncompressed header (frame start) describes a key frame. */
function vp9IsKeyFrameHeader(byte: number): boolean {
  // frame_marker(2) profile_low(1) profile_high(1) [reserved(1) if profile 3] show_existing(1) frame_type(1)
  if (byte >> 6 !== 0b10) return false;
  const profile = ((byte >> 5) & 1) | (((byte >> 4) & 1) << 1);
  const shift = profile === 3 ? 1 : 0;
  const showExisting = (byte >> (3 - shift)) & 1;
  const frameType = (byte >> (2 - shift)) & 1;
  return showExisting === 0 && frameType === 0;
}

/**
 * Whether this RTP packet starts a key frame (an H.264 packet carrying SPS or IDR counts,
 * so that forwarding from it gives the decoder its parameter sets).
 */
export function isKeyFrameStart(codec: SyntheticVideoCodec, packet: Buffer): boolean {
  const bounds = rtpPayloadBounds(packet);
  if (!bounds) return false;
  const payload = packet.subarray(bounds.offset, bounds.offset + bounds.length);
  switch (codec) {
    case 'VP8': {
      // S bit and partition index 0, then the payload header's P bit (0 = key frame).
      if (!(payload[0]! & 0x10) || (payload[0]! & 0x07) !== 0) return false;
      const h = vp8HeaderOffset(payload);
      return h >= 0 && (payload[h]! & 0x01) === 0;
    }
    case 'VP9': {
      if (!(payload[0]! & 0x08)) return false; // B: start of frame
      const f = vp9FrameOffset(payload);
      return f >= 0 && vp9IsKeyFrameHeader(payload[f]!);
    }
    case 'H264': {
      const type = payload[0]! & 0x1f;
      if (type === 5 || type === 7) return true;
      if (type === 24) {
        // STAP-A: 16-bit size + NAL unit, repeated.
        for (let i = 1; i + 2 < payload.length; ) {
          const size = payload.readUInt16BE(i);
          const t = payload[i + 2]! & 0x1f;
          if (t === 5 || t === 7) return true;
          i += 2 + size;
        }
        return false;
      }
      if (type === 28) return (payload[1]! & 0x80) !== 0 && ((payload[1]! & 0x1f) === 5 || (payload[1]! & 0x1f) === 7);
      return false;
    }
  }
}

/**
 * ffmpeg's VP9 packetiser never sets the descriptor's P (inter-picture predicted) bit, so
 * every frame looks like a key frame to mediasoup, which then "syncs" a consumer on a delta
 * frame. Sets P on the first packet of every non-key frame, in place (the descriptor keeps
 * its size). Returns whether the packet was changed.
 */
export function fixVp9InterPictureBit(packet: Buffer): boolean {
  const bounds = rtpPayloadBounds(packet);
  if (!bounds) return false;
  const payload = packet.subarray(bounds.offset, bounds.offset + bounds.length);
  const b0 = payload[0]!;
  if (!(b0 & 0x08) || b0 & 0x40 || b0 & 0x10) return false; // not a frame start, P already set, or flexible mode
  const f = vp9FrameOffset(payload);
  if (f < 0 || vp9IsKeyFrameHeader(payload[f]!)) return false;
  payload[0] = b0 | 0x40;
  return true;
}

/** An RTCP sender report with wall-clock NTP time; the SSRC (offset 4) is left 0 for the caller. */
export function senderReport(rtpTimestamp: number, packets: number, octets: number): Buffer {
  const sr = Buffer.alloc(28);
  sr[0] = 0x80;
  sr[1] = 200;
  sr.writeUInt16BE(6, 2);
  const ms = Date.now() + 2_208_988_800_000; // NTP epoch is 1900
  const seconds = Math.floor(ms / 1000);
  sr.writeUInt32BE(seconds >>> 0, 8);
  sr.writeUInt32BE(Math.floor(((ms % 1000) / 1000) * 2 ** 32) >>> 0, 12);
  sr.writeUInt32BE(rtpTimestamp >>> 0, 16);
  sr.writeUInt32BE(packets >>> 0, 20);
  sr.writeUInt32BE(octets >>> 0, 24);
  return sr;
}

