/**
 * Rooms of the dashboard: one mediasoup router per room, the peers that joined it
 * (their WebRTC transports, producers and consumers), and what the recorder says about
 * the room's sessions and files. Everything a page shows is built here (`detail()`,
 * `recordings()`), and every change is announced on `onChange` so the server can push it.
 */
import { randomBytes } from 'node:crypto';
import type { types as ms } from 'mediasoup';
import {
  validateRoomRecordingConfig,
  type RecordingFinalisedInfo,
  type RecordingFailedEvent,
  type RecordingStoredEvent,
  type RoomRecorder,
  type RoomRecordingConfig,
  type RoomRecordingConfigInput,
  type SfuRecorder,
  type WebhookDeliveredEvent,
  type WebhookFailedEvent,
} from '../../src/index.js';
import { HttpError } from './http.js';

/** Codecs every room's router offers: what browsers send, all of them recordable. */
export const ROOM_MEDIA_CODECS: ms.RouterRtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
  { kind: 'video', mimeType: 'video/H264', clockRate: 90000, parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 } },
];

/** A session's state as the recordings page shows it. */
export type SessionState = 'capturing' | 'finalising' | 'uploading' | 'stored' | 'failed' | 'empty';

/** One file of a session, from `recordingfinalised` on, filled in by `recordingstored` / `recordingfailed`. */
export interface FileView {
  type: 'individual' | 'composite';
  peerId: string | null;
  streamId: string | null;
  status: 'uploading' | 'stored' | 'failed';
  durationMs: number;
  sizeBytes: number;
  key: string | null;
  /** `s3://bucket/key` or the local path. */
  location: string | null;
  url: string | null;
  urlExpiresAt: string | null;
  error: { code: string; message: string } | null;
}

interface SessionRecord {
  sessionId: string;
  startedAt: number;
  endedAt: number | null;
  finalised: boolean;
  empty: boolean;
  errors: string[];
  files: FileView[];
}

/** One webhook message's outcome. */
export interface WebhookView {
  id: string;
  type: string;
  key: string | null;
  sessionId: string | null;
  outcome: 'delivered' | 'failed';
  status: number | null;
  reason: string | null;
}

interface Peer {
  id: string;
  displayName: string;
  joinedAt: number;
  transports: Map<string, ms.WebRtcTransport>;
  producers: Map<string, ms.Producer>;
  /** Whether its event stream is open; a peer that never opens one is dropped. */
  present: boolean;
}

/** Options of {@link RoomRegistry}. */
export interface RoomRegistryOptions {
  worker: ms.Worker;
  recorder: SfuRecorder;
  /** The address browsers reach the WebRTC transports at. */
  announcedIp: string;
  /** Bind address of the WebRTC transports. */
  listenIp: string;
}

/** A room: its router, its peers and its recording history. */
export class DashboardRoom {
  readonly id: string;
  readonly name: string;
  readonly createdAt = Date.now();
  readonly router: ms.Router;
  readonly recording: RoomRecording;
  readonly peers = new Map<string, Peer>();
  readonly sessions = new Map<string, SessionRecord>();
  readonly webhooks: WebhookView[] = [];
  /** Everyone who ever joined, so files of peers who left still show their name. */
  readonly displayNames = new Map<string, string>();
  readonly #listeners = new Set<() => void>();

  constructor(id: string, name: string, router: ms.Router, recording: RoomRecording) {
    this.id = id;
    this.name = name;
    this.router = router;
    this.recording = recording;
  }

