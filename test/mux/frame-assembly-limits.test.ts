import { describe, expect, it } from 'vitest';
import { Vp8PayloadReader } from '../../src/codecs/vp8.js';
import type { RtpPacket } from '../../src/mux/rtp.js';
import { MAX_FRAME_BYTES, VideoFrameAssembler } from '../../src/mux/video-assembler.js';
import { vp8Keyframe } from '../helpers/bitstreams.js';

const packet = (seq: number, ts: number, payload: Buffer, marker: boolean): RtpPacket => ({ payloadType: 96, marker, sequenceNumber: seq, timestamp: ts, ssrc: 1, payload });

/** A VP8 keyframe of about `bytes`, split into 1000-byte RTP payloads (the first with the S bit). */
function keyframePackets(firstSeq: number, ts: number, bytes: number): RtpPacket[] {
  const frame = vp8Keyframe(320, 180, Buffer.alloc(bytes));
  const out: RtpPacket[] = [];
  for (let offset = 0, i = 0; offset < frame.length; offset += 1000, i++) {
    const chunk = frame.subarray(offset, offset + 1000);
    out.push(packet(firstSeq + i, ts, Buffer.concat([Buffer.from([i === 0 ? 0x10 : 0x00]), chunk]), offset + 1000 >= frame.length));
  }
  return out;
}

describe('video frame assembly limits', () => {
  it(`refuses a frame above ${MAX_FRAME_BYTES} bytes (a sender that keeps sending one timestamp) and recovers at the next keyframe`, () => {
    const assembler = new VideoFrameAssembler(new Vp8PayloadReader());
    const huge = keyframePackets(1, 3000, MAX_FRAME_BYTES + 1000);
    const normal = keyframePackets(huge.length + 1, 6000, 5000);
    const frames = [...huge, ...normal].flatMap((p) => assembler.push(p, p.sequenceNumber, 0));
    expect(frames.map((f) => [f.rtpTimestamp, f.keyframe, f.data.length])).toEqual([[6000, true, 5010]]);
    expect(assembler.stats.incompleteFrames).toBe(1);
  });

  it('still builds the largest real frames', () => {
    const assembler = new VideoFrameAssembler(new Vp8PayloadReader());
    const large = keyframePackets(1, 3000, 8 * 1024 * 1024);
    const frames = large.flatMap((p) => assembler.push(p, p.sequenceNumber, 0));
    expect(frames).toHaveLength(1);
    expect(frames[0]).toMatchObject({ keyframe: true, width: 320, height: 180 });
  });

  it('ignores stray packets of a finished frame and counts a frame never ended', () => {
    const assembler = new VideoFrameAssembler(new Vp8PayloadReader());
    const [first] = keyframePackets(1, 3000, 100);
    const frames = [
      ...assembler.push(first!, 1, 0),
      ...assembler.push(packet(2, 3000, Buffer.from([0x00, 1, 2, 3]), false), 2, 0), // stray after the marker
      ...assembler.push(packet(3, 6000, Buffer.from([0x10, 0x01, 0, 0]), false), 3, 0), // never ended
      ...assembler.flush(),
    ];
    expect(frames.map((f) => f.rtpTimestamp)).toEqual([3000]);
    expect(assembler.stats).toMatchObject({ frames: 1, incompleteFrames: 1 });
  });
});
