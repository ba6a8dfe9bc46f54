/** The clock and timer a {@link MediaClockPacer} runs on; real time unless a test supplies its own. */
export interface PacerClock {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  setTimer(callback: () => void, delayMs: number): unknown;
  clearTimer(timer: unknown): void;
}

const realClock: PacerClock = {
  now: () => performance.now(),
  setTimer: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimer: (timer) => clearTimeout(timer as NodeJS.Timeout),
};

/** Options of {@link MediaClockPacer}. */
export interface MediaClockPacerOptions {
  /** How far behind its media clock every packet is released. Default 80 ms. */
  delayMs?: number;
  /**
   * How long the source must stay late (every packet more than half the delay) before
   * the schedule is moved later for good. Default 2000 ms.
   */
  persistentLatenessMs?: number;
  clock?: PacerClock;
}

/**
 * Releases RTP packets at the instant their media time says, plus a fixed delay.
 *
 * ffmpeg hands out audio as soon as the Opus encoder is done and video only after
 * the video encoder is, so on the wire the video of an instant trails its audio by
 * 4–40 ms depending on CPU load. A real client's capture-to-wire delay is about the
 * same for both; pacing every track to one media clock reproduces that, so what a
 * recording shows of A/V sync is the recorder's doing, not the load generator's.
 *
 * A packet that comes in after its due time (ffmpeg or this event loop was starved for
 * a moment) goes out at once and the schedule stays: ffmpeg's `-re` catches up after a
 * stall, and a client's late packets are a burst, not a lasting delay. Only a source
 * that stays late (an encoder slower than real time) moves the schedule, and for every
 * stream at once, so the streams stay in step with each other.
 */
export class MediaClockPacer {
  readonly #delayMs: number;
  readonly #persistentLatenessMs: number;
  readonly #clock: PacerClock;
  readonly #clocks = new Map<number, { clockRate: number; firstTs: number }>();
  /** Pending packets, ordered by due time (a few dozen at most: delay × packet rate). */
  #queue: Array<{ due: number; packet: Buffer; send: (packet: Buffer) => void }> = [];
  #anchor: number | undefined;
  /** Since when every packet came in late, and the least it was late by. */
  #late: { since: number; leastMs: number } | undefined;
  #timer: unknown;
  /** When the pending timer fires. */
  #timerDue = Number.POSITIVE_INFINITY;
  #closed = false;

  constructor(options: MediaClockPacerOptions = {}) {
    this.#delayMs = options.delayMs ?? 80;
    this.#persistentLatenessMs = options.persistentLatenessMs ?? 2000;
    this.#clock = options.clock ?? realClock;
  }

  /**
   * Queues one RTP packet of the stream `ssrc` (RTP clock `clockRate`); `send` is
   * called when it is due. Every stream's first packet is media time 0: one ffmpeg
   * graph starts all its outputs at 0.
   */
  push(ssrc: number, clockRate: number, packet: Buffer, send: (packet: Buffer) => void): void {
    if (this.#closed) return;
    const timestamp = packet.readUInt32BE(4);
    let clock = this.#clocks.get(ssrc);
    if (!clock) {
      clock = { clockRate, firstTs: timestamp };
      this.#clocks.set(ssrc, clock);
    }
    const now = this.#clock.now();
    // Unsigned 32-bit distance from the first timestamp: wraps around cleanly.
    const mediaMs = (((timestamp - clock.firstTs) >>> 0) / clock.clockRate) * 1000;
    this.#anchor ??= now + this.#delayMs;
    let due = this.#anchor + mediaMs;
    const lateMs = now - due;
    if (lateMs > this.#delayMs / 2) {
      this.#late = this.#late ? { since: this.#late.since, leastMs: Math.min(this.#late.leastMs, lateMs) } : { since: now, leastMs: lateMs };
      if (now - this.#late.since >= this.#persistentLatenessMs) {
        // The source cannot keep up: every stream moves later together, by the least lateness seen.
        this.#anchor += this.#late.leastMs;
        this.#late = undefined;
      }
      due = now;
    } else {
      this.#late = undefined;
    }
    let index = this.#queue.length;
    while (index > 0 && this.#queue[index - 1]!.due > due) index--;
    this.#queue.splice(index, 0, { due, packet, send });
    this.#schedule();
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#timer = undefined;
    this.#queue = [];
  }

  #schedule(): void {
    if (this.#queue.length === 0) return;
    const due = this.#queue[0]!.due;
    // A late packet goes to the head of the queue: it must not wait for the timer of a later one.
    if (this.#timer !== undefined && this.#timerDue <= due) return;
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#timerDue = due;
    this.#timer = this.#clock.setTimer(() => {
      this.#timer = undefined;
      this.#timerDue = Number.POSITIVE_INFINITY;
      this.#release();
    }, Math.max(0, due - this.#clock.now()));
  }

  #release(): void {
    const now = this.#clock.now();
    let released = 0;
    while (released < this.#queue.length && this.#queue[released]!.due <= now + 0.5) released++;
    const due = this.#queue.splice(0, released);
    for (const item of due) item.send(item.packet);
    this.#schedule();
  }
}
