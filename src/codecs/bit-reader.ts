/**
 * Thrown by {@link BitReader} past the end of its data or for a value out of its syntax's
 * range; the codec parsers catch it and return `undefined`, so it never leaves them.
 */
export class InvalidBitstream extends Error {
  constructor(what: string) {
    super(what);
    this.name = 'InvalidBitstream';
  }
}

/**
 * Reads a bitstream most significant bit first: fixed-width fields and Exp-Golomb codes
 * (H.264 §9.1). Used only inside codec parsers, which catch {@link InvalidBitstream}.
 */
export class BitReader {
  readonly #data: Uint8Array;
  #bit = 0;

  constructor(data: Uint8Array) {
    this.#data = data;
  }

  /** An unsigned field of `count` bits (at most 32). */
  u(count: number): number {
    let value = 0;
    for (let i = 0; i < count; i++) {
      const byte = this.#data[this.#bit >> 3];
      if (byte === undefined) throw new InvalidBitstream('bitstream ended');
      value = value * 2 + ((byte >> (7 - (this.#bit & 7))) & 1);
      this.#bit++;
    }
    return value;
  }

  /** An unsigned Exp-Golomb code of at most `max`; more than 31 leading zeros is not a valid code. */
  ue(max = Number.MAX_SAFE_INTEGER): number {
    let zeros = 0;
    while (this.u(1) === 0) {
      if (++zeros > 31) throw new InvalidBitstream('Exp-Golomb code too long');
    }
    const value = 2 ** zeros - 1 + this.u(zeros);
    if (value > max) throw new InvalidBitstream(`${value} is above ${max}`);
    return value;
  }

  /** A signed Exp-Golomb code. */
  se(): number {
    const value = this.ue();
    return value % 2 === 1 ? (value + 1) / 2 : -value / 2;
  }
}