  /** Calls `listener` after every change; returns the function that stops it. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  changed(): void {
    for (const listener of this.#listeners) listener();
  }

  /** What `GET /api/rooms/:id` answers. */
  detail() {
    const live = this.recording.room.sessionId;
    return {
      id: this.id,
      name: this.name,
      createdAt: new Date(this.createdAt).toISOString(),
      recording: {
        config: publicConfig(this.recording.config),
        // The indicator every peer sees: a session is capturing right now.
        active: live !== undefined && !this.recording.room.paused,
        sessionId: live ?? null,
        sessionState: live ? 'capturing' : (this.#latestSession()?.state ?? null),
      },
      peers: [...this.peers.values()].map((peer) => ({
        id: peer.id,
        displayName: peer.displayName,
        joinedAt: new Date(peer.joinedAt).toISOString(),
        producers: [...peer.producers.values()].map((p) => ({ id: p.id, kind: p.kind })),
      })),
    };
  }

  /** What `GET /api/rooms/:id/recordings` answers. */
  recordings() {
    return {
      roomId: this.id,
      sessions: [...this.sessions.values()].map((s) => ({
        sessionId: s.sessionId,
        state: sessionState(s),
        startedAt: new Date(s.startedAt).toISOString(),
        endedAt: s.endedAt === null ? null : new Date(s.endedAt).toISOString(),
        durationMs: s.endedAt === null ? null : s.endedAt - s.startedAt,
        errors: s.errors,
        files: s.files.map((f) => ({ ...f, displayName: f.peerId === null ? null : (this.displayNames.get(f.peerId) ?? f.peerId) })),
      })),
      webhooks: this.webhooks,
    };
  }

  #latestSession() {
    const sessions = this.recordings().sessions;
    return sessions[sessions.length - 1];
  }
}

/** The recorder's side of a room. */
export interface RoomRecording {
  room: RoomRecorder;
  config: RoomRecordingConfig;
}

/**
 * The configuration as the API shows it: never the credentials (only that there are
 * some), never the webhook's URL or secret (a URL often carries a token).
 */
function publicConfig(config: RoomRecordingConfig) {
  return {
    individual: config.individual,
    composite: config.composite,
    upload: config.upload
      ? {
          type: config.upload.type,
          location: config.upload.location,
          prefix: config.upload.prefix ?? null,
          options: { region: config.upload.options.region, endpoint: config.upload.options.endpoint ?? null },
          credentials: config.upload.credentials ? 'configured' : 'default chain',
        }
      : null,
    storage: config.upload ? 's3' : 'default',
    webhook: config.webhook ? 'configured' : null,
  };
}

function sessionState(s: SessionRecord): SessionState {
  if (s.endedAt === null) return 'capturing';
  if (!s.finalised) return 'finalising';
  if (s.empty) return 'empty';
  if (s.files.some((f) => f.status === 'uploading')) return 'uploading';
  if (s.files.length === 0 || s.files.some((f) => f.status === 'failed') || s.errors.length > 0) return 'failed';
  return 'stored';
}

/**
 * Every room of the dashboard, and the recorder's events sorted into them. A room id is
 * made from its name plus random characters: it becomes a segment of every storage key.
 */
export class RoomRegistry {
  readonly rooms = new Map<string, DashboardRoom>();
  readonly #options: RoomRegistryOptions;

