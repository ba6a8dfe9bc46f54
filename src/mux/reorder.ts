import { sequenceDiff } from './rtp.js';

/** A packet waiting in the reorder window; `extendedSeq` never wraps. */
export interface Sequenced<T> {
  extendedSeq: number;
  arrivalMono: number;
  item: T;
}

/** Options for {@link SequenceReorderer}. */
export interface ReorderOptions {
  /** Most packets held while waiting for a missing one (default 512). */
  maxPackets?: number;
  /** Longest a packet waits (arrival time) for an earlier missing one (default 500 ms). */
  maxDelayMs?: number;
}

/**
 * Puts packets back into sequence-number order: extends the 16-bit sequence number
 * across wrap-arounds, drops duplicates and packets that come too late, and releases
 * packets in order as soon as the next expected one is present, or once a hole has
 * waited longer than the window. Only the window is buffered, so memory is bounded.
 */
export class SequenceReorderer<T> {
  readonly #maxPackets: number;
  readonly #maxDelayMs: number;
  /** Sorted by extendedSeq, ascending. */
  #window: Array<Sequenced<T>> = [];
  #highest: number | undefined;
  /** The next sequence number to release; everything below it was released or skipped. */
  #next: number | undefined;
  duplicates = 0;
  late = 0;

  constructor(options: ReorderOptions = {}) {
    this.#maxPackets = options.maxPackets ?? 512;
    this.#maxDelayMs = options.maxDelayMs ?? 500;
  }

  /** Adds a packet; returns the packets that can now be released, in order. */
  push(sequenceNumber: number, arrivalMono: number, item: T): Array<Sequenced<T>> {
    const extendedSeq =
      this.#highest === undefined ? sequenceNumber : this.#highest + sequenceDiff(sequenceNumber, this.#highest & 0xffff);
    if (this.#next !== undefined && extendedSeq < this.#next) {
      this.late++;
      return [];
    }
    if (this.#highest === undefined || extendedSeq > this.#highest) this.#highest = extendedSeq;
    if (this.#next === undefined) this.#next = extendedSeq;
    if (!this.#insert({ extendedSeq, arrivalMono, item })) {
      this.duplicates++;
      return [];
    }
    return this.#release(arrivalMono, false);
  }

  /** Releases everything still held (end of the journal). */
  flush(): Array<Sequenced<T>> {
    return this.#release(Number.POSITIVE_INFINITY, true);
  }

  #insert(entry: Sequenced<T>): boolean {
    const window = this.#window;
    let index = window.length;
    // Packets mostly arrive in order: search from the end.
    while (index > 0 && window[index - 1]!.extendedSeq > entry.extendedSeq) index--;
    if (index > 0 && window[index - 1]!.extendedSeq === entry.extendedSeq) return false;
    window.splice(index, 0, entry);
    return true;
  }

  #release(now: number, all: boolean): Array<Sequenced<T>> {
    const out: Array<Sequenced<T>> = [];
    const window = this.#window;
    let count = 0;
    while (count < window.length) {
      const head = window[count]!;
      const inOrder = head.extendedSeq === this.#next;
      const overfull = window.length - count > this.#maxPackets;
      const waitedTooLong = now - head.arrivalMono > this.#maxDelayMs;
      if (!(all || inOrder || overfull || waitedTooLong)) break;
      out.push(head);
      this.#next = head.extendedSeq + 1;
      count++;
    }
    if (count > 0) window.splice(0, count);
    return out;
  }
}
