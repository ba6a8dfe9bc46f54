import { describe, expect, it } from 'vitest';
import { MediaClockPacer, type PacerClock } from '../../src/testing/media-clock-pacer.js';

/** A clock that only moves when told to, running the pacer's timers on the way. */
class ManualClock implements PacerClock {
  #now = 0;
  #timers: Array<{ due: number; callback: () => void }> = [];
  now(): number {
    return this.#now;
  }
  setTimer(callback: () => void, delayMs: number): unknown {
    const timer = { due: this.#now + delayMs, callback };
    this.#timers.push(timer);
    return timer;
  }
  clearTimer(timer: unknown): void {
    this.#timers = this.#timers.filter((t) => t !== timer);
  }
  /** Moves to `to`, firing every timer due on the way in order. */
  advanceTo(to: number): void {
    for (;;) {
      const next = this.#timers.filter((t) => t.due <= to).sort((a, b) => a.due - b.due)[0];
      if (!next) break;
      this.#timers = this.#timers.filter((t) => t !== next);
      this.#now = Math.max(this.#now, next.due);
      next.callback();
    }
    this.#now = to;
  }
}

const STREAMS = [
  { ssrc: 1, clockRate: 48_000, frameMs: 20 },
  { ssrc: 2, clockRate: 90_000, frameMs: 1000 / 30 },
];

/**
 * Feeds both streams' packets to a pacer as a source would hand them over: media time t
 * comes in at `handedOverAt(t)`. Returns, per packet, its media time and when it went out.
 */
function pace(durationMs: number, handedOverAt: (mediaMs: number) => number): Array<{ ssrc: number; mediaMs: number; sentAt: number }> {
  const clock = new ManualClock();
  const pacer = new MediaClockPacer({ delayMs: 80, clock });
  const packets = STREAMS.flatMap((stream) => {
    const list: Array<{ ssrc: number; clockRate: number; mediaMs: number; at: number }> = [];
    for (let mediaMs = 0; mediaMs < durationMs; mediaMs += stream.frameMs) list.push({ ...stream, mediaMs, at: handedOverAt(mediaMs) });
    return list;
  }).sort((a, b) => a.at - b.at);
  const sent: Array<{ ssrc: number; mediaMs: number; sentAt: number }> = [];
  for (const packet of packets) {
    clock.advanceTo(packet.at);
    const data = Buffer.alloc(12);
    data.writeUInt32BE(Math.round((packet.mediaMs * packet.clockRate) / 1000) >>> 0, 4);
    pacer.push(packet.ssrc, packet.clockRate, data, () => sent.push({ ssrc: packet.ssrc, mediaMs: packet.mediaMs, sentAt: clock.now() }));
  }
  clock.advanceTo(durationMs + 10_000);
  pacer.close();
  return sent;
}

/** How far behind its media time each packet went out, relative to the first packet's. */
const lateness = (sent: ReturnType<typeof pace>) => sent.map((p) => ({ ...p, behindMs: p.sentAt - p.mediaMs - (sent[0]!.sentAt - sent[0]!.mediaMs) }));

describe('MediaClockPacer: the synthetic peer releases media on its media clock', () => {
  it('sends what a stall held up at once and keeps the schedule: the stall does not delay the rest for good', () => {
    // The encoder hands every packet over 10 ms after its media time, except that it stalled
    // from 2 s to 2.3 s of media (200 ms past what the pacer's 80 ms delay absorbs).
    const sent = lateness(pace(6000, (t) => (t >= 2000 && t < 2300 ? 2300 + 10 + 150 : t + 10)));
    const held = sent.filter((p) => p.mediaMs >= 2000 && p.mediaMs < 2300);
    const after = sent.filter((p) => p.mediaMs >= 2600);
    expect(held.length).toBeGreaterThan(20);
    // Held up packets go out as they come in, in one burst, audio and video alike.
    for (const p of held) expect(p.sentAt).toBeCloseTo(2460, 6);
    // Everything after the burst is back on the media clock, as before the stall.
    for (const p of after) expect(Math.abs(p.behindMs)).toBeLessThan(0.5);
  });

  it('moves every stream later together when the source stays late (an encoder slower than real time)', () => {
    // From 1 s on the source hands packets over 150 ms late for good.
    const sent = lateness(pace(8000, (t) => t + 10 + (t >= 1000 ? 150 : 0)));
    const settled = sent.filter((p) => p.mediaMs >= 4000);
    const behind = settled.map((p) => p.behindMs);
    // Once moved, the schedule holds again: every packet of both streams equally far behind.
    expect(Math.max(...behind) - Math.min(...behind)).toBeLessThan(0.5);
    // By what the 80 ms of pacing delay could not absorb: 150 ms late, 10 ms of it already allowed for.
    expect(behind[0]).toBeCloseTo(70, 0);
    expect(new Set(settled.map((p) => p.ssrc)).size).toBe(2);
  });
});
