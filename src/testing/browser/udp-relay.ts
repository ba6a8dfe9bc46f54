import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { seededRandom } from '../seeded-random.js';

/** Network conditions of a {@link UdpRelay}. */
export interface UdpRelayOptions {
  /** Share of RTP packets from the browser dropped, 0..1 (STUN, DTLS and RTCP always pass). Default 0. */
  lossRate?: number;
  /** One-way delay added in both directions, ms. Default 0. */
  delayMs?: number;
  /** Deterministic loss: a seed for the packet dropper. Default 1. */
  seed?: number;
}

/**
 * A loopback UDP relay between a browser and a mediasoup WebRtcTransport, adding loss
 * and delay, as `tc netem` would on a real link. Loss applies to RTP from the browser
 * only, so the ICE/DTLS handshake itself is not what a test measures.
 */
export class UdpRelay {
  readonly port: number;
  dropped = 0;
  forwarded = 0;
  readonly #front: Socket;
  readonly #back: Socket;
  readonly #options: Required<Omit<UdpRelayOptions, 'seed'>>;
  #random: () => number;
  #browser: RemoteInfo | undefined;
  #closed = false;

  private constructor(front: Socket, back: Socket, options: UdpRelayOptions) {
    this.#front = front;
    this.#back = back;
    this.port = front.address().port;
    this.#options = { lossRate: options.lossRate ?? 0, delayMs: options.delayMs ?? 0 };
    this.#random = seededRandom(options.seed ?? 1);
  }

  static async start(options: UdpRelayOptions & { target: { address: string; port: number } }): Promise<UdpRelay> {
    const bind = (socket: Socket) => new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const front = createSocket('udp4');
    const back = createSocket('udp4');
    await Promise.all([bind(front), bind(back)]);
    const relay = new UdpRelay(front, back, options);
    front.on('message', (packet, from) => {
      relay.#browser = from;
      if (relay.#shouldDrop(packet)) {
        relay.dropped++;
        return;
      }
      relay.#later(() => back.send(packet, options.target.port, options.target.address));
    });
    back.on('message', (packet) => {
      const browser = relay.#browser;
      if (browser) relay.#later(() => front.send(packet, browser.port, browser.address));
    });
    for (const socket of [front, back]) socket.on('error', () => undefined);
    return relay;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#front.close();
    this.#back.close();
  }

  #shouldDrop(packet: Buffer): boolean {
    if (this.#options.lossRate <= 0 || packet.length < 12) return false;
    // RTP and RTCP start with version 2 (first byte 128..191); RTCP types are 192..223.
    const isRtpOrRtcp = packet[0]! >= 128 && packet[0]! <= 191;
    const isRtcp = isRtpOrRtcp && packet[1]! >= 192 && packet[1]! <= 223;
    return isRtpOrRtcp && !isRtcp && this.#random() < this.#options.lossRate;
  }

  #later(send: () => void): void {
    if (this.#closed) return;
    this.forwarded++;
    const run = () => {
      if (!this.#closed) send();
    };
    if (this.#options.delayMs > 0) setTimeout(run, this.#options.delayMs);
    else run();
  }
}
