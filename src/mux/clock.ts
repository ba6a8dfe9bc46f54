import { rtpTimestampDiff } from './rtp.js';

/**
 * One known point of the relation between a track's RTP clock and the recorder's
 * monotonic clock: RTP timestamp `rtpTimestamp` happened at `monoMs`.
 */
export interface ClockAnchor {
  /** When the anchor became known: the arrival of its packet (or report). Anchors are kept in this order. */
  arrivalMono: number;
  rtpTimestamp: number;
  monoMs: number;
}

/** Options for {@link TrackClock}. */
export interface TrackClockOptions {
  /**
   * A mapped time further than this from the packet's arrival means the RTP
   * timestamps jumped (default 1000 ms); such frames are placed by arrival instead.
   */
  maxArrivalSkewMs?: number;
}

/**
 * How fast the mapping may move back against the media, as a fraction of elapsed time:
 * 5 % keeps 30 fps frames at least 31 ms apart while the delay falls.
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
 * Maps a track's RTP timestamps onto the recorder's monotonic clock, through anchors
 * (normally the lower envelope of the track's arrivals, from {@link ArrivalAnchorCollector}).
 *
 * The offset is interpolated between anchors along the media's own time: a frame held
 * up on the way gets the offset of its media time, as the other tracks' media of that
 * instant do. Where the offset rises the mapping follows at once, which only spreads
 * frames apart; where it falls, the mapping is lowered ahead of the fall by at most
 * {@link MAX_SLEW_RATE} of elapsed time, so frames never step backwards and the new
 * offset is reached where it shows. A track that starts after a change of the delay is
 * thus mapped like one that ran through it. Clock drift is followed. Timestamp
 * differences are taken modulo 2^32 from a nearby anchor, so the 32-bit wrap-around
 * needs no special case.
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
    const sorted = [...anchors].sort((a, b) => a.arrivalMono - b.arrivalMono); // stable: equal arrivals keep their order
    this.#anchors = filterAnchors(clockRate, sorted, this.#maxArrivalSkewMs);
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
    // No media arrives before its time: the anchors known by the arrival are the candidates...
    while (this.#cursor + 1 < anchors.length && anchors[this.#cursor + 1]!.arrivalMono <= arrivalMono) this.#cursor++;
    while (this.#cursor > 0 && anchors[this.#cursor]!.arrivalMono > arrivalMono) this.#cursor--;
    // ...and a frame held up on the way belongs, by its media time, with an earlier one.
    while (this.#cursor > 0 && anchors[this.#cursor - 1]!.continuesToNext && rtpTimestampDiff(rtpTimestamp, anchors[this.#cursor]!.rtpTimestamp) < 0) this.#cursor--;
    const anchor = anchors[this.#cursor]!;
    const next = anchors[this.#cursor + 1];
    const sinceAnchor = rtpTimestampDiff(rtpTimestamp, anchor.rtpTimestamp);
    const unslewed = anchor.monoMs + (sinceAnchor * 1000) / this.clockRate;
    let slew = 0;
    if (next && anchor.continuesToNext) {
      // Interpolated along the media's own time, not by when it arrived.
      const span = rtpTimestampDiff(next.rtpTimestamp, anchor.rtpTimestamp);
      const progress = span > 0 ? Math.min(1, Math.max(0, sinceAnchor / span)) : 0;
      slew = progress * (next.offsetMs - anchor.offsetMs);
    }
    const mapped = unslewed + slew;
    const lag = arrivalMono - mapped;
    if (Math.abs(lag) > this.#maxArrivalSkewMs) {
      this.skewedFrames++;
      return arrivalMono - (this.#lagMs ?? 0);
    }
    this.#lagMs = this.#lagMs === undefined ? lag : this.#lagMs + (lag - this.#lagMs) / 32;
    return mapped;
  }
}

function filterAnchors(clockRate: number, sorted: readonly ClockAnchor[], maxJumpMs: number): FilteredAnchor[] {
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
  // A timestamp jump starts a new segment: nothing is slewed across one.
  const continues = offsets.map((offset, i) => i + 1 < offsets.length && Math.abs(offsets[i + 1]! - offset) <= maxJumpMs);
  const mediaMs = extended.map((ticks) => (ticks * 1000) / clockRate);
  const lowered = lowerAhead(offsets, mediaMs, continues);
  const filtered: FilteredAnchor[] = [];
  const add = (arrivalMono: number, extendedTicks: number, offsetMs: number, continuesToNext: boolean) =>
    filtered.push({
      arrivalMono,
      rtpTimestamp: (first.rtpTimestamp + extendedTicks) >>> 0,
      offsetMs,
      monoMs: first.monoMs + offsetMs + (extendedTicks * 1000) / clockRate,
      continuesToNext,
    });
  for (let i = 0; i < sorted.length; i++) {
    add(sorted[i]!.arrivalMono, extended[i]!, lowered[i]!, continues[i]!);
    // A fall that is spread over more media time than the slew needs starts where the slew
    // from the next anchor meets this one's offset, not at this anchor: where the anchors
    // happen to lie must not decide where the mapping moves.
    if (!continues[i]) continue;
    const corner = mediaMs[i + 1]! - (lowered[i]! - lowered[i + 1]!) / MAX_SLEW_RATE;
    if (lowered[i]! > lowered[i + 1]! && corner > mediaMs[i]! + 1) {
      const share = (corner - mediaMs[i]!) / (mediaMs[i + 1]! - mediaMs[i]!);
      add(sorted[i]!.arrivalMono + share * (sorted[i + 1]!.arrivalMono - sorted[i]!.arrivalMono), Math.round((corner * clockRate) / 1000), lowered[i]!, true);
    }
  }
  return filtered;
}

/**
 * Where the offset falls, lowers the anchors before the fall so that it falls at most
 * {@link MAX_SLEW_RATE} of the media time in between (`mediaMs`): the mapping reaches
 * the lower offset by the anchor that shows it and never moves frames backwards. Rises
 * are left as they are. Timestamp jumps (`continues[i]` false) are left as steps.
 */
