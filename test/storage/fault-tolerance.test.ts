import { existsSync } from 'node:fs';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { validateRoomRecordingConfig } from '../../src/config/room-config.js';
import { RecordingDelivery, type RecordingFailedEvent, type RecordingStoredEvent } from '../../src/notify/delivery.js';
import type { RecordingWebhookPayload } from '../../src/notify/payload.js';
import { S3Destination } from '../../src/storage/s3-destination.js';
import type { UploadEntry } from '../../src/storage/upload-queue.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { compositeMetadata, individualMetadata, makeRandomFile, makeTestMp4, spoolCopy, tempDir } from '../helpers/s3-fixtures.js';
import { startS3Server, TEST_S3_CREDENTIALS, type S3TestServer, testS3Client } from '../helpers/s3-server.js';
import { newWebhookSecret, startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const FAST_UPLOAD_RETRY = { initialDelayMs: 30, maxDelayMs: 200 };
const FAST_WEBHOOK_RETRY = { initialDelayMs: 30, maxDelayMs: 200 };

let s3: S3TestServer;
let proxy: FaultProxy;
let receiver: WebhookReceiver;
let work: string;
let fixture: string;
let client: S3Client;
const webhookSecret = newWebhookSecret();

beforeAll(async () => {
  s3 = await startS3Server();
  proxy = await startFaultProxy(s3.endpoint);
  receiver = await startWebhookReceiver(webhookSecret);
  work = await tempDir('fault');
  fixture = join(work, 'fixture.mp4');
  await makeTestMp4(fixture);
  client = testS3Client(s3);
});

afterAll(async () => {
  client.destroy();
  await receiver.close();
  await proxy.close();
  await s3.close();
  await rm(work, { recursive: true, force: true });
});

function roomConfig(prefix: string) {
  return validateRoomRecordingConfig({
    upload: {
      type: 's3',
      location: s3.bucket,
      prefix,
      options: { endpoint: proxy.url },
      credentials: TEST_S3_CREDENTIALS,
    },
    webhook: { url: receiver.url, secret: webhookSecret },
  });
}

// SDK-level retries kept low so the queue-level retries are exercised too.
function destinationFrom(config: ReturnType<typeof roomConfig>): S3Destination {
  return S3Destination.fromConfig(config.upload!, { maxAttempts: 2 });
}

async function listKeys(prefix: string): Promise<string[]> {
  const out = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
}

async function getBytes(key: string): Promise<Buffer> {
  const out = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

async function waitUntil(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('delivery through failing storage and a failing webhook receiver', () => {
  test('every file lands once despite 500s and dropped connections; webhooks arrive once the receiver recovers', async () => {
    const config = roomConfig('flaky');
    const destination = destinationFrom(config);
    const spoolDir = join(work, 'spool-flaky');
    const delivery = new RecordingDelivery({ spoolDir, uploadRetry: FAST_UPLOAD_RETRY, webhookRetry: FAST_WEBHOOK_RETRY });
    const stored: RecordingStoredEvent[] = [];
    const retries: number[] = [];
    delivery.on('stored', (e) => stored.push(e));
    delivery.on('uploadretry', (e) => retries.push(e.attempt));

    const big = join(spoolDir, 'r1', 's1', 'composite', 'big.mp4');
    const bigBytes = await makeRandomFile(big, 6 * 1024 * 1024 + 1);
    const small1 = await spoolCopy(fixture, join(spoolDir, 'r1', 's1', 'streams', 'p1', 'cam', 'cam.mp4'));
    const small2 = await spoolCopy(fixture, join(spoolDir, 'r1', 's1', 'streams', 'p2', 'cam', 'cam.mp4'));
    const fixtureBytes = await readFile(fixture);

    // Storage fails the first 10 requests in every way; the receiver fails the first 4 posts.
    proxy.requests.length = 0;
    proxy.setFaults(['500', 'drop', '500', 'drop', '503', 'drop', '500', '500', 'drop', '500']);
    receiver.failNext(4, 503);
    const received0 = receiver.received.length;

    await delivery.deliver({ file: big, metadata: compositeMetadata('r1', 's1', bigBytes.length), destination, webhook: config.webhook! });
    await delivery.deliver({ file: small1, metadata: individualMetadata('r1', 's1', 'p1', 'cam'), destination, webhook: config.webhook! });
    await delivery.deliver({ file: small2, metadata: individualMetadata('r1', 's1', 'p2', 'cam'), destination, webhook: config.webhook! });
    await delivery.idle();
    await delivery.close();
    destination.close();

    const faults = proxy.requests.filter((r) => r.action !== 'pass').length;
    console.log(
      `flaky storage: ${proxy.requests.length} requests, ${faults} failed by the proxy, queue-level retries: ${retries.length}; ` +
        `webhook posts: ${receiver.received.length - received0} for 3 events`,
    );
    expect(faults).toBe(10);

    const keys = [
      'flaky/r1/20210721/s1/Rec-s1-1626898422000.mp4',
      'flaky/r1/20210721/s1/p1/cam/cam.mp4',
      'flaky/r1/20210721/s1/p2/cam/cam.mp4',
    ];
    expect(await listKeys('flaky/')).toEqual(keys.sort());
    expect((await getBytes(keys[0]!)).equals(bigBytes)).toBe(true);
    expect((await getBytes(keys[1]!)).equals(fixtureBytes)).toBe(true);
    expect((await getBytes(keys[2]!)).equals(fixtureBytes)).toBe(true);
    // One stored event per file, and nothing left in the spool or the outbox.
    expect(stored.map((e) => e.key).sort()).toEqual(keys.sort());
    for (const file of [big, small1, small2]) expect(existsSync(file)).toBe(false);
    expect(await readdir(join(spoolDir, '.outbox', 'uploads'))).toEqual([]);
    expect(await readdir(join(spoolDir, '.outbox', 'webhooks'))).toEqual([]);

    // Each webhook accepted exactly once, verified, with the same id on every attempt.
    const posts = receiver.received.slice(received0);
    const accepted = posts.filter((p) => p.status === 204);
    expect(accepted).toHaveLength(3);
    expect(new Set(accepted.map((p) => p.id)).size).toBe(3);
    expect(accepted.every((p) => p.verified)).toBe(true);
    expect(posts.filter((p) => p.status === 503)).toHaveLength(4);
    for (const failedPost of posts.filter((p) => p.status === 503)) {
      expect(accepted.map((p) => p.id)).toContain(failedPost.id);
    }
    const bodies = accepted.map((p) => JSON.parse(p.body) as RecordingWebhookPayload);
    expect(bodies.every((b) => b.type === 'recording.success')).toBe(true);
    expect(bodies.map((b) => b.data.location).sort()).toEqual(keys.map((k) => `s3://${s3.bucket}/${k}`).sort());
  });

  test('a receiver that verifies the signature rejects a tampered body', async () => {
    const accepted = receiver.accepted();
    const original = accepted[accepted.length - 1]!;
    const post = (body: string) =>
      fetch(receiver.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'webhook-id': original.headers['webhook-id']!,
          'webhook-timestamp': original.headers['webhook-timestamp']!,
          'webhook-signature': original.headers['webhook-signature']!,
        },
        body,
      });
    const tampered = original.body.replace('"recording.success"', '"recording.failed"');
    expect(tampered).not.toBe(original.body);
    expect((await post(tampered)).status).toBe(401);
    expect((await post(`${original.body} `)).status).toBe(401);
    expect((await post(original.body)).status).toBe(204);
  });

  test('storage unreachable for the whole session: files stay in the spool, a restart resumes, nothing is lost', async () => {
    const config = roomConfig('outage');
    const spoolDir = join(work, 'spool-outage');
    const files = [
      await spoolCopy(fixture, join(spoolDir, 'r2', 's2', 'composite', 'c.mp4')),
      await spoolCopy(fixture, join(spoolDir, 'r2', 's2', 'streams', 'p1', 'cam', 'cam.mp4')),
      await spoolCopy(fixture, join(spoolDir, 'r2', 's2', 'streams', 'p2', 'cam', 'cam.mp4')),
    ];
    const metadata = [
      compositeMetadata('r2', 's2'),
      individualMetadata('r2', 's2', 'p1', 'cam'),
      individualMetadata('r2', 's2', 'p2', 'cam'),
    ];

    proxy.setMode('down');
    const first = new RecordingDelivery({
      spoolDir,
      uploadRetry: { ...FAST_UPLOAD_RETRY, maxAttempts: 1000 },
      webhookRetry: FAST_WEBHOOK_RETRY,
    });
    const firstStored: RecordingStoredEvent[] = [];
    const attempts = new Map<string, number>();
    first.on('stored', (e) => firstStored.push(e));
    first.on('uploadretry', (e) => attempts.set(e.key, e.attempt));
    const destination1 = destinationFrom(config);
    for (let i = 0; i < files.length; i++) {
      await first.deliver({ file: files[i]!, metadata: metadata[i]!, destination: destination1, webhook: config.webhook! });
    }
    await waitUntil('three failed attempts per file', () => attempts.size === 3 && [...attempts.values()].every((n) => n >= 3));
    // The "process" dies: close without the uploads having landed.
    await first.close();
    destination1.close();
    expect(firstStored).toEqual([]);
    for (const file of files) expect(existsSync(file)).toBe(true);
    const outbox = join(spoolDir, '.outbox', 'uploads');
    const entries = await Promise.all(
      (await readdir(outbox)).map(async (name) => JSON.parse(await readFile(join(outbox, name), 'utf8')) as UploadEntry),
    );
    expect(entries).toHaveLength(3);
    expect(entries.every((e) => e.state === 'pending' && e.attempts >= 3)).toBe(true);
    expect(await listKeys('outage/')).toEqual([]);

    // Storage comes back; a new process with the same configuration resumes.
    proxy.setMode('up');
    const received0 = receiver.received.length;
    const destination2 = destinationFrom(config);
    const second = new RecordingDelivery({
      spoolDir,
      destinations: [destination2],
      webhooks: [config.webhook!],
      uploadRetry: FAST_UPLOAD_RETRY,
      webhookRetry: FAST_WEBHOOK_RETRY,
    });
    const stored: RecordingStoredEvent[] = [];
    second.on('stored', (e) => stored.push(e));
    await second.resume();
    await second.idle();
    await second.close();
    destination2.close();

    const keys = ['outage/r2/20210721/s2/Rec-s2-1626898422000.mp4', 'outage/r2/20210721/s2/p1/cam/cam.mp4', 'outage/r2/20210721/s2/p2/cam/cam.mp4'].sort();
    expect(await listKeys('outage/')).toEqual(keys);
    expect(stored.map((e) => e.key).sort()).toEqual(keys);
    for (const file of files) expect(existsSync(file)).toBe(false);
    expect(await readdir(outbox)).toEqual([]);
    const posts = receiver.received.slice(received0);
    expect(posts.filter((p) => p.status === 204)).toHaveLength(3);
    expect(posts.every((p) => p.verified)).toBe(true);
  });

  test('a file that cannot be stored within the retry budget is announced as failed and kept, and can be retried', async () => {
    const config = roomConfig('budget');
    const spoolDir = join(work, 'spool-budget');
    const file = await spoolCopy(fixture, join(spoolDir, 'r3', 's3', 'composite', 'c.mp4'));
    proxy.setMode('down');
    const destination = destinationFrom(config);
    const delivery = new RecordingDelivery({
      spoolDir,
      uploadRetry: { ...FAST_UPLOAD_RETRY, maxAttempts: 3 },
      webhookRetry: FAST_WEBHOOK_RETRY,
    });
    const failed: RecordingFailedEvent[] = [];
    const stored: RecordingStoredEvent[] = [];
    delivery.on('failed', (e) => failed.push(e));
    delivery.on('stored', (e) => stored.push(e));
    const received0 = receiver.received.length;
    await delivery.deliver({ file, metadata: compositeMetadata('r3', 's3'), destination, webhook: config.webhook! });
    await delivery.idle();

    expect(failed).toHaveLength(1);
    expect(failed[0]!.error.code).toBe('ERR_UPLOAD_RETRIES_EXHAUSTED');
    expect(failed[0]!.error.message).toMatch(/^gave up after 3 attempts/);
    expect(failed[0]!.file).toBe(file);
    expect(existsSync(file)).toBe(true);
    const failedPost = receiver.received.slice(received0).find((p) => p.status === 204)!;
    const payload = JSON.parse(failedPost.body) as RecordingWebhookPayload;
    expect(payload.type).toBe('recording.failed');
    expect(payload.data.location).toBe(file);
    expect(payload.data.url).toBeNull();
    expect(payload.data.error?.code).toBe('ERR_UPLOAD_RETRIES_EXHAUSTED');
    expect(delivery.pendingUploads().map((e) => e.state)).toEqual(['failed']);

    // Once storage is back, failed files can be put back in the queue.
    proxy.setMode('up');
    expect(await delivery.retryFailed()).toBe(1);
    await delivery.idle();
    await delivery.close();
    destination.close();
    expect(stored.map((e) => e.key)).toEqual(['budget/r3/20210721/s3/Rec-s3-1626898422000.mp4']);
    expect(existsSync(file)).toBe(false);
  });
});
