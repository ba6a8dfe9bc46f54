import dgram from 'node:dgram';
import { createHash } from 'node:crypto';
import { EventEmitter } from 'eventemitter3';
import type { types as mediasoupTypes } from 'mediasoup';
import { InvalidConfigError, SfuRecorderError } from '../errors.js';
import { assertSafeId } from '../config/ids.js';
import { resolveFfmpegBinaries } from '../ffmpeg/binaries.js';
import { routerSupports } from './codecs.js';
import { buildSourceArgs, FfmpegSource, type SourceVideo } from './ffmpeg-source.js';
import { MediaClockPacer } from './media-clock-pacer.js';
import { PeerTransport, TrackSender, randomSsrc, type TrackCounters, type TrackKind } from './rtp-sender.js';
import { isRtcp, isRtp, rtcpSenderSsrc, rtpSsrc, type SyntheticAudioCodec, type SyntheticVideoCodec } from './rtp.js';

/** Video options of a {@link SyntheticPeer}. */
export interface SyntheticVideoOptions {
  /** Default `'VP8'`. */
  codec?: SyntheticVideoCodec;
  /** Default 640. */
  width?: number;
  /** Default 360. */
  height?: number;
  /** Integer frames per second, default 30. */
  fps?: number;
  /** Target bitrate, default 800. Simple content may undershoot it; see `noise`. */
  bitrateKbps?: number;
  /**
   * Longest time between key frames, default 250 ms. ffmpeg's RTP output ignores PLI, so a
   * short GOP is what guarantees a new consumer a key frame quickly.
   */
  keyframeIntervalMs?: number;
  /** Background colour `#rrggbb`; default derived from the peer id, distinct per peer. */
  color?: string;
  /** 0..100 grain on every frame, to reach realistic bitrates in load tests. Default 0. */
  noise?: number;
}

/** Audio options of a {@link SyntheticPeer}. */
export interface SyntheticAudioOptions {
  /** Only Opus (48 kHz, sent mono like a browser's default, signalled as opus/48000/2). */
  codec?: SyntheticAudioCodec;
}

/** Options of {@link SyntheticPeer.create}. */
export interface SyntheticPeerOptions {
  /** The peer id, put in every producer's `appData.peerId`. */
  peerId: string;
  /** Put in `appData.displayName`; default the peer id. Also drawn in the frame when a font is found. */
  displayName?: string;
  /** The stream both tracks belong to (`appData.streamId`); default `<peerId>-camera`. */
  streamId?: string;
  /** `false` for no audio track. Default Opus. */
  audio?: false | SyntheticAudioOptions;
  /** `false` for no video track. Default VP8 640x360@30. */
  video?: false | SyntheticVideoOptions;
  /**
   * Default true: the frame turns white and a 1 kHz beep sounds for the first 100 ms of
   * every second of media time, on one clock, so A/V sync can be measured in a recording.
   * When false: no flash, and a quiet continuous 440 Hz tone.
   */
  syncPattern?: boolean;
  /** Merged into every producer's appData (under the peer's own keys). */
  appData?: Record<string, unknown>;
  /** ffmpeg to run; default {@link resolveFfmpegBinaries}. */
  ffmpegPath?: string;
  /** How long {@link SyntheticPeer.create} waits for the first packets of every track. Default 10 s. */
  startTimeoutMs?: number;
}

/** What `SyntheticPeer.stats()` reports for one track. */
export interface SyntheticTrackStats extends TrackCounters {
  kind: TrackKind;
  codec: string;
  /** Undefined while the track is stopped. */
  producerId: string | undefined;
  ssrc: number;
  paused: boolean;
  /** `producer.getStats()`; empty while stopped. */
  producerStats: mediasoupTypes.ProducerStat[];
}

