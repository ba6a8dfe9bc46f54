import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { join, relative, sep } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { inspect } from 'node:util';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { InvalidConfigError, SfuRecorderError } from '../../src/errors.js';
import { decodeKey, encodeKey } from '../../src/jobs/staging/directory-staging.js';
import {
  DirectoryStaging,
  openStaging,
  S3Staging,
  StagingError,
  stagingFromConfig,
  validateStagingConfig,
  type StagingStore,
} from '../../src/jobs/staging/index.js';
import { failureOf, thrownBy } from '../helpers/outcomes.js';
import { makeRandomFile, tempDir } from '../helpers/s3-fixtures.js';
import { startS3Server, TEST_S3_CREDENTIALS, testS3Client, type S3TestServer } from '../helpers/s3-server.js';

/** Ids as the recorder may be given them: any UTF-8 up to 128 bytes. */
const ROOMS = ['Raum Ω #1 +50% ünï', '会議室 😀 a+b', '%'.repeat(128)];
const SESSIONS = ['s%20 + #x', ' lead & trail ', '.dot', '会'.repeat(42)];
const BIG_BYTES = 12 * 1024 * 1024 + 12_345; // three multipart parts of 5 MiB
const WRONG_SECRET = 'WrongSecret/DoNotLeak+4b1d9e';
const UNKNOWN_KEY_ID = 'AKIAUNKNOWNKEY000000';
const SECRETS = [TEST_S3_CREDENTIALS.key, TEST_S3_CREDENTIALS.secret, WRONG_SECRET, UNKNOWN_KEY_ID];

let s3: S3TestServer;
let client: S3Client;
let work: string;
let big: string;
let bigHash: string;
let counter = 0;

beforeAll(async () => {
  s3 = await startS3Server();
  client = testS3Client(s3);
  work = await tempDir('staging');
  big = join(work, 'big.bin');
  bigHash = sha256(await makeRandomFile(big, BIG_BYTES));
});

afterAll(async () => {
  client.destroy();
  await s3.close();
  await rm(work, { recursive: true, force: true });
});

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A small file with distinct content. */
async function smallFile(content: string): Promise<string> {
  const file = join(work, 'src', `small-${counter++}.bin`);
  await mkdir(join(work, 'src'), { recursive: true });
  await writeFile(file, content);
  return file;
}

/** Fails the test if a credential shows in the error's message, JSON or inspected form (stack and cause included). */
function expectNoCredentials(value: unknown): void {
  const texts = [inspect(value, { depth: 8 }), JSON.stringify(value) ?? ''];
  if (value instanceof Error) texts.push(value.message, value.stack ?? '');
  for (const text of texts) for (const secret of SECRETS) expect(text).not.toContain(secret);
}

function s3Store(options: Partial<ConstructorParameters<typeof S3Staging>[0]> = {}): S3Staging {
  return new S3Staging({
    bucket: s3.bucket,
    prefix: `staging-${counter++}`,
    endpoint: s3.endpoint,
    credentials: TEST_S3_CREDENTIALS,
    ...options,
  });
}

async function directoryStore(): Promise<DirectoryStaging> {
  const root = join(work, `dir-${counter++}`);
  await mkdir(root);
  return new DirectoryStaging(root);
}

/** Every file below `dir`, relative to it. */
async function filesBelow(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name)));
}

const STORES: { name: string; make: () => Promise<StagingStore> }[] = [
  { name: 'DirectoryStaging', make: directoryStore },
  { name: 'S3Staging (s3rver)', make: async () => s3Store() },
];

