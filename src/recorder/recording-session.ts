import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { EventEmitter } from 'eventemitter3';
import type { types as ms } from 'mediasoup';
import type { CaptureSocket, CaptureThread } from '../capture/capture-socket.js';
import { monotonicMs } from '../capture/journal.js';
import { TrackTap, type TrackTapListener } from '../capture/track-tap.js';
import { assertSafeId } from '../config/ids.js';
import { SfuRecorderError, toSfuRecorderError } from '../errors.js';
import { sessionPaths, type SessionManifest } from '../spool/layout.js';
import { writeManifest } from '../spool/manifest.js';
import type { SessionEndReason, StreamSource, TimelineEvent } from '../timeline/events.js';
import { TimelineWriter } from '../timeline/timeline-file.js';
import type { ProducerIdentity } from './identity.js';

/** Identifies one stream recording inside a session. */
export interface StreamRef {
  roomId: string;
  sessionId: string;
  peerId: string;
  streamId: string;
  source: StreamSource;
}

/** Events of a {@link RecordingSession} (internal; the room re-emits them). */
export interface RecordingSessionEvents {
  streamstarted: [StreamRef];
  streamended: [StreamRef];
  /** Every peer has left; the room decides whether to end the session. */
  empty: [];
  /** A track's journal failed (told when it happens; the track ends there). */
  trackerror: [SfuRecorderError, ms.Producer];
  /** A write of this session (journal, timeline, manifest) found the disk full; it is retried. */
  spoolfull: [SfuRecorderError];
  /** A write of the timeline or manifest failed for another reason; it is retried. */
  error: [SfuRecorderError];
}

interface StreamState {
  ref: StreamRef;
  tracks: Set<string>;
  ended: boolean;
}

interface PeerState {
  peerId: string;
  displayName?: string;
  /** Streams by key (`id:<streamId>` or `source:<source>`), current instance only. */
  streams: Map<string, StreamState>;
  /** How many instances each stream key has had, to name re-started streams uniquely. */
  instances: Map<string, number>;
  present: boolean;
  /** Set while the peer's transports are gone but it may still reconnect: when it left, and the timer that ends it. */
  leaving?: { at: number; timer: NodeJS.Timeout };
}

interface TrackState {
  tap: TrackTap;
  peerId: string;
  streamKey: string;
}

/** Everything a session needs from its room to start. */
export interface RecordingSessionOptions {
  roomId: string;
  sessionId?: string;
  router: ms.Router;
  spoolDir: string;
  /** The recorder's capture thread; the session binds its socket there. */
  captureThread: CaptureThread;
  rtpCapabilities: ms.RtpCapabilities;
  /** Persisted in `session.json` so recovery finalises with the same settings. Never credentials. */
  manifestOptions: Record<string, unknown>;
  paused: boolean;
}

/**
 * One recorded session of a room: owns the PlainTransport and socket every tap
 * sends to, the taps themselves, and the timeline. It knows nothing about
 * finalisation; when it ends it leaves a complete session directory behind.
 */
export class RecordingSession extends EventEmitter<RecordingSessionEvents> {
  readonly roomId: string;
  readonly sessionId: string;
  readonly dir: string;
  readonly startedAt: number;
  readonly #timeline: TimelineWriter;
  readonly #transport: ms.PlainTransport;
  readonly #socket: CaptureSocket;
  readonly #rtpCapabilities: ms.RtpCapabilities;
  readonly #monoToEpochMs: number;
  readonly #manifest: SessionManifest;
  readonly #peers = new Map<string, PeerState>();
  readonly #tracks = new Map<string, TrackState>();
  readonly #pendingTaps = new Set<Promise<unknown>>();
  /** Every stream instance started in this session, in order. */
  readonly #allStreams: StreamRef[] = [];
  #paused: boolean;
  #ended = false;
  #state: SessionManifest['state'] = 'recording';
  #manifestUnwritten = false;
  /** Set from a failed write until the next write succeeds, so a full disk is told once. */
  #writeFault: SfuRecorderError | undefined;
  /** Tracks whose journal failure was already told. */
  readonly #reportedFailures = new Set<string>();

