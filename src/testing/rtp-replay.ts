import dgram from 'node:dgram';
import { EventEmitter } from 'eventemitter3';
import type { types as mediasoupTypes } from 'mediasoup';
import { InvalidConfigError, SfuRecorderError } from '../errors.js';
import { assertSafeId } from '../config/ids.js';
import { resolveFfmpegBinaries } from '../ffmpeg/binaries.js';
import { routerSupports } from './codecs.js';
import { buildSourceArgs, FfmpegSource } from './ffmpeg-source.js';
import { PeerTransport, TrackSender, randomSsrc, type TrackCounters, type TrackKind } from './rtp-sender.js';
import { colorFor } from './synthetic-peer.js';
import { fixVp9InterPictureBit, isRtp, rtpSsrc, rtpTimestamp, senderReport, type SyntheticVideoCodec } from './rtp.js';

/** One captured RTP packet: when it left ffmpeg and its timestamp, relative to its track's first packet. */
export interface CapturedRtpPacket {
  kind: TrackKind;
  /** When to send it: its media time, in ms after the start of the capture. */
  atMs: number;
  /** RTP timestamp minus the track's first timestamp. */
  relativeTimestamp: number;
  /** The whole RTP packet as ffmpeg sent it (VP9 already fixed); SSRC, sequence number and timestamp are rewritten on replay. */
  data: Buffer;
}

/** A few seconds of a synthetic peer's RTP, to replay cheaply and forever with {@link RtpReplayer}. */
export interface RtpCapture {
  /** Loop length; a whole number of seconds so the sync pattern continues seamlessly. */
  durationMs: number;
  videoCodec: SyntheticVideoCodec | undefined;
  audio: boolean;
  packets: CapturedRtpPacket[];
  /** Average bitrate of the capture, both tracks. */
  bitrateKbps: number;
}

/** Options of {@link captureSyntheticMedia}. */
export interface CaptureOptions {
  /** Whole seconds, default 10. */
  durationSeconds?: number;
  /** Default VP8 640x360@30, 900 kbps with grain so that the bitrate is realistic. */
  video?: false | { codec?: SyntheticVideoCodec; width?: number; height?: number; fps?: number; bitrateKbps?: number; keyframeIntervalMs?: number; color?: string; noise?: number };
  audio?: boolean;
  syncPattern?: boolean;
  ffmpegPath?: string;
}

const CLOCK: Record<TrackKind, number> = { audio: 48000, video: 90000 };
/** Gap between packets of one frame on replay (1 ms: a 1200-byte packet per ms is ~10 Mbps). */
const PACE_MS = 1;

/**
 * Runs the synthetic peer's ffmpeg once, in real time, and keeps its RTP in memory
 * (about 1.4 MB for 10 s at 1.1 Mbps). Runs faster than real time (10 s in ~3 s).
 */
