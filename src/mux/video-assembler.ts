import type { VideoPayload, VideoPayloadReader } from '../codecs/registry.js';
import type { AssemblerStats, Depacketiser, EncodedFrame } from './depacketiser.js';
import type { RtpPacket } from './rtp.js';

interface PendingFrame<E> {
  rtpTimestamp: number;
  arrivalMono: number;
  parts: Array<VideoPayload<E>>;
  broken: boolean;
  ended: boolean;
}

/**
 * Turns packets (already in sequence order) into complete video frames. A frame is
 * the packets sharing one RTP timestamp; it is complete when its first packet starts
 * a frame, no sequence number is missing inside it and its last packet carries the
 * marker bit. Any loss means the decoder's reference chain is broken, so everything
 * up to the next complete keyframe is dropped: the decoder never sees a frame that
 * depends on something it did not get.
 */
export class VideoFrameAssembler<E> implements Depacketiser {
  readonly reader: VideoPayloadReader<E>;
  readonly stats: AssemblerStats = { frames: 0, incompleteFrames: 0, framesAwaitingKeyframe: 0 };
  #pending: PendingFrame<E> | undefined;
  #lastSeq: number | undefined;
  #needKeyframe = true;

  constructor(reader: VideoPayloadReader<E>) {
    this.reader = reader;
  }

  /** Makes the next emitted frame a keyframe (after media was cut out, for instance). */
  requireKeyframe(): void {
    this.#needKeyframe = true;
  }

  /** Adds the next packet in sequence order; returns the frames it completed. */
  push(packet: RtpPacket, extendedSeq: number, arrivalMono: number): EncodedFrame[] {
    const out: EncodedFrame[] = [];
    const lost = this.#lastSeq !== undefined && extendedSeq !== this.#lastSeq + 1;
    this.#lastSeq = extendedSeq;
    let pending = this.#pending;
    if (pending && pending.rtpTimestamp !== packet.timestamp) {
      this.#finish(pending, out);
      pending = undefined;
    }
    if (lost) {
      this.#needKeyframe = true;
      if (pending) pending.broken = true;
    }
    const parsed = this.reader.read(packet.payload);
    if (!pending) {
      pending = { rtpTimestamp: packet.timestamp, arrivalMono, parts: [], broken: false, ended: false };
      if (!parsed?.startsFrame) pending.broken = true;
    }
    this.#pending = pending;
    if (pending.ended) {
      // Same timestamp after the marker: a broken sender; keep the frame we have.
      return out;
    }
    if (!parsed) pending.broken = true;
    else pending.parts.push(parsed);
    if (packet.marker) {
      pending.ended = true;
      if (parsed && !parsed.endsFrame) pending.broken = true;
      this.#finish(pending, out);
      // Keep a finished marker so that stray packets of this timestamp are ignored.
      this.#pending = { ...pending, parts: [] };
    }
    return out;
  }

  /** Ends the last frame (end of the journal): it is emitted only if complete. */
  flush(): EncodedFrame[] {
    const out: EncodedFrame[] = [];
    if (this.#pending && !this.#pending.ended) this.#finish(this.#pending, out);
    this.#pending = undefined;
    return out;
  }

  #finish(frame: PendingFrame<E>, out: EncodedFrame[]): void {
    if (frame.ended && frame.parts.length === 0) return; // already emitted
    if (frame.broken || !frame.ended || frame.parts.length === 0) {
      this.stats.incompleteFrames++;
      this.#needKeyframe = true;
      return;
    }
    const built = this.reader.build(frame.parts);
    if (!built) {
      this.stats.incompleteFrames++;
      this.#needKeyframe = true;
      return;
    }
    if (this.#needKeyframe && !built.keyframe) {
      this.stats.framesAwaitingKeyframe++;
      return;
    }
    this.#needKeyframe = false;
    this.stats.frames++;
    out.push({ rtpTimestamp: frame.rtpTimestamp, arrivalMono: frame.arrivalMono, ...built });
  }
}
