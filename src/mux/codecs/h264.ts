import type { VideoPayload, VideoPayloadReader } from './types.js';

const NAL_SLICE = 1;
const NAL_IDR = 5;
const NAL_SEI = 6;
const NAL_SPS = 7;
const NAL_PPS = 8;
const NAL_AUD = 9;
const NAL_STAP_A = 24;
const NAL_FU_A = 28;
const START_CODE = Buffer.from([0, 0, 0, 1]);

interface H264Extra {
  /** Complete NAL units in this packet, or one FU-A fragment. */
  nalUnits: Buffer[];
  fragment: { start: boolean; end: boolean; header: number; data: Buffer } | undefined;
}

/**
 * H.264 payloads (RFC 6184, packetization modes 0 and 1): single NAL units, STAP-A
 * and FU-A. Access units are written in Annex B form. Keyframes are access units
 * with an IDR slice; SPS and PPS seen earlier (alone, or in another access unit)
 * are put in front of an IDR that lacks them, so every keyframe is decodable alone.
 */
export class H264PayloadReader implements VideoPayloadReader<H264Extra> {
  readonly codec = 'H264';
  #sps: Buffer | undefined;
  #pps: Buffer | undefined;
  #size: { width: number; height: number } | undefined;

  read(payload: Buffer): VideoPayload<H264Extra> | undefined {
    if (payload.length < 1) return undefined;
    const type = payload[0]! & 0x1f;
    if (type >= 1 && type <= 23) {
      return { startsFrame: startsAccessUnit(payload), endsFrame: true, extra: { nalUnits: [payload], fragment: undefined } };
    }
    if (type === NAL_STAP_A) {
      const nalUnits: Buffer[] = [];
      let offset = 1;
      while (offset + 2 <= payload.length) {
        const size = payload.readUInt16BE(offset);
        offset += 2;
        if (size === 0 || offset + size > payload.length) return undefined;
        nalUnits.push(payload.subarray(offset, offset + size));
        offset += size;
      }
      if (nalUnits.length === 0) return undefined;
      return { startsFrame: startsAccessUnit(nalUnits[0]!), endsFrame: true, extra: { nalUnits, fragment: undefined } };
    }
    if (type === NAL_FU_A) {
      if (payload.length < 3) return undefined;
      const fuHeader = payload[1]!;
      const start = (fuHeader & 0x80) !== 0;
      const header = (payload[0]! & 0xe0) | (fuHeader & 0x1f);
      const data = payload.subarray(2);
      const startsFrame = start && startsAccessUnit(Buffer.from([header, data[0]!]));
      return { startsFrame, endsFrame: true, extra: { nalUnits: [], fragment: { start, end: (fuHeader & 0x40) !== 0, header, data } } };
    }
    return undefined; // STAP-B, MTAP, FU-B: not used by WebRTC
  }

