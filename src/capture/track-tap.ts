import { join } from 'node:path';
import type { types as ms } from 'mediasoup';
import type { CaptureJournal, CaptureSocket, JournalFault } from './capture-socket.js';
import { SfuRecorderError } from '../errors.js';
import { assertRecordable } from './codecs.js';
import { monotonicMs, type JournalHeader } from './journal.js';

/** Who a tapped track belongs to, and where its journal goes. */
export interface TrackTapOptions {
  trackId: string;
  peerId: string;
  streamId: string;
  sessionDir: string;
  /** Journal path relative to `sessionDir`. */
  journal: string;
  transport: ms.PlainTransport;
  socket: CaptureSocket;
  rtpCapabilities: ms.RtpCapabilities;
  /** Start with the consumer paused (the room's recording is paused). */
  paused: boolean;
  /** Epoch ms = monotonic ms + this. */
  monoToEpochMs: number;
  /** How often to ask for a keyframe until one arrives. Default 500 ms. */
  keyFrameRetryMs?: number;
  /**
   * The least time between two keyframe requests made because the stream became
   * undecodable (unrecovered loss). A request reaches the sender, which then sends a
   * large frame to every receiver, so it is rate-limited. Default 1000 ms.
   */
  keyFrameMinIntervalMs?: number;
}

/** Lifecycle callbacks a tap reports to its session (which writes the timeline). */
export interface TrackTapListener {
  onMuted(tap: TrackTap): void;
  onUnmuted(tap: TrackTap): void;
  /** The producer or the recorder's transport went away; the tap closed itself. */
  onEnded(tap: TrackTap): void;
  /** The journal failed, or waits for disk space, or resumed: told when it happens. */
  onJournalFault(tap: TrackTap, fault: JournalFault): void;
}

/**
 * Taps one producer: a consumer on the session's PlainTransport whose packets are
 * routed by SSRC into an append-only journal. Video taps ask for a keyframe until
 * mediasoup reports one was forwarded, at the start and after every resume, so a
 * recording never opens on frames that cannot be decoded.
 */
export class TrackTap {
  readonly trackId: string;
  readonly producer: ms.Producer;
  readonly consumer: ms.Consumer;
  readonly journal: CaptureJournal;
  readonly #listener: TrackTapListener;
  readonly #keyFrameRetryMs: number;
  readonly #keyFrameMinIntervalMs: number;
  #keyFrameTimer: NodeJS.Timeout | undefined;
  #lossTimer: NodeJS.Timeout | undefined;
  #lastLossRequestAt = Number.NEGATIVE_INFINITY;
  #closed = false;
  /** Monotonic ms of the last keyframe mediasoup forwarded, if any. */
  lastKeyFrameAt: number | undefined;

  private constructor(
    producer: ms.Producer,
    consumer: ms.Consumer,
    journal: CaptureJournal,
    options: TrackTapOptions,
    listener: TrackTapListener,
  ) {
    this.trackId = options.trackId;
    this.producer = producer;
    this.consumer = consumer;
    this.journal = journal;
    this.#listener = listener;
    this.#keyFrameRetryMs = options.keyFrameRetryMs ?? 500;
    this.#keyFrameMinIntervalMs = options.keyFrameMinIntervalMs ?? 1000;
  }

