import { BufferedFile } from './buffered-file.js';

/** Time base of the IVF files written here: 1/90000 s, the RTP video clock. */
export const IVF_TIMEBASE = 90_000;

/**
 * Writes an IVF file: a 32-byte header, then per frame a 12-byte header (size,
 * 64-bit pts) and the frame. Each frame carries its own exact timestamp, which is
 * all a variable-frame-rate intermediate needs.
 */
export class IvfWriter {
  readonly #file: BufferedFile;
  #frames = 0;
  #lastPts = Number.NEGATIVE_INFINITY;

  /** `fourcc` is the codec registry's `ivfFourcc` (four ASCII characters, e.g. `VP80`). */
  constructor(path: string, fourcc: string, width: number, height: number) {
    this.#file = new BufferedFile(path);
    const header = Buffer.alloc(32);
    header.write('DKIF', 0, 'latin1');
    header.writeUInt16LE(0, 4);
    header.writeUInt16LE(32, 6);
    header.write(fourcc, 8, 'latin1');
    header.writeUInt16LE(width & 0xffff, 12);
    header.writeUInt16LE(height & 0xffff, 14);
    header.writeUInt32LE(IVF_TIMEBASE, 16); // time base denominator
    header.writeUInt32LE(1, 20); // time base numerator
    this.#file.write(header);
  }

  get path(): string {
    return this.#file.path;
  }

  get frames(): number {
    return this.#frames;
  }

  /**
   * Appends a frame at `pts` (1/90000 s). A frame that rounds onto or before the
   * previous one's tick is written one tick after it: demuxers take the pts as dts,
   * and muxers refuse dts that do not increase.
   */
  writeFrame(data: Buffer, pts: number): void {
    this.#lastPts = Math.max(Math.round(pts), this.#lastPts + 1);
    const head = Buffer.alloc(12);
    head.writeUInt32LE(data.length, 0);
    head.writeBigInt64LE(BigInt(this.#lastPts), 4);
    this.#file.write(head);
    this.#file.write(data);
    this.#frames++;
  }

  close(): void {
    const count = Buffer.alloc(4);
    count.writeUInt32LE(this.#frames, 0);
    this.#file.writeAt(count, 24);
    this.#file.close();
  }
}