/** Events of {@link SyntheticPeer}. */
export interface SyntheticPeerEvents {
  /** A track (re)started producing. */
  trackstart: [kind: TrackKind, producer: mediasoupTypes.Producer];
  /** A track stopped producing (its producer was closed). */
  trackstop: [kind: TrackKind, producerId: string];
  pause: [kind: TrackKind];
  resume: [kind: TrackKind];
  /** ffmpeg died (the error holds its stderr tail); the peer closes itself right after. */
  error: [Error];
  close: [];
}

interface ResolvedOptions {
  peerId: string;
  streamId: string;
  displayName: string;
  audio: SyntheticAudioCodec | undefined;
  video: Omit<SourceVideo, 'ssrc'> | undefined;
  syncPattern: boolean;
  appData: Record<string, unknown>;
  ffmpegPath: string;
  startTimeoutMs: number;
}

/**
 * A peer that publishes audio and video into a mediasoup router as a client would, from
 * media ffmpeg generates: a coloured frame with a moving test pattern, and a tone; with
 * the sync pattern, a white flash and a 1 kHz beep at the start of every second.
 *
 * One ffmpeg process makes both tracks, so they share one media clock. Its RTP goes to a
 * small relay in this process and from there into a PlainTransport (one per peer, both
 * tracks, like a BUNDLE transport). The relay lets the peer re-produce a track without
 * restarting ffmpeg (new SSRC, first packet a key frame), fixes ffmpeg's VP9
 * packetisation so mediasoup recognises key frames, and paces both tracks to their media
 * clock (80 ms behind it), so audio and video of one instant reach the SFU together
 * however long each encoder took, as they do from a real client.
 *
 * Producers carry `appData: { peerId, streamId, source: 'camera' | 'microphone', displayName }`.
 */
export class SyntheticPeer extends EventEmitter<SyntheticPeerEvents> {
  readonly peerId: string;
  readonly streamId: string;
  readonly displayName: string;
  /** The video background, `#rrggbb` (undefined without video). */
  readonly color: string | undefined;
  readonly router: mediasoupTypes.Router;
  readonly #options: ResolvedOptions;
  readonly #transport: PeerTransport;
  readonly #ingress: dgram.Socket;
  readonly #tracks = new Map<TrackKind, TrackSender>();
  /** ffmpeg's SSRC → track; ffmpeg's SSRCs never change, the producers' do. */
  readonly #bySourceSsrc = new Map<number, TrackSender>();
  readonly #pacer = new MediaClockPacer();
  #ffmpeg: FfmpegSource | undefined;
  #closed = false;
  #error: Error | undefined;

