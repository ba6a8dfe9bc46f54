import type { types as ms } from 'mediasoup';
import type { CaptureThread } from '../capture/capture-socket.js';
import { recorderRtpCapabilities } from '../capture/codecs.js';
import { assertSafeId } from '../config/ids.js';
import { SfuRecorderError } from '../errors.js';
import type { SessionEndReason } from '../timeline/events.js';
import type { IdentifyProducer, ProducerIdentity } from './identity.js';
import { RecordingSession, type StreamRef } from './recording-session.js';

/** What a room reports to the recorder that owns it. */
export interface RoomHost {
  spoolDir: string;
  captureThread: CaptureThread;
  identifyProducer: IdentifyProducer;
  gracePeriodMs: number;
  /** How long a peer whose transports all closed may reconnect and continue its streams. */
  reconnectWindowMs: number;
  newSessionId: (() => string) | undefined;
  sessionStarted(room: RoomRecorder, session: RecordingSession): void;
  /** The session has ended and its directory is complete; finalisation takes over. */
  sessionEnded(room: RoomRecorder, session: RecordingSession, reason: SessionEndReason, streams: StreamRef[]): void;
  streamStarted(ref: StreamRef): void;
  streamStopped(ref: StreamRef): void;
  error(error: Error, context: { roomId: string; sessionId?: string; producerId?: string }): void;
  roomClosed(room: RoomRecorder): void;
}

/** Options of a room, persisted with each session (without credentials). */
export interface RoomRecorderOptions {
  roomId: string;
  router: ms.Router;
  /** Written to each session's `session.json`; finalisation reads it back. */
  manifestOptions: Record<string, unknown>;
  host: RoomHost;
  /** Note the dominant speaker in the timeline (for the speaker layout). Default true. */
  activeSpeaker?: boolean;
}

/**
 * Recording of one room (one mediasoup router). Producers created on the router's
 * transports are discovered and tapped; a session starts with the first recorded
 * peer and ends when the last one leaves (after a grace period), when `stop()` is
 * called, or when the router closes. Get one from `SfuRecorder.enableRoom()`.
 */
export class RoomRecorder {
  readonly roomId: string;
  readonly router: ms.Router;
  readonly #host: RoomHost;
  readonly #manifestOptions: Record<string, unknown>;
  readonly #rtpCapabilities: ms.RtpCapabilities;
  readonly #identities = new Map<string, ProducerIdentity>();
  /** Transports that carried recorded producers, per peer: a peer leaves when all are closed. */
  readonly #peerTransports = new Map<string, Set<ms.Transport>>();
  readonly #displayNames = new Map<string, string>();
  readonly #cleanups: Array<() => void> = [];
  #session: RecordingSession | undefined;
  #starting: Promise<RecordingSession> | undefined;
  #graceTimer: NodeJS.Timeout | undefined;
  #speakerObserver: ms.ActiveSpeakerObserver | undefined;
  #paused = false;
  #closed = false;

  private constructor(options: RoomRecorderOptions) {
    this.roomId = options.roomId;
    this.router = options.router;
    this.#host = options.host;
    this.#manifestOptions = options.manifestOptions;
    this.#rtpCapabilities = recorderRtpCapabilities(options.router);
  }

