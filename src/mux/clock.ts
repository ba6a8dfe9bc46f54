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
  /** How many neighbouring anchors, centred on each one, are median-filtered (default 9). */
  smoothing?: number;
  /**
   * A mapped time further than this from the packet's arrival means the RTP
   * timestamps jumped (default 1000 ms); such frames are placed by arrival instead.
   */
  maxArrivalSkewMs?: number;
}

/**
 * How fast the mapping may move against the media, as a fraction of elapsed time: 5 %
 * keeps 30 fps frames at least 31 ms apart while a step in the reports is slewed out.
 */
const MAX_SLEW_RATE = 0.05;

interface FilteredAnchor {
  arrivalMono: number;
  rtpTimestamp: number;
  /** Filtered monotonic ms minus RTP time, relative to the first anchor. */
  offsetMs: number;
  /** Filtered monotonic ms at `rtpTimestamp`. */
  monoMs: number;
  /** False where the RTP timestamps jumped before the next anchor: there the mapping steps. */
  continuesToNext: boolean;
}

/**
 * Maps a track's RTP timestamps onto the recorder's monotonic clock.
 *
 * The anchors are mediasoup's sender reports when the journal has any, otherwise
 * anchors derived from arrival times ({@link ArrivalAnchorCollector}). Finalisation has all
 * of a track's anchors, so each anchor's offset is the median of its neighbours on
 * both sides: a biased report (the first ones often are, taken while a keyframe is
 * paced out) is outvoted by the later ones instead of ruling the first seconds alone.
 * Between anchors the offset is interpolated in arrival time and its slope bounded,
 * so mapped times are continuous and never step backwards; clock drift is still
 * followed. Timestamp differences are taken modulo 2^32 from a nearby anchor, so the
 * 32-bit wrap-around needs no special case.
 */
export class TrackClock {
  readonly clockRate: number;
  readonly #anchors: FilteredAnchor[];
  readonly #maxArrivalSkewMs: number;
  #cursor = 0;
  /** Typical arrival - mapped time, learned from frames that mapped sanely. */
  #lagMs: number | undefined;
  /** Frames placed by arrival because their RTP timestamp had jumped. */
  skewedFrames = 0;

  constructor(clockRate: number, anchors: readonly ClockAnchor[], options: TrackClockOptions = {}) {
    this.clockRate = clockRate;
    this.#maxArrivalSkewMs = options.maxArrivalSkewMs ?? 1000;
    const sorted = [...anchors].sort((a, b) => a.arrivalMono - b.arrivalMono);
    this.#anchors = filterAnchors(clockRate, sorted, options.smoothing ?? 9, this.#maxArrivalSkewMs);
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
    const next = anchors[this.#cursor + 1];
    let slew = 0;
    if (next && anchor.continuesToNext && arrivalMono > anchor.arrivalMono) {
      const progress = (arrivalMono - anchor.arrivalMono) / (next.arrivalMono - anchor.arrivalMono);
      slew = progress * (next.offsetMs - anchor.offsetMs);
    }
    const mapped = anchor.monoMs + slew + (rtpTimestampDiff(rtpTimestamp, anchor.rtpTimestamp) * 1000) / this.clockRate;
    const lag = arrivalMono - mapped;
    if (Math.abs(lag) > this.#maxArrivalSkewMs) {
      this.skewedFrames++;
      return arrivalMono - (this.#lagMs ?? 0);
    }
    this.#lagMs = this.#lagMs === undefined ? lag : this.#lagMs + (lag - this.#lagMs) / 32;
    return mapped;
  }
}

function filterAnchors(clockRate: number, sorted: readonly ClockAnchor[], window: number, maxJumpMs: number): FilteredAnchor[] {
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
  // A window of constant size, shifted inwards at the ends, so the first anchors get as many votes as the others.
  const size = Math.min(window, sorted.length);
  const medians = offsets.map((_, index) => {
    const from = Math.min(Math.max(0, index - (size >> 1)), sorted.length - size);
    return median(offsets.slice(from, from + size));
  });
  const continues = medians.map((offset, index) => index + 1 < medians.length && Math.abs(medians[index + 1]! - offset) <= maxJumpMs);
  const slewed = limitSlope(medians, sorted.map((a) => a.arrivalMono), continues);
  return sorted.map((anchor, index) => ({
    arrivalMono: anchor.arrivalMono,
    rtpTimestamp: anchor.rtpTimestamp,
    offsetMs: slewed[index]!,
    monoMs: first.monoMs + slewed[index]! + (extended[index]! * 1000) / clockRate,
    continuesToNext: continues[index]!,
  }));
}

/**
 * Bounds the slope of the offsets over arrival time to {@link MAX_SLEW_RATE}. The mean of
 * a forward and a backward rate-limited pass stays within the bound and centres each
 * slew on the step it smooths, rather than lagging behind it. Timestamp jumps
 * (`continues[i]` false) are left as steps.
 */
function limitSlope(offsets: readonly number[], arrivals: readonly number[], continues: readonly boolean[]): number[] {
  /** `offsets[i]`, moved to within the bound of `neighbour`, the limited offset of anchor `i ± 1`. */
  const limited = (i: number, neighbour: number, neighbourIndex: number) => {
    const room = MAX_SLEW_RATE * Math.abs(arrivals[i]! - arrivals[neighbourIndex]!);
    return Math.min(Math.max(offsets[i]!, neighbour - room), neighbour + room);
  };
  const forward = [...offsets];
  for (let i = 1; i < offsets.length; i++) if (continues[i - 1]) forward[i] = limited(i, forward[i - 1]!, i - 1);
  const backward = [...offsets];
  for (let i = offsets.length - 2; i >= 0; i--) if (continues[i]) backward[i] = limited(i, backward[i + 1]!, i + 1);
  return offsets.map((_, i) => (forward[i]! + backward[i]!) / 2);
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