  private constructor(
    options: RecordingSessionOptions,
    sessionId: string,
    dir: string,
    transport: ms.PlainTransport,
    socket: CaptureSocket,
    monoToEpochMs: number,
    manifest: SessionManifest,
  ) {
    super();
    this.roomId = options.roomId;
    this.sessionId = sessionId;
    this.dir = dir;
    this.startedAt = manifest.startedAt;
    this.#transport = transport;
    this.#socket = socket;
    this.#rtpCapabilities = options.rtpCapabilities;
    this.#monoToEpochMs = monoToEpochMs;
    this.#manifest = manifest;
    this.#paused = options.paused;
    this.#timeline = new TimelineWriter(sessionPaths.timeline(dir), {
      onWriteError: (error) => this.#writeFailed(error, 'timeline'),
    });
  }

  /** Creates the session directory, the capture socket and the recorder's PlainTransport. */
  static async start(options: RecordingSessionOptions): Promise<RecordingSession> {
    const sessionId = options.sessionId ?? randomUUID();
    assertSafeId('sessionId', sessionId);
    const dir = sessionPaths.dir(options.spoolDir, options.roomId, sessionId);
    try {
      mkdirSync(sessionPaths.tracksDir(dir), { recursive: true });
    } catch (error) {
      throw toSfuRecorderError(error, 'ERR_SPOOL_NOT_WRITABLE', `creating session directory ${dir}`);
    }
    const socket = await options.captureThread.openSocket();
    let transport: ms.PlainTransport;
    try {
      transport = await options.router.createPlainTransport({
        listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
        rtcpMux: true,
        comedia: false,
        appData: { sfuRecorder: true },
      });
      await transport.connect({ ip: socket.address.ip, port: socket.address.port });
    } catch (error) {
      await socket.close();
      throw error;
    }
    // One offset for the whole session keeps every track on the same wall clock.
    const monoToEpochMs = Date.now() - monotonicMs();
    const startedAt = Date.now();
    const manifest: SessionManifest = {
      version: 1,
      roomId: options.roomId,
      sessionId,
      startedAt,
      state: 'recording',
      options: options.manifestOptions,
    };
    try {
      writeManifest(dir, manifest);
    } catch (error) {
      transport.close();
      await socket.close();
      throw toSfuRecorderError(error, 'ERR_SPOOL_NOT_WRITABLE', `writing ${sessionPaths.manifest(dir)}`);
    }
    const session = new RecordingSession(options, sessionId, dir, transport, socket, monoToEpochMs, manifest);
    session.#append({ type: 'session-started', at: startedAt, roomId: options.roomId, sessionId });
    if (options.paused) session.#append({ type: 'recording-paused', at: startedAt });
    return session;
  }

  get ended(): boolean {
    return this.#ended;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Peers currently present. */
  get presentPeers(): string[] {
    return [...this.#peers.values()].filter((p) => p.present).map((p) => p.peerId);
  }

  hasProducer(producerId: string): boolean {
    return this.#tracks.has(producerId);
  }

  peerOf(producerId: string): string | undefined {
    return this.#tracks.get(producerId)?.peerId;
  }

  /** Producer ids currently tapped for `peerId`. */
  producersOf(peerId: string): string[] {
    return [...this.#tracks.entries()].filter(([, t]) => t.peerId === peerId).map(([id]) => id);
  }

  /** Marks a peer present (a `peer-joined` event), without media yet. */
  addPeer(peerId: string, displayName?: string): void {
    this.#assertOpen();
    assertSafeId('peerId', peerId);
    this.#ensurePeer(peerId, displayName);
  }

  /**
   * Starts tapping `producer` into the stream `identity` names. Resolves once the
   * consumer is capturing; rejects (and records nothing) for an unsupported codec.
   */
  async addTrack(producer: ms.Producer, identity: ProducerIdentity): Promise<void> {
    this.#assertOpen();
    assertSafeId('peerId', identity.peerId);
    if (identity.streamId !== undefined) assertSafeId('streamId', identity.streamId);
    if (this.#tracks.has(producer.id)) return;
    const peer = this.#ensurePeer(identity.peerId, identity.displayName);
    const source = identity.source ?? 'camera';
    const streamKey = identity.streamId !== undefined ? `id:${identity.streamId}` : `source:${source}`;
    const trackId = randomUUID();
    const journal = sessionPaths.journalRelative(trackId);
    const listener: TrackTapListener = {
      onMuted: (tap) => this.#append({ type: 'track-muted', at: Date.now(), trackId: tap.trackId }),
      onUnmuted: (tap) => this.#append({ type: 'track-unmuted', at: Date.now(), trackId: tap.trackId }),
      onEnded: (tap) => this.#onTrackEnded(producer.id, tap),
      onJournalFault: (tap, fault) => {
        if (fault.type === 'failed') {
          this.#append({ type: 'capture-fault', at: Date.now(), fault: 'journal-failed', trackId: tap.trackId, message: fault.error.message });
          this.#reportedFailures.add(tap.trackId);
          this.emit('trackerror', fault.error, producer);
          // Nothing more can be written for this track: end it here, the stream keeps what it has.
          void this.removeTrack(producer.id);
        } else if (fault.type === 'full') {
          this.#append({ type: 'capture-fault', at: Date.now(), fault: 'spool-full', trackId: tap.trackId, message: fault.error.message });
          this.#reportWriteFault(fault.error);
        } else {
          this.#append({ type: 'capture-fault', at: Date.now(), fault: 'spool-resumed', trackId: tap.trackId, droppedPackets: fault.droppedPackets });
        }
      },
    };
    // The stream is created before the tap opens so that concurrent producers of
    // one stream (camera and microphone arriving together) land in the same file.
    const stream = this.#ensureStream(peer, streamKey, identity.streamId, source);
    stream.tracks.add(trackId);
    const opening = TrackTap.open(
      producer,
      {
        trackId,
        peerId: peer.peerId,
        streamId: stream.ref.streamId,
        sessionDir: this.dir,
        journal,
        transport: this.#transport,
        socket: this.#socket,
        rtpCapabilities: this.#rtpCapabilities,
        paused: this.#paused,
        monoToEpochMs: this.#monoToEpochMs,
      },
      listener,
    );
    this.#pendingTaps.add(opening);
    let tap: TrackTap;
    try {
      tap = await opening;
    } catch (error) {
      stream.tracks.delete(trackId);
      if (stream.tracks.size === 0 && !this.#hasEverHadTracks(stream)) this.#forgetStream(peer, streamKey, stream);
      throw error;
    } finally {
      this.#pendingTaps.delete(opening);
    }
    if (this.#ended) {
      await tap.close();
      return;
    }
    this.#tracks.set(producer.id, { tap, peerId: peer.peerId, streamKey });
    this.#append({
      type: 'track-added',
      at: Date.now(),
      peerId: peer.peerId,
      streamId: stream.ref.streamId,
      trackId,
      kind: tap.kind,
      mimeType: tap.journal.header.mimeType,
      producerId: producer.id,
      journal,
    });
    if (tap.muted) this.#append({ type: 'track-muted', at: Date.now(), trackId });
  }

  /** Stops tapping one producer (the stream itself continues until its peer leaves). */
  async removeTrack(producerId: string): Promise<void> {
    const track = this.#tracks.get(producerId);
    if (!track) return;
    await track.tap.close();
    this.#onTrackEnded(producerId, track.tap);
  }

  /**
   * The peer left: its streams end now, or, with `reconnectWindowMs`, once that long
   * has passed without it coming back. A peer that comes back within the window (a
   * browser that reconnected on a new transport) continues the same streams, with
   * the time between as a gap; a later return starts new streams. Either way the
   * timeline dates the leave to now.
   */
  async removePeer(peerId: string, reconnectWindowMs = 0): Promise<void> {
    const peer = this.#peers.get(peerId);
    if (!peer || !peer.present || peer.leaving) return;
    await Promise.all(this.producersOf(peerId).map((id) => this.removeTrack(id)));
    const at = Date.now();
    const end = (): void => {
      peer.leaving = undefined;
      if (this.#ended || !peer.present) return;
      this.#endPeer(peer, at);
      if (this.presentPeers.length === 0) this.emit('empty');
    };
    if (reconnectWindowMs <= 0) return end();
    peer.leaving = { at, timer: setTimeout(end, reconnectWindowMs) };
    peer.leaving.timer.unref();
  }

  /** Pauses capture of every track; the timeline marks the paused span. */
  async pause(): Promise<void> {
    if (this.#paused || this.#ended) return;
    this.#paused = true;
    this.#append({ type: 'recording-paused', at: Date.now() });
    await Promise.all([...this.#tracks.values()].map((t) => t.tap.pause()));
  }

  async resume(): Promise<void> {
    if (!this.#paused || this.#ended) return;
    this.#paused = false;
    await Promise.all([...this.#tracks.values()].map((t) => t.tap.resume()));
    this.#append({ type: 'recording-resumed', at: Date.now() });
  }

  /** Notes the dominant speaker (from the room's ActiveSpeakerObserver). */
  noteActiveSpeaker(producerId: string): void {
    const peerId = this.#tracks.get(producerId)?.peerId;
    if (peerId && !this.#ended) this.#append({ type: 'active-speaker', at: Date.now(), peerId });
  }

  /**
   * Ends the session: every tap is closed (journals flushed), every stream and peer
   * ended, the timeline closed with `session-ended`, and the transport and socket
   * released. Returns the streams that were started.
   */
  async end(reason: SessionEndReason): Promise<StreamRef[]> {
    if (this.#ended) return [];
    this.#ended = true;
    await Promise.allSettled([...this.#pendingTaps]);
    const at = Date.now();
    // Never throws: whatever fails here (a full disk) is reported, and the session still ends.
    await Promise.allSettled([...this.#tracks.values()].map((t) => t.tap.close()));
    for (const [producerId, track] of this.#tracks) this.#onTrackEnded(producerId, track.tap, at);
    for (const peer of this.#peers.values()) {
      if (peer.leaving) clearTimeout(peer.leaving.timer);
      if (peer.present) this.#endPeer(peer, peer.leaving?.at ?? at);
    }
    this.#timeline.append({ type: 'session-ended', at, reason });
    this.#timeline.close();
    try {
      if (!this.#transport.closed) this.#transport.close();
    } catch {
      // The router closed under it: the transport is gone either way.
    }
    await this.#socket.close().catch(() => undefined);
    this.#state = 'ended';
    this.#saveManifest();
    return this.#allStreams;
  }

  /** True when everything the session wrote is on disk (false after a failed write, until {@link flushPending}). */
  get written(): boolean {
    return !this.#timeline.hasUnwritten && !this.#manifestUnwritten;
  }

  /** Writes the timeline events and the manifest state that wait for the disk; returns {@link written}. */
  flushPending(): boolean {
    if (this.#timeline.flush() && this.#manifestUnwritten) this.#saveManifest();
    if (this.written) this.#writeFault = undefined;
    return this.written;
  }

  #ensurePeer(peerId: string, displayName?: string): PeerState {
    let peer = this.#peers.get(peerId);
    if (peer?.leaving) {
      // Back within the reconnect window: the peer never left.
      clearTimeout(peer.leaving.timer);
      peer.leaving = undefined;
    }
    if (!peer) {
      peer = { peerId, streams: new Map(), instances: new Map(), present: false };
      if (displayName !== undefined) peer.displayName = displayName;
      this.#peers.set(peerId, peer);
    }
    if (!peer.present) {
      peer.present = true;
      if (displayName !== undefined) peer.displayName = displayName;
      this.#append({
        type: 'peer-joined',
        at: Date.now(),
        peerId,
        ...(peer.displayName !== undefined ? { displayName: peer.displayName } : {}),
      });
    }
    return peer;
  }

  #ensureStream(peer: PeerState, key: string, requestedId: string | undefined, source: StreamSource): StreamState {
    const existing = peer.streams.get(key);
    if (existing && !existing.ended) return existing;
    const instance = (peer.instances.get(key) ?? 0) + 1;
    peer.instances.set(key, instance);
    // A stream id names a file, so a stream that starts again (the peer rejoined)
    // gets a new id rather than overwriting the first file.
    const streamId =
      requestedId === undefined ? randomUUID() : instance === 1 ? requestedId : `${requestedId}-${instance}`;
    const ref: StreamRef = { roomId: this.roomId, sessionId: this.sessionId, peerId: peer.peerId, streamId, source };
    const stream: StreamState = { ref, tracks: new Set(), ended: false };
    peer.streams.set(key, stream);
    this.#allStreams.push(ref);
    this.#append({ type: 'stream-started', at: Date.now(), peerId: peer.peerId, streamId, source });
    this.emit('streamstarted', ref);
    return stream;
  }

  #hasEverHadTracks(stream: StreamState): boolean {
    return [...this.#tracks.values()].some((t) => t.tap.journal.header.streamId === stream.ref.streamId);
  }

  /** A stream whose only track failed to open never existed: take it back. */
  #forgetStream(peer: PeerState, key: string, stream: StreamState): void {
    peer.streams.delete(key);
    stream.ended = true;
    this.#append({ type: 'stream-ended', at: Date.now(), peerId: peer.peerId, streamId: stream.ref.streamId });
    this.emit('streamended', stream.ref);
  }

  #onTrackEnded(producerId: string, tap: TrackTap, at: number = Date.now()): void {
    const track = this.#tracks.get(producerId);
    if (!track || track.tap !== tap) return;
    this.#tracks.delete(producerId);
    const failure = tap.journal.error;
    if (failure && !this.#reportedFailures.has(tap.trackId)) {
      this.emit('trackerror', toSfuRecorderError(failure, 'ERR_JOURNAL_WRITE', `journal of track ${tap.trackId}`), tap.producer);
    }
    if (!this.#timeline.closed) this.#append({ type: 'track-removed', at, trackId: tap.trackId });
  }

  #endPeer(peer: PeerState, at: number): void {
    for (const stream of peer.streams.values()) {
      if (stream.ended) continue;
      stream.ended = true;
      this.#append({ type: 'stream-ended', at, peerId: peer.peerId, streamId: stream.ref.streamId });
      this.emit('streamended', stream.ref);
    }
    peer.present = false;
    this.#append({ type: 'peer-left', at, peerId: peer.peerId });
  }

  #append(event: TimelineEvent): void {
    if (!this.#timeline.closed) this.#timeline.append(event);
  }

  #saveManifest(): void {
    try {
      writeManifest(this.dir, { ...this.#manifest, state: this.#state });
      this.#manifestUnwritten = false;
    } catch (error) {
      this.#manifestUnwritten = true;
      this.#writeFailed(error, 'manifest');
    }
  }

  #writeFailed(error: unknown, what: 'timeline' | 'manifest'): void {
    const failure = toSfuRecorderError(error, 'ERR_SPOOL_NOT_WRITABLE', `writing the ${what} of session ${this.sessionId} in ${this.dir}`);
    this.#reportWriteFault(failure);
  }

  /** Tells a failed write once per episode: a full disk fails every write until space returns. */
  #reportWriteFault(failure: SfuRecorderError): void {
    if (this.#writeFault) return;
    this.#writeFault = failure;
    if (failure.code === 'ERR_SPOOL_FULL') this.emit('spoolfull', failure);
    else this.emit('error', failure);
  }

  #assertOpen(): void {
    if (this.#ended) throw new SfuRecorderError('ERR_CLOSED', `session ${this.sessionId} of room ${this.roomId} has ended`);
  }
}
