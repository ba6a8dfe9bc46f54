import type { types as ms } from 'mediasoup';
import type { CaptureThread } from '../capture/capture-socket.js';
import { recorderRtpCapabilities } from '../capture/codecs.js';
import { assertSafeId } from '../config/ids.js';
import { EnhancedEventEmitter } from '../enhanced-events.js';
import { closedError, SfuRecorderError, toSfuRecorderError } from '../errors.js';
import type { SessionEndReason } from '../timeline/events.js';
import type { RecorderErrorContext, SessionEndedInfo, SessionStartedInfo } from './events.js';
import type { IdentifyProducer, ProducerIdentity } from './identity.js';
import { RecordingSession, type StreamRef } from './recording-session.js';

/** Typed events of a {@link RoomRecorder}: the recorder-wide events, for this room only. */
export interface RoomRecorderEvents {
  sessionstarted: [SessionStartedInfo];
  sessionended: [SessionEndedInfo];
  streamstarted: [StreamRef];
  streamstopped: [StreamRef];
  /** Something went wrong in this room; the recording goes on where it can. */
  error: [SfuRecorderError, RecorderErrorContext];
  /** The router closed; the room's recording closed with it. */
  routerclose: [];
}

/** Events of {@link RoomRecorder.observer}: for monitoring, whatever closed the room. */
export interface RoomRecorderObserverEvents {
  close: [];
  pause: [];
  resume: [];
  sessionstarted: [SessionStartedInfo];
  sessionended: [SessionEndedInfo];
}

/** What a room reports to the recorder that owns it. */
export interface RoomHost {
  spoolDir: string;
  /** The capture thread new sessions bind their sockets on (replaced if one dies). */
  captureThread(): CaptureThread;
  identifyProducer: IdentifyProducer;
  gracePeriodMs: number;
  /** How long a peer whose transports all closed may reconnect and continue its streams. */
  reconnectWindowMs: number;
  newSessionId: (() => string) | undefined;
  sessionStarted(info: SessionStartedInfo): void;
  /** The session has ended and its directory is complete; finalisation takes over. */
  sessionEnded(info: SessionEndedInfo, session: RecordingSession): void;
  streamStarted(ref: StreamRef): void;
  streamStopped(ref: StreamRef): void;
  error(error: SfuRecorderError, context: RecorderErrorContext): void;
  /** A write of the room's found the disk full. */
  spoolFull(error: SfuRecorderError): void;
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
 *
 * Its events are the recorder's, for this room; a listener that throws is reported
 * as an `error` (`ERR_LISTENER`) and never stops the recording.
 */
export class RoomRecorder extends EnhancedEventEmitter<RoomRecorderEvents> {
  readonly roomId: string;
  /** Events for monitoring: `close`, `pause`, `resume`, `sessionstarted`, `sessionended`. */
  readonly observer = new EnhancedEventEmitter<RoomRecorderObserverEvents>();
  readonly router: ms.Router;
  readonly #host: RoomHost;
  readonly #manifestOptions: Record<string, unknown>;
  readonly #rtpCapabilities: ms.RtpCapabilities;
  readonly #identities = new Map<string, ProducerIdentity>();
  /** Producers being recorded, to carry them into a new session when capture failed under the old one. */
  readonly #producers = new Map<string, { producer: ms.Producer; transport: ms.Transport | undefined }>();
  /** Producers that could not be recorded because the spool's disk was full: tried again when it has space. */
  readonly #waitingForSpace = new Map<string, { producer: ms.Producer; transport: ms.Transport | undefined }>();
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
  #closing: Promise<void> | undefined;

  private constructor(options: RoomRecorderOptions) {
    super();
    this.roomId = options.roomId;
    this.router = options.router;
    this.#host = options.host;
    this.#manifestOptions = options.manifestOptions;
    this.#rtpCapabilities = recorderRtpCapabilities(options.router);
    const onListenerError = (error: unknown, eventName: string): void =>
      this.#host.error(listenerError(error, eventName), { roomId: this.roomId });
    this.setListenerErrorHandler(onListenerError);
    this.observer.setListenerErrorHandler(onListenerError);
  }

