import type { Interval } from './stream-result.js';

/** Sorts and merges overlapping or touching intervals; drops empty ones. */
export function mergeIntervals(intervals: readonly Interval[]): Interval[] {
  const sorted = intervals.filter((i) => i.to > i.from).sort((a, b) => a.from - b.from);
  const out: Interval[] = [];
  for (const interval of sorted) {
    const last = out[out.length - 1];
    if (last && interval.from <= last.to) last.to = Math.max(last.to, interval.to);
    else out.push({ ...interval });
  }
  return out;
}

/** `within` minus `holes` (both merged first). */
export function subtractIntervals(within: readonly Interval[], holes: readonly Interval[]): Interval[] {
  const out: Interval[] = [];
  const cuts = mergeIntervals(holes);
  for (const base of mergeIntervals(within)) {
    let from = base.from;
    for (const hole of cuts) {
      if (hole.to <= from || hole.from >= base.to) continue;
      if (hole.from > from) out.push({ from, to: hole.from });
      from = Math.max(from, hole.to);
    }
    if (from < base.to) out.push({ from, to: base.to });
  }
  return out;
}

/** Intervals clipped to `[from, to)`. */
export function clipIntervals(intervals: readonly Interval[], from: number, to: number): Interval[] {
  return mergeIntervals(intervals.map((i) => ({ from: Math.max(i.from, from), to: Math.min(i.to, to) })));
}

/** Whether `t` lies in one of the intervals. */
export function inIntervals(intervals: readonly Interval[], t: number): boolean {
  return intervals.some((i) => t >= i.from && t < i.to);
}

/** Whether any interval overlaps `(from, to)` or starts inside it. */
export function touchesIntervals(intervals: readonly Interval[], from: number, to: number): boolean {
  return intervals.some((i) => i.from < to && i.to > from);
}

/** Total length of `cuts` before `t` (the part of each cut that lies before `t`). */
export function cutBefore(cuts: readonly Interval[], t: number): number {
  let total = 0;
  for (const cut of cuts) {
    if (cut.from >= t) continue;
    total += Math.min(cut.to, t) - cut.from;
  }
  return total;
}

/** Sum of the lengths of (merged) intervals. */
export function totalLength(intervals: readonly Interval[]): number {
  return mergeIntervals(intervals).reduce((sum, i) => sum + (i.to - i.from), 0);
}
