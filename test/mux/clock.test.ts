import { describe, expect, it } from 'vitest';
import { TrackClock, type ClockAnchor } from '../../src/mux/clock.js';
import { seededRandom } from '../helpers/mux-session.js';

/** Monotonic ms of RTP timestamp 0: the truth every test maps against. */
const ORIGIN_MONO = 10_000;
const VIDEO_RATE = 90_000;

/**
 * Sender reports every 0.5..1.5 s (mediasoup's randomised RTCP interval) for `durationMs` of media,
 * each `biasMs(t)` off the truth, where t is the media time of the report.
 */
function senderReports(durationMs: number, biasMs: (t: number, index: number) => number, seed = 1): ClockAnchor[] {
  const random = seededRandom(seed);
  const anchors: ClockAnchor[] = [];
  for (let t = 300; t < durationMs; t += 500 + random() * 1000) {
    const bias = biasMs(t, anchors.length);
    anchors.push({ arrivalMono: ORIGIN_MONO + t + 1, rtpTimestamp: Math.round((t * VIDEO_RATE) / 1000) >>> 0, monoMs: ORIGIN_MONO + t + bias });
  }
  return anchors;
}

/** Maps a 30 fps sequence (arrivals 3..6 ms after capture) and returns truth and mapping per frame. */
function mapFrames(clock: TrackClock, durationMs: number, seed = 2): Array<{ truth: number; mapped: number }> {
  const random = seededRandom(seed);
  const frames: Array<{ truth: number; mapped: number }> = [];
  for (let frame = 0; (frame * 1000) / 30 < durationMs; frame++) {
    const rtpTimestamp = frame * 3000;
    const truth = ORIGIN_MONO + (rtpTimestamp * 1000) / VIDEO_RATE;
    frames.push({ truth, mapped: clock.toMono(rtpTimestamp, truth + 3 + random() * 3) });
  }
  return frames;
}

function smallestSpacing(frames: Array<{ mapped: number }>): number {
  let smallest = Number.POSITIVE_INFINITY;
  for (let i = 1; i < frames.length; i++) smallest = Math.min(smallest, frames[i]!.mapped - frames[i - 1]!.mapped);
  return smallest;
}

function largestError(frames: Array<{ truth: number; mapped: number }>): number {
  return frames.reduce((max, f) => Math.max(max, Math.abs(f.mapped - f.truth)), 0);
}

describe('TrackClock: centred filtering and continuous mapping', () => {
  it('outvotes biased first sender reports: no backwards step, within 5 ms of the truth after the first second', () => {
    const random = seededRandom(3);
    const anchors = senderReports(12_000, (_t, index) => (index === 0 ? 120 : index === 1 ? -90 : random() * 2 - 1));
    const frames = mapFrames(new TrackClock(VIDEO_RATE, anchors), 12_000);
    const spacing = smallestSpacing(frames);
    const settled = largestError(frames.filter((f) => f.truth - ORIGIN_MONO >= 1000));
    console.info('biased first reports: smallest frame spacing (ms)', spacing.toFixed(2), 'max error after 1 s (ms)', settled.toFixed(2));
    expect(spacing).toBeGreaterThan(30);
    expect(settled).toBeLessThanOrEqual(5);
  });

  it('slews over a -60 ms step of the reports instead of stepping back, and converges within 20 ms', () => {
    const stepAt = 6000;
    const anchors = senderReports(14_000, (t) => (t < stepAt ? 0 : -60), 4);
    const frames = mapFrames(new TrackClock(VIDEO_RATE, anchors), 14_000);
    const truthOf = (f: { truth: number }) => f.truth + (f.truth - ORIGIN_MONO < stepAt ? 0 : -60);
    const errors = frames.map((f) => ({ t: f.truth - ORIGIN_MONO, error: f.mapped - truthOf(f) }));
    const spacing = smallestSpacing(frames);
    const settled = errors.filter((e) => Math.abs(e.t - stepAt) >= 1500).reduce((max, e) => Math.max(max, Math.abs(e.error)), 0);
    const transition = errors.reduce((max, e) => Math.max(max, Math.abs(e.error)), 0);
    console.info('-60 ms step: smallest frame spacing (ms)', spacing.toFixed(2), 'max error 1.5 s or more from the step (ms)', settled.toFixed(2), 'during the slew', transition.toFixed(2));
    expect(spacing).toBeGreaterThan(30); // at most 5 % slew against 33.3 ms frames
    expect(settled).toBeLessThanOrEqual(20);
    expect(transition).toBeLessThanOrEqual(60);
  });

  it('follows clock drift between reports without steps', () => {
    // The sender's RTP clock runs 100 ppm fast: the offset falls by 0.1 ms per second.
    const anchors = senderReports(20_000, (t) => -t * 1e-4, 5);
    const frames = mapFrames(new TrackClock(VIDEO_RATE, anchors), 20_000);
    const errors = frames.map((f) => Math.abs(f.mapped - (f.truth - (f.truth - ORIGIN_MONO) * 1e-4)));
    expect(Math.max(...errors)).toBeLessThan(0.5);
  });

  it('treats an RTP timestamp jump as a new segment, not as an offset to slew over', () => {
    // From 5 s on the sender's timestamps are 100 s ahead: reports and frames both jumped.
    const jump = 100_000 * 90;
    const anchors = senderReports(10_000, () => 0, 6).map((a) =>
      a.arrivalMono - ORIGIN_MONO < 5000 ? a : { ...a, rtpTimestamp: (a.rtpTimestamp + jump) >>> 0 },
    );
    const clock = new TrackClock(VIDEO_RATE, anchors);
    const late = anchors.find((a) => a.arrivalMono - ORIGIN_MONO > 6000)!;
    // A frame 0.5 s after a post-jump report maps by that report, exactly.
    expect(clock.toMono((late.rtpTimestamp + 45_000) >>> 0, late.arrivalMono + 500)).toBeCloseTo(late.monoMs + 500, 3);
    expect(clock.skewedFrames).toBe(0);
  });
});
