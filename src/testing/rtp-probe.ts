import dgram from 'node:dgram';
import type { types as mediasoupTypes } from 'mediasoup';
import { isRtp, rtpPayloadType, rtpSequenceNumber, rtpSsrc, rtpTimestamp, rtpMarker } from './rtp.js';

/** One RTP packet an {@link RtpProbe} received. */
export interface ProbedPacket {
  /** `performance.now()` at arrival. */
  arrivalMs: number;
  ssrc: number;
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  marker: boolean;
  /** The whole packet. */
  packet: Buffer;
}

/**
 * A minimal receiving end for tests: a PlainTransport (rtcpMux, comedia off) connected to
 * a UDP socket in this process, on which it consumes producers and keeps what arrives.
 * Packets with payload type 127 (mediasoup's bandwidth probation) are not kept.
 */
export class RtpProbe {
  readonly transport: mediasoupTypes.PlainTransport;
  readonly router: mediasoupTypes.Router;
  /** Received packets in arrival order (bounded by `maxPackets`). */
  readonly packets: ProbedPacket[] = [];
  readonly #socket: dgram.Socket;
  readonly #maxPackets: number;
  #closed = false;

  static async create(router: mediasoupTypes.Router, options: { maxPackets?: number } = {}): Promise<RtpProbe> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => resolve());
    });
    socket.setRecvBufferSize(4 << 20);
    const transport = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: false });
    await transport.connect({ ip: '127.0.0.1', port: socket.address().port });
    return new RtpProbe(router, transport, socket, options.maxPackets ?? 100_000);
  }

  private constructor(router: mediasoupTypes.Router, transport: mediasoupTypes.PlainTransport, socket: dgram.Socket, maxPackets: number) {
    this.router = router;
    this.transport = transport;
    this.#socket = socket;
    this.#maxPackets = maxPackets;
    socket.on('message', (packet) => {
      if (!isRtp(packet) || rtpPayloadType(packet) === 127) return;
      if (this.packets.length >= this.#maxPackets) this.packets.shift();
      this.packets.push({
        arrivalMs: performance.now(),
        ssrc: rtpSsrc(packet),
        payloadType: rtpPayloadType(packet),
        sequenceNumber: rtpSequenceNumber(packet),
        timestamp: rtpTimestamp(packet),
        marker: rtpMarker(packet),
        packet,
      });
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Consumes a producer with the router's own capabilities; `paused` as mediasoup takes it. */
  consume(producerId: string, options: { paused?: boolean } = {}): Promise<mediasoupTypes.Consumer> {
    return this.transport.consume({ producerId, rtpCapabilities: this.router.rtpCapabilities, paused: options.paused ?? false });
  }

  /** Packets of one consumer (matched by its SSRC), optionally only those after `sinceMs`. */
  packetsOf(consumer: mediasoupTypes.Consumer, sinceMs = -Infinity): ProbedPacket[] {
    const ssrc = consumer.rtpParameters.encodings?.[0]?.ssrc;
    return this.packets.filter((p) => p.ssrc === ssrc && p.arrivalMs >= sinceMs);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.transport.close();
    this.#socket.close();
  }
}