describe.each(STORES)('$name', ({ make }) => {
  test('a multi-MiB file round-trips byte-identical; put overwrites', async () => {
    const store = await make();
    const key = 'room/session/tracks/track-1.rtpj';
    expect(await store.put(key, big)).toEqual({ sizeBytes: BIG_BYTES });
    expect(await store.stat(key)).toEqual({ sizeBytes: BIG_BYTES });
    const target = join(work, `out-${counter++}`, 'deep', 'er', 'track-1.rtpj');
    expect(await store.get(key, target)).toEqual({ sizeBytes: BIG_BYTES });
    expect(sha256(await readFile(target))).toBe(bigHash);
    // Nothing but the target is left beside it.
    expect(await readdir(join(target, '..'))).toEqual(['track-1.rtpj']);

    await store.put(key, await smallFile('second version'));
    await store.get(key, target);
    expect(await readFile(target, 'utf8')).toBe('second version');
    expect(await store.list('room')).toEqual([key]);
    await store.close();
  });

  test('keys with unicode, spaces, %, #, + and 128-byte ids round-trip, and list returns them exactly', async () => {
    const store = await make();
    const keys: string[] = [];
    for (const room of ROOMS) {
      for (const session of SESSIONS) {
        keys.push(
          `${room}/${session}/tracks/${session}-t #1.rtpj`,
          `${room}/${session}/streams/peer +1/${session}/${session}.mp4`,
          `${room}/${session}/session.json`,
        );
      }
    }
    for (const key of keys) await store.put(key, await smallFile(`content of ${key}`));
    const sorted = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect(await store.list('')).toEqual(sorted);
    for (const room of ROOMS) {
      const session = SESSIONS[0]!;
      expect(await store.list(`${room}/${session}`)).toEqual(sorted.filter((k) => k.startsWith(`${room}/${session}/`)));
      expect(await store.list(`${room}/${session}/`)).toEqual(await store.list(`${room}/${session}`));
    }
    for (const key of keys) {
      const target = join(work, `uni-${counter++}`, 'file');
      await store.get(key, target);
      expect(await readFile(target, 'utf8')).toBe(`content of ${key}`);
      expect(await store.stat(key)).toEqual({ sizeBytes: Buffer.byteLength(`content of ${key}`) });
    }
    await store.close();
  });

  test('get of a missing key: ERR_STAGING_MISSING naming the key, and no file at the target', async () => {
    const store = await make();
    await store.put('room/other/x', await smallFile('x'));
    const key = 'room/#missing %/tracks/t.rtpj';
    const dir = join(work, `missing-${counter++}`);
    const error = await failureOf(store.get(key, join(dir, 't.rtpj')));
    expect(error).toBeInstanceOf(SfuRecorderError);
    expect(error).toMatchObject({ code: 'ERR_STAGING_MISSING', retryable: false, key });
    expect((error as Error).message).toContain(key);
    expect(await filesBelow(dir)).toEqual([]);
    expect(await store.stat(key)).toBeUndefined();
    // A prefix is not a key.
    expect(await failureOf(store.get('room/other', join(dir, 'p')))).toMatchObject({ code: 'ERR_STAGING_MISSING' });
    expect(await store.stat('room/other')).toBeUndefined();
    expect(await filesBelow(dir)).toEqual([]);
    await store.close();
  });

  test('an aborted get leaves no partial file at the target', async () => {
    const store = await make();
    const key = 'room/session/big.bin';
    await store.put(key, big);
    const dir = join(work, `abort-${counter++}`);
    await mkdir(dir);
    const target = join(dir, 'big.bin');

    const before = new AbortController();
    before.abort();
    expect(await failureOf(store.get(key, target, before.signal))).toMatchObject({ code: 'ERR_CANCELED', name: 'AbortError' });
    expect(await readdir(dir)).toEqual([]);

    // Abort once the temp file exists: mid-transfer.
    const controller = new AbortController();
    const getting = store.get(key, target, controller.signal);
    let done = false;
    void getting.finally(() => (done = true)).catch(() => undefined);
    let sawTemp = false;
    while (!done && !sawTemp) {
      sawTemp = (await readdir(dir)).some((name) => name.includes('.tmp-'));
      if (!sawTemp) await nextTurn();
    }
    controller.abort(new Error('job shutting down'));
    expect(sawTemp).toBe(true);
    const error = await failureOf(getting);
    expect(error).toMatchObject({ code: 'ERR_CANCELED' });
    expect((error as Error).message).toContain('job shutting down');
    expect(await readdir(dir)).toEqual([]);

    // The store is still usable afterwards.
    await store.get(key, target);
    expect(sha256(await readFile(target))).toBe(bigHash);
    await store.close();
  });

  test('deletePrefix removes only that prefix (whole segments) and says how many', async () => {
    const store = await make();
    const keep = ['room/s10/a', 'room/s2/a', 'room/s1x', 'other/s1/a'];
    const drop = ['room/s1/a', 'room/s1/tracks/t.rtpj', 'room/s1/streams/p/s/s.mp4'];
    for (const key of [...keep, ...drop]) await store.put(key, await smallFile(key));
    expect(await store.deletePrefix('room/s1')).toBe(3);
    expect(await store.list('')).toEqual([...keep].sort());
    for (const key of drop) expect(await store.stat(key)).toBeUndefined();
    expect(await store.deletePrefix('room/s1/')).toBe(0);
    expect(await store.deletePrefix('nothing/here')).toBe(0);
    expect(await failureOf(store.deletePrefix(''))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect(await store.list('')).toEqual([...keep].sort());
    await store.close();
  });

  test('keys that are not relative spool paths are refused', async () => {
    const store = await make();
    const file = await smallFile('x');
    for (const key of ['room/../escape', '../escape', '/etc/passwd', 'room//x', 'room/x/', 'room/./x', 'room/\u0000x', '', 'a/\u0007b']) {
      const error = await failureOf(store.put(key, file));
      expect(error, JSON.stringify(key)).toBeInstanceOf(StagingError);
      expect(error).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', retryable: false });
      expect(await failureOf(store.get(key, join(work, 'never')))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    }
    expect(await failureOf(store.list('a/../b'))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect(existsSync(join(work, 'never'))).toBe(false);
    expect(await store.list('')).toEqual([]);
    await store.close();
  });

  test('close: closed at once, one promise, later calls ERR_CLOSED', async () => {
    const store = await make();
    const first = store.close();
    expect(store.closed).toBe(true);
    expect(store.close()).toBe(first);
    await first;
    expect(await failureOf(store.put('a/b', big))).toMatchObject({ code: 'ERR_CLOSED' });
    expect(await failureOf(store.get('a/b', join(work, 'closed')))).toMatchObject({ code: 'ERR_CLOSED' });
    expect(await failureOf(store.list(''))).toMatchObject({ code: 'ERR_CLOSED' });
  });
});

describe('DirectoryStaging', () => {
  test('a ".." key is refused and nothing is written outside the root', async () => {
    const store = await directoryStore();
    const error = thrownBy(() => store.pathOf('room/../../outside'));
    expect(error).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect((error as Error).message).toContain('"room/../../outside"');
    expect((error as Error).message).toContain('".."');
    await failureOf(store.put('../outside', big));
    expect(existsSync(join(store.root, '..', 'outside'))).toBe(false);
  });

  test('on disk every name is plain ASCII, at most 200 bytes, and never starts with "."', async () => {
    const store = await directoryStore();
    for (const room of ROOMS) for (const session of SESSIONS) await store.put(`${room}/${session}/x.mp4`, await smallFile('x'));
    const files = await filesBelow(store.root);
    expect(files).toHaveLength(ROOMS.length * SESSIONS.length);
    for (const file of files) {
      for (const component of file.split(sep)) {
        expect(component).toMatch(/^[A-Za-z0-9_~%-][A-Za-z0-9_.~%-]*$/);
        expect(component.length).toBeLessThanOrEqual(200);
      }
    }
    // The 128-byte ids (384 bytes encoded) are split over directories and still decode.
    expect(files.some((f) => f.split(sep).length > 3)).toBe(true);
    for (const room of ROOMS) expect(decodeKey(encodeKey(`${room}/x`))).toBe(`${room}/x`);
    // One spelling per key: other spellings are foreign names.
    expect(decodeKey(['room', '%2e'])).toBeUndefined();
    expect(decodeKey(['%41'])).toBeUndefined();
    expect(decodeKey(['a%'])).toBeUndefined();
  });

  test('temp files and foreign dot files are not keys; deletePrefix clears temp files too', async () => {
    const store = await directoryStore();
    await store.put('room/s/a', await smallFile('a'));
    const dir = join(store.root, 'room', 's');
    await writeFile(join(dir, '.a.tmp-0123456789ab'), 'partial');
    await writeFile(join(dir, '.nfs0000000001'), 'nfs');
    await mkdir(join(dir, '.snapshot'));
    await writeFile(join(dir, '.snapshot', 'a'), 'old');
    await writeFile(join(dir, 'b%2'), 'not an encoding');
    expect(await store.list('')).toEqual(['room/s/a']);
    // Every file goes (the temp file too); only "a" was a key. The .snapshot directory is not entered.
    expect(await store.deletePrefix('room/s')).toBe(1);
    expect(await filesBelow(dir)).toEqual([join('.snapshot', 'a')]);
  });

  test('a missing staging directory is ERR_STAGING_UNAVAILABLE and is never created', async () => {
    const root = join(work, `absent-${counter++}`, 'mount');
    const store = new DirectoryStaging(root);
    for (const attempt of [
      () => store.put('room/s/a', big),
      () => store.get('room/s/a', join(work, 'x')),
      () => store.stat('room/s/a'),
      () => store.list(''),
      () => store.deletePrefix('room'),
    ]) {
      const error = await failureOf(attempt());
      expect(error).toMatchObject({ code: 'ERR_STAGING_UNAVAILABLE', retryable: true });
      expect((error as Error).message).toContain(`${root} does not exist`);
    }
    expect(existsSync(root)).toBe(false);
    expect(store.descriptor).toEqual({ type: 'directory', path: root });
    expect(store.description).toBe(root);
  });
});

describe('S3Staging', () => {
  test('objects land under the prefix with the keys as given', async () => {
    const store = s3Store({ prefix: '/jobs/staging/' });
    const key = `${ROOMS[0]}/${SESSIONS[0]}/tracks/t.rtpj`;
    await store.put(key, await smallFile('t'));
    const out = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'jobs/' }));
    expect(out.Contents?.map((o) => o.Key)).toEqual([`jobs/staging/${key}`]);
    expect(store.description).toBe(`s3://${s3.bucket}/jobs/staging`);
    expect(store.locationOf(key)).toBe(`s3://${s3.bucket}/jobs/staging/${key}`);
    await store.close();
  });

  test('a wrong bucket: ERR_STAGING_NO_SUCH_BUCKET naming the bucket and what to check, for every operation', async () => {
    const store = s3Store({ bucket: 'no-such-bucket' });
    const file = await smallFile('x');
    for (const attempt of [
      () => store.put('room/s/a', file),
      () => store.get('room/s/a', join(work, 'nb')),
      () => store.stat('room/s/a'),
      () => store.list('room'),
      () => store.deletePrefix('room'),
    ]) {
      const error = await failureOf(attempt());
      expect(error).toBeInstanceOf(StagingError);
      expect(error).toMatchObject({ code: 'ERR_STAGING_NO_SUCH_BUCKET', retryable: false });
      expect((error as Error).message).toContain('"no-such-bucket" does not exist');
      expect((error as Error).message).toContain('jobs.staging.location');
      expectNoCredentials(error);
    }
    expect(existsSync(join(work, 'nb'))).toBe(false);
    await store.close();
  });

  test('an unknown access key id (s3rver): ERR_STAGING_CREDENTIALS_REJECTED, no credential in any message', async () => {
    const store = s3Store({ credentials: { key: UNKNOWN_KEY_ID, secret: TEST_S3_CREDENTIALS.secret } });
    const file = await smallFile('x');
    for (const attempt of [
      () => store.put('room/s/a', file),
      () => store.get('room/s/a', join(work, 'cr')),
      () => store.list(''),
      () => store.stat('room/s/a'),
      () => store.deletePrefix('room'),
    ]) {
      const error = await failureOf(attempt());
      expect(error).toMatchObject({ code: 'ERR_STAGING_CREDENTIALS_REJECTED', retryable: false });
      expect((error as Error).message).toContain('jobs.staging.credentials');
      expectNoCredentials(error);
    }
    expect(existsSync(join(work, 'cr'))).toBe(false);
    await store.close();
  });

  // s3rver does not check SigV4 signatures: a server that answers every request with the
  // given error, and echoes the request's Authorization header and a credential into its
  // message the way a careless proxy might, stands in for S3.
  test.each([
    [403, 'SignatureDoesNotMatch', 'ERR_STAGING_CREDENTIALS_REJECTED', false, 'check jobs.staging.credentials'],
    [403, 'AccessDenied', 'ERR_STAGING_ACCESS_DENIED', false, 's3:GetObject'],
    [500, 'InternalError', 'ERR_STAGING_UNAVAILABLE', true, 'InternalError: auth=AWS4-HMAC-SHA256 Credential=[redacted]/'],
    [400, 'InvalidRequest', 'ERR_STAGING_FAILED', false, 'HTTP 400, InvalidRequest'],
  ] as const)('S3 answering %i %s: %s, and no credential in the message', async (status, s3Code, code, retryable, says) => {
    const fake = await startErrorServer(status, s3Code);
    const store = s3Store({ endpoint: fake.endpoint, maxAttempts: 1, credentials: { key: TEST_S3_CREDENTIALS.key, secret: WRONG_SECRET } });
    try {
      const file = await smallFile('x');
      for (const attempt of [() => store.put('room/s/a', file), () => store.get('room/s/a', join(work, 'fake')), () => store.list('')]) {
        const error = await failureOf(attempt());
        expect(error).toBeInstanceOf(StagingError);
        expect(error).toMatchObject({ code, retryable });
        expect((error as Error).message).toContain(says);
        expectNoCredentials(error);
      }
      expect(fake.requests()).toBeGreaterThan(0);
      expect(existsSync(join(work, 'fake'))).toBe(false);
    } finally {
      await store.close();
      await fake.close();
    }
  });

  test('description and descriptor never hold credentials', async () => {
    for (const store of [s3Store(), s3Store({ credentials: { key: TEST_S3_CREDENTIALS.key, secret: WRONG_SECRET } })]) {
      for (const text of [store.description, JSON.stringify(store.descriptor), inspect(store, { depth: 8 }), JSON.stringify(store)]) {
        for (const secret of SECRETS) expect(text).not.toContain(secret);
      }
      await store.close();
    }
  });

  test('an unreachable endpoint is ERR_STAGING_UNAVAILABLE (retryable) naming the endpoint', async () => {
    const port = await closedPort();
    const store = s3Store({ endpoint: `http://127.0.0.1:${port}`, maxAttempts: 1 });
    const error = await failureOf(store.get('room/s/a', join(work, 'unreachable')));
    expect(error).toMatchObject({ code: 'ERR_STAGING_UNAVAILABLE', retryable: true });
    expect((error as Error).message).toContain(`http://127.0.0.1:${port}`);
    expect((error as Error).message).toContain('jobs.staging.options.endpoint');
    expectNoCredentials(error);
    await store.close();
  });

  test('no credentials anywhere: ERR_STAGING_NO_CREDENTIALS saying where to set them', async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', '');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', '');
    vi.stubEnv('AWS_PROFILE', '');
    vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', join(work, 'no-credentials'));
    vi.stubEnv('AWS_CONFIG_FILE', join(work, 'no-config'));
    vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
    try {
      const store = new S3Staging({ bucket: s3.bucket, endpoint: s3.endpoint, maxAttempts: 1 });
      const error = await failureOf(store.list(''));
      expect(error).toMatchObject({ code: 'ERR_STAGING_NO_CREDENTIALS', retryable: false });
      expect((error as Error).message).toContain('jobs.staging.credentials');
      await store.close();
    } finally {
      vi.unstubAllEnvs();
    }
  });

  test('a worker opens the store from the descriptor alone (plus its own credentials)', async () => {
    const host = s3Store({ region: 'eu-west-1' });
    const key = `${ROOMS[1]}/${SESSIONS[1]}/tracks/t.rtpj`;
    await host.put(key, big);
    const wire = JSON.parse(JSON.stringify(host.descriptor)) as typeof host.descriptor;
    expect(wire).toEqual({ type: 's3', bucket: s3.bucket, prefix: host.prefix, region: 'eu-west-1', endpoint: s3.endpoint, forcePathStyle: true });
    const worker = openStaging(wire, TEST_S3_CREDENTIALS);
    expect(worker.description).toBe(host.description);
    const target = join(work, `worker-${counter++}`, 't.rtpj');
    await worker.get(key, target);
    expect(sha256(await readFile(target))).toBe(bigHash);
    await worker.put(`${key}.result`, await smallFile('result'));
    expect(await host.stat(`${key}.result`)).toEqual({ sizeBytes: 6 });
    await Promise.all([host.close(), worker.close()]);

    const dir = await directoryStore();
    expect(openStaging(JSON.parse(JSON.stringify(dir.descriptor)) as typeof dir.descriptor)).toBeInstanceOf(DirectoryStaging);
  });
});

