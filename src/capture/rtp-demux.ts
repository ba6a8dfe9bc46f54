/**
 * Demultiplexing what arrives on the capture socket (rtcpMux: RTP and RTCP share it).
 *
 * mediasoup packs the RTCP of several consumers into one compound packet, so a
 * compound packet is split into its parts and each part is routed by the SSRC of
 * the stream it talks about.
 */

/** RFC 5761: RTCP packet types 192..223 occupy the second byte where RTP has M+PT. */
export function isRtcp(packet: Buffer): boolean {
  if (packet.length < 2) return false;
  const type = packet[1]!;
  return type >= 192 && type <= 223;
}

/** The SSRC of an RTP packet, or undefined when the packet is too short to be RTP. */
export function rtpSsrc(packet: Buffer): number | undefined {
  if (packet.length < 12 || packet[0]! >> 6 !== 2) return undefined;
  return packet.readUInt32BE(8);
}

/** One packet of a compound RTCP packet, with the SSRC it should be filed under. */
export interface RtcpPart {
  ssrc: number;
  packet: Buffer;
}

const RTCP_SR = 200;
const RTCP_SDES = 202;
const RTCP_BYE = 203;

/**
 * Splits a compound RTCP packet into the parts a track journal cares about: sender
 * reports (which map RTP time to wall-clock time), SDES and BYE, each keyed by the
 * sending SSRC. Malformed lengths end the walk rather than throw: this runs on the
 * capture hot path and must never take the socket down.
 */
export function splitRtcp(compound: Buffer): RtcpPart[] {
  const parts: RtcpPart[] = [];
  let offset = 0;
  while (compound.length - offset >= 8) {
    const length = (compound.readUInt16BE(offset + 2) + 1) * 4;
    if (offset + length > compound.length) break;
    const type = compound[offset + 1]!;
    if (type === RTCP_SR || type === RTCP_SDES || type === RTCP_BYE) {
      parts.push({ ssrc: compound.readUInt32BE(offset + 4), packet: compound.subarray(offset, offset + length) });
    }
    offset += length;
  }
  return parts;
}
