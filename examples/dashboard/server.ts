/**
 * The dashboard's server: one mediasoup worker, one SfuRecorder, and one `node:http`
 * server for the page, the JSON API, the browsers' signalling and the default storage's
 * signed URLs.
 *
 * Signalling is plain HTTP: every mediasoup-client step (create a transport, connect it,
 * produce, consume) is a request with an answer, so it is a `fetch`; what the server
 * pushes (peers, the recording indicator, session and file status) goes one way, so it is
 * a Server-Sent Events stream, which browsers reconnect on their own. That needs no
 * WebSocket library, and the same stream tells the server when a peer's page is gone.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { types as ms } from 'mediasoup';
import {
  createSignedUrlHandler,
  InvalidConfigError,
  SfuRecorder,
  SfuRecorderError,
  type FinaliseOptions,
  type WebhookConfigInput,
} from '../../src/index.js';
import { HttpError, objectField, oneOf, readJsonObject, sendError, sendJson, stringField } from './http.js';
import { loadPage } from './page.js';
import { RoomRegistry, type DashboardRoom } from './rooms.js';

/** Options of {@link startDashboard}. */
export interface DashboardOptions {
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1: browsers allow camera access on loopback without HTTPS. */
  host?: string;
  /** Spool and default storage live here; default `./dashboard-data`. */
  dataDir?: string;
  /** The address browsers reach the WebRTC transports at; default 127.0.0.1. */
  announcedIp?: string;
  /** A webhook for every room whose configuration names none. */
  webhook?: WebhookConfigInput;
  /** Passed to the recorder (e.g. a faster x264 preset). */
  finalise?: FinaliseOptions;
  /** Where log lines go; default stdout. */
  log?: (line: string) => void;
}

/** A running dashboard. */
export interface Dashboard {
  url: string;
  recorder: SfuRecorder;
  rooms: RoomRegistry;
  close(): Promise<void>;
}

export async function startDashboard(options: DashboardOptions = {}): Promise<Dashboard> {
  const log = options.log ?? ((line: string) => console.log(`[dashboard] ${line}`));
  const dataDir = options.dataDir ?? 'dashboard-data';
  const host = options.host ?? '127.0.0.1';
  // mediasoup reads MEDIASOUP_WORKER_BIN when it is first imported: main.ts sets it first.
  const mediasoup = await import('mediasoup');
  const worker: ms.Worker = await mediasoup.createWorker({ logLevel: 'warn' });
  const recorder = await SfuRecorder.create({
    spoolDir: join(dataDir, 'spool'),
    defaultStorage: { root: join(dataDir, 'recordings') },
    ...(options.webhook ? { webhook: options.webhook } : {}),
    ...options.finalise,
    // The library never puts credentials in its log lines or fields.
    logger: {
      info: (message) => log(message),
      warn: (message, fields) => log(`warning: ${message} ${JSON.stringify(fields ?? {})}`),
      error: (message, fields) => log(`error: ${message} ${JSON.stringify(fields ?? {})}`),
    },
  });
  recorder.on('error', (error, context) => log(`recorder error ${error.code} ${JSON.stringify(context)}: ${error.message}`));
  recorder.on('recordingstored', (event) => log(`stored ${event.metadata.recordingType} ${event.key}`));
  recorder.on('recordingfailed', (event) => log(`not stored ${event.key}: ${event.error.code}`));

  const rooms = new RoomRegistry({ worker, recorder, listenIp: host, announcedIp: options.announcedIp ?? '127.0.0.1' });
  const page = await loadPage();
  const signedUrls = createSignedUrlHandler(recorder.defaultStorage, { basePath: '/recordings' });

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    // The path only: the query of a signed URL is a bearer token.
    res.on('finish', () => log(`${req.method} ${path} ${res.statusCode}`));
    if (path.startsWith('/recordings/')) return signedUrls(req, res);
    handle(req, res, rooms, page).catch((error: unknown) => answerError(res, error, log));
  });
  server.listen(options.port ?? 8080, host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  // Signed URLs point back at this server, which mounts the handler at /recordings.
  recorder.defaultStorage.baseUrl = `${url}/recordings`;
  log(`listening on ${url}/`);

  return {
    url,
    recorder,
    rooms,
    async close() {
      server.closeAllConnections();
      server.close();
      await recorder.close();
      worker.close();
    },
  };
}

const ROOM = /^\/api\/rooms\/([^/]+)(\/.*)?$/;

