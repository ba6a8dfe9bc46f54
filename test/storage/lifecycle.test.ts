import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import type { Logger } from '../../src/config/logger.js';
import { createSignedUrlHandler, LocalStorage } from '../../src/storage/local-storage.js';
import { S3Destination } from '../../src/storage/s3-destination.js';
import { UploadError, type UploadDestination, type UploadRequest, type UploadResult } from '../../src/storage/upload-destination.js';
import { UploadQueue, type UploadEntry } from '../../src/storage/upload-queue.js';
import { compositeMetadata, individualMetadata, makeRandomFile, makeTestMp4, spoolCopy, tempDir } from '../helpers/s3-fixtures.js';
import { startS3Server, TEST_S3_CREDENTIALS, testS3Client, type S3TestServer } from '../helpers/s3-server.js';
import { failureOf, thrownBy } from '../helpers/outcomes.js';

let work: string;
let fixture: string;
let s3: S3TestServer;
let s3Client: S3Client;

beforeAll(async () => {
  work = await tempDir('storage-lifecycle');
  fixture = join(work, 'fixture.mp4');
  await makeTestMp4(fixture, 1);
  s3 = await startS3Server();
  s3Client = testS3Client(s3);
});

afterAll(async () => {
  s3Client.destroy();
  await s3.close();
  await rm(work, { recursive: true, force: true });
});

/** A logger that keeps what it was told. */
function recordingLogger(): Logger & { lines: Array<{ level: string; message: string; fields: Record<string, unknown> | undefined }> } {
  const lines: Array<{ level: string; message: string; fields: Record<string, unknown> | undefined }> = [];
  return {
    lines,
    info: (message, fields) => lines.push({ level: 'info', message, fields }),
    warn: (message, fields) => lines.push({ level: 'warn', message, fields }),
    error: (message, fields) => lines.push({ level: 'error', message, fields }),
  };
}

