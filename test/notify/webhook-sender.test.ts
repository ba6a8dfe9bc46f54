import { rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
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

async function idleWithin(sender: WebhookSender, ms: number): Promise<void> {
  await Promise.race([
    sender.idle(),
    new Promise((_, reject) => setTimeout(() => reject(new Error('webhooks not delivered in time')), ms)),
  ]);
}
