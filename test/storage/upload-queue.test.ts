import { existsSync } from 'node:fs';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RecordingDelivery, type RecordingFailedEvent, type RecordingStoredEvent } from '../../src/notify/delivery.js';
import {
  UploadError,
  type RecordingMetadata,
  type UploadDestination,
  type UploadRequest,
  type UploadResult,
} from '../../src/storage/upload-destination.js';
import { UploadQueue } from '../../src/storage/upload-queue.js';
import { compositeMetadata, individualMetadata, makeTestMp4, spoolCopy, tempDir } from '../helpers/s3-fixtures.js';

/** A custom storage, as a user would write one: records what it gets, fails on demand. */
class RecordingBin implements UploadDestination {
  readonly received: Array<{ key: string; contentType: string; metadata: RecordingMetadata; bytes: Buffer; hasSignal: boolean }> = [];
  failures: Array<Error> = [];
  calls = 0;

  constructor(
    readonly id: string,
    readonly keyPrefix?: string,
  ) {}

  async upload(request: UploadRequest): Promise<UploadResult> {
    this.calls++;
    const failure = this.failures.shift();
    if (failure) throw failure;
    const bytes = await readFile(request.file);
    this.received.push({
      key: request.key,
      contentType: request.contentType,
      metadata: request.metadata,
      bytes,
      hasSignal: request.signal instanceof AbortSignal,
    });
    return { location: `bin://${request.key}`, url: `https://bin.example/${request.key}`, urlExpiresAt: 1, sizeBytes: bytes.length };
  }
}

let work: string;
let fixture: string;
let fixtureBytes: Buffer;

