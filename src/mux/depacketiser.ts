import type { AudioCodecEntry, BuiltFrame, CodecEntry } from '../codecs/registry.js';
import type { RtpPacket } from './rtp.js';
import { VideoFrameAssembler } from './video-assembler.js';

/** One encoded frame (an audio packet, or a video frame reassembled from its RTP packets). */
export interface EncodedFrame extends BuiltFrame {
  /** RTP timestamp of the frame. */
  rtpTimestamp: number;
  /** Arrival (monotonic ms) of the frame's first packet. */
  arrivalMono: number;
  /** Audio only: duration in samples at 48 kHz. */
  durationSamples?: number;
}

/** Counters describing what depacketising had to throw away. */
export interface AssemblerStats {
  frames: number;
  /** Frames with a missing packet, no start, no end, or a malformed payload (audio: malformed packets). */
  incompleteFrames: number;
  /** Complete frames dropped while waiting for a keyframe (start, or after a loss). */
  framesAwaitingKeyframe: number;
}

/** Turns one track's packets, in sequence order, into frames. */
export interface Depacketiser {
  readonly stats: AssemblerStats;
  /** Adds the next packet in sequence order; returns the frames it completed. */
  push(packet: RtpPacket, extendedSeq: number, arrivalMono: number): EncodedFrame[];
  /** Ends the track: returns what is still complete. */
  flush(): EncodedFrame[];
}

/** The depacketiser of a registered codec: video frames are assembled, audio packets checked one by one. */
export function createDepacketiser(codec: CodecEntry): Depacketiser {
  return codec.kind === 'video' ? new VideoFrameAssembler(codec.createPayloadReader()) : new AudioPacketReader(codec);
}

/** Audio: every packet is a frame of its own; a malformed one is dropped and counted. */
class AudioPacketReader implements Depacketiser {
  readonly stats: AssemblerStats = { frames: 0, incompleteFrames: 0, framesAwaitingKeyframe: 0 };
  readonly #codec: AudioCodecEntry;

  constructor(codec: AudioCodecEntry) {
    this.#codec = codec;
  }

  push(packet: RtpPacket, _extendedSeq: number, arrivalMono: number): EncodedFrame[] {
    const samples = this.#codec.packetSamples(packet.payload);
    if (samples === undefined) {
      this.stats.incompleteFrames++;
      return [];
    }
    this.stats.frames++;
    const durationSamples = (samples * 48_000) / this.#codec.clockRate;
    return [{ rtpTimestamp: packet.timestamp, arrivalMono, data: packet.payload, keyframe: true, durationSamples }];
  }

  flush(): EncodedFrame[] {
    return [];
  }
}