export async function captureSyntheticMedia(options: CaptureOptions = {}): Promise<RtpCapture> {
  const durationSeconds = options.durationSeconds ?? 10;
  if (!Number.isInteger(durationSeconds) || durationSeconds < 1 || durationSeconds > 600) {
    throw new InvalidConfigError('durationSeconds', `durationSeconds must be an integer in 1..600 (got ${JSON.stringify(durationSeconds)})`);
  }
  const v = options.video === false ? undefined : (options.video ?? {});
  const codec = v?.codec ?? 'VP8';
  const audio = options.audio ?? true;
  if (!v && !audio) throw new InvalidConfigError('audio', 'a capture needs audio or video (both are off)');
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  socket.setRecvBufferSize(4 << 20);
  const ssrcs: Record<TrackKind, number> = { audio: randomSsrc(), video: randomSsrc() };
  const raw: Array<{ kind: TrackKind; data: Buffer }> = [];
  socket.on('message', (data) => {
    if (!isRtp(data)) return; // RTCP: the replayer writes its own sender reports
    const ssrc = rtpSsrc(data);
    const kind: TrackKind | undefined = ssrc === ssrcs.audio >>> 0 ? 'audio' : ssrc === ssrcs.video >>> 0 ? 'video' : undefined;
    if (kind) raw.push({ kind, data });
  });
  const args = buildSourceArgs({
    ...(v
      ? {
          video: {
            codec,
            width: v.width ?? 640,
            height: v.height ?? 360,
            fps: v.fps ?? 30,
            bitrateKbps: v.bitrateKbps ?? 900,
            keyframeIntervalMs: v.keyframeIntervalMs ?? 250,
            color: v.color ?? colorFor('capture'),
            noise: v.noise ?? 12,
            ssrc: ssrcs.video,
          },
        }
      : {}),
    ...(audio ? { audio: { ssrc: ssrcs.audio } } : {}),
    syncPattern: options.syncPattern ?? true,
    port: socket.address().port,
    durationSeconds,
    // Send times come from RTP timestamps, so ffmpeg can run as fast as it likes.
    realtime: false,
  });
  const ffmpeg = new FfmpegSource(options.ffmpegPath ?? resolveFfmpegBinaries().ffmpegPath, args, 'capturing synthetic media', { finite: true });
  let failure: Error | undefined;
  ffmpeg.on('error', (error) => (failure = error));
  await ffmpeg.whenExited();
  await new Promise((r) => setTimeout(r, 50)); // the last datagrams
  socket.close();
  if (failure) throw failure;
  if (raw.length === 0) throw new SfuRecorderError('ERR_CAPTURE_EMPTY', `ffmpeg produced no RTP:\n${ffmpeg.stderrTail}`);

  for (const kind of ['audio', 'video'] as const) {
    const seqs = raw.filter((r) => r.kind === kind).map((r) => r.data.readUInt16BE(2));
    const gaps = seqs.filter((seq, i) => i > 0 && ((seq - seqs[i - 1]!) & 0xffff) !== 1).length;
    if (gaps > 0) throw new SfuRecorderError('ERR_CAPTURE_LOSS', `capture lost ${kind} packets (${gaps} gaps in ${seqs.length}); the box is too busy or the socket buffer too small`);
  }
  const ts0: Partial<Record<TrackKind, number>> = {};
  const packets: CapturedRtpPacket[] = [];
  const lastOf: Partial<Record<TrackKind, CapturedRtpPacket>> = {};
  let bytes = 0;
  for (const { kind, data } of raw) {
    ts0[kind] ??= rtpTimestamp(data);
    const relativeTimestamp = (rtpTimestamp(data) - ts0[kind]!) >>> 0;
    // Keep exactly one loop of media time, so the next loop's timestamps follow on.
    if (relativeTimestamp >= durationSeconds * CLOCK[kind]) continue;
    if (kind === 'video' && codec === 'VP9') fixVp9InterPictureBit(data);
    // Send times come from the media clock, not from when ffmpeg emitted the packet (video
    // leaves the encoder 5-35 ms after the audio of the same instant), so A/V are exact on the wire.
    // Packets of one frame are spread PACE_MS apart (as a client's pacer would): sending a key
    // frame of a hundred peers in one burst overflows the worker's socket buffer.
    const sameFrame = packets.length > 0 && lastOf[kind]?.relativeTimestamp === relativeTimestamp;
    const last = lastOf[kind];
    // Never before the previous packet of the track: a long key frame must not interleave with the next frame.
    const atMs = sameFrame ? last!.atMs + PACE_MS : Math.max((relativeTimestamp / CLOCK[kind]) * 1000, last?.atMs ?? 0);
    const packet = { kind, atMs, relativeTimestamp, data };
    lastOf[kind] = packet;
    packets.push(packet);
    bytes += data.length;
  }
  packets.sort((a, b) => a.atMs - b.atMs); // stable: keeps each track's packet order
  return { durationMs: durationSeconds * 1000, videoCodec: v ? codec : undefined, audio, packets, bitrateKbps: (bytes * 8) / durationSeconds / 1000 };
}

/** Options of {@link RtpReplayer.create}. */
export interface RtpReplayerOptions {
  peerId: string;
  streamId?: string;
  displayName?: string;
  capture: RtpCapture;
  /** Start this far into the capture (spreads key frame bursts of many replayers). Default 0. */
  phaseMs?: number;
  appData?: Record<string, unknown>;
}

/** Events of {@link RtpReplayer}. */
export interface RtpReplayerEvents {
  close: [];
}

/**
 * A cheap synthetic peer for load tests: replays an {@link RtpCapture} in real time, looped,
 * into its own PlainTransport with fresh SSRCs and continuous sequence numbers and
 * timestamps, plus an RTCP sender report per track every second. No encoder runs; one node
 * process drives on the order of a hundred of them (all share one timer).
 */
