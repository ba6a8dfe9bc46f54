/**
 * The dashboard's HTTP API alone (no page): bad requests answer 4xx naming the field and
 * create nothing; a room created with an S3 upload to a real S3 server (s3rver) and a
 * webhook records two synthetic peers on its real router, and after a stop its files
 * land under the documented keys, the webhooks are delivered, and no credential ever
 * comes back out. Also: `npm run dashboard` starts and serves the page.
 */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard, type Dashboard } from '../../examples/dashboard/server.js';
import { formatStartDate } from '../../src/index.js';
import { SyntheticPeer } from '../../src/testing/index.js';
import { probeFile } from '../helpers/mux-probe.js';
import { sleep, tempDir } from '../helpers/recorder-fixtures.js';
import { startS3Server, testS3Client, TEST_S3_CREDENTIALS, type S3TestServer } from '../helpers/s3-server.js';
import { newWebhookSecret, startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

interface Answer {
  status: number;
  body: Record<string, unknown> & { error?: { code: string; field?: string; message: string } };
}

describe('the dashboard HTTP API', () => {
  let dashboard: Dashboard;
  let s3: S3TestServer;
  let receiver: WebhookReceiver;
  const webhookSecret = newWebhookSecret();
  const logLines: string[] = [];
  const bodies: string[] = [];

  beforeAll(async () => {
    s3 = await startS3Server('dashboard-bucket');
    receiver = await startWebhookReceiver(webhookSecret);
    dashboard = await startDashboard({
      port: 0,
      dataDir: tempDir('dashboard-api'),
      log: (line) => logLines.push(line),
      finalise: { individualOptions: { x264Preset: 'ultrafast' }, compositeOptions: { preset: 'ultrafast' } },
    });
  });

  afterAll(async () => {
    await dashboard?.close();
    await receiver?.close();
    await s3?.close();
  });

  /** One request; every answer's body is kept for the leak check. */
  async function call(method: string, path: string, body?: unknown, raw?: string): Promise<Answer> {
    const response = await fetch(`${dashboard.url}${path}`, {
      method,
      ...(body !== undefined || raw !== undefined ? { headers: { 'content-type': 'application/json' }, body: raw ?? JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    bodies.push(text);
    return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as Answer['body']) };
  }

  const s3Upload = (overrides: Record<string, unknown> = {}) => ({
    type: 's3',
    location: s3.bucket,
    prefix: 'dash',
    options: { region: 'us-east-1', endpoint: s3.endpoint },
    credentials: { key: TEST_S3_CREDENTIALS.key, secret: TEST_S3_CREDENTIALS.secret },
    ...overrides,
  });

  it('answers bad requests with 4xx naming the field, and creates nothing', async () => {
    const bad: Array<[string, string, unknown, string | undefined, number, string | undefined]> = [
      ['POST', '/api/rooms', undefined, '{"name": ', 400, undefined],
      ['POST', '/api/rooms', undefined, '[1, 2]', 400, undefined],
      ['POST', '/api/rooms', { recording: {} }, undefined, 400, 'name'],
      ['POST', '/api/rooms', { name: 'x', recording: { upload: s3Upload({ location: undefined }) } }, undefined, 400, 'upload.location'],
      ['POST', '/api/rooms', { name: 'x', recording: { upload: s3Upload({ type: 'gcs' }) } }, undefined, 400, 'upload.type'],
      ['POST', '/api/rooms', { name: 'x', recording: { upload: s3Upload({ credentials: { key: TEST_S3_CREDENTIALS.key } }) } }, undefined, 400, 'upload.credentials.secret'],
      ['POST', '/api/rooms', { name: 'x', recording: { individual: false, composite: false } }, undefined, 400, 'individual'],
      ['POST', '/api/rooms', { name: 'x', recording: 'yes' }, undefined, 400, 'config'],
      ['GET', '/api/rooms/no-such-room', undefined, undefined, 404, undefined],
      ['GET', '/api/rooms/%E0%A4%A', undefined, undefined, 400, undefined],
      ['PUT', '/api/rooms', {}, undefined, 405, undefined],
      ['GET', '/api/nothing-here', undefined, undefined, 404, undefined],
    ];
    for (const [method, path, body, raw, status, field] of bad) {
      const answer = await call(method, path, body, raw);
      expect(answer.status, `${method} ${path} ${raw ?? JSON.stringify(body)}`).toBe(status);
      expect(answer.body.error?.field, `${method} ${path}`).toBe(field);
      expect(answer.body.error?.message).toEqual(expect.any(String));
    }
    expect((await call('POST', '/api/rooms', { name: 'x', recording: { upload: s3Upload({ location: '' }) } })).body.error?.message).toBe(
      'upload.location is required (the bucket name)',
    );
    expect((await call('GET', '/api/rooms')).body.rooms).toEqual([]);
    expect(dashboard.recorder.rooms.size).toBe(0);

    // Signalling calls are checked before mediasoup sees them.
    const room = (await call('POST', '/api/rooms', { name: 'Signalling checks' })).body as { id: string };
    const peers = `/api/rooms/${room.id}/peers`;
    expect((await call('POST', peers, {})).body.error?.field).toBe('displayName');
    const { peerId } = (await call('POST', peers, { displayName: 'Eve' })).body as { peerId: string };
    const transport = (await call('POST', `${peers}/${peerId}/transports`, {})).body as { id: string };
    const bogus = await call('POST', `${peers}/${peerId}/transports/${transport.id}/connect`, { dtlsParameters: { role: 'nonsense', fingerprints: 'x' } });
    expect([bogus.status, bogus.body.error?.field]).toEqual([400, 'dtlsParameters']);
    expect((await call('POST', `${peers}/${peerId}/produce`, { transportId: transport.id, kind: 'data', rtpParameters: {} })).body.error?.field).toBe('kind');
    const produce = await call('POST', `${peers}/${peerId}/produce`, { transportId: transport.id, kind: 'video', rtpParameters: { codecs: 'none' } });
    expect([produce.status, produce.body.error?.field]).toEqual([400, 'rtpParameters']);
    expect((await call('POST', `${peers}/${peerId}/produce`, { transportId: 'nope', kind: 'video', rtpParameters: {} })).status).toBe(404);
    expect((await call('POST', `${peers}/nobody/transports`, {})).status).toBe(404);
    expect((await call('DELETE', `/api/rooms/${room.id}`)).status).toBe(204);
    expect((await call('GET', `/api/rooms/${room.id}`)).status).toBe(404);
    // The server is still there and answers.
    expect((await call('GET', '/api/rooms')).status).toBe(200);
  });

  it('records a room into S3 under the documented keys, with webhooks, and never gives the credentials back', async () => {
    const created = await call('POST', '/api/rooms', {
      name: 'API call',
      recording: { individual: true, composite: true, upload: s3Upload(), webhook: { url: receiver.url, secret: webhookSecret } },
    });
    expect(created.status).toBe(201);
    const roomId = created.body.id as string;
    expect(created.body.recording).toMatchObject({
      config: { storage: 's3', upload: { type: 's3', location: s3.bucket, prefix: 'dash', options: { region: 'us-east-1', endpoint: s3.endpoint }, credentials: 'configured' }, webhook: 'configured' },
      active: false,
    });

    const router = dashboard.rooms.get(roomId).router;
    const alice = await SyntheticPeer.create(router, { peerId: 'alice', video: { codec: 'VP8', width: 320, height: 180 } });
    const bob = await SyntheticPeer.create(router, { peerId: 'bob', video: { codec: 'VP8', width: 320, height: 180 } });
    await sleep(3000);
    bob.close();
    await sleep(2000);
    const live = (await call('GET', `/api/rooms/${roomId}`)).body as { recording: { active: boolean; sessionId: string } };
    expect(live.recording.active).toBe(true);
    const stopped = await call('POST', `/api/rooms/${roomId}/stop`);
    expect(stopped.body).toEqual({ sessionId: live.recording.sessionId });
    alice.close();

    type Recordings = { sessions: Array<{ sessionId: string; state: string; startedAt: string; files: Array<{ type: string; peerId: string | null; key: string; url: string; urlExpiresAt: string; durationMs: number; sizeBytes: number }> }>; webhooks: Array<{ outcome: string; status: number; key: string }> };
    let recordings: Recordings;
    for (let i = 0; ; i++) {
      recordings = (await call('GET', `/api/rooms/${roomId}/recordings`)).body as unknown as Recordings;
      if (recordings.sessions[0]?.state === 'stored' && recordings.webhooks.length === 3) break;
      if (i > 180) throw new Error(`session not stored: ${JSON.stringify(recordings)}`);
      await sleep(500);
    }
    const [session] = recordings.sessions;
    const sessionId = session!.sessionId;
    const date = formatStartDate(Date.parse(session!.startedAt));
    const base = `dash/${roomId}/${date}/${sessionId}`;
    const keys = session!.files.map((f) => f.key).sort();
    expect(keys).toEqual([`${base}/Rec-${sessionId}-${Date.parse(session!.startedAt)}.mp4`, `${base}/alice/alice-camera/alice-camera.mp4`, `${base}/bob/bob-camera/bob-camera.mp4`].sort());
    const listed = await testS3Client(s3).send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'dash/' }));
    expect((listed.Contents ?? []).map((o) => o.Key).sort()).toEqual(keys);
    for (const file of session!.files) {
      expect(file.urlExpiresAt).toEqual(expect.any(String));
      expect(file.sizeBytes).toBeGreaterThan(0);
    }
    expect(recordings.webhooks.map((w) => [w.outcome, w.status]).sort()).toEqual([['delivered', 204], ['delivered', 204], ['delivered', 204]]);
    expect(recordings.webhooks.map((w) => w.key).sort()).toEqual(keys);

    // The composite, fetched through its presigned URL, is a real mp4 of the session.
    const composite = session!.files.find((f) => f.type === 'composite')!;
    const download = join(tempDir('dashboard-api-download'), 'composite.mp4');
    await writeFile(download, Buffer.from(await (await fetch(composite.url)).arrayBuffer()));
    const probe = await probeFile(download);
    expect(probe.streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort()).toEqual(['audio:aac', 'video:h264']);
    expect(Math.abs(probe.durationS * 1000 - composite.durationMs)).toBeLessThan(200);

    // No credential came back out: not in any answer, nor in the server's log. The access key
    // id is public by design in SigV4: it is in every presigned URL, and only there.
    const everything = [...bodies, ...logLines].join('\n');
    for (const secret of [TEST_S3_CREDENTIALS.secret, webhookSecret, receiver.url]) expect(everything).not.toContain(secret);
    expect(everything.replaceAll(`X-Amz-Credential=${TEST_S3_CREDENTIALS.key}%2F`, '')).not.toContain(TEST_S3_CREDENTIALS.key);
  });

  it('starts with `npm run dashboard` and serves the page where it says', async () => {
    const child = spawn('npm', ['run', 'dashboard'], {
      env: { ...process.env, PORT: '0', DATA_DIR: tempDir('dashboard-start') },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      let url: string | undefined;
      for (let i = 0; i < 120 && !url; i++) {
        url = /open (http:\/\/127\.0\.0\.1:\d+)\/ in a browser/.exec(output)?.[1];
        if (!url) await sleep(250);
      }
      expect(url, output).toBeDefined();
      const page = await fetch(`${url}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<title>sfu-recorder dashboard</title>');
      const script = await fetch(`${url}/app.js`);
      expect(script.status).toBe(200);
      expect((await script.text()).length).toBeGreaterThan(10_000);
    } finally {
      // The whole group npm started: npm, tsx and the dashboard.
      process.kill(-child.pid!, 'SIGINT');
    }
    // It stops on Ctrl-C (the test would time out otherwise).
    await exited;
  });
});
