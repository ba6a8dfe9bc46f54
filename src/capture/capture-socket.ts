import { createSocket, type Socket } from 'node:dgram';
import { JournalRecordKind, monotonicMs } from './journal.js';
import { isRtcp, rtpSsrc, splitRtcp } from './rtp-demux.js';

/** Receives the packets of one SSRC. `arrivalMono` is monotonic ms. */
export type PacketSink = (kind: JournalRecordKind, packet: Buffer, arrivalMono: number) => void;

/** Options for {@link CaptureSocket.open}. */
export interface CaptureSocketOptions {
  /** Address to bind; the recorder's PlainTransport sends here. Default `127.0.0.1`. */
  ip?: string;
  /** Requested kernel receive buffer (bytes). Capped by `net.core.rmem_max`. Default 8 MiB. */
  receiveBufferBytes?: number;
}

/**
 * The UDP socket a session's PlainTransport sends every tapped consumer to.
 * Packets are demultiplexed by SSRC to the sink registered for that SSRC;
 * packets for unknown SSRCs (mediasoup probation, a consumer being torn down)
 * are counted and dropped.
 */
export class CaptureSocket {
  readonly #socket: Socket;
  readonly #sinks = new Map<number, PacketSink>();
  #closed = false;
  /** Packets that arrived for no registered SSRC. */
  unroutedPackets = 0;
  /** Packets received in total. */
  receivedPackets = 0;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('message', (packet) => this.#onPacket(packet));
  }

  /** Binds a socket on an ephemeral port. */
  static async open(options: CaptureSocketOptions = {}): Promise<CaptureSocket> {
    const socket = createSocket({ type: 'udp4', recvBufferSize: options.receiveBufferBytes ?? 8 * 1024 * 1024 });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, options.ip ?? '127.0.0.1', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new CaptureSocket(socket);
  }

  get closed(): boolean {
    return this.#closed;
  }

  get address(): { ip: string; port: number } {
    const { address, port } = this.#socket.address();
    return { ip: address, port };
  }

  /** The receive buffer the kernel actually granted. */
  get receiveBufferBytes(): number {
    return this.#socket.getRecvBufferSize();
  }

  route(ssrc: number, sink: PacketSink): void {
    this.#sinks.set(ssrc, sink);
  }

  unroute(ssrc: number): void {
    this.#sinks.delete(ssrc);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#sinks.clear();
    this.#socket.close();
  }

  #onPacket(packet: Buffer): void {
    this.receivedPackets++;
    const arrival = monotonicMs();
    if (isRtcp(packet)) {
      for (const part of splitRtcp(packet)) this.#deliver(part.ssrc, JournalRecordKind.Rtcp, part.packet, arrival);
      return;
    }
    const ssrc = rtpSsrc(packet);
    if (ssrc !== undefined) this.#deliver(ssrc, JournalRecordKind.Rtp, packet, arrival);
  }

  #deliver(ssrc: number, kind: JournalRecordKind, packet: Buffer, arrival: number): void {
    const sink = this.#sinks.get(ssrc);
    if (sink) sink(kind, packet, arrival);
    else this.unroutedPackets++;
  }
}