export class RtpReplayer extends EventEmitter<RtpReplayerEvents> {
  readonly peerId: string;
  readonly streamId: string;
  readonly capture: RtpCapture;
  readonly #transport: PeerTransport;
  readonly #tracks = new Map<TrackKind, TrackSender>();
  readonly #seq: Record<TrackKind, number> = { audio: randomSsrc() & 0xffff, video: randomSsrc() & 0xffff };
  readonly #tsBase: Record<TrackKind, number> = { audio: randomSsrc(), video: randomSsrc() };
  readonly #sent: Record<TrackKind, { packets: number; octets: number; lastTs: number; lastAt: number }> = {
    audio: { packets: 0, octets: 0, lastTs: 0, lastAt: 0 },
    video: { packets: 0, octets: 0, lastTs: 0, lastAt: 0 },
  };
  #startMs = 0;
  #loop = 0;
  #index = 0;
  #nextSrMs = 0;
  #closed = false;

  static async create(router: mediasoupTypes.Router, options: RtpReplayerOptions): Promise<RtpReplayer> {
    assertSafeId('peerId', options?.peerId);
    const streamId = options.streamId ?? `${options.peerId}-camera`;
    assertSafeId('streamId', streamId);
    const capture = options.capture;
    if (!capture || !Array.isArray(capture.packets) || capture.packets.length === 0) {
      throw new InvalidConfigError('capture', 'capture must be an RtpCapture with packets (see captureSyntheticMedia)');
    }
    if (capture.videoCodec && !routerSupports(router, `video/${capture.videoCodec}`)) {
      throw new InvalidConfigError('capture', `router ${router.id} has no video/${capture.videoCodec} codec for this capture`);
    }
    const transport = await PeerTransport.create(router, { peerId: options.peerId, streamId });
    const replayer = new RtpReplayer(options, streamId, transport);
    try {
      const cname = `replay-${options.peerId}`;
      for (const [kind, track] of replayer.#tracks) {
        await track.start({
          cname,
          appData: { ...options.appData, peerId: options.peerId, streamId, source: kind === 'audio' ? 'microphone' : 'camera', displayName: options.displayName ?? options.peerId },
        });
      }
    } catch (error) {
      replayer.close();
      throw error;
    }
    const phase = Math.max(0, Math.min(options.phaseMs ?? 0, capture.durationMs - 1));
    replayer.#startMs = performance.now() - phase;
    replayer.#index = capture.packets.findIndex((p) => p.atMs >= phase);
    if (replayer.#index < 0) replayer.#index = 0;
    scheduler.add(replayer);
    return replayer;
  }

  private constructor(options: RtpReplayerOptions, streamId: string, transport: PeerTransport) {
    super();
    this.peerId = options.peerId;
    this.streamId = streamId;
    this.capture = options.capture;
    this.#transport = transport;
    if (options.capture.audio) this.#tracks.set('audio', new TrackSender(transport, 'audio', 'opus'));
    if (options.capture.videoCodec) this.#tracks.set('video', new TrackSender(transport, 'video', options.capture.videoCodec));
    transport.transport.observer.once('close', () => this.close());
  }

  get closed(): boolean {
    return this.#closed;
  }

  get transport(): mediasoupTypes.PlainTransport {
    return this.#transport.transport;
  }

  get audioProducer(): mediasoupTypes.Producer | undefined {
    return this.#tracks.get('audio')?.producer;
  }

  get videoProducer(): mediasoupTypes.Producer | undefined {
    return this.#tracks.get('video')?.producer;
  }

  /** Relay counters per track. */
  counters(): Partial<Record<TrackKind, TrackCounters>> {
    const out: Partial<Record<TrackKind, TrackCounters>> = {};
    for (const [kind, track] of this.#tracks) out[kind] = { ...track.counters };
    return out;
  }

  async pause(kind: TrackKind): Promise<void> {
    await this.#producer(kind).pause();
  }

  async resume(kind: TrackKind): Promise<void> {
    await this.#producer(kind).resume();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    scheduler.delete(this);
    this.#transport.close();
    this.emit('close');
  }

  /** Sends everything due by `now`; called by the shared scheduler. */
  tick(now: number): void {
    const { packets, durationMs } = this.capture;
    for (;;) {
      const p = packets[this.#index]!;
      const due = this.#startMs + this.#loop * durationMs + p.atMs;
      if (due > now) break;
      this.#send(p, due);
      if (++this.#index === packets.length) {
        this.#index = 0;
        this.#loop++;
      }
    }
    if (now >= this.#nextSrMs) {
      this.#nextSrMs = now + 1000;
      for (const [kind, track] of this.#tracks) {
        const s = this.#sent[kind];
        if (s.packets === 0) continue;
        const ts = (s.lastTs + Math.round(((now - s.lastAt) * CLOCK[kind]) / 1000)) >>> 0;
        track.onRtcp(senderReport(ts, s.packets, s.octets));
      }
    }
  }

  #send(p: CapturedRtpPacket, due: number): void {
    const track = this.#tracks.get(p.kind);
    if (!track) return;
    const data = Buffer.from(p.data);
    const seq = this.#seq[p.kind];
    this.#seq[p.kind] = (seq + 1) & 0xffff;
    data.writeUInt16BE(seq, 2);
    const ts = (this.#tsBase[p.kind] + p.relativeTimestamp + (this.#loop * this.capture.durationMs * CLOCK[p.kind]) / 1000) >>> 0;
    data.writeUInt32BE(ts, 4);
    track.onRtp(data);
    const s = this.#sent[p.kind];
    s.packets++;
    s.octets += data.length - 12;
    s.lastTs = ts;
    s.lastAt = due;
  }

  #producer(kind: TrackKind): mediasoupTypes.Producer {
    if (this.#closed) throw new SfuRecorderError('ERR_CLOSED', `replayer ${this.peerId} is closed`);
    const producer = this.#tracks.get(kind)?.producer;
    if (!producer) throw new InvalidConfigError(kind, `replayer ${this.peerId} has no ${kind} track`);
    return producer;
  }
}

/** One timer for every replayer in the process: a tick every 2 ms sends what is due. */
const scheduler = new (class {
  readonly #replayers = new Set<RtpReplayer>();
  #timer: NodeJS.Timeout | undefined;

  add(replayer: RtpReplayer): void {
    this.#replayers.add(replayer);
    this.#timer ??= setInterval(() => {
      const now = performance.now();
      for (const r of this.#replayers) r.tick(now);
    }, 2);
  }

  delete(replayer: RtpReplayer): void {
    this.#replayers.delete(replayer);
    if (this.#replayers.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
})();
