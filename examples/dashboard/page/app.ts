/**
 * The dashboard's page (bundled with mediasoup-client when the server starts). Three
 * views, picked by the path: `/` (create a room, list rooms), `/rooms/:id` (join the
 * call with camera and microphone) and `/rooms/:id/recordings` (watch the sessions and
 * play the files). Live state comes from the room's Server-Sent Events stream.
 */
import { Device, type types } from 'mediasoup-client';

// What the server's API answers (see examples/dashboard/rooms.ts).
interface RoomDetail {
  id: string;
  name: string;
  recording: {
    config: { individual: boolean; composite: boolean; storage: string; upload: { location: string; prefix: string | null } | null };
    active: boolean;
    sessionId: string | null;
    sessionState: string | null;
  };
  peers: Array<{ id: string; displayName: string; producers: Array<{ id: string; kind: 'audio' | 'video' }> }>;
}
interface FileView {
  type: 'individual' | 'composite';
  peerId: string | null;
  displayName: string | null;
  streamId: string | null;
  status: string;
  durationMs: number;
  sizeBytes: number;
  key: string | null;
  url: string | null;
  urlExpiresAt: string | null;
  error: { code: string; message: string } | null;
}
interface Recordings {
  sessions: Array<{ sessionId: string; state: string; startedAt: string; durationMs: number | null; errors: string[]; files: FileView[] }>;
  webhooks: Array<{ id: string; type: string; key: string | null; outcome: string; status: number | null; reason: string | null }>;
}
interface ApiError {
  error: { code: string; message: string; field?: string };
}

const app = document.getElementById('app')!;

class ApiFailure extends Error {
  constructor(readonly body: ApiError['error'], readonly status: number) {
    super(body.message);
  }
}

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(path, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  if (response.status === 204) return undefined as T;
  const json = (await response.json()) as T | ApiError;
  if (!response.ok) throw new ApiFailure((json as ApiError).error, response.status);
  return json as T;
}

/** Builds an element: `h('button', { id: 'x' }, 'Join')`. */
function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: Array<Node | string>): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, value);
  element.append(...children);
  return element;
}

const escapeSegment = (id: string) => encodeURIComponent(id);

// ---------------------------------------------------------------------------------------
// `/`: the create-room form and the list of rooms.
// ---------------------------------------------------------------------------------------

function field(label: string, name: string, type = 'text', placeholder = ''): HTMLElement {
  return h('div', {}, h('label', { for: name }, label), h('input', { id: name, name, type, placeholder, autocomplete: 'off' }), h('small', { class: 'error', 'data-error-for': name }));
}