async function handle(req: IncomingMessage, res: ServerResponse, rooms: RoomRegistry, page: { html: string; script: string }): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://dashboard');
  const path = url.pathname;
  const method = req.method ?? 'GET';

  if (method === 'GET' && (path === '/' || /^\/rooms\/[^/]+(\/recordings)?$/.test(path))) {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(page.html);
    return;
  }
  if (method === 'GET' && path === '/app.js') {
    res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
    res.end(page.script);
    return;
  }
  if (path === '/api/rooms') {
    if (method === 'GET') return sendJson(res, 200, { rooms: [...rooms.rooms.values()].map((room) => room.detail()) });
    if (method === 'POST') {
      const body = await readJsonObject(req);
      const name = stringField(body, 'name', 100);
      const room = await rooms.create(name, body.recording);
      return sendJson(res, 201, room.detail());
    }
    throw new HttpError(405, `${method} is not allowed on ${path}`);
  }
  const match = ROOM.exec(path);
  if (!match) throw new HttpError(404, `no such page or API: ${path}`);
  const room = rooms.get(decodeSegment(match[1]!));
  const rest = match[2] ?? '';
  const route = `${method} ${rest.replace(/^\/peers\/[^/]+/, '/peers/:peer').replace(/\/transports\/[^/]+/, '/transports/:transport')}`;
  const peerId = () => decodeSegment(rest.split('/')[2]!);

  switch (route) {
    case 'GET ':
      return sendJson(res, 200, room.detail());
    case 'DELETE ':
      await rooms.delete(room);
      res.writeHead(204).end();
      return;
    case 'POST /stop':
      return sendJson(res, 200, { sessionId: await rooms.stop(room) });
    case 'GET /recordings':
      return sendJson(res, 200, room.recordings());
    case 'GET /events':
      return streamEvents(req, res, rooms, room, url.searchParams.get('peerId'));
    case 'POST /peers': {
      const body = await readJsonObject(req);
      const peer = rooms.addPeer(room, stringField(body, 'displayName', 60));
      return sendJson(res, 201, { peerId: peer.id, routerRtpCapabilities: room.router.rtpCapabilities });
    }
    case 'DELETE /peers/:peer':
      rooms.removePeer(room, rooms.peer(room, peerId()).id);
      res.writeHead(204).end();
      return;
    case 'POST /peers/:peer/transports':
      return sendJson(res, 201, await rooms.createTransport(room, rooms.peer(room, peerId())));
    case 'POST /peers/:peer/transports/:transport/connect': {
      const peer = rooms.peer(room, peerId());
      const body = await readJsonObject(req);
      await rooms.connect(peer, decodeSegment(rest.split('/')[4]!), objectField(body, 'dtlsParameters'));
      res.writeHead(204).end();
      return;
    }
    case 'POST /peers/:peer/produce': {
      const peer = rooms.peer(room, peerId());
      const body = await readJsonObject(req);
      const id = await rooms.produce(room, peer, stringField(body, 'transportId'), oneOf(body, 'kind', ['audio', 'video'] as const), objectField(body, 'rtpParameters'));
      return sendJson(res, 201, { id });
    }
    case 'POST /peers/:peer/consume': {
      const peer = rooms.peer(room, peerId());
      const body = await readJsonObject(req);
      return sendJson(res, 201, await rooms.consume(room, peer, stringField(body, 'transportId'), stringField(body, 'producerId'), objectField(body, 'rtpCapabilities')));
    }
    default:
      throw new HttpError(404, `no such API: ${method} ${path}`);
  }
}

/**
 * The room's state, pushed on every change. With `peerId`, the stream is that peer's
 * presence: when the page closes (or its network goes), the peer leaves the room.
 */
function streamEvents(req: IncomingMessage, res: ServerResponse, rooms: RoomRegistry, room: DashboardRoom, peerId: string | null): void {
  const peer = peerId === null ? undefined : rooms.peer(room, peerId);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
  const push = (): void => {
    if (!rooms.rooms.has(room.id)) {
      res.end('event: deleted\ndata: {}\n\n');
      return;
    }
    res.write(`event: room\ndata: ${JSON.stringify({ room: room.detail(), recordings: room.recordings() })}\n\n`);
  };
  const stop = room.onChange(push);
  // A comment now and then keeps proxies from closing an idle stream.
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
  if (peer) peer.present = true;
  req.on('close', () => {
    stop();
    clearInterval(keepAlive);
    if (peer) rooms.removePeer(room, peer.id);
  });
  push();
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, 'malformed percent-encoding in the URL');
  }
}

const HTTP_ERROR_CODES: Record<number, string> = { 404: 'ERR_NOT_FOUND', 405: 'ERR_METHOD_NOT_ALLOWED', 413: 'ERR_BODY_TOO_LARGE' };

/** Client mistakes are 4xx naming the field; anything else is a 500 that says nothing of the request. */
function answerError(res: ServerResponse, error: unknown, log: (line: string) => void): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (error instanceof HttpError) return sendError(res, error.status, { code: HTTP_ERROR_CODES[error.status] ?? 'ERR_BAD_REQUEST', message: error.message, field: error.field });
  // The library's messages never contain credential values.
  if (error instanceof InvalidConfigError) return sendError(res, 400, { code: error.code, message: error.message, field: error.field });
  if (error instanceof SfuRecorderError && (error.code === 'ERR_INVALID_ARGUMENT' || error.code === 'ERR_ROOM_EXISTS')) {
    return sendError(res, 400, { code: error.code, message: error.message });
  }
  log(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  sendError(res, 500, { code: 'ERR_INTERNAL', message: 'internal error' });
}
