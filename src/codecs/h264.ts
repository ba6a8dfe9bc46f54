import { BitReader, InvalidBitstream } from './bit-reader.js';
import { constantRate, fixedGop } from './encoder-args.js';
import type { FrameSize, VideoCodecEntry, VideoPayload, VideoPayloadReader } from './types.js';

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
 * A frame's size is read from the SPS it carries (every keyframe carries one).
 */
export class H264PayloadReader implements VideoPayloadReader<H264Extra> {
  #sps: Buffer | undefined;
  #pps: Buffer | undefined;

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

    let sps: Buffer | undefined;
    let hasPps = false;
    let keyframe = false;
    for (const nal of nalUnits) {
      const type = nal[0]! & 0x1f;
      if (type === NAL_SPS) {
        sps = nal;
        this.#sps = nal;
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
    if (keyframe && (!sps || !hasPps)) {
      if (!this.#sps || !this.#pps) return undefined; // an IDR nobody can decode
      const prefix = [...(sps ? [] : [this.#sps]), ...(hasPps ? [] : [this.#pps])];
      nalUnits.unshift(...prefix);
      sps ??= this.#sps;
    }
    const data = Buffer.concat(nalUnits.flatMap((nal) => [START_CODE, nal]));
    const size = sps ? parseSpsSize(sps) : undefined;
    return { data, keyframe, ...(size ? { width: size.width, height: size.height } : {}) };
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

/** Profiles whose SPS carries chroma format, bit depths and scaling matrices (§7.3.2.1.1). */
const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);
/** Every profile_idc the standard defines (Annex A, G, H). */
const KNOWN_PROFILES = new Set([66, 77, 88, ...HIGH_PROFILES]);
/** Every level_idc the standard defines (Table A-1; 9 is level 1b). */
const KNOWN_LEVELS = new Set([9, 10, 11, 12, 13, 20, 21, 22, 30, 31, 32, 40, 41, 42, 50, 51, 52, 60, 61, 62]);

/** What an SPS declares, as far as finalisation cares. */
export interface SpsInfo extends FrameSize {
  profileIdc: number;
  /** 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4. */
  chromaFormatIdc: number;
  bitDepthLuma: number;
  bitDepthChroma: number;
  /** False for interlaced (field or MBAFF) coding. */
  frameMbsOnly: boolean;
}

/**
 * Reads an SPS NAL unit (ITU-T H.264 §7.3.2.1.1): profile, chroma format, bit depths
 * and the picture size after cropping (§7.4.2.1.1). The size is returned as declared,
 * even if zero or negative (cropping larger than the picture), for the caller to
 * refuse; `undefined` when the SPS is cut short, names a profile or level the standard
 * does not define, or has a field outside its range (§7.4.2.1.1), which random bytes
 * that happen to start like an SPS almost always do.
 */
export function parseSps(nal: Buffer): SpsInfo | undefined {
  const bits = new BitReader(withoutEmulationPrevention(nal.subarray(1)));
  try {
    const profileIdc = bits.u(8);
    const constraints = bits.u(8);
    const levelIdc = bits.u(8);
    if (!KNOWN_PROFILES.has(profileIdc) || (constraints & 0x03) !== 0 || !KNOWN_LEVELS.has(levelIdc)) return undefined;
    bits.ue(31); // seq_parameter_set_id
    let chromaFormatIdc = 1;
    let separateColourPlane = 0;
    let bitDepthLuma = 8;
    let bitDepthChroma = 8;
    if (HIGH_PROFILES.has(profileIdc)) {
      chromaFormatIdc = bits.ue(3);
      if (chromaFormatIdc === 3) separateColourPlane = bits.u(1);
      bitDepthLuma = bits.ue(6) + 8;
      bitDepthChroma = bits.ue(6) + 8;
      bits.u(1); // qpprime_y_zero_transform_bypass_flag
      if (bits.u(1)) skipScalingMatrices(bits, chromaFormatIdc !== 3 ? 8 : 12);
    }
    bits.ue(12); // log2_max_frame_num_minus4
    const pocType = bits.ue(2);
    if (pocType === 0) bits.ue(12); // log2_max_pic_order_cnt_lsb_minus4
    else if (pocType === 1) {
      bits.u(1); // delta_pic_order_always_zero_flag
      bits.se(); // offset_for_non_ref_pic
      bits.se(); // offset_for_top_to_bottom_field
      const cycle = bits.ue(255); // num_ref_frames_in_pic_order_cnt_cycle
      for (let i = 0; i < cycle; i++) bits.se();
    }
    bits.ue(16); // max_num_ref_frames (at most MaxDpbFrames)
    bits.u(1); // gaps_in_frame_num_value_allowed_flag
    const widthMbs = bits.ue() + 1;
    const heightMapUnits = bits.ue() + 1;
    const frameMbsOnly = bits.u(1);
    if (!frameMbsOnly) bits.u(1); // mb_adaptive_frame_field_flag
    bits.u(1); // direct_8x8_inference_flag
    let width = widthMbs * 16;
    let height = heightMapUnits * 16 * (2 - frameMbsOnly);
    if (bits.u(1)) {
      // frame_cropping_flag: offsets in chroma sample units (Table 6-1)
      const left = bits.ue();
      const right = bits.ue();
      const top = bits.ue();
      const bottom = bits.ue();
      const arrayType = separateColourPlane ? 0 : chromaFormatIdc;
      const cropX = arrayType === 1 || arrayType === 2 ? 2 : 1;
      const cropY = (arrayType === 1 ? 2 : 1) * (2 - frameMbsOnly);
      width -= (left + right) * cropX;
      height -= (top + bottom) * cropY;
    }
    return { profileIdc, chromaFormatIdc, bitDepthLuma, bitDepthChroma, frameMbsOnly: frameMbsOnly === 1, width, height };
  } catch (error) {
    if (error instanceof InvalidBitstream) return undefined;
    throw error;
  }
}

/** The picture size an SPS NAL unit declares (see {@link parseSps}). */
export function parseSpsSize(nal: Buffer): FrameSize | undefined {
  const sps = parseSps(nal);
  return sps ? { width: sps.width, height: sps.height } : undefined;
}

function skipScalingMatrices(bits: BitReader, lists: number): void {
  for (let i = 0; i < lists; i++) {
    if (!bits.u(1)) continue; // seq_scaling_list_present_flag
    const size = i < 6 ? 16 : 64;
    let last = 8;
    let next = 8;
    for (let j = 0; j < size; j++) {
      if (next !== 0) next = (last + bits.se() + 256) % 256;
      last = next === 0 ? last : next;
    }
  }
}

/** The RBSP of a NAL unit payload: emulation prevention bytes (00 00 03 → 00 00) removed. */
function withoutEmulationPrevention(payload: Buffer): Uint8Array {
  const rbsp = new Uint8Array(payload.length);
  let length = 0;
  let zeros = 0;
  for (const byte of payload) {
    if (zeros >= 2 && byte === 3) {
      zeros = 0;
      continue;
    }
    rbsp[length++] = byte;
    zeros = byte === 0 ? zeros + 1 : 0;
  }
  return rbsp.subarray(0, length);
}

/** The NAL units of an Annex B byte stream (3- or 4-byte start codes). */
export function annexBNalUnits(stream: Buffer): Buffer[] {
  const units: Buffer[] = [];
  let start = -1;
  for (let i = 0; i + 2 < stream.length; i++) {
    if (stream[i] === 0 && stream[i + 1] === 0 && stream[i + 2] === 1) {
      if (start >= 0) units.push(trimTrailingZeros(stream.subarray(start, i)));
      start = i + 3;
      i += 2;
    }
  }
  if (start >= 0 && start < stream.length) units.push(stream.subarray(start));
  return units.filter((unit) => unit.length > 0);
}

function trimTrailingZeros(unit: Buffer): Buffer {
  let end = unit.length;
  while (end > 0 && unit[end - 1] === 0) end--;
  return unit.subarray(0, end);
}

/** The SPS of an Annex B access unit (its first), parsed; `undefined` without a readable one. */
function accessUnitSps(accessUnit: Buffer): SpsInfo | undefined {
  const sps = annexBNalUnits(accessUnit).find((nal) => (nal[0]! & 0x1f) === NAL_SPS);
  return sps ? parseSps(sps) : undefined;
}

/** The size an Annex B access unit declares in its (first) SPS; `undefined` without one. */
export function h264FrameSize(accessUnit: Buffer): FrameSize | undefined {
  const sps = accessUnitSps(accessUnit);
  return sps ? { width: sps.width, height: sps.height } : undefined;
}

/** Profiles every mp4 player decodes: constrained baseline / baseline, main, high. */
const PLAYABLE_PROFILES = new Set([66, 77, 100]);

/**
 * Whether an mp4 can carry this keyframe's stream as it is: progressive 8-bit 4:2:0 in a
 * profile every player decodes, which is what browsers send. Anything else is re-encoded
 * (and a stream ffmpeg cannot decode loses its video, not its audio).
 */
export function h264CanCopy(keyframe: Buffer): boolean {
  const sps = accessUnitSps(keyframe);
  return (
    sps !== undefined &&
    PLAYABLE_PROFILES.has(sps.profileIdc) &&
    sps.chromaFormatIdc === 1 &&
    sps.bitDepthLuma === 8 &&
    sps.bitDepthChroma === 8 &&
    sps.frameMbsOnly
  );
}

/** H.264 (RFC 6184), packetization mode 1 (mode 0 is read too). */
export const H264: VideoCodecEntry<'H264'> = {
  name: 'H264',
  kind: 'video',
  mimeType: 'video/H264',
  clockRate: 90_000,
  sdp: { parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 } },
  createPayloadReader: () => new H264PayloadReader(),
  frameSize: h264FrameSize,
  ivfFourcc: 'H264',
  canCopy: h264CanCopy,
  synthetic: {
    payloadType: 102,
    encoderArgs: ({ bitrateKbps, gop }) => [
      '-c:v', 'libx264', '-profile:v', 'baseline', '-level', '3.1', '-tune', 'zerolatency', '-preset', 'ultrafast', '-sc_threshold', '0',
      ...constantRate(bitrateKbps), ...fixedGop(gop),
    ],
  },
};
