import type { VideoPayload, VideoPayloadReader } from '../codecs/registry.js';
import type { AssemblerStats, Depacketiser, EncodedFrame } from './depacketiser.js';
import type { RtpPacket } from './rtp.js';

interface PendingFrame<E> {
  rtpTimestamp: number;
  arrivalMono: number;
  /** Payloads so far; emptied as soon as the frame is broken, since it will never be built. */
  parts: Array<VideoPayload<E>>;
  bytes: number;
  broken: boolean;
  /** The marker bit was seen. */
  ended: boolean;
  /** Emitted or dropped: later packets of its timestamp are strays. */
  finished: boolean;
}

/**
 * A frame whose payloads add up to more than this is broken. The largest real frames (an 8K
 * keyframe) are a few MiB; a sender that never sets the marker bit on one timestamp must not
 * make finalisation hold its packets without bound.
 */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;

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
      pending = { rtpTimestamp: packet.timestamp, arrivalMono, parts: [], bytes: 0, broken: false, ended: false, finished: false };
      if (!parsed?.startsFrame) pending.broken = true;
    }
    this.#pending = pending;
    // Same timestamp after the marker: a broken sender; keep the frame we have.
    if (pending.finished) return out;
    pending.bytes += packet.payload.length;
    if (!parsed || pending.bytes > MAX_FRAME_BYTES) pending.broken = true;
    if (pending.broken) pending.parts = [];
    else if (parsed) pending.parts.push(parsed);
    if (packet.marker) {
      pending.ended = true;
      if (parsed && !parsed.endsFrame) pending.broken = true;
      this.#finish(pending, out);
    }
    return out;
  }

  /** Ends the last frame (end of the journal): it is emitted only if complete. */
  flush(): EncodedFrame[] {
    const out: EncodedFrame[] = [];
    if (this.#pending) this.#finish(this.#pending, out);
    this.#pending = undefined;
    return out;
  }

  #finish(frame: PendingFrame<E>, out: EncodedFrame[]): void {
    if (frame.finished) return;
    frame.finished = true;
    const parts = frame.parts;
    frame.parts = [];
    if (frame.broken || !frame.ended || parts.length === 0) {
      this.stats.incompleteFrames++;
      this.#needKeyframe = true;
      return;
    }
    const built = this.reader.build(parts);
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