  /** Creates the transport and producers, starts ffmpeg, and resolves once every track has sent packets. */
  static async create(router: mediasoupTypes.Router, options: SyntheticPeerOptions): Promise<SyntheticPeer> {
    const resolved = resolveOptions(router, options);
    const ingress = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      ingress.once('error', reject);
      ingress.bind(0, '127.0.0.1', () => {
        ingress.off('error', reject);
        resolve();
      });
    });
    ingress.setRecvBufferSize(1 << 20);
    let transport: PeerTransport;
    try {
      transport = await PeerTransport.create(router, { peerId: resolved.peerId, streamId: resolved.streamId });
    } catch (error) {
      ingress.close();
      throw error;
    }
    const peer = new SyntheticPeer(router, resolved, transport, ingress);
    try {
      await peer.#start();
    } catch (error) {
      peer.close();
      throw error;
    }
    return peer;
  }

  private constructor(router: mediasoupTypes.Router, options: ResolvedOptions, transport: PeerTransport, ingress: dgram.Socket) {
    super();
    this.router = router;
    this.#options = options;
    this.peerId = options.peerId;
    this.streamId = options.streamId;
    this.displayName = options.displayName;
    this.color = options.video?.color;
    this.#transport = transport;
    this.#ingress = ingress;
    if (options.audio) this.#tracks.set('audio', new TrackSender(transport, 'audio', options.audio));
    if (options.video) this.#tracks.set('video', new TrackSender(transport, 'video', options.video.codec));
    ingress.on('message', (packet) => this.#onSourcePacket(packet));
    transport.transport.observer.once('close', () => this.close());
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Why the peer closed itself (ffmpeg died), if it did. */
  get error(): Error | undefined {
    return this.#error;
  }

  /** The PlainTransport both producers live on. */
  get transport(): mediasoupTypes.PlainTransport {
    return this.#transport.transport;
  }

  /** The current audio producer; undefined without audio or while the track is stopped. */
  get audioProducer(): mediasoupTypes.Producer | undefined {
    return this.#tracks.get('audio')?.producer;
  }

  /** The current video producer; undefined without video or while the track is stopped. */
  get videoProducer(): mediasoupTypes.Producer | undefined {
    return this.#tracks.get('video')?.producer;
  }

  /** PLI/FIR requests mediasoup sent this peer (not honoured; the GOP is short instead). */
  get keyFrameRequests(): number {
    return this.#transport.keyFrameRequests;
  }

  /** The pid of the ffmpeg process (for CPU measurements). */
  get ffmpegPid(): number | undefined {
    return this.#ffmpeg?.pid;
  }

  /** Mutes the microphone / turns the camera off the way a client does: pauses the producer. */
  async pause(kind: TrackKind): Promise<void> {
    const producer = this.#producerOf(kind, 'pause');
    if (producer.paused) return;
    await producer.pause();
    this.emit('pause', kind);
  }

  /** Unmutes / turns the camera back on. */
  async resume(kind: TrackKind): Promise<void> {
    const producer = this.#producerOf(kind, 'resume');
    if (!producer.paused) return;
    await producer.resume();
    this.emit('resume', kind);
  }

  /** Unpublishes a track: closes its producer. ffmpeg keeps running, so the media clock does not move. */
  stopTrack(kind: TrackKind): void {
    const producer = this.#producerOf(kind, 'stopTrack');
    this.#tracks.get(kind)!.stop();
    this.emit('trackstop', kind, producer.id);
  }

  /**
   * Publishes a stopped track again: a new producer (new id, new SSRC) on the same
   * transport, whose first video packet starts a key frame (at most one GOP away).
   */
  async startTrack(kind: TrackKind, options: { paused?: boolean } = {}): Promise<mediasoupTypes.Producer> {
    this.#assertOpen('startTrack');
    const track = this.#tracks.get(kind);
    if (!track) throw new InvalidConfigError(kind, `peer ${this.peerId} has no ${kind} track (it was created with ${kind}: false)`);
    if (track.producer) throw new SfuRecorderError('ERR_INVALID_STATE', `peer ${this.peerId}: ${kind} track is already started`);
    const producer = await track.start({ appData: this.#appData(kind), cname: this.#cname, ...options });
    this.emit('trackstart', kind, producer);
    return producer;
  }

  /** Counters of the relay and `producer.getStats()` for every track. */
  async stats(): Promise<Partial<Record<TrackKind, SyntheticTrackStats>>> {
    const out: Partial<Record<TrackKind, SyntheticTrackStats>> = {};
    for (const [kind, track] of this.#tracks) {
      const producer = track.producer;
      out[kind] = {
        kind,
        codec: track.codec,
        producerId: producer?.id,
        ssrc: track.ssrc,
        paused: producer?.paused ?? false,
        ...track.counters,
        producerStats: producer && !producer.closed ? await producer.getStats() : [],
      };
    }
    return out;
  }

  /** Kills ffmpeg and closes the transport (and so the producers). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    void this.#ffmpeg?.stop();
    this.#pacer.close();
    this.#ingress.close();
    this.#transport.close();
    this.emit('close');
  }

  get #cname(): string {
    return `synthetic-${this.peerId}`;
  }

  #appData(kind: TrackKind): Record<string, unknown> {
    return {
      ...this.#options.appData,
      peerId: this.peerId,
      streamId: this.streamId,
      source: kind === 'audio' ? 'microphone' : 'camera',
      displayName: this.displayName,
    };
  }

  async #start(): Promise<void> {
    for (const [kind, track] of this.#tracks) {
      const producer = await track.start({ appData: this.#appData(kind), cname: this.#cname });
      this.emit('trackstart', kind, producer);
    }
    const audioSsrc = randomSsrc();
    const videoSsrc = randomSsrc();
    if (this.#options.audio) this.#bySourceSsrc.set(audioSsrc, this.#tracks.get('audio')!);
    if (this.#options.video) this.#bySourceSsrc.set(videoSsrc, this.#tracks.get('video')!);
    const args = buildSourceArgs({
      ...(this.#options.video ? { video: { ...this.#options.video, ssrc: videoSsrc } } : {}),
      ...(this.#options.audio ? { audio: { ssrc: audioSsrc } } : {}),
      syncPattern: this.#options.syncPattern,
      port: this.#ingress.address().port,
    });
    const ffmpeg = new FfmpegSource(this.#options.ffmpegPath, args, `synthetic peer ${this.peerId} ffmpeg`);
    this.#ffmpeg = ffmpeg;
    ffmpeg.on('error', (error) => {
      if (this.#closed) return;
      this.#error = error;
      this.emit('error', error);
      this.close();
    });
    await this.#firstPackets(ffmpeg);
  }

  /** Waits until every track has forwarded a packet (video: a key frame), or fails with ffmpeg's words. */
  async #firstPackets(ffmpeg: FfmpegSource): Promise<void> {
    const deadline = Date.now() + this.#options.startTimeoutMs;
    for (;;) {
      if (this.#error) throw this.#error;
      if (this.#closed) throw new SfuRecorderError('ERR_CLOSED', `synthetic peer ${this.peerId} was closed while starting`);
      if ([...this.#tracks.values()].every((t) => t.counters.packetsSent > 0)) return;
      if (Date.now() > deadline) {
        throw new SfuRecorderError(
          'ERR_TIMEOUT',
          `synthetic peer ${this.peerId}: no RTP from ffmpeg within ${this.#options.startTimeoutMs} ms` +
            (ffmpeg.stderrTail ? `; ffmpeg said:\n${ffmpeg.stderrTail}` : ''),
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  #onSourcePacket(packet: Buffer): void {
    if (isRtp(packet)) {
      const track = this.#bySourceSsrc.get(rtpSsrc(packet));
      if (track) this.#pacer.push(rtpSsrc(packet), track.kind === 'audio' ? 48000 : 90000, packet, (p) => track.onRtp(p));
    }
    else if (isRtcp(packet)) this.#bySourceSsrc.get(rtcpSenderSsrc(packet))?.onRtcp(packet);
  }

  #producerOf(kind: TrackKind, method: string): mediasoupTypes.Producer {
    this.#assertOpen(method);
    const track = this.#tracks.get(kind);
    if (!track) throw new InvalidConfigError(kind, `peer ${this.peerId} has no ${kind} track (it was created with ${kind}: false)`);
    if (!track.producer) throw new SfuRecorderError('ERR_INVALID_STATE', `peer ${this.peerId}: ${method}('${kind}') while the ${kind} track is stopped`);
    return track.producer;
  }

  #assertOpen(method: string): void {
    if (this.#closed) throw new SfuRecorderError('ERR_CLOSED', `peer ${this.peerId}: ${method}() after close()`);
  }
}

const VIDEO_CODECS: readonly SyntheticVideoCodec[] = ['VP8', 'VP9', 'H264'];

function resolveOptions(router: mediasoupTypes.Router, options: SyntheticPeerOptions): ResolvedOptions {
  if (router.closed) throw new SfuRecorderError('ERR_CLOSED', `router ${router.id} is closed`);
  assertSafeId('peerId', options?.peerId);
  const streamId = options.streamId ?? `${options.peerId}-camera`;
  assertSafeId('streamId', streamId);
  const audioOpt = options.audio === undefined ? {} : options.audio;
  const videoOpt = options.video === undefined ? {} : options.video;
  if (audioOpt === false && videoOpt === false) throw new InvalidConfigError('audio', 'a synthetic peer needs audio or video (both are false)');
  let audio: SyntheticAudioCodec | undefined;
  if (audioOpt) {
    audio = audioOpt.codec ?? 'opus';
    if (audio !== 'opus') throw new InvalidConfigError('audio.codec', `audio.codec must be 'opus' (got ${JSON.stringify(audio)})`);
    if (!routerSupports(router, 'audio/opus')) throw noCodec(router, 'audio.codec', 'audio/opus');
  }
  let video: ResolvedOptions['video'];
  if (videoOpt) {
    const codec = videoOpt.codec ?? 'VP8';
    if (!VIDEO_CODECS.includes(codec)) throw new InvalidConfigError('video.codec', `video.codec must be one of ${VIDEO_CODECS.join(', ')} (got ${JSON.stringify(codec)})`);
    if (!routerSupports(router, `video/${codec}`)) throw noCodec(router, 'video.codec', `video/${codec}`);
    video = {
      codec,
      width: int('video.width', videoOpt.width ?? 640, 16, 3840, true),
      height: int('video.height', videoOpt.height ?? 360, 16, 2160, true),
      fps: int('video.fps', videoOpt.fps ?? 30, 1, 60),
      bitrateKbps: int('video.bitrateKbps', videoOpt.bitrateKbps ?? 800, 16, 20000),
      keyframeIntervalMs: int('video.keyframeIntervalMs', videoOpt.keyframeIntervalMs ?? 250, 1, 60000),
      color: videoOpt.color === undefined ? colorFor(options.peerId) : parseColor(videoOpt.color),
      noise: int('video.noise', videoOpt.noise ?? 0, 0, 100),
      label: (options.displayName ?? options.peerId).replace(/[^A-Za-z0-9 _.-]/g, '').slice(0, 32) || undefined,
    } as Omit<SourceVideo, 'ssrc'>;
  }
  return {
    peerId: options.peerId,
    streamId,
    displayName: options.displayName ?? options.peerId,
    audio,
    video,
    syncPattern: options.syncPattern ?? true,
    appData: options.appData ?? {},
    ffmpegPath: options.ffmpegPath ?? resolveFfmpegBinaries().ffmpegPath,
    startTimeoutMs: int('startTimeoutMs', options.startTimeoutMs ?? 10_000, 100, 600_000),
  };
}

function noCodec(router: mediasoupTypes.Router, field: string, mimeType: string): InvalidConfigError {
  return new InvalidConfigError(field, `router ${router.id} has no ${mimeType} codec; create it with SYNTHETIC_ROUTER_CODECS or add ${mimeType} to its mediaCodecs`);
}

function int(field: string, value: unknown, min: number, max: number, even = false): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max || (even && value % 2 !== 0)) {
    throw new InvalidConfigError(field, `${field} must be ${even ? 'an even' : 'an'} integer in ${min}..${max} (got ${JSON.stringify(value)})`);
  }
  return value;
}

function parseColor(value: unknown): string {
  if (typeof value === 'string' && /^#?[0-9a-fA-F]{6}$/.test(value)) return `#${value.replace('#', '').toLowerCase()}`;
  throw new InvalidConfigError('video.color', `video.color must be "#rrggbb" (got ${JSON.stringify(value)})`);
}

/**
 * A saturated mid-dark colour from the peer id: distinct per peer, never close to white,
 * so the flash stays detectable against it.
 */
export function colorFor(peerId: string): string {
  const hash = createHash('sha1').update(peerId).digest();
  const hue = (hash.readUInt16BE(0) / 65536) * 360;
  const s = 0.65;
  const l = 0.4;
  const k = (n: number): number => (n + hue / 30) % 12;
  const a = s * Math.min(l, 1 - l);
  const f = (n: number): number => l - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)));
  return `#${[f(0), f(8), f(4)].map((x) => Math.round(x * 255).toString(16).padStart(2, '0')).join('')}`;
}
