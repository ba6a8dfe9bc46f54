/**
 * Watches one video track's RTP sequence numbers on the capture thread for losses
 * that were not recovered: a missing packet still missing `recoveryMs` after a later
 * one arrived. mediasoup repairs loss between the browser and itself with NACK/RTX
 * and forwards the repaired packets late, so a hole only counts once that had time to
 * happen. An unrecovered hole leaves the stream undecodable until the next keyframe,
 * which browsers (VP8/VP9) send only when asked.
 */
export class LossWatch {
  readonly #recoveryMs: number;
  /** Extended sequence number -> arrival time of the packet that revealed the hole. */
  readonly #missing = new Map<number, number>();
  #highest: number | undefined;
  /** Unrecovered losses reported so far. */
  unrecovered = 0;

  constructor(recoveryMs = 400) {
    this.#recoveryMs = recoveryMs;
  }

  /** Notes one received packet. */
  push(sequenceNumber: number, arrivalMs: number): void {
    if (this.#highest === undefined) {
      this.#highest = sequenceNumber;
      return;
    }
    // Extend against the highest seen so that the 16-bit wrap needs no special case.
    const delta = ((sequenceNumber - (this.#highest & 0xffff) + 0x8000) & 0xffff) - 0x8000;
    const extended = this.#highest + delta;
    if (delta > 0) {
      // A jump of thousands is a new sender state (a restart), not loss.
      if (delta < 1000) for (let missing = this.#highest + 1; missing < extended; missing++) this.#missing.set(missing, arrivalMs);
      this.#highest = extended;
    } else {
      this.#missing.delete(extended);
    }
  }

  /**
   * Whether a hole outlived the recovery time since the last call; the holes it
   * reports are forgotten (one keyframe repairs them all).
   */
  takeUnrecovered(nowMs: number): boolean {
    for (const since of this.#missing.values()) {
      if (nowMs - since < this.#recoveryMs) continue;
      this.unrecovered++;
      this.#missing.clear();
      return true;
    }
    return false;
  }
}
