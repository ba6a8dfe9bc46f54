import { BufferedFile } from './buffered-file.js';

/** The audio track of a {@link MatroskaAudioWriter}: the codec registry's `matroska` entry and a channel count. */
export interface MatroskaAudioTrack {
  /** Matroska CodecID, e.g. `A_OPUS`. */
  codecId: string;
  /** CodecPrivate (Opus: the OpusHead header). */
  codecPrivate: Buffer;
  sampleRate: number;
  channels: number;
}

/**
 * Writes audio packets into a Matroska file with millisecond timestamps: an EBML
 * header, a Segment of unknown size (so it can be written front to back), one
 * audio track and Clusters of SimpleBlocks. Matroska keeps gaps trivially (each
 * block has its own timestamp), carries any codec by its CodecID, and ffmpeg reads
 * it without surprises.
 */
export class MatroskaAudioWriter {
  readonly #file: BufferedFile;
  #clusterStart: number | undefined;
  #clusterBlocks: Buffer[] = [];
  #packets = 0;
  #lastPts = Number.NEGATIVE_INFINITY;

  constructor(path: string, track: MatroskaAudioTrack) {
    this.#file = new BufferedFile(path);
    const ebmlHeader = element(0x1a45dfa3, [
      uintElement(0x4286, 1), // EBMLVersion
      uintElement(0x42f7, 1), // EBMLReadVersion
      uintElement(0x42f2, 4), // EBMLMaxIDLength
      uintElement(0x42f3, 8), // EBMLMaxSizeLength
      stringElement(0x4282, 'matroska'), // DocType
      uintElement(0x4287, 4), // DocTypeVersion
      uintElement(0x4285, 2), // DocTypeReadVersion
    ]);
    const info = element(0x1549a966, [
      uintElement(0x2ad7b1, 1_000_000), // TimestampScale: 1 ms
      stringElement(0x4d80, 'sfu-recorder'), // MuxingApp
      stringElement(0x5741, 'sfu-recorder'), // WritingApp
    ]);
    const tracks = element(0x1654ae6b, [
      element(0xae, [
        uintElement(0xd7, 1), // TrackNumber
        uintElement(0x73c5, 1), // TrackUID
        uintElement(0x83, 2), // TrackType: audio
        stringElement(0x86, track.codecId),
        element(0x63a2, [track.codecPrivate]), // CodecPrivate
        element(0xe1, [floatElement(0xb5, track.sampleRate), uintElement(0x9f, track.channels)]),
      ]),
    ]);
    const segmentHead = Buffer.concat([id(0x18538067), Buffer.from([0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])]);
    this.#file.write(Buffer.concat([ebmlHeader, segmentHead, info, tracks]));
  }

  get packets(): number {
    return this.#packets;
  }

  /**
   * Appends a packet at `ptsMs`. A packet that rounds onto or before the previous
   * one's millisecond is written 1 ms after it, so timestamps strictly increase.
   */
  writePacket(data: Buffer, ptsMs: number): void {
    const pts = Math.max(Math.round(ptsMs), this.#lastPts + 1);
    this.#lastPts = pts;
    if (this.#clusterStart === undefined || pts - this.#clusterStart > 5000) {
      this.#writeCluster();
      this.#clusterStart = pts;
    }
    const head = Buffer.alloc(4);
    head[0] = 0x81; // track number 1 as a 1-byte vint
    head.writeInt16BE(pts - this.#clusterStart, 1);
    head[3] = 0x80; // keyframe
    this.#clusterBlocks.push(element(0xa3, [head, data]));
    this.#packets++;
  }

  close(): void {
    this.#writeCluster();
    this.#file.close();
  }

  #writeCluster(): void {
    if (this.#clusterStart === undefined || this.#clusterBlocks.length === 0) return;
    this.#file.write(element(0x1f43b675, [uintElement(0xe7, this.#clusterStart), ...this.#clusterBlocks]));
    this.#clusterBlocks = [];
  }
}

function id(value: number): Buffer {
  const bytes = value > 0xffffff ? 4 : value > 0xffff ? 3 : value > 0xff ? 2 : 1;
  const out = Buffer.alloc(bytes);
  out.writeUIntBE(value, 0, bytes);
  return out;
}

/** EBML variable-length size, always 8 bytes: simple and valid. */
function size(value: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeUInt32BE(Math.floor(value / 0x1_0000_0000), 0);
  out.writeUInt32BE(value >>> 0, 4);
  out[0] = 0x01 | out[0]!;
  return out;
}

function element(elementId: number, children: Buffer[]): Buffer {
  const body = Buffer.concat(children);
  return Buffer.concat([id(elementId), size(body.length), body]);
}

function uintElement(elementId: number, value: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeBigUInt64BE(BigInt(value));
  return element(elementId, [body]);
}

function floatElement(elementId: number, value: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeDoubleBE(value);
  return element(elementId, [body]);
}

function stringElement(elementId: number, value: string): Buffer {
  return element(elementId, [Buffer.from(value, 'utf8')]);
}