describe('validateStagingConfig / stagingFromConfig / openStaging', () => {
  const FIELD = 'jobs.staging';

  function configError(input: unknown): InvalidConfigError {
    const error = thrownBy(() => validateStagingConfig(input, FIELD));
    expect(error).toBeInstanceOf(InvalidConfigError);
    expectNoCredentials(error);
    return error as InvalidConfigError;
  }

  test('valid configurations, normalised', () => {
    expect(validateStagingConfig({ type: 'directory', path: '/mnt/staging//jobs/' }, FIELD)).toEqual({ type: 'directory', path: '/mnt/staging/jobs' });
    const config = validateStagingConfig(
      { type: 's3', location: 'jobs-bucket', prefix: '/staging/', options: { endpoint: 'http://minio:9000/' }, credentials: TEST_S3_CREDENTIALS },
      FIELD,
    );
    expect(config).toMatchObject({
      type: 's3',
      location: 'jobs-bucket',
      prefix: 'staging',
      options: { region: 'ap-south-1', endpoint: 'http://minio:9000', forcePathStyle: true },
    });
    expectNoCredentials(JSON.parse(JSON.stringify(config)));
    expect(inspect(config)).not.toContain(TEST_S3_CREDENTIALS.secret);
    expect(validateStagingConfig({ type: 's3', location: 'jobs-bucket' }, FIELD)).toEqual({
      type: 's3',
      location: 'jobs-bucket',
      options: { region: 'ap-south-1', forcePathStyle: false },
    });
  });

  test('errors name the field, what was expected and the value', () => {
    const region = configError({ type: 's3', location: 'b-1', options: { region: 'Mumbai' } });
    expect(region.field).toBe('jobs.staging.options.region');
    expect(region.message).toContain('jobs.staging.options.region must be a region name');
    expect(region.message).toContain('"Mumbai"');

    expect(configError(undefined).field).toBe('jobs.staging');
    expect(configError({ path: '/x' }).field).toBe('jobs.staging.type');
    const type = configError({ type: 'gcs', location: 'b-1' });
    expect(type.field).toBe('jobs.staging.type');
    expect(type.message).toContain('"gcs"');
    expect(configError({ type: 's3' }).field).toBe('jobs.staging.location');
    expect(configError({ type: 's3', location: 'Not_A_Bucket' }).field).toBe('jobs.staging.location');
    expect(configError({ type: 's3', location: 'b-1', prefix: 'a/../b' }).field).toBe('jobs.staging.prefix');
    expect(configError({ type: 's3', location: 'b-1', options: { endpoint: 'ftp://x' } }).field).toBe('jobs.staging.options.endpoint');
    expect(configError({ type: 's3', location: 'b-1', options: { forcePathStyle: 'yes' } }).field).toBe('jobs.staging.options.forcePathStyle');
    expect(configError({ type: 's3', location: 'b-1', bucket: 'b-1' }).field).toBe('jobs.staging.bucket');
    expect(configError({ type: 'directory', path: '/x', location: 'b-1' }).field).toBe('jobs.staging.location');
    const relativePath = configError({ type: 'directory', path: 'staging' });
    expect(relativePath.field).toBe('jobs.staging.path');
    expect(relativePath.message).toContain('absolute');
    expect(configError({ type: 'directory' }).field).toBe('jobs.staging.path');
    // Credentials: never echoed, whatever is wrong with them.
    const missingSecret = configError({ type: 's3', location: 'b-1', credentials: { key: TEST_S3_CREDENTIALS.key } });
    expect(missingSecret.field).toBe('jobs.staging.credentials.secret');
    expect(configError({ type: 's3', location: 'b-1', credentials: { key: TEST_S3_CREDENTIALS.key, secret: 42 } }).field).toBe('jobs.staging.credentials.secret');
    expect(configError({ type: 's3', location: 'b-1', credentials: { key: TEST_S3_CREDENTIALS.key, [TEST_S3_CREDENTIALS.secret]: 'x' } }).field).toBe('jobs.staging.credentials');
    expect(configError({ type: 's3', location: 'b-1', options: { endpoint: `http://${TEST_S3_CREDENTIALS.key}:${encodeURIComponent(TEST_S3_CREDENTIALS.secret)}@minio:9000` } }).field).toBe('jobs.staging.options.endpoint');
  });

  test('stagingFromConfig builds the store the configuration describes', async () => {
    const dirConfig = validateStagingConfig({ type: 'directory', path: join(work, 'from-config') }, FIELD);
    const dir = stagingFromConfig(dirConfig);
    expect(dir).toBeInstanceOf(DirectoryStaging);
    expect(dir.descriptor).toEqual({ type: 'directory', path: join(work, 'from-config') });

    const config = validateStagingConfig(
      { type: 's3', location: s3.bucket, prefix: 'from-config', options: { endpoint: s3.endpoint }, credentials: TEST_S3_CREDENTIALS },
      FIELD,
    );
    const store = stagingFromConfig(config);
    expect(store).toBeInstanceOf(S3Staging);
    expect(store.descriptor).toEqual({ type: 's3', bucket: s3.bucket, prefix: 'from-config', region: 'ap-south-1', endpoint: s3.endpoint, forcePathStyle: true });
    expect(store.description).toBe(`s3://${s3.bucket}/from-config`);
    await store.put('room/s/a', await smallFile('from config'));
    expect(await store.list('room')).toEqual(['room/s/a']);
    expectNoCredentials(JSON.stringify(store.descriptor));
    await store.close();
  });

  test('openStaging checks the descriptor it is handed', () => {
    const field = (descriptor: unknown) => (thrownBy(() => openStaging(descriptor as never)) as InvalidConfigError).field;
    expect(field({ type: 'ftp' })).toBe('descriptor.type');
    expect(field(null)).toBe('descriptor.type');
    expect(field({ type: 's3', region: 'ap-south-1' })).toBe('descriptor.bucket');
    expect(field({ type: 's3', bucket: 'UPPER', region: 'ap-south-1' })).toBe('descriptor.bucket');
    expect(field({ type: 's3', bucket: 'b-1', region: 'ap-south-1', credentials: TEST_S3_CREDENTIALS })).toBe('descriptor.credentials');
    expect(field({ type: 's3', bucket: 'b-1', region: 'ap-south-1', endpoint: 'http://u:p@x' })).toBe('descriptor.endpoint');
    expect(field({ type: 'directory', path: 'relative' })).toBe('descriptor.path');
  });
});

/** An HTTP server answering every request with an S3 error whose message echoes what it was sent. */
async function startErrorServer(status: number, code: string): Promise<{ endpoint: string; requests(): number; close(): Promise<void> }> {
  let requests = 0;
  const server = createHttpServer((req, res) => {
    requests++;
    req.resume();
    req.on('end', () => {
      const echo = `auth=${req.headers.authorization ?? ''} secret=${WRONG_SECRET} key=${TEST_S3_CREDENTIALS.key}`;
      res.writeHead(status, { 'content-type': 'application/xml', connection: 'close' });
      res.end(req.method === 'HEAD' ? undefined : `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${echo}</Message><RequestId>r1</RequestId></Error>`);
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests: () => requests,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

/** A TCP port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}