async function homeView(): Promise<void> {
  const s3 = h('fieldset', { id: 's3-fields', hidden: '' },
    h('legend', {}, 'S3 upload'),
    field('Bucket (location)', 'upload.location', 'text', 'my-bucket'),
    field('Key prefix', 'upload.prefix', 'text', 'recordings'),
    field('Region', 'upload.options.region', 'text', 'ap-south-1'),
    field('Endpoint (S3-compatible stores)', 'upload.options.endpoint', 'text', 'http://127.0.0.1:9000'),
    field('Access key id', 'upload.credentials.key'),
    field('Secret access key', 'upload.credentials.secret', 'password'),
  );
  const form = h('form', { id: 'create-room', novalidate: '' },
    field('Room name', 'name', 'text', 'Daily stand-up'),
    h('fieldset', {}, h('legend', {}, 'Recording'),
      h('label', { class: 'inline' }, h('input', { type: 'checkbox', name: 'individual', checked: '' }), 'one file per peer'),
      h('label', { class: 'inline' }, h('input', { type: 'checkbox', name: 'composite', checked: '' }), 'composite of the whole call'),
      h('small', { class: 'error', 'data-error-for': 'individual' })),
    h('fieldset', {}, h('legend', {}, 'Storage'),
      h('label', { class: 'inline' }, h('input', { type: 'radio', name: 'storage', value: 'default', checked: '' }), 'default storage (signed URLs from this server)'),
      h('label', { class: 'inline' }, h('input', { type: 'radio', name: 'storage', value: 's3' }), 'S3 upload')),
    s3,
    h('small', { class: 'error', id: 'form-error' }),
    h('button', { type: 'submit', id: 'create-button' }, 'Create room'),
  );
  const list = h('tbody', {});
  app.replaceChildren(h('section', { class: 'card' }, h('h2', {}, 'Create a room with recording'), form), h('section', { class: 'card' }, h('h2', {}, 'Rooms'), h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Room'), h('th', {}, 'Storage'), h('th', {}, 'Peers'), h('th', {}, 'Recording'), h('th', {}))), list)));
  const value = (name: string) => (form.elements.namedItem(name) as HTMLInputElement).value.trim();
  const checked = (name: string) => (form.elements.namedItem(name) as HTMLInputElement).checked;
  form.addEventListener('change', () => (s3.hidden = (form.elements.namedItem('storage') as RadioNodeList).value !== 's3'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    // The body is the library's own room configuration, as a user would write it.
    const recording: Record<string, unknown> = { individual: checked('individual'), composite: checked('composite') };
    if ((form.elements.namedItem('storage') as RadioNodeList).value === 's3') {
      const options: Record<string, string> = {};
      if (value('upload.options.region')) options.region = value('upload.options.region');
      if (value('upload.options.endpoint')) options.endpoint = value('upload.options.endpoint');
      recording.upload = {
        type: 's3',
        location: value('upload.location'),
        ...(value('upload.prefix') ? { prefix: value('upload.prefix') } : {}),
        ...(Object.keys(options).length > 0 ? { options } : {}),
        ...(value('upload.credentials.key') || value('upload.credentials.secret')
          ? { credentials: { key: value('upload.credentials.key'), secret: value('upload.credentials.secret') } }
          : {}),
      };
    }
    showFieldError(form, undefined);
    api<RoomDetail>('POST', '/api/rooms', { name: value('name'), recording }).then(
      (room) => location.assign(`/rooms/${escapeSegment(room.id)}`),
      (error: unknown) => showFieldError(form, error instanceof ApiFailure ? error.body : { code: 'ERR_NETWORK', message: String(error) }),
    );
  });
  const rooms = (await api<{ rooms: RoomDetail[] }>('GET', '/api/rooms')).rooms;
  for (const room of rooms) {
    const id = escapeSegment(room.id);
    list.append(h('tr', {},
      h('td', {}, h('a', { href: `/rooms/${id}` }, room.name), h('div', { class: 'muted' }, room.id)),
      h('td', {}, room.recording.config.upload ? `s3://${room.recording.config.upload.location}` : 'default'),
      h('td', {}, String(room.peers.length)),
      h('td', {}, room.recording.active ? 'recording' : (room.recording.sessionState ?? 'idle')),
      h('td', {}, h('a', { href: `/rooms/${id}/recordings` }, 'recordings'))));
  }
}

/** Shows the API's error at the input it names (or the closest enclosing one), else under the form. */
function showFieldError(form: HTMLFormElement, error: ApiError['error'] | undefined): void {
  for (const element of form.querySelectorAll('[data-error-for], #form-error')) element.textContent = '';
  for (const input of form.querySelectorAll('input.invalid')) input.classList.remove('invalid');
  if (!error) return;
  let name = error.field;
  while (name && !form.querySelector(`[data-error-for="${name}"]`)) name = name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : undefined;
  const target = name ? form.querySelector(`[data-error-for="${name}"]`)! : form.querySelector('#form-error')!;
  target.textContent = error.message;
  if (name) form.querySelector(`input[name="${name}"]`)?.classList.add('invalid');
}

// ---------------------------------------------------------------------------------------
// `/rooms/:id`: join the call.
// ---------------------------------------------------------------------------------------

interface Call {
  peerId: string;
  device: Device;
  send: types.Transport;
  recv: types.Transport;
  media: MediaStream;
  /** Producer ids consumed (or being consumed), and the remote peers' streams. */
  consumed: Set<string>;
  remote: Map<string, MediaStream>;
}

async function roomView(roomId: string): Promise<void> {
  const base = `/api/rooms/${escapeSegment(roomId)}`;
  const indicator = h('span', { id: 'recording-indicator', hidden: '' }, 'REC · this call is being recorded');
  document.getElementById('header-extra')!.replaceChildren(indicator);
  const title = h('h2', {}, 'Room');
  const name = h('input', { id: 'join-name', type: 'text', placeholder: 'Your name', value: 'Guest' });
  const join = h('button', { id: 'join-button' }, 'Join with camera and microphone');
  const leave = h('button', { id: 'leave-button', class: 'danger', hidden: '' }, 'Leave');
  const status = h('span', { id: 'call-status', class: 'muted' }, 'not joined');
  const videos = h('div', { class: 'videos', id: 'videos' });
  const peers = h('ul', { id: 'peers' });
  app.replaceChildren(
    h('section', { class: 'card' }, title, h('div', {}, name, ' ', join, ' ', leave, ' ', status), h('p', {}, h('a', { href: `/rooms/${escapeSegment(roomId)}/recordings`, id: 'recordings-link' }, 'Recordings of this room →'))),
    h('section', { class: 'card' }, h('h2', {}, 'In the call'), peers, videos),
  );
  let call: Call | undefined;
  let events: EventSource | undefined;

  const render = (room: RoomDetail): void => {
    title.textContent = room.name;
    indicator.hidden = !room.recording.active;
    peers.replaceChildren(...room.peers.map((p) => h('li', {}, p.displayName + (p.id === call?.peerId ? ' (you)' : ''))));
    if (call) void consumeOthers(call, room, videos, base);
  };
  const listen = (peerId?: string): void => {
    events?.close();
    events = new EventSource(`${base}/events${peerId ? `?peerId=${encodeURIComponent(peerId)}` : ''}`);
    events.addEventListener('room', (event) => render((JSON.parse((event as MessageEvent<string>).data) as { room: RoomDetail }).room));
    events.addEventListener('deleted', () => (status.textContent = 'this room was deleted'));
  };
  listen();

  join.addEventListener('click', () => {
    join.disabled = true;
    status.textContent = 'joining…';
    joinCall(base, name.value.trim() || 'Guest', listen, videos).then(
      (joined) => {
        call = joined;
        leave.hidden = false;
        status.textContent = 'in the call';
      },
      (error: unknown) => {
        join.disabled = false;
        status.textContent = `could not join: ${error instanceof Error ? error.message : String(error)}`;
      },
    );
  });
  leave.addEventListener('click', () => {
    if (!call) return;
    const left = call;
    call = undefined;
    left.send.close();
    left.recv.close();
    for (const track of left.media.getTracks()) track.stop();
    videos.replaceChildren();
    void api('DELETE', `${base}/peers/${escapeSegment(left.peerId)}`).catch(() => undefined);
    listen();
    leave.hidden = true;
    join.disabled = false;
    status.textContent = 'left the call';
  });
}

async function joinCall(base: string, displayName: string, listen: (peerId: string) => void, videos: HTMLElement): Promise<Call> {
  const { peerId, routerRtpCapabilities } = await api<{ peerId: string; routerRtpCapabilities: types.RtpCapabilities }>('POST', `${base}/peers`, { displayName });
  const peerBase = `${base}/peers/${escapeSegment(peerId)}`;
  // From now on the event stream is this peer's presence: closing the page leaves the call.
  listen(peerId);
  const device = new Device();
  await device.load({ routerRtpCapabilities });
  const media = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 360 } });
  const wire = (transport: types.Transport): types.Transport => {
    transport.on('connect', ({ dtlsParameters }, callback, errback) => {
      api('POST', `${peerBase}/transports/${transport.id}/connect`, { dtlsParameters }).then(() => callback(), errback);
    });
    return transport;
  };
  const send = wire(device.createSendTransport(await api('POST', `${peerBase}/transports`, {})));
  send.on('produce', ({ kind, rtpParameters }, callback, errback) => {
    api<{ id: string }>('POST', `${peerBase}/produce`, { transportId: send.id, kind, rtpParameters }).then(callback, errback);
  });
  const recv = wire(device.createRecvTransport(await api('POST', `${peerBase}/transports`, {})));
  for (const track of media.getTracks()) await send.produce({ track });
  const self = h('video', { autoplay: '', playsinline: '', id: 'local-video' });
  self.muted = true;
  self.srcObject = media;
  videos.replaceChildren(h('figure', {}, self, h('figcaption', {}, `${displayName} (you)`)));
  return { peerId, device, send, recv, media, consumed: new Set(), remote: new Map() };
}

