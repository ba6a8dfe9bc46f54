/**
 * Webhook outcomes name the recording they are about (key, room, session), so a host
 * can show them next to the files; a real receiver accepts one message and gives
 * another up with 410.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { validateWebhookConfig } from '../../src/config/room-config.js';
import { RecordingDelivery, type WebhookDeliveredEvent, type WebhookFailedEvent } from '../../src/notify/delivery.js';
import { LocalStorage } from '../../src/storage/local-storage.js';
import { individualMetadata, makeTestMp4, spoolCopy, tempDir } from '../helpers/s3-fixtures.js';
import { newWebhookSecret, startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const secret = newWebhookSecret();
let receiver: WebhookReceiver;
let work: string;
let fixture: string;

beforeAll(async () => {
  receiver = await startWebhookReceiver(secret);
  work = await tempDir('webhook-subject');
  fixture = join(work, 'fixture.mp4');
  await makeTestMp4(fixture, 1);
});

afterAll(async () => {
  await receiver.close();
  await rm(work, { recursive: true, force: true });
});

test('webhookdelivered and webhookfailed carry the key, room and session of the recording', async () => {
  // A receiver that answers 410 Gone: final, given up at once.
  const gone = createServer((_req, res) => res.writeHead(410).end());
  await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
  const goneUrl = `http://127.0.0.1:${(gone.address() as AddressInfo).port}/hook`;
  const storage = new LocalStorage({ root: join(work, 'store') });
  const delivery = new RecordingDelivery({ spoolDir: join(work, 'spool'), defaultDestination: storage });
  const delivered: WebhookDeliveredEvent[] = [];
  const failed: WebhookFailedEvent[] = [];
  delivery.on('webhookdelivered', (event) => delivered.push(event));
  delivery.on('webhookfailed', (event) => failed.push(event));
  try {
    const okKey = await delivery.deliver({
      file: await spoolCopy(fixture, join(work, 'spool', 'room-a', 'session-1', 'a.mp4')),
      metadata: individualMetadata('room-a', 'session-1', 'alice', 'alice-camera'),
      webhook: validateWebhookConfig({ url: receiver.url, secret }),
    });
    const goneKey = await delivery.deliver({
      file: await spoolCopy(fixture, join(work, 'spool', 'room-b', 'session-2', 'b.mp4')),
      metadata: individualMetadata('room-b', 'session-2', 'bob', 'bob-camera'),
      webhook: validateWebhookConfig({ url: goneUrl, secret }),
    });
    await delivery.idle();
    expect(delivered).toEqual([
      { id: expect.stringMatching(/^msg_/), type: 'recording.success', status: 204, key: okKey, roomId: 'room-a', sessionId: 'session-1' },
    ]);
    expect(failed).toEqual([
      { id: expect.stringMatching(/^msg_/), type: 'recording.success', reason: expect.stringMatching(/^HTTP 410/), attempts: 1, status: 410, key: goneKey, roomId: 'room-b', sessionId: 'session-2' },
    ]);
  } finally {
    await delivery.close();
    await storage.close();
    gone.close();
  }
});
