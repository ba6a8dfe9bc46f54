import type { Interval } from '../mux/stream-result.js';

/** Sorts and merges intervals, dropping empty ones. */
export function mergeIntervals(intervals: readonly Interval[]): Interval[] {
  const sorted = intervals.filter((i) => i.to > i.from).sort((a, b) => a.from - b.from);
  const merged: Interval[] = [];
  for (const interval of sorted) {
    const last = merged.at(-1);
    if (last && interval.from <= last.to) last.to = Math.max(last.to, interval.to);
    else merged.push({ ...interval });
  }
  return merged;
}

/** Total length of `intervals` (merged, sorted) inside [from, to). */
export function overlapMs(intervals: readonly Interval[], from: number, to: number): number {
  let total = 0;
  for (const i of intervals) {
    if (i.from >= to) break;
    total += Math.max(0, Math.min(i.to, to) - Math.max(i.from, from));
  }
  return total;
}

/** True when `at` lies inside one of `intervals` (`from` inclusive, `to` exclusive). */
export function inIntervals(intervals: readonly Interval[], at: number): boolean {
  return intervals.some((i) => at >= i.from && at < i.to);
}

/**
 * Maps the session's wall clock (epoch ms) onto composite time (ms from the start of
 * the output) with the cut intervals (recording pauses) removed, and back.
 */
export class TimeMap {
  readonly start: number;
  readonly end: number;
  readonly cuts: readonly Interval[];

  constructor(start: number, end: number, cuts: readonly Interval[]) {
    this.start = start;
    this.end = Math.max(start, end);
    this.cuts = mergeIntervals(cuts.map((c) => ({ from: Math.max(start, c.from), to: Math.min(this.end, c.to) })));
  }

  /** Composite duration in ms. */
  get durationMs(): number {
    return this.toOutput(this.end);
  }

  /** Composite time of a wall-clock instant; instants inside a cut map to the cut's position. */
  toOutput(wall: number): number {
    const w = Math.min(this.end, Math.max(this.start, wall));
    return w - this.start - overlapMs(this.cuts, this.start, w);
  }

  /** Wall-clock instant of a composite time; at a cut's position, the instant after the cut. */
  toWall(output: number): number {
    let wall = this.start + output;
    for (const cut of this.cuts) {
      if (cut.from <= wall) wall += cut.to - cut.from;
      else break;
    }
    return wall;
  }
}

/**
 * Position in a finalised stream's file of a wall-clock instant: the file's t = 0 is
 * `startedAt`, and the stream's own `cuts` are not in the file. Negative before the start.
 */
export function fileOffsetMs(stream: { startedAt: number; cuts: readonly Interval[] }, wall: number): number {
  if (wall <= stream.startedAt) return wall - stream.startedAt;
  return wall - stream.startedAt - overlapMs(mergeIntervals(stream.cuts), stream.startedAt, wall);
}