  /**
   * Creates the consumer (paused), opens the journal, routes the SSRC, then resumes.
   * Throws `UnsupportedCodecError` before touching anything when the codec cannot be recorded.
   */
  static async open(producer: ms.Producer, options: TrackTapOptions, listener: TrackTapListener): Promise<TrackTap> {
    assertRecordable(producer);
    const consumer = await options.transport.consume({
      producerId: producer.id,
      rtpCapabilities: options.rtpCapabilities,
      paused: true,
      appData: { sfuRecorderTrackId: options.trackId },
    });
    const codec = consumer.rtpParameters.codecs[0]!;
    const ssrc = consumer.rtpParameters.encodings?.[0]?.ssrc;
    if (ssrc === undefined) {
      consumer.close();
      throw new SfuRecorderError('ERR_CAPTURE', `consumer for producer ${producer.id} has no SSRC`);
    }
    const header: JournalHeader = {
      version: 1,
      trackId: options.trackId,
      peerId: options.peerId,
      streamId: options.streamId,
      producerId: producer.id,
      kind: consumer.kind,
      mimeType: codec.mimeType,
      clockRate: codec.clockRate,
      ...(codec.channels !== undefined ? { channels: codec.channels } : {}),
      payloadType: codec.payloadType,
      ssrc,
      parameters: { ...(codec.parameters ?? {}) },
      monoToEpochMs: options.monoToEpochMs,
      createdAt: monotonicMs() + options.monoToEpochMs,
    };
    let journal: CaptureJournal;
    // The tap exists only once the journal is open; losses reported before that have no one to repair them.
    const taps: TrackTap[] = [];
    try {
      journal = await options.socket.openJournal(join(options.sessionDir, options.journal), header, {
        ...(consumer.kind === 'video' ? { onUnrecoveredLoss: () => taps[0]?.onUnrecoveredLoss() } : {}),
        onFault: (fault) => {
          const tap = taps[0];
          if (tap && !tap.#closed) listener.onJournalFault(tap, fault);
        },
      });
    } catch (error) {
      consumer.close();
      throw error;
    }
    const tap = new TrackTap(producer, consumer, journal, options, listener);
    taps.push(tap);
    tap.#watch();
    if (!options.paused) await tap.resume();
    return tap;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get kind(): ms.MediaKind {
    return this.consumer.kind;
  }

  /** True while the producer is paused (mute / camera off). */
  get muted(): boolean {
    return this.consumer.producerPaused;
  }

  /** Stops capturing without ending the track (the room's recording is paused). */
  async pause(): Promise<void> {
    if (this.#closed) return;
    this.#stopKeyFrameRequests();
    await this.consumer.pause();
  }

  async resume(): Promise<void> {
    if (this.#closed) return;
    await this.consumer.resume();
    this.#requestKeyFrames();
  }

  /** Closes the consumer and the journal (everything received so far is written). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopKeyFrameRequests();
    if (this.#lossTimer) clearTimeout(this.#lossTimer);
    // A closed producer took its consumers with it in the worker; closing ours again
    // would only make the worker log "Consumer not found".
    if (!this.consumer.closed && !this.producer.closed) this.consumer.close();
    await this.journal.close();
  }

  #watch(): void {
    const consumer = this.consumer;
    consumer.on('producerpause', () => {
      this.#stopKeyFrameRequests();
      this.#listener.onMuted(this);
    });
    consumer.on('producerresume', () => {
      this.#listener.onUnmuted(this);
      this.#requestKeyFrames();
    });
    const ended = (): void => {
      if (this.#closed) return;
      void this.close().finally(() => this.#listener.onEnded(this));
    };
    consumer.on('producerclose', ended);
    consumer.on('transportclose', ended);
    if (consumer.kind === 'video') {
      void consumer.enableTraceEvent(['keyframe']).catch(() => undefined);
      consumer.on('trace', (trace) => {
        if (trace.type !== 'keyframe') return;
        this.lastKeyFrameAt = monotonicMs();
        this.#stopKeyFrameRequests();
      });
    }
  }

  /**
   * Packets were lost for good (the capture thread saw a hole NACK/RTX did not repair):
   * ask for a keyframe, at most once per `keyFrameMinIntervalMs`.
   * @internal
   */
  onUnrecoveredLoss(): void {
    if (this.#closed || this.#lossTimer || this.consumer.paused || this.consumer.producerPaused) return;
    const wait = this.#lastLossRequestAt + this.#keyFrameMinIntervalMs - monotonicMs();
    const ask = (): void => {
      this.#lossTimer = undefined;
      if (this.#closed) return;
      this.#lastLossRequestAt = monotonicMs();
      this.#requestKeyFrames();
    };
    if (wait <= 0) ask();
    else {
      this.#lossTimer = setTimeout(ask, wait);
      this.#lossTimer.unref();
    }
  }

  /** Asks for a keyframe now and again every `keyFrameRetryMs` until one is forwarded. */
  #requestKeyFrames(): void {
    if (this.kind !== 'video' || this.#closed) return;
    this.#stopKeyFrameRequests();
    const since = monotonicMs();
    const ask = (): void => {
      if (this.#closed || this.consumer.closed || this.consumer.paused) return;
      if (this.lastKeyFrameAt !== undefined && this.lastKeyFrameAt >= since) return;
      void this.consumer.requestKeyFrame().catch(() => undefined);
      this.#keyFrameTimer = setTimeout(ask, this.#keyFrameRetryMs);
      this.#keyFrameTimer.unref();
    };
    ask();
  }

  #stopKeyFrameRequests(): void {
    if (this.#keyFrameTimer) clearTimeout(this.#keyFrameTimer);
    this.#keyFrameTimer = undefined;
  }
}
