import type { types as mediasoupTypes } from 'mediasoup';
import { CODECS, OPUS, codecNamed, videoCodecs, type VideoCodecEntry } from '../codecs/registry.js';
import { SfuRecorderError } from '../errors.js';
import type { SyntheticVideoCodec } from './rtp.js';

/**
 * Router media codecs that every synthetic peer (and a typical browser) can use: every
 * codec of the recorder's codec registry, i.e. Opus 48 kHz stereo, VP8, VP9 profile 0 and
 * H.264 constrained baseline, packetization mode 1. Pass them to
 * `worker.createRouter({ mediaCodecs: SYNTHETIC_ROUTER_CODECS })`.
 */
export const SYNTHETIC_ROUTER_CODECS: readonly mediasoupTypes.RouterRtpCodecCapability[] = Object.freeze(
  CODECS.map((codec) => ({
    kind: codec.kind,
    mimeType: codec.mimeType,
    clockRate: codec.clockRate,
    ...(codec.sdp.channels !== undefined ? { channels: codec.sdp.channels } : {}),
    ...(Object.keys(codec.sdp.parameters).length > 0 ? { parameters: { ...codec.sdp.parameters } } : {}),
  })),
);

/** The registry entry of a video codec the synthetic peer sends, with its synthetic settings. */
function syntheticVideo(codec: SyntheticVideoCodec): VideoCodecEntry & { synthetic: NonNullable<VideoCodecEntry['synthetic']> } {
  const entry = codecNamed(codec);
  if (entry.kind !== 'video' || !entry.synthetic) {
    throw new SfuRecorderError('ERR_UNSUPPORTED_CODEC', `the synthetic peer cannot send ${codec}: its registry entry has no synthetic settings`);
  }
  return entry as VideoCodecEntry & { synthetic: NonNullable<VideoCodecEntry['synthetic']> };
}

/** Payload types the synthetic peer's sender uses (its own choice, like a browser's SDP offer). */
export const AUDIO_PAYLOAD_TYPE = OPUS.synthetic!.payloadType;
export const VIDEO_PAYLOAD_TYPES: Readonly<Record<SyntheticVideoCodec, number>> = Object.freeze(
  Object.fromEntries(videoCodecs().flatMap((codec) => (codec.synthetic ? [[codec.name, codec.synthetic.payloadType]] : []))) as Record<SyntheticVideoCodec, number>,
);

const VIDEO_FEEDBACK: mediasoupTypes.RtcpFeedback[] = [
  { type: 'nack' },
  { type: 'nack', parameter: 'pli' },
  { type: 'ccm', parameter: 'fir' },
];

/** The codec entry of a producer's rtpParameters for `codec`. */
export function producerCodec(codec: SyntheticVideoCodec | 'opus'): mediasoupTypes.RtpCodecParameters {
  if (codec === 'opus') {
    return {
      mimeType: OPUS.mimeType,
      payloadType: AUDIO_PAYLOAD_TYPE,
      clockRate: OPUS.clockRate,
      channels: OPUS.sdp.channels!,
      parameters: { ...(OPUS.synthetic?.parameters ?? OPUS.sdp.parameters) },
      rtcpFeedback: [],
    };
  }
  const entry = syntheticVideo(codec);
  return {
    mimeType: entry.mimeType,
    payloadType: entry.synthetic.payloadType,
    clockRate: entry.clockRate,
    parameters: { ...(entry.synthetic.parameters ?? entry.sdp.parameters) },
    rtcpFeedback: VIDEO_FEEDBACK,
  };
}

/** Whether the router can take a producer of this codec (mimeType match; H.264/VP9 profile checked by mediasoup). */
export function routerSupports(router: mediasoupTypes.Router, mimeType: string): boolean {
  const wanted = mimeType.toLowerCase();
  return (router.rtpCapabilities.codecs ?? []).some((c) => c.mimeType.toLowerCase() === wanted);
}

/** ffmpeg encoder arguments for one video codec, light enough for a shared 2-core box. */
export function videoEncoderArgs(codec: SyntheticVideoCodec, o: { bitrateKbps: number; gop: number }): string[] {
  return syntheticVideo(codec).synthetic.encoderArgs(o);
}
