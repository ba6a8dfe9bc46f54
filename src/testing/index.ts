/**
 * Test helpers: `sfu-recorder/testing`. Synthetic peers that publish into a mediasoup
 * router, for this project's tests and benchmarks and for users' own.
 */
export { SyntheticPeer, colorFor, type SyntheticPeerOptions, type SyntheticVideoOptions, type SyntheticAudioOptions, type SyntheticPeerEvents, type SyntheticTrackStats } from './synthetic-peer.js';
export { SYNTHETIC_ROUTER_CODECS } from './codecs.js';
export { SYNC_PULSE_MS, SYNC_BEEP_HZ } from './ffmpeg-source.js';
export type { SyntheticVideoCodec, SyntheticAudioCodec } from './rtp.js';
export type { TrackKind } from './rtp-sender.js';
export { RtpProbe, type ProbedPacket } from './rtp-probe.js';
export { isKeyFrameStart } from './rtp.js';
export { RtpReplayer, captureSyntheticMedia, type RtpCapture, type CapturedRtpPacket, type CaptureOptions, type RtpReplayerOptions, type RtpReplayerEvents } from './rtp-replay.js';
export { BrowserPeer, chromiumArgs, defaultChromiumPath, type BrowserPeerOptions, type BrowserProduceOptions, type BrowserSenderReport } from './browser/browser-peer.js';
export { generateSyncMedia, type SyncMediaFiles, type SyncMediaOptions } from './browser/sync-media.js';
export { UdpRelay, type UdpRelayOptions } from './browser/udp-relay.js';
