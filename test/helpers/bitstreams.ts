/**
 * Crafted video bitstream headers for tests: H.264 SPS NAL units, VP8 and VP9 frame
 * headers of any declared size, and in-place rewrites of the sizes real encoders wrote.
 * Everything a hostile or broken sender could put on the wire.
 */

/** Writes bits most significant first, with Exp-Golomb codes (H.264 §9.1). */
export class BitWriter {
  readonly #bits: number[] = [];

  u(count: number, value: number): this {
    for (let i = count - 1; i >= 0; i--) this.#bits.push(Math.floor(value / 2 ** i) % 2);
    return this;
  }

  ue(value: number): this {
    const code = value + 1;
    const length = Math.floor(Math.log2(code)) + 1;
    return this.u(length - 1, 0).u(length, code);
  }

  se(value: number): this {
    return this.ue(value > 0 ? 2 * value - 1 : -2 * value);
  }

  /** The bits so far, with RBSP trailing bits (a 1, then zeros to the byte boundary). */
  rbsp(): Buffer {
    const bits = [...this.#bits, 1];
    while (bits.length % 8 !== 0) bits.push(0);
    const out = Buffer.alloc(bits.length / 8);
    bits.forEach((bit, i) => (out[i >> 3]! |= bit << (7 - (i & 7))));
    return out;
  }

  /** The bits so far, zero-padded to the byte boundary (no trailing bits). */
  bytes(): Buffer {
    const bits = [...this.#bits];
    while (bits.length % 8 !== 0) bits.push(0);
    const out = Buffer.alloc(bits.length / 8);
    bits.forEach((bit, i) => (out[i >> 3]! |= bit << (7 - (i & 7))));
    return out;
  }
}

/** Inserts emulation prevention bytes (00 00 0x → 00 00 03 0x for x ≤ 3). */
function withEmulationPrevention(rbsp: Buffer): Buffer {
  const out: number[] = [];
  let zeros = 0;
  for (const byte of rbsp) {
    if (zeros >= 2 && byte <= 3) {
      out.push(3);
      zeros = 0;
    }
    out.push(byte);
    zeros = byte === 0 ? zeros + 1 : 0;
  }
  return Buffer.from(out);
}

/** What {@link h264Sps} declares. */
export interface SpsOptions {
  widthMbs: number;
  /** Map units: macroblock rows, or pairs of them when `frameMbsOnly` is false. */
  heightMapUnits: number;
  profileIdc?: number;
  levelIdc?: number;
  /** High profiles only: 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4. */
  chromaFormatIdc?: number;
  bitDepth?: number;
  frameMbsOnly?: boolean;
  /** Crop offsets, in the chroma units of H.264 Table 6-1. */
  crop?: { left: number; right: number; top: number; bottom: number };
  /** Write a scaling matrix (high profiles), to exercise that branch of the parser. */
  scalingMatrix?: boolean;
  pocType?: 0 | 1 | 2;
}

/** An H.264 SPS NAL unit (with its header byte and emulation prevention). */
export function h264Sps(options: SpsOptions): Buffer {
  const profile = options.profileIdc ?? 66;
  const high = [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].includes(profile);
  const w = new BitWriter().u(8, profile).u(8, 0).u(8, options.levelIdc ?? 31).ue(0);
  if (high) {
    const chroma = options.chromaFormatIdc ?? 1;
    w.ue(chroma);
    if (chroma === 3) w.u(1, 0); // separate_colour_plane_flag
    w.ue((options.bitDepth ?? 8) - 8).ue((options.bitDepth ?? 8) - 8).u(1, 0);
    if (options.scalingMatrix) {
      w.u(1, 1);
      const lists = chroma !== 3 ? 8 : 12;
      for (let i = 0; i < lists; i++) {
        w.u(1, 1); // list present
        const size = i < 6 ? 16 : 64;
        for (let j = 0; j < size; j++) w.se(j === 0 ? 8 : 1); // delta_scale: 16, 17, ...
      }
    } else {
      w.u(1, 0);
    }
  }
  w.ue(0); // log2_max_frame_num_minus4
  const pocType = options.pocType ?? 2;
  w.ue(pocType);
  if (pocType === 0) w.ue(0);
  else if (pocType === 1) w.u(1, 0).se(0).se(0).ue(1).se(2);
  w.ue(1).u(1, 0); // max_num_ref_frames, gaps_in_frame_num_value_allowed_flag
  w.ue(options.widthMbs - 1).ue(options.heightMapUnits - 1);
  const frameMbsOnly = options.frameMbsOnly ?? true;
  w.u(1, frameMbsOnly ? 1 : 0);
  if (!frameMbsOnly) w.u(1, 0);
  w.u(1, 1); // direct_8x8_inference_flag
  if (options.crop) w.u(1, 1).ue(options.crop.left).ue(options.crop.right).ue(options.crop.top).ue(options.crop.bottom);
  else w.u(1, 0);
  w.u(1, 0); // vui_parameters_present_flag
  return Buffer.concat([Buffer.from([0x67]), withEmulationPrevention(w.rbsp())]);
}

/** Overwrites `count` bits at `bitOffset` of `data` (most significant first), in place. */
export function writeBits(data: Buffer, bitOffset: number, count: number, value: number): void {
  for (let i = 0; i < count; i++) {
    const bit = Math.floor(value / 2 ** (count - 1 - i)) % 2;
    const at = bitOffset + i;
    const mask = 1 << (7 - (at & 7));
    data[at >> 3] = bit ? data[at >> 3]! | mask : data[at >> 3]! & ~mask;
  }
}

/** A VP8 keyframe header (frame tag, start code, size) followed by `body`. */
export function vp8Keyframe(width: number, height: number, body: Buffer = Buffer.alloc(16)): Buffer {
  const head = Buffer.alloc(10);
  // Frame tag: keyframe (P = 0), version 0, show_frame, first partition size 16.
  const tag = 0x10 | (16 << 5);
  head.writeUIntLE(tag, 0, 3);
  head.set([0x9d, 0x01, 0x2a], 3);
  head.writeUInt16LE(width & 0x3fff, 6);
  head.writeUInt16LE(height & 0x3fff, 8);
  return Buffer.concat([head, body]);
}

/** Rewrites the size of a VP8 keyframe in place (`frame` starts at the frame tag). */
export function setVp8KeyframeSize(frame: Buffer, width: number, height: number): void {
  frame.writeUInt16LE((frame.readUInt16LE(6) & 0xc000) | (width & 0x3fff), 6);
  frame.writeUInt16LE((frame.readUInt16LE(8) & 0xc000) | (height & 0x3fff), 8);
}

/** A VP9 profile 0 keyframe uncompressed header declaring `width`×`height` (BT.601), zero-padded. */
export function vp9Keyframe(width: number, height: number): Buffer {
  return new BitWriter()
    .u(2, 2).u(1, 0).u(1, 0) // frame_marker, profile 0
    .u(1, 0).u(1, 0).u(1, 1).u(1, 0) // show_existing_frame, KEY_FRAME, show_frame, error_resilient_mode
    .u(24, 0x498342)
    .u(3, 1).u(1, 0) // color_space BT.601, color_range
    .u(16, width - 1).u(16, height - 1)
    .u(1, 0) // render_and_frame_size_different
    .u(32, 0)
    .bytes();
}

/** A VP9 profile 0 inter frame that changes size without a keyframe (frame_size_with_refs, no ref found). */
export function vp9ResizingInterFrame(width: number, height: number): Buffer {
  const w = new BitWriter()
    .u(2, 2).u(1, 0).u(1, 0) // frame_marker, profile 0
    .u(1, 0).u(1, 1).u(1, 1).u(1, 0) // show_existing_frame, NON_KEY_FRAME, show_frame, error_resilient_mode
    .u(2, 0) // reset_frame_context
    .u(8, 0x01); // refresh_frame_flags
  for (let i = 0; i < 3; i++) w.u(3, i).u(1, 0); // ref_frame_idx, sign bias
  for (let i = 0; i < 3; i++) w.u(1, 0); // found_ref: none
  return w.u(16, width - 1).u(16, height - 1).u(32, 0).bytes();
}

/**
 * Rewrites the size a VP9 profile 0 keyframe declares, in place (`frame` starts at the
 * uncompressed header; not RGB, as libvpx writes it). Other frames are left alone.
 */
export function setVp9KeyframeSize(frame: Buffer, width: number, height: number): boolean {
  if (frame[0]! >> 6 !== 2 || ((frame[0]! >> 4) & 0x03) !== 0 || (frame[0]! & 0x0c) !== 0) return false; // profile 0 keyframe only
  if (frame.readUIntBE(1, 3) !== 0x498342) return false;
  writeBits(frame, 36, 16, width - 1);
  writeBits(frame, 52, 16, height - 1);
  return true;
}