function uploadRequest(file: string, key: string, signal?: AbortSignal): UploadRequest {
  return { file, key, contentType: 'video/mp4', metadata: compositeMetadata('room', 'sess'), ...(signal ? { signal } : {}) };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('LocalStorage and its servers: one lifecycle', () => {
  test('close() is idempotent, closed at once, the same promise to concurrent callers, and closes the servers listen() started', async () => {
    const storage = new LocalStorage({ root: join(work, 'local-close') });
    const server = await storage.listen();
    expect((await fetch(`${server.url}/x`)).status).toBe(403);

    const first = storage.close();
    const second = storage.close();
    expect(storage.closed).toBe(true);
    expect(server.closed).toBe(true);
    expect(second).toBe(first);
    await first;
    expect(storage.close()).toBe(first);
    // Nothing listens there any more.
    await expect(fetch(`${server.url}/x`)).rejects.toThrow();
  });

  test('after close, upload, signUrl, signPath and listen fail with ERR_CLOSED', async () => {
    const storage = new LocalStorage({ root: join(work, 'local-after'), baseUrl: 'https://rec.example.com' });
    await storage.close();
    const upload = await failureOf(storage.upload(uploadRequest(fixture, 'room/a.mp4')));
    expect(upload).toBeInstanceOf(UploadError);
    // Retryable: a queue that still holds the file tries again once a storage is open.
    expect(upload).toMatchObject({ code: 'ERR_CLOSED', retryable: true });
    await expect(storage.signUrl('room/a.mp4')).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    await expect(storage.signPath('room/a.mp4', Date.now() + 60_000)).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    await expect(storage.listen()).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    expect(existsSync(join(storage.root, 'room', 'a.mp4'))).toBe(false);
  });

  test('closing the storage leaves a handler mounted in your own server serving the URLs it handed out', async () => {
    const storage = new LocalStorage({ root: join(work, 'local-mounted') });
    const hostServer = createServer(createSignedUrlHandler(storage));
    storage.baseUrl = await listen(hostServer);
    try {
      const stored = await storage.upload(uploadRequest(fixture, 'room/kept.mp4'));
      await storage.close();
      const response = await fetch(stored.url!);
      expect(response.status).toBe(200);
      expect(Buffer.from(await response.arrayBuffer()).equals(await readFile(fixture))).toBe(true);
    } finally {
      hostServer.closeAllConnections();
      hostServer.close();
    }
  });

  test('LocalStorageServer.close() gives concurrent callers the same promise', async () => {
    const storage = new LocalStorage({ root: join(work, 'local-server') });
    const server = await storage.listen();
    const first = server.close();
    expect(server.closed).toBe(true);
    expect(server.close()).toBe(first);
    await first;
    // The storage itself stays open and can listen again.
    expect(storage.closed).toBe(false);
    const again = await storage.listen();
    await storage.close();
    expect(again.closed).toBe(true);
  });

  test('an aborted upload is ERR_CANCELED (isCanceled) and stores nothing', async () => {
    const storage = new LocalStorage({ root: join(work, 'local-abort') });
    const error = await failureOf(storage.upload(uploadRequest(fixture, 'room/aborted.mp4', AbortSignal.abort())));
    expect(error).toBeInstanceOf(UploadError);
    expect(error).toMatchObject({ code: 'ERR_CANCELED', isCanceled: true, retryable: true });
    expect(existsSync(join(storage.root, 'room', 'aborted.mp4'))).toBe(false);
  });
});

describe('S3Destination: one lifecycle', () => {
  function destination(client?: S3Client): S3Destination {
    return new S3Destination({
      bucket: s3.bucket,
      endpoint: s3.endpoint,
      credentials: TEST_S3_CREDENTIALS,
      ...(client ? { client } : {}),
    });
  }

  test('close() is idempotent, closed at once, the same promise to concurrent callers; an upload after it is ERR_CLOSED', async () => {
    const s3dest = destination();
    const first = s3dest.close();
    expect(s3dest.closed).toBe(true);
    expect(s3dest.close()).toBe(first);
    await first;
    const error = await failureOf(s3dest.upload(uploadRequest(fixture, 'after-close.mp4')));
    expect(error).toMatchObject({ code: 'ERR_CLOSED', retryable: true });
    const listed = await s3Client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'after-close' }));
    expect(listed.Contents ?? []).toEqual([]);
  });

  test('a client it was given is not closed with it', async () => {
    const given = testS3Client(s3);
    // A destroyed SDK client still sends (it opens new sockets), so watch the call itself.
    const destroy = vi.spyOn(given, 'destroy');
    try {
      const s3dest = destination(given);
      await s3dest.upload(uploadRequest(fixture, 'given/one.mp4'));
      await s3dest.close();
      expect(destroy).not.toHaveBeenCalled();
      const listed = await given.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'given/' }));
      expect((listed.Contents ?? []).map((o) => o.Key)).toEqual(['given/one.mp4']);
    } finally {
      given.destroy();
    }
  });

  test('an upload aborted mid-way is ERR_CANCELED and leaves no object', async () => {
    const big = join(work, 'big.bin');
    await makeRandomFile(big, 11 * 1024 * 1024);
    const s3dest = new S3Destination({ bucket: s3.bucket, endpoint: s3.endpoint, credentials: TEST_S3_CREDENTIALS, queueSize: 1 });
    const controller = new AbortController();
    const request = { ...uploadRequest(big, 'aborted/big.mp4', controller.signal), onProgress: () => controller.abort() };
    const error = await failureOf(s3dest.upload(request));
    await s3dest.close();
    expect(error).toBeInstanceOf(UploadError);
    expect(error).toMatchObject({ code: 'ERR_CANCELED', isCanceled: true, retryable: true });
    const listed = await s3Client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'aborted/' }));
    expect(listed.Contents ?? []).toEqual([]);
  });
});

