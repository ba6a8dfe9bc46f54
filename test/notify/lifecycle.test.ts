import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Logger } from '../../src/config/logger.js';
import { validateWebhookConfig } from '../../src/config/room-config.js';
import { RecordingDelivery, type RecordingStoredEvent } from '../../src/notify/delivery.js';
import { WebhookSender, type WebhookEntry } from '../../src/notify/webhook-sender.js';
import { LocalStorage } from '../../src/storage/local-storage.js';
import { individualMetadata, makeTestMp4, spoolCopy, tempDir } from '../helpers/s3-fixtures.js';
import { newWebhookSecret, startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import { thrownBy } from '../helpers/outcomes.js';

const secret = newWebhookSecret();
let receiver: WebhookReceiver;
let work: string;
let fixture: string;

beforeAll(async () => {
  receiver = await startWebhookReceiver(secret);
  work = await tempDir('notify-lifecycle');
  fixture = join(work, 'fixture.mp4');
  await makeTestMp4(fixture, 1);
});

afterAll(async () => {
  await receiver.close();
  await rm(work, { recursive: true, force: true });
});

/** A logger that keeps its error lines. */
function recordingLogger(): Logger & { errors: Array<{ message: string; fields: Record<string, unknown> | undefined }> } {
  const errors: Array<{ message: string; fields: Record<string, unknown> | undefined }> = [];
  return { errors, error: (message, fields) => errors.push({ message, fields }) };
}

describe('WebhookSender: one lifecycle', () => {
  test('close() is the same promise to concurrent callers, closed at once; work after it is ERR_CLOSED', async () => {
    const sender = new WebhookSender({ dir: join(work, 'sender-close') });
    const config = validateWebhookConfig({ url: receiver.url, secret });
    const first = sender.close();
    expect(sender.closed).toBe(true);
    expect(sender.close()).toBe(first);
    await first;
    await expect(sender.enqueue(config, 'msg_after', 'recording.success', {})).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    await expect(sender.resume()).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    expect(thrownBy(() => sender.registerEndpoint(config))).toMatchObject({ code: 'ERR_CLOSED' });
    await sender.idle();
    expect(sender.list()).toEqual([]);
  });

  test('a listener that throws is logged as ERR_LISTENER; the others run and the message is settled', async () => {
    const logger = recordingLogger();
    const sender = new WebhookSender({ dir: join(work, 'sender-listener'), logger });
    const delivered: WebhookEntry[] = [];
    sender.on('delivered', () => {
      throw new Error('host bug');
    });
    sender.on('delivered', (entry) => delivered.push(entry));
    const start = receiver.accepted().length;
    await sender.enqueue(validateWebhookConfig({ url: receiver.url, secret }), 'msg_listener_1', 'recording.success', { n: 1 });
    await sender.idle();
    await sender.close();

    expect(delivered.map((e) => e.id)).toEqual(['msg_listener_1']);
    expect(receiver.accepted().slice(start).map((r) => r.id)).toEqual(['msg_listener_1']);
    // Removed from the outbox as if the listener had not thrown.
    expect(sender.list()).toEqual([]);
    expect(logger.errors).toEqual([
      {
        message: 'a "delivered" listener of the webhook sender threw',
        fields: expect.objectContaining({ code: 'ERR_LISTENER', event: 'delivered', error: expect.objectContaining({ message: 'host bug' }) }),
      },
    ]);
  });
});

describe('RecordingDelivery: one lifecycle', () => {
  test('close() is the same promise to concurrent callers, closed at once; work after it is ERR_CLOSED', async () => {
    const storage = new LocalStorage({ root: join(work, 'delivery-close-store') });
    const delivery = new RecordingDelivery({ spoolDir: join(work, 'delivery-close'), defaultDestination: storage });
    const first = delivery.close();
    expect(delivery.closed).toBe(true);
    expect(delivery.close()).toBe(first);
    await first;

    const file = await spoolCopy(fixture, join(work, 'delivery-close', 'r', 's', 'a.mp4'));
    const metadata = individualMetadata('r', 's', 'p', 'cam');
    await expect(delivery.deliver({ file, metadata })).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    await expect(delivery.resume()).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    await expect(delivery.retryFailed()).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    expect(thrownBy(() => delivery.registerDestination(storage))).toMatchObject({ code: 'ERR_CLOSED' });
    expect(thrownBy(() => delivery.registerWebhook(validateWebhookConfig({ url: receiver.url, secret })))).toMatchObject({
      code: 'ERR_CLOSED',
    });
    await delivery.idle();
    expect(existsSync(file)).toBe(true);
  });

  test('does not close the destinations it was handed', async () => {
    const storage = new LocalStorage({ root: join(work, 'delivery-handed-store') });
    const server = await storage.listen();
    const delivery = new RecordingDelivery({ spoolDir: join(work, 'delivery-handed'), defaultDestination: storage });
    const stored: RecordingStoredEvent[] = [];
    delivery.on('stored', (e) => stored.push(e));
    const file = await spoolCopy(fixture, join(work, 'delivery-handed', 'r', 's', 'a.mp4'));
    await delivery.deliver({ file, metadata: individualMetadata('r', 's', 'p', 'cam') });
    await delivery.idle();
    await delivery.close();

    expect(storage.closed).toBe(false);
    expect(server.closed).toBe(false);
    // The storage still serves the URL the delivery announced.
    expect((await fetch(stored[0]!.url!)).status).toBe(200);
    await storage.close();
  });

  test('a throwing "stored" listener is logged as ERR_LISTENER; other listeners, the webhook and the spool clean-up still happen', async () => {
    const logger = recordingLogger();
    const storage = new LocalStorage({ root: join(work, 'delivery-listener-store') });
    const delivery = new RecordingDelivery({ spoolDir: join(work, 'delivery-listener'), defaultDestination: storage, logger });
    const stored: string[] = [];
    delivery.on('stored', () => {
      throw new Error('host bug');
    });
    delivery.on('stored', (e) => stored.push(e.key));
    const webhookDelivered: string[] = [];
    delivery.on('webhookdelivered', (e) => webhookDelivered.push(e.type));
    const file = await spoolCopy(fixture, join(work, 'delivery-listener', 'r', 's', 'a.mp4'));
    const key = await delivery.deliver({
      file,
      metadata: individualMetadata('r', 's', 'p', 'cam'),
      webhook: validateWebhookConfig({ url: receiver.url, secret }),
    });
    await delivery.idle();
    await delivery.close();

    expect(stored).toEqual([key]);
    expect(webhookDelivered).toEqual(['recording.success']);
    expect(existsSync(file)).toBe(false);
    expect(existsSync(storage.pathOf(key))).toBe(true);
    expect(logger.errors).toEqual([
      {
        message: 'a "stored" listener of the recording delivery threw',
        fields: expect.objectContaining({ code: 'ERR_LISTENER', event: 'stored', error: expect.objectContaining({ message: 'host bug' }) }),
      },
    ]);
  });
});