  constructor(options: RoomRegistryOptions) {
    this.#options = options;
    const { recorder } = options;
    recorder.on('sessionstarted', (info) =>
      this.#update(info.roomId, (room) => {
        room.sessions.set(info.sessionId, { sessionId: info.sessionId, startedAt: info.startedAt, endedAt: null, finalised: false, empty: false, errors: [], files: [] });
      }),
    );
    recorder.on('sessionended', (info) => this.#updateSession(info.roomId, info.sessionId, (s) => (s.endedAt = info.endedAt)));
    recorder.on('recordingfinalised', (info) => this.#updateSession(info.roomId, info.sessionId, (s) => fileOf(s, info)));
    recorder.on('recordingstored', (event) => this.#updateSession(event.metadata.roomId, event.metadata.sessionId, (s) => storedInto(fileOf(s, event.metadata), event)));
    recorder.on('recordingfailed', (event) => this.#updateSession(event.metadata.roomId, event.metadata.sessionId, (s) => failedInto(fileOf(s, event.metadata), event)));
    recorder.on('sessionfinalised', (info) =>
      this.#updateSession(info.roomId, info.sessionId, (s) => {
        s.finalised = true;
        s.errors.push(...info.errors.map((e) => `${e.code}: ${e.message}`));
      }),
    );
    recorder.on('sessionempty', (info) =>
      this.#updateSession(info.roomId, info.sessionId, (s) => {
        s.empty = true;
        s.finalised = true;
      }),
    );
    recorder.on('webhookdelivered', (event) => this.#webhook(event, 'delivered'));
    recorder.on('webhookfailed', (event) => this.#webhook(event, 'failed'));
  }

  get(roomId: string): DashboardRoom {
    const room = this.rooms.get(roomId);
    if (!room) throw new HttpError(404, `no room ${roomId}`);
    return room;
  }

  /**
   * Creates the router and enables recording. The configuration is validated first
   * (`InvalidConfigError` names the field), so a bad one creates nothing.
   */
  async create(name: string, recording: unknown): Promise<DashboardRoom> {
    const { recorder, worker } = this.#options;
    const config = validateRoomRecordingConfig(recording);
    const id = `${slug(name)}-${randomBytes(3).toString('hex')}`;
    const router = await worker.createRouter({ mediaCodecs: ROOM_MEDIA_CODECS });
    try {
      const recorderRoom = await recorder.enableRoom({ roomId: id, router, recording: recording as RoomRecordingConfigInput });
      const room = new DashboardRoom(id, name, router, { room: recorderRoom, config });
      recorderRoom.on('sessionended', () => room.changed());
      this.rooms.set(id, room);
      return room;
    } catch (error) {
      router.close();
      throw error;
    }
  }

  /** Ends the room's current session: its files are finalised and stored. */
  async stop(room: DashboardRoom): Promise<string | null> {
    const sessionId = await room.recording.room.stop();
    room.changed();
    return sessionId ?? null;
  }

  /** Ends the session, closes the router (every peer's transports with it) and forgets the room. */
  async delete(room: DashboardRoom): Promise<void> {
    this.rooms.delete(room.id);
    await room.recording.room.close();
    room.router.close();
    room.changed();
  }

  addPeer(room: DashboardRoom, displayName: string): Peer {
    const peer: Peer = { id: `peer-${randomBytes(4).toString('hex')}`, displayName, joinedAt: Date.now(), transports: new Map(), producers: new Map(), present: false };
    room.peers.set(peer.id, peer);
    room.displayNames.set(peer.id, displayName);
    // A peer whose page never opened its event stream is gone.
    setTimeout(() => {
      if (!peer.present) this.removePeer(room, peer.id);
    }, 15_000).unref();
    room.changed();
    return peer;
  }

  peer(room: DashboardRoom, peerId: string): Peer {
    const peer = room.peers.get(peerId);
    if (!peer) throw new HttpError(404, `no peer ${peerId} in room ${room.id}`);
    return peer;
  }

  /** The peer left: closing its transports closes its producers, and the recorder ends its stream. */
  removePeer(room: DashboardRoom, peerId: string): void {
    const peer = room.peers.get(peerId);
    if (!peer) return;
    room.peers.delete(peerId);
    for (const transport of peer.transports.values()) transport.close();
    room.changed();
  }

  async createTransport(room: DashboardRoom, peer: Peer) {
    const { listenIp, announcedIp } = this.#options;
    const transport = await room.router.createWebRtcTransport({
      listenInfos: [{ protocol: 'udp', ip: listenIp, announcedAddress: announcedIp }],
      // peerId on the transport: the recorder reads it to know whose producers these are.
      appData: { peerId: peer.id, displayName: peer.displayName },
    });
    peer.transports.set(transport.id, transport);
    return { id: transport.id, iceParameters: transport.iceParameters, iceCandidates: transport.iceCandidates, dtlsParameters: transport.dtlsParameters };
  }

  transport(peer: Peer, transportId: string): ms.WebRtcTransport {
    const transport = peer.transports.get(transportId);
    if (!transport) throw new HttpError(404, `no transport ${transportId} of peer ${peer.id}`);
    return transport;
  }

  async connect(peer: Peer, transportId: string, dtlsParameters: unknown): Promise<void> {
    const transport = this.transport(peer, transportId);
    await mediasoupCall('dtlsParameters', () => transport.connect({ dtlsParameters: dtlsParameters as ms.DtlsParameters }));
  }

  async produce(room: DashboardRoom, peer: Peer, transportId: string, kind: 'audio' | 'video', rtpParameters: unknown): Promise<string> {
    const transport = this.transport(peer, transportId);
    // The identity comes from the server, never from what the browser sends.
    const producer = await mediasoupCall('rtpParameters', () =>
      transport.produce({ kind, rtpParameters: rtpParameters as ms.RtpParameters, appData: { peerId: peer.id, streamId: `${peer.id}-camera`, displayName: peer.displayName } }),
    );
    peer.producers.set(producer.id, producer);
    producer.observer.once('close', () => {
      peer.producers.delete(producer.id);
      room.changed();
    });
    room.changed();
    return producer.id;
  }

  async consume(room: DashboardRoom, peer: Peer, transportId: string, producerId: string, rtpCapabilities: unknown) {
    const transport = this.transport(peer, transportId);
    if (!room.router.canConsume({ producerId, rtpCapabilities: rtpCapabilities as ms.RtpCapabilities })) {
      throw new HttpError(400, `cannot consume producer ${producerId} with these rtpCapabilities`, 'producerId');
    }
    const consumer = await mediasoupCall('rtpCapabilities', () => transport.consume({ producerId, rtpCapabilities: rtpCapabilities as ms.RtpCapabilities }));
    return { id: consumer.id, producerId, kind: consumer.kind, rtpParameters: consumer.rtpParameters };
  }

  #update(roomId: string, change: (room: DashboardRoom) => void): void {
    const room = this.rooms.get(roomId);
    if (!room) return;
    change(room);
    room.changed();
  }

  #updateSession(roomId: string, sessionId: string, change: (session: SessionRecord) => void): void {
    this.#update(roomId, (room) => {
      const session = room.sessions.get(sessionId);
      if (session) change(session);
    });
  }

  #webhook(event: WebhookDeliveredEvent | WebhookFailedEvent, outcome: WebhookView['outcome']): void {
    if (event.roomId === undefined) return;
    this.#update(event.roomId, (room) => {
      room.webhooks.push({
        id: event.id,
        type: event.type,
        key: event.key ?? null,
        sessionId: event.sessionId ?? null,
        outcome,
        status: event.status ?? null,
        reason: 'reason' in event ? event.reason : null,
      });
    });
  }
}

