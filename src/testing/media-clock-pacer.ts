/**
 * Releases RTP packets at the instant their media time says, plus a fixed delay.
 *
 * ffmpeg hands out audio as soon as the Opus encoder is done and video only after
 * the video encoder is, so on the wire the video of an instant trails its audio by
 * 4–40 ms depending on CPU load. A real client's capture-to-wire delay is about the
 * same for both; pacing every track to one media clock reproduces that, so what a
 * recording shows of A/V sync is the recorder's doing, not the load generator's.
 */
export class MediaClockPacer {
  readonly #delayMs: number;
  readonly #clocks = new Map<number, { clockRate: number; firstTs: number }>();
  /** Pending packets, ordered by due time (a few dozen at most: delay × packet rate). */
  #queue: Array<{ due: number; packet: Buffer; send: (packet: Buffer) => void }> = [];
  #anchor: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(delayMs = 80) {
    this.#delayMs = delayMs;
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
    const now = performance.now();
    // Unsigned 32-bit distance from the first timestamp: wraps around cleanly.
    const mediaMs = (((timestamp - clock.firstTs) >>> 0) / clock.clockRate) * 1000;
    this.#anchor ??= now + this.#delayMs;
    let due = this.#anchor + mediaMs;
    if (now - due > this.#delayMs / 2) {
      // The source fell behind (CPU starvation): shift every stream together, so they
      // stay in step with each other even though the wall clock moved on.
      this.#anchor += now - due;
      due = now;
    }
    let index = this.#queue.length;
    while (index > 0 && this.#queue[index - 1]!.due > due) index--;
    this.#queue.splice(index, 0, { due, packet, send });
    this.#schedule();
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#queue = [];
  }

  #schedule(): void {
    if (this.#timer || this.#queue.length === 0) return;
    const wait = Math.max(0, this.#queue[0]!.due - performance.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#release();
    }, wait);
  }

  #release(): void {
    const now = performance.now();
    let released = 0;
    while (released < this.#queue.length && this.#queue[released]!.due <= now + 0.5) released++;
    const due = this.#queue.splice(0, released);
    for (const item of due) item.send(item.packet);
    this.#schedule();
  }
}