function lowerAhead(offsets: readonly number[], mediaMs: readonly number[], continues: readonly boolean[]): number[] {
  const lowered = [...offsets];
  for (let i = offsets.length - 2; i >= 0; i--) {
    if (continues[i]) lowered[i] = Math.min(offsets[i]!, lowered[i + 1]! + MAX_SLEW_RATE * Math.max(0, mediaMs[i + 1]! - mediaMs[i]!));
  }
  return lowered;
}

/** How far on either side of a packet {@link ArrivalAnchorCollector} looks for less delayed ones, in ms. */
export const ARRIVAL_ENVELOPE_MS = 2000;

/** Within this much of a track's first or last packet, only the other side of the envelope counts (ms). */
const ENVELOPE_EDGE_MS = 250;

/** An anchor is added when the envelope moves by more than this (ms), and at least every second of media. */
const ENVELOPE_RESOLUTION_MS = 1;

interface ArrivalSample {
  /** Order of arrival. */
  index: number;
  arrivalMono: number;
  rtpTimestamp: number;
  /** RTP time since the track's first packet, ms (unwrapped). */
  mediaMs: number;
  /** Arrival minus media time: the packet's delay, up to a constant. */
  offsetMs: number;
}

/**
 * Builds a track's clock anchors from its arrival times, as a lower envelope: delay on
 * the way (the network, a busy sender, mediasoup's worker, the recorder's own capture
 * thread) only ever adds to an arrival, so the least delayed packets tell when the
 * media was sent. A packet's estimate is the larger of the least delay in the two
 * seconds of arrivals before it and the least delay in the two seconds after it: a
 * burst or stall shorter than that has an undelayed packet on both sides and changes
 * nothing, while a lasting change of the delay shows from the first packet after it on,
 * on every track alike, whenever each track started. Within a quarter of a second of a
 * track's first or last packet only the other side counts, so a track's first or last
 * packets, held up, do not set its clock.
 *
 * mediasoup's sender reports are not used: the worker extrapolates each from the last
 * packet it received, so a report is one arrival sample, with whatever delay that packet
 * met, and audio gets one only every 5 s.
 *
 * Memory is bounded by the packets of four seconds; anchors are kept where the envelope
 * moves and at least once a second.
 */