  build(parts: ReadonlyArray<VideoPayload<H264Extra>>) {
    const nalUnits: Buffer[] = [];
    let fragments: Buffer[] | undefined;
    for (const { extra } of parts) {
      if (extra.fragment) {
        const { start, end, header, data } = extra.fragment;
        if (start) fragments = [Buffer.from([header]), data];
        else if (fragments) fragments.push(data);
        else return undefined;
        if (end) {
          nalUnits.push(Buffer.concat(fragments));
          fragments = undefined;
        }
      } else {
        if (fragments) return undefined; // a fragmented NAL unit never ended
        nalUnits.push(...extra.nalUnits);
      }
    }
    if (fragments || nalUnits.length === 0) return undefined;

    let hasSps = false;
    let hasPps = false;
    let keyframe = false;
    for (const nal of nalUnits) {
      const type = nal[0]! & 0x1f;
      if (type === NAL_SPS) {
        hasSps = true;
        this.#sps = nal;
        this.#size = parseSpsSize(nal) ?? this.#size;
      } else if (type === NAL_PPS) {
        hasPps = true;
        this.#pps = nal;
      } else if (type === NAL_IDR) {
        keyframe = true;
      }
    }
    const hasSlice = nalUnits.some((nal) => {
      const type = nal[0]! & 0x1f;
      return type === NAL_SLICE || type === NAL_IDR;
    });
    if (!hasSlice) return undefined; // parameter sets alone: remembered, not a frame
    if (keyframe && (!hasSps || !hasPps)) {
      if (!this.#sps || !this.#pps) return undefined; // an IDR nobody can decode
      const prefix = [...(hasSps ? [] : [this.#sps]), ...(hasPps ? [] : [this.#pps])];
      nalUnits.unshift(...prefix);
    }
    const data = Buffer.concat(nalUnits.flatMap((nal) => [START_CODE, nal]));
    return { data, keyframe, ...(keyframe && this.#size ? { width: this.#size.width, height: this.#size.height } : {}) };
  }
}

/**
 * Whether a NAL unit can begin an access unit: a non-VCL unit that precedes slices
 * (SPS, PPS, SEI, AUD), or a slice whose `first_mb_in_slice` is 0 (its first
 * Exp-Golomb bit is 1).
 */
function startsAccessUnit(nal: Buffer): boolean {
  const type = nal[0]! & 0x1f;
  if (type === NAL_SPS || type === NAL_PPS || type === NAL_SEI || type === NAL_AUD) return true;
  if (type === NAL_SLICE || type === NAL_IDR) return nal.length > 1 && (nal[1]! & 0x80) !== 0;
  return false;
}

/** Reads the coded picture size (after cropping) from an SPS NAL unit (ITU-T H.264 §7.3.2.1.1). */
export function parseSpsSize(nal: Buffer): { width: number; height: number } | undefined {
  // Remove emulation prevention bytes (00 00 03 -> 00 00).
  const rbsp: number[] = [];
  let zeros = 0;
  for (let i = 1; i < nal.length; i++) {
    const byte = nal[i]!;
    if (zeros >= 2 && byte === 3) {
      zeros = 0;
      continue;
    }
    rbsp.push(byte);
    zeros = byte === 0 ? zeros + 1 : 0;
  }
  let bit = 0;
  const u = (count: number): number => {
    let value = 0;
    for (let i = 0; i < count; i++) {
      const byte = rbsp[bit >> 3];
      if (byte === undefined) throw new RangeError('short SPS');
      value = value * 2 + ((byte >> (7 - (bit & 7))) & 1);
      bit++;
    }
    return value;
  };
  const ue = (): number => {
    let zeros = 0;
    while (u(1) === 0) {
      zeros++;
      if (zeros > 31) throw new RangeError('bad Exp-Golomb code');
    }
    return 2 ** zeros - 1 + u(zeros);
  };
  const se = (): number => {
    const value = ue();
    return value % 2 === 1 ? (value + 1) / 2 : -value / 2;
  };
  try {
    const profileIdc = u(8);
    u(16); // constraint flags, level_idc
    ue(); // seq_parameter_set_id
    let chromaFormatIdc = 1;
    let separateColourPlane = 0;
    if ([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].includes(profileIdc)) {
      chromaFormatIdc = ue();
      if (chromaFormatIdc === 3) separateColourPlane = u(1);
      ue(); // bit_depth_luma_minus8
      ue(); // bit_depth_chroma_minus8
      u(1); // qpprime_y_zero_transform_bypass_flag
      if (u(1)) {
        // seq_scaling_matrix_present_flag
        const lists = chromaFormatIdc !== 3 ? 8 : 12;
        for (let i = 0; i < lists; i++) {
          if (!u(1)) continue;
          const size = i < 6 ? 16 : 64;
          let last = 8;
          let next = 8;
          for (let j = 0; j < size; j++) {
            if (next !== 0) next = (last + se() + 256) % 256;
            last = next === 0 ? last : next;
          }
        }
      }
    }
    ue(); // log2_max_frame_num_minus4
    const pocType = ue();
    if (pocType === 0) ue();
    else if (pocType === 1) {
      u(1);
      se();
      se();
      const cycle = ue();
      for (let i = 0; i < cycle; i++) se();
    }
    ue(); // max_num_ref_frames
    u(1); // gaps_in_frame_num_value_allowed_flag
    const widthMbs = ue() + 1;
    const heightMapUnits = ue() + 1;
    const frameMbsOnly = u(1);
    if (!frameMbsOnly) u(1); // mb_adaptive_frame_field_flag
    u(1); // direct_8x8_inference_flag
    let width = widthMbs * 16;
    let height = heightMapUnits * 16 * (2 - frameMbsOnly);
    if (u(1)) {
      // frame_cropping_flag
      const left = ue();
      const right = ue();
      const top = ue();
      const bottom = ue();
      const arrayType = separateColourPlane ? 0 : chromaFormatIdc;
      const cropX = arrayType === 0 ? 1 : arrayType === 3 ? 1 : 2;
      const cropY = (arrayType === 0 ? 1 : arrayType === 1 ? 2 : 1) * (2 - frameMbsOnly);
      width -= (left + right) * cropX;
      height -= (top + bottom) * cropY;
    }
    return width > 0 && height > 0 ? { width, height } : undefined;
  } catch {
    return undefined;
  }
}
