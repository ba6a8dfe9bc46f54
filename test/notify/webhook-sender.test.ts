import { rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { validateWebhookConfig } from '../../src/config/room-config.js';
import { failurePayload, successPayload, type RecordingWebhookPayload } from '../../src/notify/payload.js';
import { WebhookSender } from '../../src/notify/webhook-sender.js';
import { individualMetadata, tempDir } from '../helpers/s3-fixtures.js';
import { newWebhookSecret, startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const FAST = { initialDelayMs: 20, maxDelayMs: 100 };
const secret = newWebhookSecret();
let receiver: WebhookReceiver;
let work: string;

beforeAll(async () => {
  receiver = await startWebhookReceiver(secret);
  work = await tempDir('webhooks');
});

afterAll(async () => {
  await receiver.close();
  await rm(work, { recursive: true, force: true });
});

const metadata = individualMetadata('room-1', 'sess-1', 'peer-1', 'stream-1', 4321);

describe('recording webhook payload', () => {
  test('success: Standard Webhooks envelope, snake_case data, ISO times', () => {
    const payload = successPayload(
      'p/room-1/20210721/sess-1/peer-1/stream-1/stream-1.mp4',
      metadata,
      { location: 's3://bucket/p/k.mp4', url: 'https://signed', urlExpiresAt: Date.UTC(2021, 6, 22, 8, 13, 42), sizeBytes: 4321 },
      Date.UTC(2021, 6, 21, 20, 14, 0),
    );
    expect(payload).toEqual({
      type: 'recording.success',
      timestamp: '2021-07-21T20:14:00.000Z',
      data: {
        recording_type: 'individual',
        room_id: 'room-1',
        session_id: 'sess-1',
        peer_id: 'peer-1',
        stream_id: 'stream-1',
        key: 'p/room-1/20210721/sess-1/peer-1/stream-1/stream-1.mp4',
        location: 's3://bucket/p/k.mp4',
        url: 'https://signed',
        url_expires_at: '2021-07-22T08:13:42.000Z',
        duration_ms: 2000,
        size_bytes: 4321,
        session_started_at: '2021-07-21T20:13:42.000Z',
        started_at: '2021-07-21T20:13:42.500Z',
        stopped_at: '2021-07-21T20:13:44.500Z',
        codecs: { video: 'h264', audio: 'aac' },
      },
    } satisfies RecordingWebhookPayload);
  });

  test('failure: the kept spool file as location, no URL, the error', () => {
    const payload = failurePayload('k.mp4', { ...metadata, recordingType: 'composite', peerId: undefined, streamId: undefined }, '/spool/x.mp4', {
      code: 'ERR_STORAGE_NO_SUCH_BUCKET',
      message: 'S3 bucket "b" does not exist',
    });
    expect(payload.type).toBe('recording.failed');
    expect(payload.data).toMatchObject({
      recording_type: 'composite',
      peer_id: null,
      stream_id: null,
      location: '/spool/x.mp4',
      url: null,
      url_expires_at: null,
      error: { code: 'ERR_STORAGE_NO_SUCH_BUCKET', message: 'S3 bucket "b" does not exist' },
    });
  });
});

describe('WebhookSender', () => {
  test('signs so that Webhook.verify accepts it, and keeps the webhook-id across retries', async () => {
    const sender = new WebhookSender({ dir: join(work, 'sign'), retry: FAST });
    const config = validateWebhookConfig({ url: receiver.url, secret });
    const start = receiver.received.length;
    receiver.failNext(2, 'drop');
    await sender.enqueue(config, 'msg_sign_1', 'recording.success', { type: 'recording.success', data: { n: 1 } });
    await sender.idle();
    await sender.close();
    const posts = receiver.received.slice(start);
    expect(posts.map((p) => p.status)).toEqual([0, 0, 204]);
    expect(new Set(posts.map((p) => p.id))).toEqual(new Set(['msg_sign_1']));
    const last = posts[2]!;
    expect(last.verified).toBe(true);
    expect(last.headers['content-type']).toBe('application/json');
    expect(last.headers['webhook-signature']).toMatch(/^v1,/);
    expect(() => new Webhook(secret).verify(last.body, last.headers)).not.toThrow();
    expect(() => new Webhook(newWebhookSecret()).verify(last.body, last.headers)).toThrow();
  });

  test('gives up after maxAttempts and keeps the message as failed', async () => {
    const sender = new WebhookSender({ dir: join(work, 'giveup'), retry: FAST });
    const config = validateWebhookConfig({ url: receiver.url, secret, maxAttempts: 3 });
    const reasons: string[] = [];
    sender.on('failed', (_entry, reason) => reasons.push(reason));
    receiver.failNext(10, 503);
    await sender.enqueue(config, 'msg_giveup', 'recording.success', {});
    await sender.idle();
    receiver.failNext(0);
    expect(reasons).toEqual(['HTTP 503']);
    expect(sender.list().map((e) => [e.state, e.attempts])).toEqual([['failed', 3]]);
    await sender.close();
  });

  test('a timeout counts as a failed attempt', async () => {
    const slow = createServer(() => {
      /* never answers */
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(slow.address() as AddressInfo).port}/`;
    const sender = new WebhookSender({ dir: join(work, 'timeout'), retry: FAST });
    const reasons: string[] = [];
    sender.on('failed', (_e, reason) => reasons.push(reason));
    await sender.enqueue(validateWebhookConfig({ url, secret, maxAttempts: 1, timeoutMs: 200 }), 'msg_timeout', 't', {});
    await sender.idle();
    await sender.close();
    slow.closeAllConnections();
    slow.close();
    expect(reasons).toEqual(['no answer within 200 ms']);
  });

  test('pending webhooks survive a restart and are delivered by the next process', async () => {
    const dir = join(work, 'restart');
    const down = validateWebhookConfig({ url: receiver.url, secret });
    receiver.failNext(1000, 503);
    const first = new WebhookSender({ dir, retry: FAST });
    await first.enqueue(down, 'msg_restart_1', 'recording.success', { n: 1 });
    await first.enqueue(down, 'msg_restart_2', 'recording.failed', { n: 2 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await first.close();
    expect(first.list().every((e) => e.state === "pending")).toBe(true);
    expect(first.list().every((e) => e.attempts >= 1)).toBe(true);

    receiver.failNext(0);
    const start = receiver.received.length;
    const second = new WebhookSender({ dir, retry: FAST, endpoints: [validateWebhookConfig({ url: receiver.url, secret })] });
    const delivered: string[] = [];
    second.on('delivered', (entry) => delivered.push(entry.id));
    await second.resume();
    await idleWithin(second, 15_000);
    await second.close();
    expect(delivered.sort()).toEqual(['msg_restart_1', 'msg_restart_2']);
    expect(receiver.received.slice(start).filter((p) => p.verified).map((p) => p.id).sort()).toEqual(['msg_restart_1', 'msg_restart_2']);
  });
});

/** What a scripted receiver saw of one request. */
interface ScriptedPost {
  id: string;
  /** The request's connection was closed by the sender before the receiver answered. */
  closedBeforeAnswer?: boolean;
}

/**
 * A real HTTP receiver whose n-th request (0-based) is answered by `script(n, req, res)`;
 * it records, for answers sent late, whether the sender had already closed the connection.
 */
async function scriptedReceiver(script: (n: number, req: IncomingMessage, res: ServerResponse, post: ScriptedPost) => void) {
  const posts: ScriptedPost[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const post: ScriptedPost = { id: String(req.headers['webhook-id']) };
      posts.push(post);
      script(posts.length - 1, req, res, post);
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    posts,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Answers `status` after `delayMs`, noting whether the sender had hung up by then. */
function answerLate(res: ServerResponse, req: IncomingMessage, post: ScriptedPost, delayMs: number, status = 204): void {
  setTimeout(() => {
    post.closedBeforeAnswer = req.socket.destroyed;
    if (!req.socket.destroyed) res.writeHead(status).end();
  }, delayMs);
}

/** Sends one message and records every event the sender emits for it. */
async function sendOne(dir: string, url: string, options: { maxAttempts?: number; timeoutMs?: number; retry?: object } = {}) {
  const sender = new WebhookSender({ dir: join(work, dir), retry: { ...FAST, ...options.retry } });
  const events: Array<[string, string | number]> = [];
  sender.on('delivered', (_e, status) => events.push(['delivered', status]));
  sender.on('retrying', (_e, reason, delayMs) => events.push([`retrying: ${reason}`, delayMs]));
  sender.on('failed', (_e, reason) => events.push(['failed', reason]));
  const config = validateWebhookConfig({ url, secret, maxAttempts: options.maxAttempts ?? 5, timeoutMs: options.timeoutMs ?? 5000 });
  await sender.enqueue(config, `msg_${dir}`, 'recording.success', { n: 1 });
  return { sender, events };
}

describe('WebhookSender: which answers are final', () => {
  test.each([400, 401, 403, 404, 409, 410, 413, 422, 301, 302, 307])('HTTP %i is final: one attempt, failed naming the status', async (status) => {
    const hook = await scriptedReceiver((_n, _req, res) => res.writeHead(status, { location: 'http://127.0.0.1:9/elsewhere' }).end('no'));
    const { sender, events } = await sendOne(`final-${status}`, hook.url);
    await sender.idle();
    const [entry] = sender.list();
    await sender.close();
    await hook.close();
    expect(hook.posts).toHaveLength(1);
    expect(events).toHaveLength(1);
    expect(events[0]![0]).toBe('failed');
    expect(events[0]![1]).toMatch(new RegExp(`^HTTP ${status}, not retried`));
    expect(entry).toMatchObject({ state: 'failed', attempts: 1, lastStatus: status });
  });

  test.each([408, 425, 429, 500, 502, 503, 504])('HTTP %i is retried, then delivered, under one webhook-id', async (status) => {
    const hook = await scriptedReceiver((n, _req, res) => res.writeHead(n === 0 ? status : 204).end());
    const { sender, events } = await sendOne(`retry-${status}`, hook.url);
    await idleWithin(sender, 10_000);
    await sender.close();
    await hook.close();
    expect(events.map(([what]) => what)).toEqual([`retrying: HTTP ${status}`, 'delivered']);
    expect(hook.posts.map((p) => p.id)).toEqual([`msg_retry-${status}`, `msg_retry-${status}`]);
  });

  test('Retry-After is honoured (seconds or an HTTP date), bounded by maxDelayMs', async () => {
    const answers = [
      { 'retry-after': '0' },
      { 'retry-after': new Date(Date.now() - 60_000).toUTCString() }, // in the past: at once
      { 'retry-after': '3600' }, // an hour: bounded to maxDelayMs
      { 'retry-after': new Date(Date.now() + 86_400_000).toUTCString() },
      { 'retry-after': 'soon' }, // unreadable: the usual backoff
    ];
    const hook = await scriptedReceiver((n, _req, res) => {
      const headers = answers[n];
      if (headers) res.writeHead(n % 2 === 0 ? 503 : 429, headers).end();
      else res.writeHead(204).end();
    });
    const { sender, events } = await sendOne('retry-after', hook.url, { maxAttempts: 10, retry: { initialDelayMs: 20, maxDelayMs: 300 } });
    await idleWithin(sender, 10_000);
    await sender.close();
    await hook.close();
    expect(events.slice(0, 4)).toEqual([
      ['retrying: HTTP 503', 0],
      ['retrying: HTTP 429', 0],
      ['retrying: HTTP 503', 300],
      ['retrying: HTTP 429', 300],
    ]);
    expect(events[4]![0]).toBe('retrying: HTTP 503');
    // Backoff after the 5th failure: 20 ms doubled 4 times, capped at 300, half of it jittered.
    expect(events[4]![1]).toBeGreaterThanOrEqual(150);
    expect(events[4]![1]).toBeLessThanOrEqual(300);
    expect(events[5]).toEqual(['delivered', 204]);
  });
});

describe('WebhookSender: a timeout and the outcome agree', () => {
  test('an answer later than timeoutMs is not received: the attempt failed, the connection was closed first, the retry is delivered', async () => {
    const hook = await scriptedReceiver((n, req, res, post) => {
      if (n === 0) answerLate(res, req, post, 800);
      else res.writeHead(204).end();
    });
    const { sender, events } = await sendOne('slow-once', hook.url, { timeoutMs: 200 });
    await idleWithin(sender, 10_000);
    await sender.close();
    // Let the late answer fire, so the receiver records what it found.
    await new Promise((resolve) => setTimeout(resolve, 900));
    await hook.close();
    expect(events.map(([what]) => what)).toEqual(['retrying: no answer within 200 ms', 'delivered']);
    expect(hook.posts).toEqual([
      { id: 'msg_slow-once', closedBeforeAnswer: true },
      { id: 'msg_slow-once' },
    ]);
  });

  test('a receiver that always answers too late: every attempt reported failed, none of its answers was received', async () => {
    const hook = await scriptedReceiver((_n, req, res, post) => answerLate(res, req, post, 500));
    const { sender, events } = await sendOne('slow-always', hook.url, { timeoutMs: 150, maxAttempts: 3 });
    await idleWithin(sender, 10_000);
    const [entry] = sender.list();
    await sender.close();
    await new Promise((resolve) => setTimeout(resolve, 600));
    await hook.close();
    expect(events.map(([what, detail]) => (what === 'failed' ? `failed: ${String(detail)}` : what))).toEqual([
      'retrying: no answer within 150 ms',
      'retrying: no answer within 150 ms',
      'failed: no answer within 150 ms',
    ]);
    expect(hook.posts).toHaveLength(3);
    expect(hook.posts.every((p) => p.id === 'msg_slow-always' && p.closedBeforeAnswer === true)).toBe(true);
    expect(entry).toMatchObject({ state: 'failed', attempts: 3, lastError: 'no answer within 150 ms' });
    expect(entry!.lastStatus).toBeUndefined();
  });

  test('a 2xx status line in time is delivered even if the body never ends: the status decides', async () => {
    const hook = await scriptedReceiver((_n, _req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('accepted, and then nothing more');
    });
    const { sender, events } = await sendOne('trickle', hook.url, { timeoutMs: 200 });
    await idleWithin(sender, 10_000);
    await sender.close();
    await hook.close();
    expect(events).toEqual([['delivered', 200]]);
    expect(hook.posts).toHaveLength(1);
  });
});

async function idleWithin(sender: WebhookSender, ms: number): Promise<void> {
  await Promise.race([
    sender.idle(),
    new Promise((_, reject) => setTimeout(() => reject(new Error('webhooks not delivered in time')), ms)),
  ]);
}