/** A custom destination whose uploads wait until they are aborted. */
class StallingDestination implements UploadDestination {
  readonly id = 'stall:forever';
  readonly reasons: unknown[] = [];
  #started: (() => void) | undefined;
  readonly started = new Promise<void>((resolve) => (this.#started = resolve));

  upload(request: UploadRequest): Promise<UploadResult> {
    this.#started?.();
    return new Promise((_resolve, reject) => {
      request.signal!.addEventListener('abort', () => {
        this.reasons.push(request.signal!.reason);
        reject(request.signal!.reason as Error);
      });
    });
  }
}

describe('UploadQueue: one lifecycle', () => {
  test('close() is the same promise to concurrent callers; work after it is ERR_CLOSED; idle() does not hang', async () => {
    const dir = join(work, 'queue-close');
    const queue = new UploadQueue({ dir });
    const file = await spoolCopy(fixture, join(work, 'queue-close-spool', 'a.mp4'));
    // Names a destination nobody registers: the entry waits for ever.
    await queue.enqueue({ file, key: 'room/a.mp4', metadata: compositeMetadata('room', 'sess'), destination: 'nobody:registered' });

    const first = queue.close();
    expect(queue.closed).toBe(true);
    expect(queue.close()).toBe(first);
    await first;

    const local = new LocalStorage({ root: join(work, 'queue-close-store') });
    const metadata = compositeMetadata('room', 'sess');
    await expect(queue.enqueue({ file, key: 'room/b.mp4', metadata, destination: local })).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    await expect(queue.retryFailed()).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    await expect(queue.resume()).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    expect(thrownBy(() => queue.registerDestination(local))).toMatchObject({ code: 'ERR_CLOSED' });
    // Nothing will ever run again, so waiting for that is over at once.
    await queue.idle();
    // The entry is still on disk, pending, for the next process.
    expect(queue.list().map((e) => e.state)).toEqual(['pending']);
    expect(await readdir(dir)).toHaveLength(1);
  });

  test('close() aborts an upload in flight with an ERR_CANCELED reason and keeps its entry pending', async () => {
    const dir = join(work, 'queue-inflight');
    const stalling = new StallingDestination();
    const queue = new UploadQueue({ dir, destinations: [stalling] });
    const file = await spoolCopy(fixture, join(work, 'queue-inflight-spool', 'a.mp4'));
    await queue.enqueue({ file, key: 'room/a.mp4', metadata: compositeMetadata('room', 'sess'), destination: stalling });
    await stalling.started;
    await queue.close();
    expect(stalling.reasons).toHaveLength(1);
    expect(stalling.reasons[0]).toMatchObject({ code: 'ERR_CANCELED', isCanceled: true });
    const entry = JSON.parse(await readFile(join(dir, (await readdir(dir))[0]!), 'utf8')) as UploadEntry;
    expect(entry).toMatchObject({ state: 'pending', attempts: 0 });
    expect(existsSync(file)).toBe(true);
  });

  test('a listener that throws is logged as ERR_LISTENER; the other listeners run and the file is still settled', async () => {
    const logger = recordingLogger();
    const local = new LocalStorage({ root: join(work, 'queue-listener-store') });
    const queue = new UploadQueue({ dir: join(work, 'queue-listener'), logger });
    const seen: string[] = [];
    queue.on('uploaded', () => {
      throw new Error('host bug');
    });
    queue.on('uploaded', (entry) => seen.push(entry.key));
    const file = await spoolCopy(fixture, join(work, 'queue-listener-spool', 'a.mp4'));
    await queue.enqueue({ file, key: 'room/p/s/s.mp4', metadata: individualMetadata('room', 'sess', 'p', 's'), destination: local });
    await queue.idle();
    await queue.close();

    expect(seen).toEqual(['room/p/s/s.mp4']);
    const complaint = logger.lines.find((l) => l.fields?.code === 'ERR_LISTENER');
    expect(complaint?.message).toBe('a "uploaded" listener of the upload queue threw');
    expect(complaint?.fields).toMatchObject({ event: 'uploaded', error: { message: 'host bug' } });
    // Bookkeeping as if the listener had not thrown: stored, spool file removed, outbox empty.
    expect(existsSync(join(local.root, 'room', 'p', 's', 's.mp4'))).toBe(true);
    expect(existsSync(file)).toBe(false);
    expect(queue.list()).toEqual([]);
    expect(logger.lines.some((l) => l.message.includes('could not record upload outcome'))).toBe(false);
  });
});
