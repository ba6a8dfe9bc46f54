import dgram from 'node:dgram';
import { randomInt } from 'node:crypto';
import type { types as mediasoupTypes } from 'mediasoup';
import { SfuRecorderError } from '../errors.js';
import { producerCodec } from './codecs.js';
import {
  fixVp9InterPictureBit,
  isKeyFrameStart,
  rewriteRtcpSsrc,
  rtcpPacketTypes,
  isRtcp,
  type SyntheticAudioCodec,
  type SyntheticVideoCodec,
} from './rtp.js';

/** Which track of a peer. */
export type TrackKind = mediasoupTypes.MediaKind;

/** A random SSRC, never 0. */
export function randomSsrc(): number {
  return randomInt(1, 0xffffffff);
}

/**
 * The client side of one peer: a UDP socket we own, and a PlainTransport on the router
 * connected to it (rtcpMux, comedia off: the transport knows our address up front, so no
 * stray RTCP packet can lock it onto the wrong port). Both tracks share it, like a
 * browser's BUNDLE transport; producers are told apart by SSRC.
 */
export class PeerTransport {
  readonly transport: mediasoupTypes.PlainTransport;
  readonly #socket: dgram.Socket;
  #closed = false;
  /** PLI and FIR packets mediasoup sent us (we cannot honour them: ffmpeg's GOP is short instead). */
  keyFrameRequests = 0;
  /** NACKs mediasoup sent us (no retransmission is done). */
  nacks = 0;

  private constructor(transport: mediasoupTypes.PlainTransport, socket: dgram.Socket) {
    this.transport = transport;
    this.#socket = socket;
    socket.on('message', (packet) => {
      if (!isRtcp(packet)) return;
      for (const { pt, fmt } of rtcpPacketTypes(packet)) {
        if (pt === 206 && (fmt === 1 || fmt === 4)) this.keyFrameRequests++;
        else if (pt === 205 && fmt === 1) this.nacks++;
      }
    });
  }

  static async create(router: mediasoupTypes.Router, appData: Record<string, unknown>): Promise<PeerTransport> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    // A burst of key frame packets must not overflow the kernel's buffer on a busy box.
    socket.setSendBufferSize(1 << 20);
    let transport: mediasoupTypes.PlainTransport | undefined;
    try {
      transport = await router.createPlainTransport({
        listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
        rtcpMux: true,
        comedia: false,
        appData: { ...appData, synthetic: true },
      });
      await transport.connect({ ip: '127.0.0.1', port: socket.address().port });
      socket.connect(transport.tuple.localPort, '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    } catch (error) {
      transport?.close();
      socket.close();
      throw error;
    }
    return new PeerTransport(transport, socket);
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(packet: Buffer): void {
    if (this.#closed) return;
    this.#socket.send(packet);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.transport.close();
    this.#socket.close();
  }
}

/** Counters of one track's relay. */
export interface TrackCounters {
  /** RTP packets sent to mediasoup for the current producer. */
  packetsSent: number;
  bytesSent: number;
  /** RTP packets dropped while waiting for a key frame or while the track was stopped. */
  packetsDropped: number;
}

/**
 * One track of a peer: produces on the peer's transport and forwards the source's packets
 * into it with the current producer's SSRC. Each (re)start produces with a fresh SSRC, as a
 * client republishing a track would, and (video) forwards nothing until a key frame starts.
 */
export class TrackSender {
  readonly kind: TrackKind;
  readonly codec: SyntheticVideoCodec | SyntheticAudioCodec;
  readonly #peer: PeerTransport;
  #producer: mediasoupTypes.Producer | undefined;
  #ssrc = 0;
  #waitingForKeyFrame = false;
  #starting = false;
  readonly counters: TrackCounters = { packetsSent: 0, bytesSent: 0, packetsDropped: 0 };

  constructor(peer: PeerTransport, kind: TrackKind, codec: SyntheticVideoCodec | SyntheticAudioCodec) {
    this.#peer = peer;
    this.kind = kind;
    this.codec = codec;
  }

  get producer(): mediasoupTypes.Producer | undefined {
    return this.#producer;
  }

  get ssrc(): number {
    return this.#ssrc;
  }

  /** Produces (again). The previous producer, if any, must have been stopped. */
  async start(options: { appData: Record<string, unknown>; cname: string; paused?: boolean }): Promise<mediasoupTypes.Producer> {
    if (this.#producer || this.#starting) throw new SfuRecorderError('ERR_INVALID_STATE', `${this.kind} track is already started`);
    this.#starting = true;
    try {
      const ssrc = randomSsrc();
      const producer = await this.#peer.transport.produce({
        kind: this.kind,
        rtpParameters: {
          codecs: [producerCodec(this.codec)],
          encodings: [{ ssrc }],
          rtcp: { cname: options.cname, reducedSize: true },
        },
        paused: options.paused ?? false,
        appData: options.appData,
      });
      this.#ssrc = ssrc;
      this.#producer = producer;
      this.#waitingForKeyFrame = this.kind === 'video';
      this.counters.packetsSent = 0;
      this.counters.bytesSent = 0;
      producer.observer.once('close', () => {
        if (this.#producer === producer) this.#producer = undefined;
      });
      return producer;
    } finally {
      this.#starting = false;
    }
  }

  /** Closes the producer (the client unpublished); packets are dropped until {@link start}. */
  stop(): void {
    const producer = this.#producer;
    this.#producer = undefined;
    producer?.close();
  }

  /** Forwards one RTP packet from the source (modified in place). */
  onRtp(packet: Buffer): void {
    if (!this.#producer || this.#producer.closed) {
      this.counters.packetsDropped++;
      return;
    }
    if (this.codec === 'VP9') fixVp9InterPictureBit(packet);
    if (this.#waitingForKeyFrame) {
      if (!isKeyFrameStart(this.codec as SyntheticVideoCodec, packet)) {
        this.counters.packetsDropped++;
        return;
      }
      this.#waitingForKeyFrame = false;
    }
    packet.writeUInt32BE(this.#ssrc >>> 0, 8);
    this.counters.packetsSent++;
    this.counters.bytesSent += packet.length;
    this.#peer.send(packet);
  }

  /** Forwards one RTCP packet (sender report) from the source, with the current SSRC. */
  onRtcp(packet: Buffer): void {
    if (!this.#producer || this.#producer.closed || this.#waitingForKeyFrame) return;
    rewriteRtcpSsrc(packet, this.#ssrc);
    this.#peer.send(packet);
  }
}