beforeAll(async () => {
  work = await tempDir('queue');
  fixture = join(work, 'fixture.mp4');
  await makeTestMp4(fixture, 1);
  fixtureBytes = await readFile(fixture);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const FAST = { initialDelayMs: 10, maxDelayMs: 50 };

describe('custom UploadDestination and the upload queue', () => {
  test('a custom destination receives every file with its key and metadata', async () => {
    const spoolDir = join(work, 'custom');
    const bin = new RecordingBin('bin:custom', 'tenant-7');
    const delivery = new RecordingDelivery({ spoolDir, defaultDestination: bin, uploadRetry: FAST });
    const stored: RecordingStoredEvent[] = [];
    delivery.on('stored', (e) => stored.push(e));
    const items = [
      { metadata: compositeMetadata('room', 'sess'), file: join(spoolDir, 'a.mp4') },
      { metadata: individualMetadata('room', 'sess', 'p1', 'cam'), file: join(spoolDir, 'b.mp4') },
      { metadata: individualMetadata('room', 'sess', 'p1', 'screen'), file: join(spoolDir, 'c.mp4') },
      { metadata: individualMetadata('room', 'sess', 'p2', 'cam'), file: join(spoolDir, 'd.mp4') },
    ];
    for (const item of items) {
      await spoolCopy(fixture, item.file);
      await delivery.deliver(item);
    }
    await delivery.idle();
    await delivery.close();

    expect(bin.received.map((r) => r.key).sort()).toEqual(
      [
        'tenant-7/room/20210721/sess/Rec-sess-1626898422000.mp4',
        'tenant-7/room/20210721/sess/p1/cam/cam.mp4',
        'tenant-7/room/20210721/sess/p1/screen/screen.mp4',
        'tenant-7/room/20210721/sess/p2/cam/cam.mp4',
      ].sort(),
    );
    for (const item of items) {
      const suffix = item.metadata.streamId
        ? `/${item.metadata.peerId}/${item.metadata.streamId}/${item.metadata.streamId}.mp4`
        : '/Rec-sess-1626898422000.mp4';
      const received = bin.received.find((r) => r.key.endsWith(suffix))!;
      expect(received.metadata).toEqual(item.metadata);
      expect(received.contentType).toBe('video/mp4');
      expect(received.bytes.equals(fixtureBytes)).toBe(true);
      expect(received.hasSignal).toBe(true);
    }
    expect(stored.map((e) => e.location).sort()).toEqual(bin.received.map((r) => `bin://${r.key}`).sort());
    for (const item of items) expect(existsSync(item.file)).toBe(false);
  });

  test('retryable errors are retried with backoff; a permanent error fails at once and keeps the file', async () => {
    const spoolDir = join(work, 'classify');
    const bin = new RecordingBin('bin:classify');
    const delivery = new RecordingDelivery({ spoolDir, defaultDestination: bin, uploadRetry: FAST });
    const stored: RecordingStoredEvent[] = [];
    const failed: RecordingFailedEvent[] = [];
    const delays: number[] = [];
    delivery.on('stored', (e) => stored.push(e));
    delivery.on('failed', (e) => failed.push(e));
    delivery.on('uploadretry', (e) => delays.push(e.delayMs));

    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    const throttled = Object.assign(new Error('Please reduce your request rate.'), { name: 'SlowDown', $metadata: { httpStatusCode: 503 } });
    bin.failures = [reset, throttled];
    const a = await spoolCopy(fixture, join(spoolDir, 'a.mp4'));
    await delivery.deliver({ file: a, metadata: compositeMetadata('room', 'one') });
    await delivery.idle();
    expect(bin.calls).toBe(3);
    expect(delays).toHaveLength(2);
    expect(stored).toHaveLength(1);

    bin.failures = [new UploadError('ERR_STORAGE_ACCESS_DENIED', 'bucket quota exceeded', { retryable: false, destination: bin.id, key: 'x' })];
    const b = await spoolCopy(fixture, join(spoolDir, 'b.mp4'));
    await delivery.deliver({ file: b, metadata: compositeMetadata('room', 'two') });
    await delivery.idle();
    await delivery.close();
    expect(bin.calls).toBe(4);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.error).toEqual({ code: 'ERR_STORAGE_ACCESS_DENIED', message: 'bucket quota exceeded' });
    expect(existsSync(b)).toBe(true);
  });

  test('retention: keep the spool file, or keep it for a while', async () => {
    const spoolDir = join(work, 'retention');
    const bin = new RecordingBin('bin:retention');
    const delivery = new RecordingDelivery({ spoolDir, defaultDestination: bin });
    const kept = await spoolCopy(fixture, join(spoolDir, 'kept.mp4'));
    const timed = await spoolCopy(fixture, join(spoolDir, 'timed.mp4'));
    await delivery.deliver({ file: kept, metadata: compositeMetadata('room', 'k'), retention: { keepUploadedFiles: true } });
    await delivery.deliver({ file: timed, metadata: compositeMetadata('room', 't'), retention: { keepUploadedFiles: 300 } });
    await delivery.idle();
    expect(existsSync(kept)).toBe(true);
    expect(existsSync(timed)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(existsSync(kept)).toBe(true);
    expect(existsSync(timed)).toBe(false);
    expect(await readdir(join(spoolDir, '.outbox', 'uploads'))).toEqual([]);
    await delivery.close();
  });

  test('after a restart, entries wait for their destination to be registered, then upload', async () => {
    const dir = join(work, 'restart-outbox');
    const file = await spoolCopy(fixture, join(work, 'restart', 'x.mp4'));
    const offline = new RecordingBin('bin:restart');
    offline.failures = Array.from({ length: 100 }, () => new Error('connect ECONNREFUSED'));
    const first = new UploadQueue({ dir, retry: FAST });
    await first.enqueue({ file, key: 'k/x.mp4', metadata: compositeMetadata('room', 'r'), destination: offline });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await first.close();
    expect(offline.calls).toBeGreaterThan(1);
    const persisted = first.list();
    expect(persisted).toHaveLength(1);
    expect(persisted[0]!.state).toBe('pending');

    const second = new UploadQueue({ dir, retry: FAST });
    const uploaded: string[] = [];
    second.on('uploaded', (entry) => uploaded.push(entry.key));
    await second.resume();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(uploaded).toEqual([]);
    const online = new RecordingBin('bin:restart');
    second.registerDestination(online);
    await second.idle();
    await second.close();
    expect(uploaded).toEqual(['k/x.mp4']);
    expect(online.received.map((r) => r.key)).toEqual(['k/x.mp4']);
    expect(existsSync(file)).toBe(false);
  });

  test('unsafe ids are refused before anything is queued', async () => {
    const delivery = new RecordingDelivery({ spoolDir: join(work, 'unsafe'), defaultDestination: new RecordingBin('bin:unsafe') });
    const file = await spoolCopy(fixture, join(work, 'unsafe', 'x.mp4'));
    await expect(delivery.deliver({ file, metadata: individualMetadata('room', 'sess', '..', 'cam') })).rejects.toThrow(
      'metadata.peerId must not be ".."',
    );
    await expect(delivery.deliver({ file, metadata: individualMetadata('room', 'sess', '../etc', 'cam') })).rejects.toThrow(
      /metadata.peerId "..\/etc" contains "\/"/,
    );
    await expect(delivery.deliver({ file, metadata: individualMetadata('room', 'sess', 'p', '') })).rejects.toThrow(
      'metadata.streamId must be a non-empty string',
    );
    await expect(delivery.deliver({ file, metadata: individualMetadata('room', 'se\u0007ss', 'p', 's') })).rejects.toThrow(
      /control character/,
    );
    await expect(delivery.deliver({ file, metadata: compositeMetadata('room/x', 'sess') })).rejects.toThrow(
      /metadata.roomId "room\/x" contains "\/"/,
    );
    expect(delivery.pendingUploads()).toEqual([]);
    await delivery.close();
  });
});