/** Consumes every producer of the other peers not consumed yet; drops the tiles of peers that left. */
async function consumeOthers(call: Call, room: RoomDetail, videos: HTMLElement, base: string): Promise<void> {
  const present = new Set(room.peers.map((p) => p.id));
  for (const [peerId] of call.remote) {
    if (!present.has(peerId)) {
      call.remote.delete(peerId);
      videos.querySelector(`[data-peer="${peerId}"]`)?.remove();
    }
  }
  for (const peer of room.peers) {
    if (peer.id === call.peerId) continue;
    for (const producer of peer.producers) {
      if (call.consumed.has(producer.id)) continue;
      call.consumed.add(producer.id);
      const params = await api<{ id: string; producerId: string; kind: 'audio' | 'video'; rtpParameters: types.RtpParameters }>(
        'POST', `${base}/peers/${escapeSegment(call.peerId)}/consume`, { transportId: call.recv.id, producerId: producer.id, rtpCapabilities: call.device.rtpCapabilities });
      const consumer = await call.recv.consume(params);
      let stream = call.remote.get(peer.id);
      if (!stream) {
        stream = new MediaStream();
        call.remote.set(peer.id, stream);
        const video = h('video', { autoplay: '', playsinline: '' });
        video.srcObject = stream;
        videos.append(h('figure', { 'data-peer': peer.id }, video, h('figcaption', {}, peer.displayName)));
      }
      stream.addTrack(consumer.track);
    }
  }
}