  /** @internal Use `SfuRecorder.enableRoom()`. */
  static async create(options: RoomRecorderOptions): Promise<RoomRecorder> {
    assertSafeId('roomId', options.roomId);
    if (options.router.closed) {
      throw new SfuRecorderError('ERR_ROUTER_CLOSED', `router ${options.router.id} of room ${options.roomId} is closed`);
    }
    const room = new RoomRecorder(options);
    if (options.activeSpeaker !== false) {
      room.#speakerObserver = await options.router.createActiveSpeakerObserver({ interval: 300 });
      room.#speakerObserver.on('dominantspeaker', ({ producer }) => room.#session?.noteActiveSpeaker(producer.id));
    }
    room.#watchRouter();
    return room;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** True while recording is paused with `pause()`. */
  get paused(): boolean {
    return this.#paused;
  }

  /** The session being recorded now, if any. */
  get sessionId(): string | undefined {
    return this.#session?.sessionId;
  }

  /**
   * Records `producer`. Producers created on the router after `enableRoom()` are
   * found automatically; use this for ones that existed before, or to give an
   * explicit identity. Rejects with `UnsupportedCodecError` for codecs that cannot
   * be recorded.
   */
  async addProducer(producer: ms.Producer, identity?: ProducerIdentity, transport?: ms.Transport): Promise<void> {
    this.#assertOpen();
    if (producer.closed) return;
    const who = identity ?? this.#host.identifyProducer(producer, transport);
    if (!who) return;
    assertSafeId('peerId', who.peerId);
    const displayName = who.displayName ?? this.#displayNames.get(who.peerId);
    const resolved: ProducerIdentity = { ...who, ...(displayName !== undefined ? { displayName } : {}) };
    this.#identities.set(producer.id, resolved);
    if (transport) this.#trackTransport(resolved.peerId, transport);
    const session = await this.#ensureSession();
    this.#cancelGrace();
    await session.addTrack(producer, resolved);
    if (producer.kind === 'audio' && this.#speakerObserver && !this.#speakerObserver.closed) {
      await this.#speakerObserver.addProducer({ producerId: producer.id }).catch(() => undefined);
    }
  }

  /** Stops recording one producer; its stream goes on (with a gap) until the peer leaves. */
  async removeProducer(producerId: string): Promise<void> {
    this.#identities.delete(producerId);
    await this.#session?.removeTrack(producerId);
  }

  /** Declares a peer present (e.g. it joined without media yet) and names it. */
  async addPeer(peerId: string, options: { displayName?: string } = {}): Promise<void> {
    this.#assertOpen();
    assertSafeId('peerId', peerId);
    if (options.displayName !== undefined) this.#displayNames.set(peerId, options.displayName);
    const session = await this.#ensureSession();
    this.#cancelGrace();
    session.addPeer(peerId, options.displayName);
  }

  /** The peer left: its streams end now (a return starts new stream files). */
  async removePeer(peerId: string): Promise<void> {
    this.#peerTransports.delete(peerId);
    await this.#session?.removePeer(peerId);
  }

  /**
   * Pauses recording. Paused time is cut from the files, or kept as black and
   * silence, as the room's `pausedTime` option says.
   */
  async pause(): Promise<void> {
    this.#assertOpen();
    this.#paused = true;
    await this.#session?.pause();
  }

  async resume(): Promise<void> {
    this.#assertOpen();
    this.#paused = false;
    await this.#session?.resume();
  }

  /**
   * Ends the current session now (finalisation starts); the room stays enabled and
   * the next recorded peer starts a new session. Resolves with the ended session's id.
   */
  async stop(): Promise<string | undefined> {
    return this.#endSession('stopped');
  }

  /** Ends the current session and stops watching the router. */
  async close(reason: SessionEndReason = 'recorder-closed'): Promise<void> {
    if (this.#closed) return;
    await this.#endSession(reason);
    this.#closed = true;
    for (const cleanup of this.#cleanups) cleanup();
    if (this.#speakerObserver && !this.#speakerObserver.closed) this.#speakerObserver.close();
    this.#host.roomClosed(this);
  }

  async #ensureSession(): Promise<RecordingSession> {
    if (this.#session && !this.#session.ended) return this.#session;
    // Producers often arrive together (camera + microphone): they must share one session.
    this.#starting ??= RecordingSession.start({
      roomId: this.roomId,
      ...(this.#host.newSessionId ? { sessionId: this.#host.newSessionId() } : {}),
      router: this.router,
      spoolDir: this.#host.spoolDir,
      captureThread: this.#host.captureThread,
      rtpCapabilities: this.#rtpCapabilities,
      manifestOptions: this.#manifestOptions,
      paused: this.#paused,
    })
      .then((session) => {
        this.#session = session;
        session.on('streamstarted', (ref) => this.#host.streamStarted(ref));
        session.on('streamended', (ref) => this.#host.streamStopped(ref));
        session.on('empty', () => this.#startGrace());
        session.on('trackerror', (error, producer) =>
          this.#host.error(error, { roomId: this.roomId, sessionId: session.sessionId, producerId: producer.id }),
        );
        this.#host.sessionStarted(this, session);
        return session;
      })
      .finally(() => {
        this.#starting = undefined;
      });
    return this.#starting;
  }

  async #endSession(reason: SessionEndReason): Promise<string | undefined> {
    this.#cancelGrace();
    const session = this.#session ?? (this.#starting ? await this.#starting.catch(() => undefined) : undefined);
    if (!session || session.ended) return undefined;
    this.#session = undefined;
    this.#peerTransports.clear();
    const streams = await session.end(reason);
    this.#host.sessionEnded(this, session, reason, streams);
    return session.sessionId;
  }

  #startGrace(): void {
    this.#cancelGrace();
    this.#graceTimer = setTimeout(() => void this.#endSession('empty'), this.#host.gracePeriodMs);
    this.#graceTimer.unref();
  }

  #cancelGrace(): void {
    if (this.#graceTimer) clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
  }

  #watchRouter(): void {
    const onTransport = (transport: ms.Transport): void => {
      if ((transport.appData as Record<string, unknown>).sfuRecorder === true) return;
      const onProducer = (producer: ms.Producer): void => {
        this.addProducer(producer, undefined, transport).catch((error: unknown) =>
          this.#host.error(asError(error), {
            roomId: this.roomId,
            ...(this.#session ? { sessionId: this.#session.sessionId } : {}),
            producerId: producer.id,
          }),
        );
        producer.observer.once('close', () => void this.removeProducer(producer.id));
      };
      transport.observer.on('newproducer', onProducer);
    };
    const onRouterClose = (): void => void this.close('router-closed');
    this.router.observer.on('newtransport', onTransport);
    this.router.observer.once('close', onRouterClose);
    this.#cleanups.push(() => {
      this.router.observer.off('newtransport', onTransport);
      this.router.observer.off('close', onRouterClose);
    });
  }

  /** A peer leaves when every transport it produced on has closed. */
  #trackTransport(peerId: string, transport: ms.Transport): void {
    let transports = this.#peerTransports.get(peerId);
    if (!transports) {
      transports = new Set();
      this.#peerTransports.set(peerId, transports);
    }
    if (transports.has(transport)) return;
    transports.add(transport);
    transport.observer.once('close', () => {
      const current = this.#peerTransports.get(peerId);
      if (!current?.delete(transport) || current.size > 0) return;
      this.#peerTransports.delete(peerId);
      // A browser that reconnects opens a new transport after the old one closed.
      void this.#session?.removePeer(peerId, this.#host.reconnectWindowMs);
    });
  }

  #assertOpen(): void {
    if (this.#closed) throw new SfuRecorderError('ERR_ROOM_CLOSED', `recording of room ${this.roomId} is closed`);
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
