import { describe, expect, it } from 'vitest';
import { ArrivalAnchorCollector, TrackClock, type ClockAnchor } from '../../src/mux/clock.js';
import { seededRandom } from '../helpers/mux-session.js';

/** Monotonic ms of RTP timestamp 0: the truth every test maps against. */
const ORIGIN_MONO = 10_000.25;
const VIDEO_RATE = 90_000;
const FRAME_MS = 1000 / 30;

/** Extra delay (ms) of the frame captured at media time `t` ms, on top of 3..6 ms of network and jitter. */
type Delay = (t: number) => number;

/**
 * A 30 fps track as the recorder receives it: each frame captured at its RTP time, arriving
 * 3..6 ms later plus `delay(t)`. Returns the frames in arrival order and the clock built from them.
 */
function receive(durationMs: number, delay: Delay, seed = 2): { clock: TrackClock; frames: Array<{ t: number; rtpTimestamp: number; arrival: number }> } {
  const random = seededRandom(seed);
  const frames: Array<{ t: number; rtpTimestamp: number; arrival: number }> = [];
  for (let frame = 0; frame * FRAME_MS < durationMs; frame++) {
    const t = frame * FRAME_MS;
    frames.push({ t, rtpTimestamp: frame * 3000, arrival: ORIGIN_MONO + t + 3 + random() * 3 + delay(t) });
  }
  frames.sort((a, b) => a.arrival - b.arrival);
  const collector = new ArrivalAnchorCollector(VIDEO_RATE);
  for (const frame of frames) collector.add(frame.rtpTimestamp, frame.arrival);
  return { clock: new TrackClock(VIDEO_RATE, collector.finish()), frames };
}

/** Maps every frame (in arrival order, as finalisation does) and returns its error against `truth(t)` ms of delay. */
function mapFrames(received: ReturnType<typeof receive>, truth: Delay): Array<{ t: number; mapped: number; error: number }> {
  return received.frames
    .map((f) => {
      const mapped = received.clock.toMono(f.rtpTimestamp, f.arrival);
      return { t: f.t, mapped, error: mapped - (ORIGIN_MONO + f.t + 3 + truth(f.t)) };
    })
    .sort((a, b) => a.t - b.t);
}

function smallestSpacing(frames: Array<{ mapped: number }>): number {
  let smallest = Number.POSITIVE_INFINITY;
  for (let i = 1; i < frames.length; i++) smallest = Math.min(smallest, frames[i]!.mapped - frames[i - 1]!.mapped);
  return smallest;
}

const largestError = (frames: Array<{ error: number }>) => frames.reduce((max, f) => Math.max(max, Math.abs(f.error)), 0);

describe('TrackClock: the lower envelope of the arrivals, continuous', () => {
  it('outvotes a second in which every frame was held up 150 ms: the frames keep their media time', () => {
    const held: Delay = (t) => (t >= 5200 && t < 6600 ? 150 : 0);
    const frames = mapFrames(receive(12_000, held), () => 0);
    console.info('every frame held up for 1.4 s: largest error (ms)', largestError(frames).toFixed(2), 'smallest spacing', smallestSpacing(frames).toFixed(2));
    expect(largestError(frames)).toBeLessThanOrEqual(3);
    expect(smallestSpacing(frames)).toBeGreaterThan(30);
  });

  it("does not let a track's first and last packets, held up, set its clock", () => {
    // A sender that starts or stops in a burst: its first and last 200 ms come 100 ms late.
    const ends: Delay = (t) => (t < 200 || t >= 11_800 ? 100 : 0);
    const frames = mapFrames(receive(12_000, ends), () => 0);
    console.info('held-up first and last packets: largest error (ms)', largestError(frames).toFixed(2));
    expect(largestError(frames)).toBeLessThanOrEqual(3);
  });

  it('ignores bursts: frames held up to 200 ms now and then map where their media belongs', () => {
    const random = seededRandom(9);
    const stalls: Array<[number, number]> = [];
    for (let at = 400; at < 12_000; at += 300 + random() * 900) stalls.push([at, (at += 50 + random() * 150)]);
    const burst: Delay = (t) => {
      const stall = stalls.find(([from, to]) => t >= from && t < to);
      return stall ? stall[1] - t : 0;
    };
    const frames = mapFrames(receive(12_000, burst), () => 0);
    console.info('bursts: largest error (ms)', largestError(frames).toFixed(2));
    expect(largestError(frames)).toBeLessThanOrEqual(3);
  });

  it('follows a lasting fall of the delay by 60 ms without moving frames backwards, and has reached it where it shows', () => {
    const fall: Delay = (t) => (t < 6000 ? 60 : 0);
    const frames = mapFrames(receive(14_000, fall), fall);
    const spacing = smallestSpacing(frames);
    const after = largestError(frames.filter((f) => f.t >= 7000));
    const before = largestError(frames.filter((f) => f.t < 4000));
    const transition = largestError(frames);
    console.info('-60 ms: smallest spacing (ms)', spacing.toFixed(2), 'largest error before, during, after (ms)', before.toFixed(2), transition.toFixed(2), after.toFixed(2));
    expect(spacing).toBeGreaterThan(30); // at most 5 % slew against 33.3 ms frames
    expect(before).toBeLessThanOrEqual(3);
    expect(after).toBeLessThanOrEqual(3);
    expect(transition).toBeLessThanOrEqual(60);
  });

  it('follows a lasting rise of the delay by 80 ms within a second, spreading frames instead of stepping', () => {
    const rise: Delay = (t) => (t < 6000 ? 0 : 80);
    const frames = mapFrames(receive(14_000, rise), rise);
    const spacing = smallestSpacing(frames);
    const settled = largestError(frames.filter((f) => f.t < 5000 || f.t >= 7000));
    console.info('+80 ms: smallest spacing (ms)', spacing.toFixed(2), 'largest error a second or more from the rise (ms)', settled.toFixed(2));
    expect(spacing).toBeGreaterThan(33);
    expect(settled).toBeLessThanOrEqual(3);
  });

  it('follows clock drift between windows without steps', () => {
    // The sender's RTP clock runs 100 ppm slow: the delay grows by 0.1 ms per second.
    const drift: Delay = (t) => t * 1e-4;
    const frames = mapFrames(receive(20_000, drift), drift);
    expect(largestError(frames)).toBeLessThan(3);
    expect(smallestSpacing(frames)).toBeGreaterThan(33);
  });

  it('treats an RTP timestamp jump as a new segment, not as an offset to slew over', () => {
    // From 5 s on the sender's timestamps are 100 s ahead: anchors and frames both jumped.
    const jump = 100_000 * 90;
    const anchors: ClockAnchor[] = [];
    for (let second = 0; second < 10; second++) {
      const t = second * 1000 + 300;
      const rtpTimestamp = (t * 90 + (second >= 5 ? jump : 0)) >>> 0;
      anchors.push({ arrivalMono: ORIGIN_MONO + second * 1000, rtpTimestamp, monoMs: ORIGIN_MONO + t + 3 });
    }
    const clock = new TrackClock(VIDEO_RATE, anchors);
    const late = anchors[7]!;
    // A frame 0.5 s after a post-jump anchor maps by that anchor, exactly.
    expect(clock.toMono((late.rtpTimestamp + 45_000) >>> 0, late.monoMs + 501)).toBeCloseTo(late.monoMs + 500, 3);
    expect(clock.skewedFrames).toBe(0);
  });
});
