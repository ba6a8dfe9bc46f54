import { existsSync } from 'node:fs';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { validateUploadConfig } from '../../src/config/room-config.js';
import { RecordingDelivery, type RecordingFailedEvent, type RecordingStoredEvent } from '../../src/notify/delivery.js';
import { createUploadDestination } from '../../src/storage/destinations.js';
import { LocalStorage } from '../../src/storage/local-storage.js';
import { S3Destination } from '../../src/storage/s3-destination.js';
import { UploadError } from '../../src/storage/upload-destination.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import {
  compositeMetadata,
  individualMetadata,
  makeRandomFile,
  makeTestMp4,
  spoolCopy,
  tempDir,
} from '../helpers/s3-fixtures.js';
import { startS3Server, TEST_S3_CREDENTIALS, type S3TestServer, testS3Client } from '../helpers/s3-server.js';

const ROOM = '61101349d0f56e684b608c08';
const SESSION = '5fccb7dc72909272bf999014';
const PEER_A = '76539d6b-d10d-4790-bdd2-ab57fa7facb0';
const STREAM_A = '9aeec8db-524d-4129-874d-7a71d340bdec';
const PEER_B = 'peer-b';
const STREAM_B = 'screen-b';

let s3: S3TestServer;
let proxy: FaultProxy;
let work: string;
let fixture: string;
let fixtureBytes: Buffer;
let client: S3Client;

beforeAll(async () => {
  s3 = await startS3Server();
  proxy = await startFaultProxy(s3.endpoint);
  work = await tempDir('s3-dest');
  fixture = join(work, 'fixture.mp4');
  await makeTestMp4(fixture);
  fixtureBytes = await readFile(fixture);
  client = testS3Client(s3);
});

afterAll(async () => {
  client.destroy();
  await proxy.close();
  await s3.close();
  await rm(work, { recursive: true, force: true });
});

function destinationFor(endpoint: string, prefix?: string): S3Destination {
  const config = validateUploadConfig({
    type: 's3',
    location: s3.bucket,
    ...(prefix !== undefined ? { prefix } : {}),
    options: { endpoint },
    credentials: TEST_S3_CREDENTIALS,
  });
  return S3Destination.fromConfig(config);
}

async function listKeys(prefix = ''): Promise<string[]> {
  const out = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
}

