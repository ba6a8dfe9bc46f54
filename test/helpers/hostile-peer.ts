import type { types as ms } from 'mediasoup';
import type { RtpCapture, CapturedRtpPacket } from '../../src/testing/index.js';
import { producerCodec } from '../../src/testing/codecs.js';
import { PeerTransport, randomSsrc } from '../../src/testing/rtp-sender.js';
import { senderReport } from '../../src/testing/rtp.js';

/** Where a packet is in the replay, for a {@link PacketMutation} to decide what to do with it. */
export interface PacketContext {
  kind: 'audio' | 'video';
  /** Media time of the packet, ms after its track's first packet. */
  mediaMs: number;
  /** Index of the packet in its track. */
  index: number;
}

/**
 * Turns one outgoing RTP packet (SSRC, sequence number and timestamp already set) into
 * what is really sent: the packet changed, several packets, or none.
 */
export type PacketMutation = (packet: Buffer, context: PacketContext) => Buffer[];

/** Options of {@link HostilePeer.create}. */
export interface HostilePeerOptions {
  peerId: string;
  capture: RtpCapture;
  audio?: PacketMutation;
  video?: PacketMutation;
  /** First RTP timestamp per kind (default random), e.g. just below 2^32 to cross the wrap-around. */
  timestampStart?: Partial<Record<'audio' | 'video', number>>;
  /** First sequence number per kind (default random). */
  sequenceStart?: Partial<Record<'audio' | 'video', number>>;
  /** Wait this long after producing before sending (default 500 ms: the recorder's taps are ready by then). */
  startDelayMs?: number;
  /** Resolves once the recorder captures this many tracks of the peer; sending starts then (instead of `startDelayMs`). */
  whenRecording?: (tracks: number) => Promise<void>;
}

const CLOCK = { audio: 48_000, video: 90_000 } as const;

/**
 * A client that publishes a captured call through a real PlainTransport producer, with
 * every packet passed through a mutation first: random payloads, truncation, absurd
 * keyframe headers, header extension junk, another codec's payload type, sequence and
 * timestamp chaos. It sends once through the capture (no loop) at media pace, with a
 * sender report per track every second, and never answers keyframe requests.
 */
export class HostilePeer {
  readonly peerId: string;
  readonly streamId: string;
  readonly producers: ms.Producer[] = [];
  readonly #transport: PeerTransport;
  readonly #done: Promise<void>;
  #timer: NodeJS.Timeout | undefined;

  static async create(router: ms.Router, options: HostilePeerOptions): Promise<HostilePeer> {
    const streamId = `${options.peerId}-camera`;
    const transport = await PeerTransport.create(router, { peerId: options.peerId, streamId });
    return new HostilePeer(options, streamId, transport);
  }

  private constructor(options: HostilePeerOptions, streamId: string, transport: PeerTransport) {
    this.peerId = options.peerId;
    this.streamId = streamId;
    this.#transport = transport;
    this.#done = this.#run(options);
  }

  /** Resolves once every packet was sent. */
  whenDone(): Promise<void> {
    return this.#done;
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#transport.close();
  }

  async #run(options: HostilePeerOptions): Promise<void> {
    const { capture } = options;
    const kinds = [...(capture.audio ? (['audio'] as const) : []), ...(capture.videoCodec ? (['video'] as const) : [])];
    const tracks = new Map<'audio' | 'video', { ssrc: number; seq: number; tsBase: number; sent: number; lastTs: number; index: number }>();
    for (const kind of kinds) {
      const ssrc = randomSsrc();
      const producer = await this.#transport.transport.produce({
        kind,
        rtpParameters: {
          codecs: [producerCodec(kind === 'audio' ? 'opus' : capture.videoCodec!)],
          encodings: [{ ssrc }],
          rtcp: { cname: `hostile-${options.peerId}`, reducedSize: true },
        },
        appData: { peerId: options.peerId, streamId: this.streamId, source: kind === 'audio' ? 'microphone' : 'camera', displayName: options.peerId },
      });
      this.producers.push(producer);
      const tsBase = options.timestampStart?.[kind] ?? randomSsrc();
      tracks.set(kind, { ssrc, seq: options.sequenceStart?.[kind] ?? randomSsrc() & 0xffff, tsBase, sent: 0, lastTs: tsBase, index: 0 });
    }
    // Media sent before the recorder taps the producer would be lost to the test, not the recorder.
    await (options.whenRecording ? options.whenRecording(kinds.length) : new Promise((resolve) => setTimeout(resolve, options.startDelayMs ?? 500)));
    const packets = capture.packets;
    const start = performance.now();
    let next = 0;
    let nextReport = start + 500;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const now = performance.now();
        while (next < packets.length && start + packets[next]!.atMs <= now) this.#send(packets[next++]!, tracks, options);
        if (now >= nextReport) {
          nextReport += 1000;
          for (const [, track] of tracks) {
            const report = senderReport(track.lastTs, track.sent, track.sent * 1000);
            report.writeUInt32BE(track.ssrc >>> 0, 4);
            this.#transport.send(report);
          }
        }
        if (next >= packets.length || this.#transport.closed) {
          clearInterval(this.#timer);
          resolve();
        }
      };
      this.#timer = setInterval(tick, 2);
    });
  }

  #send(
    captured: CapturedRtpPacket,
    tracks: Map<'audio' | 'video', { ssrc: number; seq: number; tsBase: number; sent: number; lastTs: number; index: number }>,
    options: HostilePeerOptions,
  ): void {
    const track = tracks.get(captured.kind);
    if (!track) return;
    const packet = Buffer.from(captured.data);
    packet.writeUInt32BE(track.ssrc >>> 0, 8);
    packet.writeUInt16BE(track.seq, 2);
    track.seq = (track.seq + 1) & 0xffff;
    const ts = (track.tsBase + captured.relativeTimestamp) >>> 0;
    packet.writeUInt32BE(ts, 4);
    track.lastTs = ts;
    const context: PacketContext = { kind: captured.kind, mediaMs: (captured.relativeTimestamp * 1000) / CLOCK[captured.kind], index: track.index++ };
    const mutate = captured.kind === 'audio' ? options.audio : options.video;
    for (const out of mutate ? mutate(packet, context) : [packet]) {
      this.#transport.send(out);
      track.sent++;
    }
  }
}