// ---------------------------------------------------------------------------------------
// `/rooms/:id/recordings`: sessions, files and webhooks, live.
// ---------------------------------------------------------------------------------------

async function recordingsView(roomId: string): Promise<void> {
  const base = `/api/rooms/${escapeSegment(roomId)}`;
  const title = h('h2', {}, 'Recordings');
  const stop = h('button', { id: 'stop-button', class: 'danger' }, 'Stop the session');
  const sessions = h('div', { id: 'sessions' });
  const webhooks = h('tbody', { id: 'webhooks' });
  app.replaceChildren(
    h('section', { class: 'card' }, title, h('p', {}, h('a', { href: `/rooms/${escapeSegment(roomId)}` }, '← back to the call'), ' ', stop)),
    sessions,
    h('section', { class: 'card' }, h('h2', {}, 'Webhook deliveries'), h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Message'), h('th', {}, 'Recording'), h('th', {}, 'Outcome'))), webhooks)),
  );
  stop.addEventListener('click', () => void api('POST', `${base}/stop`));
  const events = new EventSource(`${base}/events`);
  events.addEventListener('room', (event) => {
    const { room, recordings } = JSON.parse((event as MessageEvent<string>).data) as { room: RoomDetail; recordings: Recordings };
    title.textContent = `Recordings of ${room.name}`;
    stop.disabled = !room.recording.active;
    renderSessions(sessions, recordings);
    webhooks.replaceChildren(...recordings.webhooks.map((w) => h('tr', {}, h('td', {}, `${w.type} ${w.id}`), h('td', {}, h('code', {}, w.key ?? '')), h('td', {}, `${w.outcome}${w.status ? ` (HTTP ${w.status})` : ''}${w.reason ? `: ${w.reason}` : ''}`))));
  });
}

/**
 * Updates the sessions in place: a file's `<video>` is made once, when its URL arrives,
 * so a pushed update never interrupts playback.
 */
function renderSessions(container: HTMLElement, recordings: Recordings): void {
  for (const session of [...recordings.sessions].reverse()) {
    let card = container.querySelector<HTMLElement>(`section[data-session-id="${session.sessionId}"]`);
    if (!card) {
      card = h('section', { class: 'card session', 'data-session-id': session.sessionId },
        h('h2', {}, 'Session ', h('span', { class: 'badge state' }), ' ', h('span', { class: 'muted when' })),
        h('div', { class: 'muted errors' }), h('div', { class: 'files' }));
      container.prepend(card);
    }
    const badge = card.querySelector<HTMLElement>('.state')!;
    badge.textContent = session.state;
    badge.dataset.state = session.state;
    card.dataset.state = session.state;
    card.querySelector('.when')!.textContent = `${session.sessionId} · started ${new Date(session.startedAt).toLocaleString()}${session.durationMs !== null ? ` · ${(session.durationMs / 1000).toFixed(1)} s` : ''}`;
    card.querySelector('.errors')!.textContent = session.errors.join('\n');
    const files = card.querySelector<HTMLElement>('.files')!;
    // The composite first, then each peer's file.
    for (const file of [...session.files].sort((a, b) => (a.type === b.type ? 0 : a.type === 'composite' ? -1 : 1))) {
      const id = `${file.type}:${file.streamId ?? ''}`;
      let figure = files.querySelector<HTMLElement>(`figure[data-file="${id}"]`);
      if (!figure) {
        figure = h('figure', { class: 'file', 'data-file': id, 'data-type': file.type, ...(file.peerId ? { 'data-peer': file.peerId } : {}) }, h('figcaption', {}));
        if (file.type === 'composite') files.prepend(figure);
        else files.append(figure);
      }
      figure.dataset.status = file.status;
      if (file.url && !figure.querySelector('video')) {
        const video = h('video', { controls: '', preload: 'metadata', src: file.url });
        figure.prepend(video);
      }
      figure.querySelector('figcaption')!.replaceChildren(
        h('strong', {}, file.type === 'composite' ? 'Composite' : `${file.displayName} · ${file.streamId}`), ' ',
        h('span', { class: 'badge', 'data-state': file.status }, file.status), h('br'),
        `${(file.durationMs / 1000).toFixed(1)} s · ${Math.round(file.sizeBytes / 1024)} KiB`,
        ...(file.key ? [h('br'), h('code', {}, file.key)] : []),
        ...(file.urlExpiresAt ? [h('br'), h('span', { class: 'muted' }, `URL valid until ${new Date(file.urlExpiresAt).toLocaleString()}`)] : []),
        ...(file.error ? [h('br'), h('span', { class: 'error' }, `${file.error.code}: ${file.error.message}`)] : []),
      );
    }
  }
}

// ---------------------------------------------------------------------------------------

const path = location.pathname;
const room = /^\/rooms\/([^/]+)(\/recordings)?$/.exec(path);
const view = room ? (room[2] ? recordingsView(decodeURIComponent(room[1]!)) : roomView(decodeURIComponent(room[1]!))) : homeView();
view.catch((error: unknown) => app.replaceChildren(h('section', { class: 'card' }, h('p', { class: 'error' }, error instanceof Error ? error.message : String(error)))));
