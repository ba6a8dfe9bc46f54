/**
 * Minimal, allocation-light RTP and RTCP parsing for finalisation. Every parser
 * returns `undefined` for malformed input instead of throwing: a journal holds
 * whatever arrived on the wire, and one bad packet must never fail a recording.
 */

/** The parts of an RTP packet that finalisation uses. */
export interface RtpPacket {
  payloadType: number;
  marker: boolean;
  sequenceNumber: number;
  /** 32-bit RTP timestamp as an unsigned number. */
  timestamp: number;
  ssrc: number;
  /** Payload without header, CSRCs, header extension and padding (a view, not a copy). */
  payload: Buffer;
}

/**
 * Parses an RTP packet (RFC 3550 §5.1): fixed header, CSRC list, header extension
 * (one-byte, two-byte or any profile: only its length matters here) and padding.
 */
export function parseRtp(data: Buffer): RtpPacket | undefined {
  if (data.length < 12) return undefined;
  const first = data[0]!;
  if (first >> 6 !== 2) return undefined;
  const hasPadding = (first & 0x20) !== 0;
  const hasExtension = (first & 0x10) !== 0;
  const csrcCount = first & 0x0f;
  let offset = 12 + csrcCount * 4;
  if (hasExtension) {
    if (data.length < offset + 4) return undefined;
    const words = data.readUInt16BE(offset + 2);
    offset += 4 + words * 4;
  }
  let end = data.length;
  if (hasPadding) {
    const padding = data[data.length - 1]!;
    if (padding === 0) return undefined;
    end -= padding;
  }
  if (end < offset) return undefined;
  return {
    payloadType: data[1]! & 0x7f,
    marker: (data[1]! & 0x80) !== 0,
    sequenceNumber: data.readUInt16BE(2),
    timestamp: data.readUInt32BE(4),
    ssrc: data.readUInt32BE(8),
    payload: data.subarray(offset, end),
  };
}

/** An RTCP sender report (RFC 3550 §6.4.1), with the NTP time read the way mediasoup writes it. */
export interface SenderReport {
  ssrc: number;
  /**
   * The NTP field as milliseconds. mediasoup writes its worker's monotonic clock
   * (`uv_hrtime`, ms) without the 1900 epoch, so this is directly comparable with a
   * journal's `arrivalMono`.
   */
  ntpMs: number;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
}

const RTCP_SENDER_REPORT = 200;

/**
 * Walks a compound RTCP packet and returns its sender reports; other packet types
 * (RR, SDES, BYE, feedback) are skipped. A truncated trailing packet ends the walk.
 */
export function parseRtcpSenderReports(data: Buffer): SenderReport[] {
  const reports: SenderReport[] = [];
  let offset = 0;
  while (data.length - offset >= 4) {
    const first = data[offset]!;
    if (first >> 6 !== 2) break;
    const packetType = data[offset + 1]!;
    const length = (data.readUInt16BE(offset + 2) + 1) * 4;
    if (offset + length > data.length) break;
    if (packetType === RTCP_SENDER_REPORT && length >= 28) {
      const seconds = data.readUInt32BE(offset + 8);
      const fraction = data.readUInt32BE(offset + 12);
      reports.push({
        ssrc: data.readUInt32BE(offset + 4),
        ntpMs: seconds * 1000 + (fraction / 0x1_0000_0000) * 1000,
        rtpTimestamp: data.readUInt32BE(offset + 16),
        packetCount: data.readUInt32BE(offset + 20),
        octetCount: data.readUInt32BE(offset + 24),
      });
    }
    offset += length;
  }
  return reports;
}

/** Signed difference `a - b` of two 32-bit RTP timestamps (valid while |a - b| < 2^31). */
export function rtpTimestampDiff(a: number, b: number): number {
  return ((a - b) | 0);
}

/** Signed difference `a - b` of two 16-bit sequence numbers. */
export function sequenceDiff(a: number, b: number): number {
  return ((((a - b) & 0xffff) << 16) >> 16);
}
