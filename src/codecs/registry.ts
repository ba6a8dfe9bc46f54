/**
 * The codec registry: every codec the recorder can capture and finalise, one entry each.
 * Capture (which producers can be recorded), finalisation (depacketising, keyframes,
 * frame sizes, intermediate files, copy or re-encode) and the synthetic peer (router
 * codecs, payload types, encoder settings) all read it, so adding a codec is adding its
 * module and one line here.
 */
import { SfuRecorderError } from '../errors.js';
import { H264 } from './h264.js';
import { OPUS } from './opus.js';
import type { AudioCodecEntry, CodecEntry, VideoCodecEntry } from './types.js';
import { VP8 } from './vp8.js';
import { VP9 } from './vp9.js';

/** Every recordable codec, in the order they are listed to users. */
export const CODECS = [OPUS, VP8, VP9, H264] as const;

/** A registered codec's short name: `opus`, `VP8`, `VP9` or `H264`. */
export type CodecName = (typeof CODECS)[number]['name'];
/** A registered codec's mime type, e.g. `video/VP8`. */
export type RecordableMimeType = (typeof CODECS)[number]['mimeType'];

/** The entry for a mime type (case-insensitive), or `undefined` if the codec is not registered. */
export function findCodec(mimeType: string): CodecEntry | undefined {
  const wanted = mimeType.toLowerCase();
  return CODECS.find((codec) => codec.mimeType.toLowerCase() === wanted);
}

/** The entry for a codec name; throws `ERR_UNSUPPORTED_CODEC` naming it when it is not registered. */
export function codecNamed(name: string): CodecEntry {
  const codec = CODECS.find((entry) => entry.name === name);
  if (!codec) {
    throw new SfuRecorderError('ERR_UNSUPPORTED_CODEC', `codec ${name} is not registered (registered: ${CODECS.map((c) => c.name).join(', ')})`);
  }
  return codec;
}

/** The registered video codecs. */
export function videoCodecs(): VideoCodecEntry[] {
  return CODECS.filter((codec): codec is typeof codec & VideoCodecEntry => codec.kind === 'video');
}

/** The registered audio codecs. */
export function audioCodecs(): AudioCodecEntry[] {
  return CODECS.filter((codec): codec is typeof codec & AudioCodecEntry => codec.kind === 'audio');
}

export { H264, OPUS, VP8, VP9 };
export type { AudioCodecEntry, BuiltFrame, CodecEntry, FrameSize, VideoCodecEntry, VideoPayload, VideoPayloadReader } from './types.js';
