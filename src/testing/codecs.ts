import type { types as mediasoupTypes } from 'mediasoup';
import type { SyntheticVideoCodec } from './rtp.js';

/**
 * Router media codecs that every synthetic peer (and a typical browser) can use:
 * Opus 48 kHz stereo, VP8, VP9 profile 0 and H.264 constrained baseline, packetization
 * mode 1. Pass them to `worker.createRouter({ mediaCodecs: SYNTHETIC_ROUTER_CODECS })`.
 */
export const SYNTHETIC_ROUTER_CODECS: readonly mediasoupTypes.RouterRtpCodecCapability[] = Object.freeze([
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
  { kind: 'video', mimeType: 'video/VP9', clockRate: 90000, parameters: { 'profile-id': 0 } },
  {
    kind: 'video',
    mimeType: 'video/H264',
    clockRate: 90000,
    parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 },
  },
]);

/** Payload types the synthetic peer's sender uses (its own choice, like a browser's SDP offer). */
export const AUDIO_PAYLOAD_TYPE = 111;
export const VIDEO_PAYLOAD_TYPES: Readonly<Record<SyntheticVideoCodec, number>> = { VP8: 96, VP9: 98, H264: 102 };

const VIDEO_FEEDBACK: mediasoupTypes.RtcpFeedback[] = [
  { type: 'nack' },
  { type: 'nack', parameter: 'pli' },
  { type: 'ccm', parameter: 'fir' },
];

/** The codec entry of a producer's rtpParameters for `codec`. */
export function producerCodec(codec: SyntheticVideoCodec | 'opus'): mediasoupTypes.RtpCodecParameters {
  switch (codec) {
    case 'opus':
      // Sent mono (as browsers do by default) but signalled as opus/48000/2, as RFC 7587 requires.
      return { mimeType: 'audio/opus', payloadType: AUDIO_PAYLOAD_TYPE, clockRate: 48000, channels: 2, parameters: { minptime: 10, useinbandfec: 1 }, rtcpFeedback: [] };
    case 'VP8':
      return { mimeType: 'video/VP8', payloadType: VIDEO_PAYLOAD_TYPES.VP8, clockRate: 90000, parameters: {}, rtcpFeedback: VIDEO_FEEDBACK };
    case 'VP9':
      return { mimeType: 'video/VP9', payloadType: VIDEO_PAYLOAD_TYPES.VP9, clockRate: 90000, parameters: { 'profile-id': 0 }, rtcpFeedback: VIDEO_FEEDBACK };
    case 'H264':
      return {
        mimeType: 'video/H264',
        payloadType: VIDEO_PAYLOAD_TYPES.H264,
        clockRate: 90000,
        parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 },
        rtcpFeedback: VIDEO_FEEDBACK,
      };
  }
}

/** Whether the router can take a producer of this codec (mimeType match; H.264/VP9 profile checked by mediasoup). */
export function routerSupports(router: mediasoupTypes.Router, mimeType: string): boolean {
  const wanted = mimeType.toLowerCase();
  return (router.rtpCapabilities.codecs ?? []).some((c) => c.mimeType.toLowerCase() === wanted);
}

/** ffmpeg encoder arguments for one video codec, light enough for a shared 2-core box. */
export function videoEncoderArgs(codec: SyntheticVideoCodec, o: { bitrateKbps: number; gop: number }): string[] {
  const rate = [`-b:v`, `${o.bitrateKbps}k`, '-maxrate', `${o.bitrateKbps}k`, '-bufsize', `${o.bitrateKbps}k`];
  const gop = ['-g', String(o.gop), '-keyint_min', String(o.gop)];
  switch (codec) {
    case 'VP8':
      return ['-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-lag-in-frames', '0', '-error-resilient', '1', ...rate, ...gop];
    case 'VP9':
      // ffmpeg's VP9 RTP packetiser is marked experimental (hence -strict).
      return ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-row-mt', '0', '-lag-in-frames', '0', '-error-resilient', '1', ...rate, ...gop, '-strict', 'experimental'];
    case 'H264':
      return ['-c:v', 'libx264', '-profile:v', 'baseline', '-level', '3.1', '-tune', 'zerolatency', '-preset', 'ultrafast', '-sc_threshold', '0', ...rate, ...gop];
  }
}