type FileIdentity = Pick<RecordingFinalisedInfo, 'recordingType' | 'peerId' | 'streamId' | 'durationMs' | 'sizeBytes'>;

/** The session's entry for a file, made on first sight. */
function fileOf(session: SessionRecord, info: FileIdentity): FileView {
  const streamId = info.streamId ?? null;
  let file = session.files.find((f) => f.type === info.recordingType && f.streamId === streamId);
  if (!file) {
    file = {
      type: info.recordingType,
      peerId: info.peerId ?? null,
      streamId,
      status: 'uploading',
      durationMs: info.durationMs,
      sizeBytes: info.sizeBytes,
      key: null,
      location: null,
      url: null,
      urlExpiresAt: null,
      error: null,
    };
    session.files.push(file);
  }
  return file;
}

function storedInto(file: FileView, event: RecordingStoredEvent): void {
  file.status = 'stored';
  file.key = event.key;
  file.location = event.location;
  file.sizeBytes = event.sizeBytes;
  file.url = event.url ?? null;
  file.urlExpiresAt = event.urlExpiresAt === undefined ? null : new Date(event.urlExpiresAt).toISOString();
}

function failedInto(file: FileView, event: RecordingFailedEvent): void {
  file.status = 'failed';
  file.key = event.key;
  file.error = event.error;
}

/** A mediasoup call on what a browser sent: its refusal is the client's fault (400), naming the field. */
async function mediasoupCall<T>(field: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new HttpError(400, `invalid ${field}: ${message}`, field);
  }
}

function slug(name: string): string {
  const base = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40);
  return base === '' ? 'room' : base;
}