  /** @internal Use `SfuRecorder.enableRoom()`. */
  static async create(options: RoomRecorderOptions): Promise<RoomRecorder> {
    assertSafeId('roomId', options.roomId);
    if (options.router.closed) {
      throw new SfuRecorderError('ERR_CLOSED', `router ${options.router.id} of room ${options.roomId} is closed`);
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
    // Ids are checked before anything starts: a bad one records nothing, not half a session.
    assertSafeId('peerId', who.peerId);
    if (who.streamId !== undefined) assertSafeId('streamId', who.streamId);
    const displayName = who.displayName ?? this.#displayNames.get(who.peerId);
    const resolved: ProducerIdentity = { ...who, ...(displayName !== undefined ? { displayName } : {}) };
    this.#identities.set(producer.id, resolved);
    this.#producers.set(producer.id, { producer, transport });
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
    this.#producers.delete(producerId);
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
    if (this.#paused) return;
    this.#paused = true;
    this.observer.emit('pause');
    await this.#session?.pause();
  }

  async resume(): Promise<void> {
    this.#assertOpen();
    if (!this.#paused) return;
    this.#paused = false;
    this.observer.emit('resume');
    await this.#session?.resume();
  }

  /**
   * Ends the current session now (finalisation starts); the room stays enabled and
   * the next recorded peer starts a new session. Resolves with the ended session's id.
   * Never rejects for a fault of the spool (a full disk is reported as an event):
   * the session ends in any case.
   */
  async stop(): Promise<string | undefined> {
    return this.#endSession('stopped');
  }

  /**
   * Ends the current session and stops watching the router. `closed` is true at once;
   * calling it again (also while it runs) returns the same promise.
   */
  close(reason: SessionEndReason = 'recorder-closed'): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#closing = (async () => {
      for (const cleanup of this.#cleanups) cleanup();
      await this.#endSession(reason);
      if (this.#speakerObserver && !this.#speakerObserver.closed) this.#speakerObserver.close();
      this.#host.roomClosed(this);
      if (reason === 'router-closed') this.emit('routerclose');
      this.observer.emit('close');
    })();
    return this.#closing;
  }

  /**
   * @internal Ends the session because capture failed under it (the capture thread
   * died): it is finalised with what it captured, and the producers still live go on
   * in a new session on the recorder's new capture thread.
   */
  async endForCaptureFailure(): Promise<void> {
    const live = [...this.#producers.values()].filter(({ producer }) => !producer.closed);
    await this.#endSession('capture-failed');
    if (this.#closed) return;
    await Promise.all(
      live.map(async ({ producer, transport }) => {
        const identity = this.#identities.get(producer.id);
        try {
          await this.addProducer(producer, identity, transport);
        } catch (error) {
          this.#reportError(toSfuRecorderError(error, 'ERR_CAPTURE', `recording producer ${producer.id} again`), { producerId: producer.id });
        }
      }),
    );
  }

  /** @internal Sessions of this room whose writes wait for disk space. */
  get session(): RecordingSession | undefined {
    return this.#session;
  }

  async #ensureSession(): Promise<RecordingSession> {
    if (this.#session && !this.#session.ended) return this.#session;
    // Producers often arrive together (camera + microphone): they must share one session.
    this.#starting ??= RecordingSession.start({
      roomId: this.roomId,
      ...(this.#host.newSessionId ? { sessionId: this.#host.newSessionId() } : {}),
      router: this.router,
      spoolDir: this.#host.spoolDir,
      captureThread: this.#host.captureThread(),
      rtpCapabilities: this.#rtpCapabilities,
      manifestOptions: this.#manifestOptions,
      paused: this.#paused,
    })
      .then((session) => {
        this.#session = session;
        session.on('streamstarted', (ref) => {
          this.#host.streamStarted(ref);
          this.emit('streamstarted', ref);
        });
        session.on('streamended', (ref) => {
          this.#host.streamStopped(ref);
          this.emit('streamstopped', ref);
        });
        session.on('empty', () => this.#startGrace());
        session.on('trackerror', (error, producer) => {
          const identity = this.#identities.get(producer.id);
          this.#reportError(error, {
            sessionId: session.sessionId,
            producerId: producer.id,
            ...(identity ? { peerId: identity.peerId } : {}),
          });
        });
        session.on('error', (error) => this.#reportError(error, { sessionId: session.sessionId }));
        session.on('spoolfull', (error) => this.#host.spoolFull(error));
        const info: SessionStartedInfo = {
          roomId: this.roomId,
          sessionId: session.sessionId,
          startedAt: session.startedAt,
          dir: session.dir,
        };
        this.#host.sessionStarted(info);
        this.emit('sessionstarted', info);
        this.observer.emit('sessionstarted', info);
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
    const info: SessionEndedInfo = {
      roomId: this.roomId,
      sessionId: session.sessionId,
      startedAt: session.startedAt,
      endedAt: Date.now(),
      dir: session.dir,
      reason,
      streams,
    };
    // The recorder queues finalisation before any listener runs.
    this.#host.sessionEnded(info, session);
    this.emit('sessionended', info);
    this.observer.emit('sessionended', info);
    return session.sessionId;
  }

  #startGrace(): void {
    this.#cancelGrace();
    this.#graceTimer = setTimeout(() => {
      this.#endSession('empty').catch((error: unknown) => this.#reportError(toSfuRecorderError(error, 'ERR_CAPTURE', 'ending the session'), {}));
    }, this.#host.gracePeriodMs);
    this.#graceTimer.unref();
  }

  #reportError(error: SfuRecorderError, context: Omit<RecorderErrorContext, 'roomId'>): void {
    const full: RecorderErrorContext = { roomId: this.roomId, ...context };
    this.#host.error(error, full);
    this.emit('error', error, full);
  }

  #cancelGrace(): void {
    if (this.#graceTimer) clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
  }

  #watchRouter(): void {
    const onTransport = (transport: ms.Transport): void => {
      if ((transport.appData as Record<string, unknown>).sfuRecorder === true) return;
      const onProducer = (producer: ms.Producer): void => {
        this.#addDiscovered(producer, transport);
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

  /** @internal The spool has space again: record the producers that arrived while it was full. */
  retryWaitingForSpace(): void {
    const waiting = [...this.#waitingForSpace.values()];
    this.#waitingForSpace.clear();
    for (const { producer, transport } of waiting) if (!producer.closed && !this.#closed) this.#addDiscovered(producer, transport);
  }

  #addDiscovered(producer: ms.Producer, transport: ms.Transport | undefined): void {
    this.addProducer(producer, undefined, transport).catch((error: unknown) => {
      // A room closed while the producer arrived has nothing to report.
      if (this.#closed && error instanceof SfuRecorderError && error.code === 'ERR_CLOSED') return;
      const failure = toSfuRecorderError(error, 'ERR_CAPTURE', `recording producer ${producer.id}`);
      if (failure.code === 'ERR_SPOOL_FULL') {
        this.#waitingForSpace.set(producer.id, { producer, transport });
        this.#host.spoolFull(failure);
      }
      this.#reportError(failure, {
        ...(this.#session ? { sessionId: this.#session.sessionId } : {}),
        producerId: producer.id,
      });
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
    if (this.#closed) throw closedError(`recording of room ${this.roomId}`);
  }
}

/** What a host's listener threw, as the recorder reports it. */
export function listenerError(error: unknown, eventName: string): SfuRecorderError {
  const message = error instanceof Error ? error.message : String(error);
  return new SfuRecorderError('ERR_LISTENER', `a "${eventName}" listener threw: ${message}`, { cause: error });
}