export class ArrivalAnchorCollector {
  readonly #clockRate: number;
  readonly #envelopeMs: number;
  readonly #anchors: ClockAnchor[] = [];
  /** Samples whose envelope after them is not complete yet, oldest first. */
  readonly #pending: ArrivalSample[] = [];
  /** Deques with increasing offsets, so the front is the least delay before / after the packet being estimated. */
  readonly #before: ArrivalSample[] = [];
  readonly #after: ArrivalSample[] = [];
  #firstArrival: number | undefined;
  #last: ArrivalSample | undefined;
  /** The last anchor kept, and the packet estimated before the current one. */
  #kept: { mediaMs: number; offsetMs: number } | undefined;
  #previous: { sample: ArrivalSample; estimate: number; kept: boolean } | undefined;

  constructor(clockRate: number, envelopeMs = ARRIVAL_ENVELOPE_MS) {
    this.#clockRate = clockRate;
    this.#envelopeMs = envelopeMs;
  }

  /** Adds one media packet; packets come in arrival order (a journal's order). */
  add(rtpTimestamp: number, arrivalMono: number): void {
    const last = this.#last;
    // The later packets of a video frame arrive after its first: they never lower the envelope.
    if (last && last.rtpTimestamp === rtpTimestamp) return;
    const mediaMs = last ? last.mediaMs + (rtpTimestampDiff(rtpTimestamp, last.rtpTimestamp) * 1000) / this.#clockRate : 0;
    const sample: ArrivalSample = { index: (last?.index ?? -1) + 1, arrivalMono, rtpTimestamp, mediaMs, offsetMs: arrivalMono - mediaMs };
    this.#firstArrival ??= arrivalMono;
    this.#last = sample;
    while (this.#pending.length > 0 && arrivalMono > this.#pending[0]!.arrivalMono + this.#envelopeMs) this.#estimate(this.#pending.shift()!, true);
    pushKeepingMinimum(this.#after, sample);
    this.#pending.push(sample);
  }

  /** Estimates the last packets; call once after the last packet. */
  finish(): ClockAnchor[] {
    const lastArrival = this.#last?.arrivalMono ?? 0;
    while (this.#pending.length > 0) {
      const sample = this.#pending.shift()!;
      this.#estimate(sample, lastArrival - sample.arrivalMono >= ENVELOPE_EDGE_MS);
    }
    // The mapping runs to the last packet.
    if (this.#previous && !this.#previous.kept) this.#keep(this.#previous.sample, this.#previous.estimate);
    this.#previous = undefined;
    return this.#anchors;
  }

  /** `useAfter`: enough packets follow this one for the least delay after it to count. */
  #estimate(sample: ArrivalSample, useAfter: boolean): void {
    pushKeepingMinimum(this.#before, sample);
    while (this.#before[0]!.arrivalMono < sample.arrivalMono - this.#envelopeMs) this.#before.shift();
    while (this.#after[0]!.index < sample.index) this.#after.shift();
    const before = this.#before[0]!.offsetMs;
    const after = this.#after[0]!.offsetMs;
    const useBefore = sample.arrivalMono - this.#firstArrival! >= ENVELOPE_EDGE_MS;
    let estimate: number;
    if (useBefore && useAfter) estimate = Math.max(before, after);
    else if (useAfter) estimate = after;
    else if (useBefore) estimate = before;
    else estimate = Math.min(before, after);
    const kept = this.#kept;
    const moved = kept !== undefined && Math.abs(estimate - kept.offsetMs) > ENVELOPE_RESOLUTION_MS;
    const keep = kept === undefined || moved || sample.mediaMs - kept.mediaMs >= 1000;
    // The envelope held until the packet before: keep that point too, so a change stays as sharp as it was.
    if (moved && this.#previous && !this.#previous.kept) this.#keep(this.#previous.sample, this.#previous.estimate);
    if (keep) this.#keep(sample, estimate);
    this.#previous = { sample, estimate, kept: keep };
  }

  #keep(sample: ArrivalSample, estimate: number): void {
    const monoMs = sample.mediaMs + estimate;
    this.#anchors.push({ arrivalMono: sample.arrivalMono, rtpTimestamp: sample.rtpTimestamp, monoMs });
    this.#kept = { mediaMs: sample.mediaMs, offsetMs: estimate };
  }
}

/** Appends to a deque kept increasing in offset: what the new sample outlasts and undercuts can never be the least again. */
function pushKeepingMinimum(deque: ArrivalSample[], sample: ArrivalSample): void {
  while (deque.length > 0 && deque[deque.length - 1]!.offsetMs >= sample.offsetMs) deque.pop();
  deque.push(sample);
}
