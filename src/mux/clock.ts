import { rtpTimestampDiff } from './rtp.js';

/**
 * One known point of the relation between a track's RTP clock and the recorder's
 * monotonic clock: RTP timestamp `rtpTimestamp` happened at `monoMs`.
 */
export interface ClockAnchor {
  /** When the anchor became known (arrival of the SR, or of the packet it came from). */
  arrivalMono: number;
  rtpTimestamp: number;
  monoMs: number;
}

/** Options for {@link TrackClock}. */
export interface TrackClockOptions {
  /** How many consecutive anchors are median-filtered against jitter (default 5). */
  smoothing?: number;
  /**
   * A mapped time further than this from the packet's arrival means the RTP
   * timestamps jumped (default 1000 ms); such frames are placed by arrival instead.
   */
  maxArrivalSkewMs?: number;
}

interface SmoothedAnchor {
  arrivalMono: number;
  rtpTimestamp: number;
  /** Monotonic ms at `rtpTimestamp`, after median filtering. */
  monoMs: number;
}

/**
 * Maps a track's RTP timestamps onto the recorder's monotonic clock.
 *
 * The anchors are mediasoup's sender reports when the journal has any, otherwise
 * anchors derived from arrival times ({@link arrivalAnchors}). A frame uses the latest
 * anchor that had arrived when the frame arrived (the first one for frames before
 * it), as a receiver would. Anchor offsets are median-filtered so that one
 * jittery report does not move the track, while clock drift is still followed.
 * Timestamp differences are taken modulo 2^32 from a nearby anchor, so the 32-bit
 * wrap-around needs no special case.
 */
export class TrackClock {
  readonly clockRate: number;
  readonly #anchors: SmoothedAnchor[];
  readonly #maxArrivalSkewMs: number;
  #cursor = 0;
  /** Typical arrival - mapped time, learned from frames that mapped sanely. */
  #lagMs: number | undefined;
  /** Frames placed by arrival because their RTP timestamp had jumped. */
  skewedFrames = 0;

  constructor(clockRate: number, anchors: readonly ClockAnchor[], options: TrackClockOptions = {}) {
    this.clockRate = clockRate;
    this.#maxArrivalSkewMs = options.maxArrivalSkewMs ?? 1000;
    this.#anchors = smoothAnchors(clockRate, [...anchors].sort((a, b) => a.arrivalMono - b.arrivalMono), options.smoothing ?? 5);
  }

  get hasAnchors(): boolean {
    return this.#anchors.length > 0;
  }

  /**
   * Monotonic ms of `rtpTimestamp` for a frame whose first packet arrived at
   * `arrivalMono`. Calls are expected in roughly increasing arrival order.
   */
  toMono(rtpTimestamp: number, arrivalMono: number): number {
    const anchors = this.#anchors;
    if (anchors.length === 0) return arrivalMono;
    while (this.#cursor + 1 < anchors.length && anchors[this.#cursor + 1]!.arrivalMono <= arrivalMono) this.#cursor++;
    while (this.#cursor > 0 && anchors[this.#cursor]!.arrivalMono > arrivalMono) this.#cursor--;
    const anchor = anchors[this.#cursor]!;
    const mapped = anchor.monoMs + (rtpTimestampDiff(rtpTimestamp, anchor.rtpTimestamp) * 1000) / this.clockRate;
    const lag = arrivalMono - mapped;
    if (Math.abs(lag) > this.#maxArrivalSkewMs) {
      this.skewedFrames++;
      return arrivalMono - (this.#lagMs ?? 0);
    }
    this.#lagMs = this.#lagMs === undefined ? lag : this.#lagMs + (lag - this.#lagMs) / 32;
    return mapped;
  }
}

function smoothAnchors(clockRate: number, sorted: readonly ClockAnchor[], window: number): SmoothedAnchor[] {
  if (sorted.length === 0) return [];
  // Offsets relative to the first anchor, on an unwrapped RTP axis.
  const first = sorted[0]!;
  const offsets: number[] = [];
  const extended: number[] = [];
  let previousExtended = 0;
  let previous = first;
  for (const anchor of sorted) {
    const ext = previousExtended + rtpTimestampDiff(anchor.rtpTimestamp, previous.rtpTimestamp);
    extended.push(ext);
    offsets.push(anchor.monoMs - first.monoMs - (ext * 1000) / clockRate);
    previousExtended = ext;
    previous = anchor;
  }
  return sorted.map((anchor, index) => {
    const from = Math.max(0, index - window + 1);
    const offset = median(offsets.slice(from, index + 1));
    return {
      arrivalMono: anchor.arrivalMono,
      rtpTimestamp: anchor.rtpTimestamp,
      monoMs: first.monoMs + offset + (extended[index]! * 1000) / clockRate,
    };
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/**
 * Builds anchors from arrival times alone, for a journal without sender reports:
 * for every `windowMs` of arrivals, the packet that arrived least late relative to
 * its RTP timestamp (the minimum of arrival - rtpTime) defines the clock, which
 * removes network and pacing jitter while still following drift.
 */
export class ArrivalAnchorCollector {
  readonly #clockRate: number;
  readonly #windowMs: number;
  readonly anchors: ClockAnchor[] = [];
  #windowStart: number | undefined;
  #best: { offset: number; rtpTimestamp: number; arrivalMono: number } | undefined;
  #reference: { rtpTimestamp: number; arrivalMono: number } | undefined;

  constructor(clockRate: number, windowMs = 2000) {
    this.#clockRate = clockRate;
    this.#windowMs = windowMs;
  }

  add(rtpTimestamp: number, arrivalMono: number): void {
    if (this.#windowStart === undefined || arrivalMono - this.#windowStart >= this.#windowMs) {
      this.#close();
      this.#windowStart = arrivalMono;
      this.#reference = { rtpTimestamp, arrivalMono };
    }
    const reference = this.#reference!;
    const offset = arrivalMono - (rtpTimestampDiff(rtpTimestamp, reference.rtpTimestamp) * 1000) / this.#clockRate;
    if (this.#best === undefined || offset < this.#best.offset) this.#best = { offset, rtpTimestamp, arrivalMono };
  }

  /** Closes the last window; call once after the last packet. */
  finish(): ClockAnchor[] {
    this.#close();
    return this.anchors;
  }

  #close(): void {
    if (this.#best === undefined || this.#windowStart === undefined) return;
    // The anchor applies from the start of its window, so frames are mapped with
    // the estimate from their own window.
    this.anchors.push({ arrivalMono: this.#windowStart, rtpTimestamp: this.#best.rtpTimestamp, monoMs: this.#best.arrivalMono });
    this.#best = undefined;
  }
}
