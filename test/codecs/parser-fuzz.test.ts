import { describe, expect, it } from 'vitest';
import { CODECS } from '../../src/codecs/registry.js';
import { createDepacketiser } from '../../src/mux/depacketiser.js';
import { parseRtcpSenderReports, parseRtp } from '../../src/mux/rtp.js';
import { seededRandom } from '../../src/testing/seeded-random.js';

/**
 * Whatever arrives, the parsers answer and never throw: random bytes, random bytes after a
 * plausible first byte, and truncations, for every codec of the registry.
 */

const random = seededRandom(42);
const bytes = (length: number) => Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)));
/** Random payloads, many of them starting like the codec's real ones (so parsing goes deep). */
function payloads(count: number, firstBytes: number[]): Buffer[] {
  return Array.from({ length: count }, (_, i) => {
    const payload = bytes(Math.floor(random() * (i % 10 === 0 ? 3000 : 60)));
    if (payload.length > 0 && i % 2 === 0) payload[0] = firstBytes[i % firstBytes.length]!;
    return payload;
  });
}

/** First bytes that take each codec's parser past its first check. */
const PLAUSIBLE: Record<string, number[]> = {
  opus: [0xf8, 0xfb, 0x03, 0x7b],
  VP8: [0x10, 0x90, 0x80, 0x00],
  VP9: [0x8e, 0x8a, 0xaa, 0x0e, 0x1e, 0xbe],
  H264: [0x67, 0x65, 0x41, 0x78, 0x7c, 0x5c, 0x68],
};

describe('codec parsers on hostile bytes', () => {
  for (const codec of CODECS) {
    it(`${codec.name}: depacketising random packets never throws`, () => {
      const depacketiser = createDepacketiser(codec);
      let seq = 0;
      let ts = 0;
      for (const payload of payloads(5_000, PLAUSIBLE[codec.name]!)) {
        if (random() < 0.3) ts += 3000;
        const marker = random() < 0.3;
        seq += random() < 0.02 ? 2 : 1;
        expect(() => depacketiser.push({ payloadType: 96, marker, sequenceNumber: seq & 0xffff, timestamp: ts, ssrc: 1, payload }, seq, 0)).not.toThrow();
      }
      expect(() => depacketiser.flush()).not.toThrow();
      const { frames, incompleteFrames } = depacketiser.stats;
      expect(frames + incompleteFrames).toBeGreaterThan(0);
    });

    if (codec.kind === 'video') {
      it(`${codec.name}: reading frame sizes and copy rules of random frames never throws`, () => {
        for (const frame of payloads(5_000, PLAUSIBLE[codec.name]!)) {
          const size = codec.frameSize(frame);
          if (size) expect(Number.isInteger(size.width) && Number.isInteger(size.height)).toBe(true);
          expect(() => codec.canCopy?.(frame)).not.toThrow();
        }
      });
    }
  }

  it('RTP and RTCP parsing of random and truncated packets never throws', () => {
    for (let i = 0; i < 5_000; i++) {
      const packet = bytes(Math.floor(random() * 80));
      if (packet.length > 0 && i % 2 === 0) packet[0] = 0x80 | (packet[0]! & 0x3f); // version 2
      expect(() => parseRtp(packet)).not.toThrow();
      expect(() => parseRtcpSenderReports(packet)).not.toThrow();
    }
  });
});
