import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Logger } from '../../src/config/logger.js';
import { validateRoomRecordingConfig } from '../../src/config/room-config.js';
import { RecordingDelivery } from '../../src/notify/delivery.js';
import { S3Destination } from '../../src/storage/s3-destination.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { compositeMetadata, individualMetadata, makeTestMp4, spoolCopy, tempDir } from '../helpers/s3-fixtures.js';
import { startS3Server, TEST_S3_CREDENTIALS, type S3TestServer } from '../helpers/s3-server.js';
import { newWebhookSecret, startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const FAST = { initialDelayMs: 20, maxDelayMs: 100 };
let s3: S3TestServer;
let proxy: FaultProxy;
let receiver: WebhookReceiver;
let work: string;
let fixture: string;
const webhookSecret = newWebhookSecret();

beforeAll(async () => {
  s3 = await startS3Server();
  proxy = await startFaultProxy(s3.endpoint);
  receiver = await startWebhookReceiver(webhookSecret);
  work = await tempDir('leak');
  fixture = join(work, 'fixture.mp4');
  await makeTestMp4(fixture, 1);
});

afterAll(async () => {
  await receiver.close();
  await proxy.close();
  await s3.close();
  await rm(work, { recursive: true, force: true });
});

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && !entry.name.endsWith('.mp4')) out.push(await readFile(join(entry.parentPath, entry.name), 'utf8'));
  }
  return out;
}

test('no credential string appears in any log line, error, event, webhook or outbox file', async () => {
  const seen: string[] = [];
  const record = (what: unknown) => seen.push(typeof what === 'string' ? what : `${JSON.stringify(what)}\n${inspect(what, { depth: 20 })}`);
  const logger: Logger = {
    debug: (m, f) => record(`${m} ${JSON.stringify(f)}`),
    info: (m, f) => record(`${m} ${JSON.stringify(f)}`),
    warn: (m, f) => record(`${m} ${JSON.stringify(f)}`),
    error: (m, f) => record(`${m} ${JSON.stringify(f)}`),
  };

  const input = {
    upload: { type: 's3', location: s3.bucket, prefix: 'leak', options: { endpoint: proxy.url }, credentials: TEST_S3_CREDENTIALS },
    webhook: { url: receiver.url, secret: webhookSecret },
  };
  const config = validateRoomRecordingConfig(input);
  record(config);
  const destination = S3Destination.fromConfig(config.upload!, { maxAttempts: 1 });
  record(inspect(destination, { depth: 10, showHidden: true }));
  const noBucket = S3Destination.fromConfig(validateRoomRecordingConfig({ ...input, upload: { ...input.upload, location: 'missing-bucket' } }).upload!);

  const spoolDir = join(work, 'spool');
  const delivery = new RecordingDelivery({ spoolDir, uploadRetry: FAST, webhookRetry: FAST, logger });
  for (const name of ['stored', 'failed', 'uploadretry', 'webhookdelivered', 'webhookfailed'] as const) {
    delivery.on(name, (event: unknown) => record(event));
  }
  proxy.setFaults(['500', 'drop']);
  receiver.failNext(1, 503);
  await delivery.deliver({
    file: await spoolCopy(fixture, join(spoolDir, 'r', 's', 'a.mp4')),
    metadata: compositeMetadata('r', 's'),
    destination,
    webhook: config.webhook!,
  });
  await delivery.deliver({
    file: await spoolCopy(fixture, join(spoolDir, 'r', 's', 'b.mp4')),
    metadata: individualMetadata('r', 's', 'p', 'cam'),
    destination,
    webhook: config.webhook!,
  });
  await delivery.deliver({
    file: await spoolCopy(fixture, join(spoolDir, 'r', 's', 'c.mp4')),
    metadata: individualMetadata('r', 's', 'p2', 'cam'),
    destination: noBucket,
    webhook: config.webhook!,
  });
  await delivery.idle();
  // Outbox files of failed uploads stay on disk: they must be clean too.
  for (const text of await filesUnder(join(spoolDir, '.outbox'))) record(text);
  await delivery.close();

  // Errors thrown directly: rejected credentials, and invalid configurations holding credentials.
  const wrong = { key: 'AKIAWRONGKEY00000042', secret: 'wrong/secret+value/42' };
  const rejected = await new S3Destination({ bucket: s3.bucket, endpoint: s3.endpoint, credentials: wrong })
    .upload({ file: fixture, key: 'x.mp4', contentType: 'video/mp4', metadata: compositeMetadata('r', 's') })
    .catch((e: unknown) => e);
  proxy.setFaults(['403']);
  const deniedDestination = S3Destination.fromConfig(config.upload!);
  const denied = await deniedDestination
    .upload({ file: fixture, key: 'y.mp4', contentType: 'video/mp4', metadata: compositeMetadata('r', 's') })
    .catch((e: unknown) => e);
  deniedDestination.close();
  expect((denied as { code?: string }).code).toBe('ERR_STORAGE_ACCESS_DENIED');
  for (const error of [rejected, denied]) {
    record(error);
    record(String(error));
    record((error as Error).stack);
  }
  for (const bad of [
    { upload: { ...input.upload, type: 'gcs' } },
    { upload: { ...input.upload, credentials: { key: TEST_S3_CREDENTIALS.key } } },
    { upload: { ...input.upload, credentials: { ...TEST_S3_CREDENTIALS, extra: TEST_S3_CREDENTIALS.secret } } },
    { webhook: { url: receiver.url, secret: `${webhookSecret}!` } },
  ]) {
    try {
      validateRoomRecordingConfig(bad);
    } catch (error) {
      record(error);
      record(String(error));
      record((error as Error).stack);
    }
  }

  const posts = receiver.received;
  for (const post of posts) record(`${JSON.stringify(post.headers)}\n${post.body}`);

  // What happened, so the checks below cover every path.
  const types = posts.filter((p) => p.verified).map((p) => JSON.parse(p.body).type as string);
  expect(types.sort()).toEqual(['recording.failed', 'recording.success', 'recording.success']);
  expect(seen.some((line) => line.includes('ERR_STORAGE_ACCESS_DENIED'))).toBe(true);
  expect(seen.some((line) => line.includes('upload attempt failed; retrying'))).toBe(true);
  expect(seen.some((line) => line.includes('ERR_STORAGE_NO_SUCH_BUCKET'))).toBe(true);
  expect(seen.some((line) => line.includes('ERR_STORAGE_CREDENTIALS_REJECTED'))).toBe(true);

  const all = seen.join('\n');
  const webhookKey = webhookSecret.slice('whsec_'.length);
  for (const secret of [TEST_S3_CREDENTIALS.secret, webhookKey, wrong.secret, wrong.key]) {
    expect(all.includes(secret), `found ${secret}`).toBe(false);
  }
  // SigV4 presigned URLs carry the access key id (not the secret) in X-Amz-Credential by
  // design; anywhere else it must not appear.
  const withoutPresignedCredential = all.replace(/X-Amz-Credential=[^&"\s]*/g, 'X-Amz-Credential=…');
  expect(withoutPresignedCredential.includes(TEST_S3_CREDENTIALS.key)).toBe(false);
  noBucket.close();
  destination.close();
});