async function getBytes(key: string): Promise<Buffer> {
  const out = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

/** Delivers a composite and two individual recordings of one session, waits for all three. */
async function recordSession(spoolDir: string, destination: S3Destination) {
  const delivery = new RecordingDelivery({ spoolDir, uploadRetry: { initialDelayMs: 20, maxDelayMs: 100 } });
  const stored: RecordingStoredEvent[] = [];
  const failed: RecordingFailedEvent[] = [];
  delivery.on('stored', (e) => stored.push(e));
  delivery.on('failed', (e) => failed.push(e));
  const files = [
    await spoolCopy(fixture, join(spoolDir, ROOM, SESSION, 'composite', `Rec-${SESSION}-1626898422000.mp4`)),
    await spoolCopy(fixture, join(spoolDir, ROOM, SESSION, 'streams', PEER_A, STREAM_A, `${STREAM_A}.mp4`)),
    await spoolCopy(fixture, join(spoolDir, ROOM, SESSION, 'streams', PEER_B, STREAM_B, `${STREAM_B}.mp4`)),
  ];
  const size = fixtureBytes.length;
  await delivery.deliver({ file: files[0]!, metadata: compositeMetadata(ROOM, SESSION, size), destination });
  await delivery.deliver({ file: files[1]!, metadata: individualMetadata(ROOM, SESSION, PEER_A, STREAM_A, size), destination });
  await delivery.deliver({ file: files[2]!, metadata: individualMetadata(ROOM, SESSION, PEER_B, STREAM_B, size), destination });
  await delivery.idle();
  await delivery.close();
  return { stored, failed, files };
}

describe('S3Destination against s3rver', () => {
  test('a recorded session lands under exactly the documented keys (with a prefix)', async () => {
    const spoolDir = join(work, 'spool-prefix');
    const destination = destinationFor(s3.endpoint, '/test-prefix/');
    const { stored, failed, files } = await recordSession(spoolDir, destination);
    destination.close();

    expect(failed).toEqual([]);
    const expected = [
      `test-prefix/${ROOM}/20210721/${SESSION}/Rec-${SESSION}-1626898422000.mp4`,
      `test-prefix/${ROOM}/20210721/${SESSION}/${PEER_A}/${STREAM_A}/${STREAM_A}.mp4`,
      `test-prefix/${ROOM}/20210721/${SESSION}/${PEER_B}/${STREAM_B}/${STREAM_B}.mp4`,
    ].sort();
    expect(await listKeys('test-prefix/')).toEqual(expected);
    expect(stored.map((e) => e.key).sort()).toEqual(expected);
    for (const event of stored) {
      expect(event.location).toBe(`s3://${s3.bucket}/${event.key}`);
      expect(event.sizeBytes).toBe(fixtureBytes.length);
      expect((await getBytes(event.key)).equals(fixtureBytes)).toBe(true);
      const head = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: event.key }));
      expect(head.ContentType).toBe('video/mp4');
      expect(head.Metadata?.['room-id']).toBe(ROOM);
    }
    // Confirmed uploads leave nothing in the spool or the outbox.
    for (const file of files) expect(existsSync(file)).toBe(false);
    expect(await readdir(join(spoolDir, '.outbox', 'uploads'))).toEqual([]);
  });

  test('without a prefix there is no leading slash and no empty segment', async () => {
    const destination = destinationFor(s3.endpoint);
    const { stored } = await recordSession(join(work, 'spool-noprefix'), destination);
    destination.close();
    const expected = [
      `${ROOM}/20210721/${SESSION}/Rec-${SESSION}-1626898422000.mp4`,
      `${ROOM}/20210721/${SESSION}/${PEER_A}/${STREAM_A}/${STREAM_A}.mp4`,
      `${ROOM}/20210721/${SESSION}/${PEER_B}/${STREAM_B}/${STREAM_B}.mp4`,
    ].sort();
    expect(await listKeys(`${ROOM}/`)).toEqual(expected);
    expect(stored).toHaveLength(3);
  });

  test('the presigned URL downloads the same bytes and expires in 12 hours', async () => {
    const destination = destinationFor(s3.endpoint, 'presign');
    const file = await spoolCopy(fixture, join(work, 'presign', 'a.mp4'));
    const before = Date.now();
    const result = await destination.upload({
      file,
      key: 'presign/one.mp4',
      contentType: 'video/mp4',
      metadata: compositeMetadata('r', 's', fixtureBytes.length),
    });
    destination.close();
    expect(result.url).toBeDefined();
    const url = new URL(result.url!);
    expect(url.searchParams.get('X-Amz-Expires')).toBe('43200');
    expect(result.urlExpiresAt! - before).toBeGreaterThan(12 * 3600_000 - 2000);
    expect(result.urlExpiresAt! - before).toBeLessThanOrEqual(12 * 3600_000 + 1000);
    const response = await fetch(result.url!);
    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer()).equals(fixtureBytes)).toBe(true);
  });

  test('a file above 5 MiB goes up in several parts and arrives intact', async () => {
    const destination = destinationFor(proxy.url, 'multipart');
    const file = join(work, 'big', 'big.mp4');
    const data = await makeRandomFile(file, 11 * 1024 * 1024 + 12345);
    proxy.requests.length = 0;
    const progress: number[] = [];
    const result = await destination.upload({
      file,
      key: 'multipart/big.mp4',
      contentType: 'video/mp4',
      metadata: compositeMetadata('r', 's', data.length),
      onProgress: (loaded) => progress.push(loaded),
    });
    destination.close();
    const parts = proxy.requests.filter((r) => r.method === 'PUT' && r.url.includes('partNumber='));
    const initiate = proxy.requests.filter((r) => r.method === 'POST' && r.url.includes('uploads'));
    const complete = proxy.requests.filter((r) => r.method === 'POST' && r.url.includes('uploadId='));
    console.log(`multipart: ${data.length} bytes in ${parts.length} parts`);
    expect(initiate).toHaveLength(1);
    expect(parts).toHaveLength(3); // 5 MiB + 5 MiB + the rest
    expect(complete).toHaveLength(1);
    expect(result.sizeBytes).toBe(data.length);
    expect(Math.max(...progress)).toBe(data.length);
    expect((await getBytes('multipart/big.mp4')).equals(data)).toBe(true);
  });

  test('a missing bucket fails fast with a message naming the bucket, and the file is kept', async () => {
    const destination = S3Destination.fromConfig(
      validateUploadConfig({
        type: 's3',
        location: 'no-such-bucket',
        options: { endpoint: s3.endpoint },
        credentials: TEST_S3_CREDENTIALS,
      }),
    );
    const spoolDir = join(work, 'spool-nobucket');
    const file = await spoolCopy(fixture, join(spoolDir, 'x.mp4'));
    const delivery = new RecordingDelivery({ spoolDir, uploadRetry: { initialDelayMs: 10, maxAttempts: 5 } });
    const failed: RecordingFailedEvent[] = [];
    let retries = 0;
    delivery.on('failed', (e) => failed.push(e));
    delivery.on('uploadretry', () => retries++);
    await delivery.deliver({ file, metadata: compositeMetadata('r', 's'), destination });
    await delivery.idle();
    await delivery.close();
    destination.close();
    expect(retries).toBe(0);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.error.code).toBe('ERR_STORAGE_NO_SUCH_BUCKET');
    expect(failed[0]!.error.message).toContain('S3 bucket "no-such-bucket" does not exist');
    expect(existsSync(file)).toBe(true);
  });

  test('access denied and rejected credentials are permanent errors that never show the credentials', async () => {
    const denied = destinationFor(proxy.url, 'denied');
    const file = await spoolCopy(fixture, join(work, 'denied', 'x.mp4'));
    proxy.setFaults(['403']);
    const error = await denied
      .upload({ file, key: 'denied/x.mp4', contentType: 'video/mp4', metadata: compositeMetadata('r', 's') })
      .catch((e: unknown) => e);
    denied.close();
    expect(error).toBeInstanceOf(UploadError);
    expect((error as UploadError).retryable).toBe(false);
    expect((error as UploadError).code).toBe('ERR_STORAGE_ACCESS_DENIED');
    expect((error as UploadError).message).toContain('bucket "bucket"');

    const wrongKey = new S3Destination({
      bucket: s3.bucket,
      endpoint: s3.endpoint,
      credentials: { key: 'AKIAUNKNOWNKEY000001', secret: 'unknown/secret/value+1' },
    });
    const rejected = await wrongKey
      .upload({ file, key: 'denied/y.mp4', contentType: 'video/mp4', metadata: compositeMetadata('r', 's') })
      .catch((e: unknown) => e);
    wrongKey.close();
    expect(rejected).toBeInstanceOf(UploadError);
    expect((rejected as UploadError).code).toBe('ERR_STORAGE_CREDENTIALS_REJECTED');
    expect((rejected as UploadError).retryable).toBe(false);
    const text = `${String(rejected)} ${JSON.stringify(rejected)} ${(rejected as Error).stack}`;
    expect(text).not.toContain('AKIAUNKNOWNKEY000001');
    expect(text).not.toContain('unknown/secret/value+1');
  });

  test('createUploadDestination: S3 from the room config, the default storage without one', () => {
    const local = new LocalStorage({ root: join(work, 'default-storage') });
    expect(createUploadDestination(undefined, local)).toBe(local);
    const config = validateUploadConfig({ type: 's3', location: 'my-bucket', prefix: 'p/' });
    const s3dest = createUploadDestination(config, local) as S3Destination;
    expect(s3dest).toBeInstanceOf(S3Destination);
    expect(s3dest.id).toBe('s3:my-bucket@ap-south-1');
    expect(s3dest.keyPrefix).toBe('p');
    s3dest.close();
  });
});
