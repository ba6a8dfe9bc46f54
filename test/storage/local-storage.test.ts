import { existsSync } from 'node:fs';
import { readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Secret } from '../../src/config/secret.js';
import { InvalidConfigError } from '../../src/errors.js';
import { RecordingDelivery, type RecordingStoredEvent } from '../../src/notify/delivery.js';
import { createSignedUrlHandler, LocalStorage, type LocalStorageOptions, type LocalStorageServer } from '../../src/storage/local-storage.js';
import { compositeMetadata, individualMetadata, makeTestMp4, spoolCopy, tempDir } from '../helpers/s3-fixtures.js';

let work: string;
let root: string;
let fixture: string;
let fixtureBytes: Buffer;
let storage: LocalStorage;
let server: LocalStorageServer;
let stored: RecordingStoredEvent[];

/** A raw GET: fetch() would normalise `..` away before sending it. */
function rawGet(port: number, path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; body: Buffer; headers: Record<string, unknown> }>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  work = await tempDir('local-storage');
  root = join(work, 'storage');
  fixture = join(work, 'fixture.mp4');
  await makeTestMp4(fixture);
  fixtureBytes = await readFile(fixture);
  storage = new LocalStorage({ root });
  server = await storage.listen();

  const spoolDir = join(work, 'spool');
  const delivery = new RecordingDelivery({ spoolDir, defaultDestination: storage });
  stored = [];
  delivery.on('stored', (e) => stored.push(e));
  await delivery.deliver({
    file: await spoolCopy(fixture, join(spoolDir, 'room', 'sess', 'composite', 'c.mp4')),
    metadata: compositeMetadata('room', 'sess', fixtureBytes.length),
  });
  await delivery.deliver({
    file: await spoolCopy(fixture, join(spoolDir, 'room', 'sess', 'streams', 'peer', 'cam', 'cam.mp4')),
    metadata: individualMetadata('room', 'sess', 'peer', 'cam', fixtureBytes.length),
  });
  await delivery.idle();
  await delivery.close();
});

afterAll(async () => {
  await server.close();
  await rm(work, { recursive: true, force: true });
});

describe('default (local) storage', () => {
  test('stores files under the documented layout and returns a signed URL valid 12 hours', () => {
    expect(stored.map((e) => e.key).sort()).toEqual(
      ['room/20210721/sess/Rec-sess-1626898422000.mp4', 'room/20210721/sess/peer/cam/cam.mp4'].sort(),
    );
    for (const event of stored) {
      expect(event.location).toBe(join(root, ...event.key.split('/')));
      expect(existsSync(event.location)).toBe(true);
      expect(event.url?.startsWith(`${server.url}/room/20210721/sess/`)).toBe(true);
      expect(event.urlExpiresAt! - Date.now()).toBeGreaterThan(12 * 3600_000 - 60_000);
      expect(event.urlExpiresAt! - Date.now()).toBeLessThanOrEqual(12 * 3600_000);
    }
  });

  test('the signed URL streams the file, and a Range request gets the exact slice', async () => {
    const url = stored[0]!.url!;
    const full = await fetch(url);
    expect(full.status).toBe(200);
    expect(full.headers.get('content-type')).toBe('video/mp4');
    expect(full.headers.get('accept-ranges')).toBe('bytes');
    expect(Buffer.from(await full.arrayBuffer()).equals(fixtureBytes)).toBe(true);

    const part = await fetch(url, { headers: { range: 'bytes=100-1099' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 100-1099/${fixtureBytes.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(fixtureBytes.subarray(100, 1100))).toBe(true);

    const tail = await fetch(url, { headers: { range: 'bytes=-500' } });
    expect(tail.status).toBe(206);
    expect(Buffer.from(await tail.arrayBuffer()).equals(fixtureBytes.subarray(fixtureBytes.length - 500))).toBe(true);

    const open = await fetch(url, { headers: { range: `bytes=${fixtureBytes.length - 10}-` } });
    expect(Buffer.from(await open.arrayBuffer()).equals(fixtureBytes.subarray(fixtureBytes.length - 10))).toBe(true);

    const beyond = await fetch(url, { headers: { range: `bytes=${fixtureBytes.length}-` } });
    expect(beyond.status).toBe(416);
  });

  test('a tampered or expired URL gets 403', async () => {
    const url = new URL(stored[0]!.url!);
    const signature = url.searchParams.get('signature')!;

    const badSignature = new URL(url);
    badSignature.searchParams.set('signature', `${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`);
    expect((await fetch(badSignature)).status).toBe(403);

    const laterExpiry = new URL(url);
    laterExpiry.searchParams.set('expires', String(Number(url.searchParams.get('expires')) + 3600));
    expect((await fetch(laterExpiry)).status).toBe(403);

    const otherFile = new URL(stored[1]!.url!);
    otherFile.searchParams.set('signature', signature);
    expect((await fetch(otherFile)).status).toBe(403);

    const unsigned = new URL(url);
    unsigned.search = '';
    expect((await fetch(unsigned)).status).toBe(403);

    const expired = await storage.signUrl(stored[0]!.key, { now: Date.now() - 13 * 3600_000 });
    const response = await fetch(expired.url);
    expect(response.status).toBe(403);
    expect(await response.text()).toBe('url expired');
  });

  test('traversal attempts get 403/404 and never read outside the root', async () => {
    await writeFile(join(work, 'outside.txt'), 'secret outside the root');
    const query = new URL(stored[0]!.url!).search;
    for (const path of [
      `/../outside.txt${query}`,
      `/room/../../outside.txt${query}`,
      `/%2e%2e/outside.txt${query}`,
      `/..%2foutside.txt${query}`,
      `/room%2f..%2f..%2foutside.txt${query}`,
      `/room/%5c..%5coutside.txt${query}`,
      `//etc/passwd${query}`,
      `/.sfu-recorder/signing-key${query}`,
      `/room/%00${query}`,
    ]) {
      const response = await rawGet(server.port, path);
      expect([403, 404], path).toContain(response.status);
      expect(response.body.toString()).not.toContain('secret outside');
    }
    // Even a validly signed key cannot escape through a symlink planted inside the root.
    await symlink(join(work, 'outside.txt'), join(root, 'room', 'link.mp4'));
    const signed = await storage.signUrl('room/link.mp4');
    expect((await fetch(signed.url)).status).toBe(404);
    // The signing key is never served, even when signed.
    await expect(storage.signUrl('.sfu-recorder/signing-key')).rejects.toThrow(/must not start with/);
  });

  test('a missing file with a valid signature gets 404; other methods get 405', async () => {
    const missing = await storage.signUrl('room/20210721/sess/nope.mp4');
    expect((await fetch(missing.url)).status).toBe(404);
    expect((await fetch(stored[0]!.url!, { method: 'DELETE' })).status).toBe(405);
    const head = await fetch(stored[0]!.url!, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBe(fixtureBytes.length);
  });

  test('the handler can be mounted under a path of an existing server; the signing key persists', async () => {
    const mounted = new LocalStorage({ root });
    const handler = createSignedUrlHandler(mounted, { basePath: '/recordings' });
    const app: Server = createServer((req, res) => {
      if (req.url?.startsWith('/recordings/')) return handler(req, res);
      res.writeHead(200).end('app');
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    try {
      mounted.baseUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}/recordings`;
      const signed = await mounted.signUrl(stored[1]!.key);
      const response = await fetch(signed.url);
      expect(response.status).toBe(200);
      expect(Buffer.from(await response.arrayBuffer()).equals(fixtureBytes)).toBe(true);
      // Same root, no secret given: the same signing key was read from the root, so the
      // URL signed by the first instance still works through the second.
      const first = new URL(stored[1]!.url!);
      const viaMount = `${mounted.baseUrl}${first.pathname}${first.search}`;
      expect((await fetch(viaMount)).status).toBe(200);
    } finally {
      app.closeAllConnections();
      await new Promise<void>((resolve) => app.close(() => resolve()));
    }
  });
});

describe('signed URLs are checked exactly', () => {
  const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

  /** A signed path of `stored[0]` whose signature uses `-` or `_`, so its standard-base64 form differs in alphabet. */
  async function signedWithUrlAlphabet(): Promise<{ path: string; expires: string; signature: string }> {
    const key = stored[0]!.key;
    for (let i = 0; ; i++) {
      const path = await storage.signPath(key, Date.now() + 3600_000 + i * 1000);
      const query = new URLSearchParams(path.slice(path.indexOf('?') + 1));
      const signature = query.get('signature')!;
      if (/[-_]/.test(signature)) return { path: path.slice(0, path.indexOf('?')), expires: query.get('expires')!, signature };
    }
  }

  test('only the canonical signature and expiry are accepted; every other form is refused with 403, never 500', async () => {
    const { path, expires, signature } = await signedWithUrlAlphabet();
    expect((await rawGet(server.port, `${path}?expires=${expires}&signature=${signature}`)).status).toBe(200);
    // Parameter order is not part of the signature.
    expect((await rawGet(server.port, `${path}?signature=${signature}&expires=${expires}`)).status).toBe(200);

    // The same 32 bytes in other encodings: they decode to the expected HMAC, and must still be refused.
    const standard = Buffer.from(signature, 'base64url').toString('base64');
    const last = BASE64URL.indexOf(signature.at(-1)!);
    const sameBytes = `${signature.slice(0, -1)}${BASE64URL[last + 1]}`; // unused low bits set
    expect(Buffer.from(sameBytes, 'base64url').equals(Buffer.from(signature, 'base64url'))).toBe(true);
    const percentEncoded = `%${signature.charCodeAt(0).toString(16).toUpperCase()}${signature.slice(1)}`;

    const forms = [
      `signature=${signature}A`, // characters appended
      `signature=${signature}.`, // ... that a lenient base64 decoder skips
      `signature=${signature}!!`,
      `signature=${signature}%00`,
      `signature=${signature}==`,
      `signature=${signature}=`,
      `signature=${encodeURIComponent(standard)}`, // standard base64, padded
      `signature=${standard.replace(/=+$/, '').replace(/\+/g, '%2B').replace(/\//g, '%2F')}`,
      `signature=${signature.replace(/-/g, '+').replace(/_/g, '/')}`, // "+" arrives as a space
      `signature=${sameBytes}`,
      `signature=${percentEncoded}`,
      `signature=${signature.slice(0, -1)}`,
      `signature=`,
    ];
    for (const form of forms) {
      const response = await rawGet(server.port, `${path}?expires=${expires}&${form}`);
      expect(response.status, form).toBe(403);
    }

    const expiries = [`0${expires}`, `+${expires}`, `${expires}.0`, `${expires}%20`, `%20${expires}`, `${Number(expires)}e0`, `0x${Number(expires).toString(16)}`, '', '99999999999999999999', '-1'];
    for (const bad of expiries) {
      const response = await rawGet(server.port, `${path}?expires=${bad}&signature=${signature}`);
      expect(response.status, bad).toBe(403);
    }

    const queries = [
      `expires=${expires}&signature=${signature}&signature=${signature}`, // duplicated, even with the same value
      `expires=${expires}&expires=${expires}&signature=${signature}`,
      `expires=${expires}&signature=${signature}&download=1`, // an unsigned parameter
      `expires=${expires}&&signature=${signature}`,
      `expires=${expires}&signature=${signature}&`,
      `expires=${expires}&signature`,
      `expires=${expires}`,
      `%65xpires=${expires}&signature=${signature}`,
      `=&expires=${expires}&signature=${signature}`,
      `expires=%zz&signature=%`,
      `expires=${'9'.repeat(5000)}&signature=${'A'.repeat(5000)}`,
      '',
    ];
    for (const query of queries) {
      const response = await rawGet(server.port, `${path}?${query}`);
      expect(response.status, query).toBe(403);
      expect(response.body.toString()).toBe('invalid signature');
    }
  });

  test('checkSignature refuses non-canonical input directly too', async () => {
    const key = stored[0]!.key;
    const path = await storage.signPath(key, Date.now() + 3600_000);
    const query = new URLSearchParams(path.slice(path.indexOf('?') + 1));
    const expires = query.get('expires')!;
    const signature = query.get('signature')!;
    expect(await storage.checkSignature(key, expires, signature)).toBe('valid');
    expect(await storage.checkSignature(key, expires, `${signature} `)).toBe('invalid');
    expect(await storage.checkSignature(key, ` ${expires}`, signature)).toBe('invalid');
    expect(await storage.checkSignature(key, `${expires}`, `${signature}=`)).toBe('invalid');
    expect(await storage.checkSignature(`${key}x`, expires, signature)).toBe('invalid');
  });

  test('a configured signing secret signs the URLs: the same secret verifies them, another does not', async () => {
    const secret = 'a'.repeat(16) + 'b'.repeat(16);
    const first = new LocalStorage({ root, signingSecret: secret, baseUrl: 'http://127.0.0.1:1/x' });
    const same = new LocalStorage({ root, signingSecret: new Secret(secret) });
    const other = new LocalStorage({ root, signingSecret: 'c'.repeat(32) });
    const url = new URL((await first.signUrl(stored[0]!.key)).url);
    const [expires, signature] = [url.searchParams.get('expires'), url.searchParams.get('signature')];
    expect(await same.checkSignature(stored[0]!.key, expires, signature)).toBe('valid');
    expect(await other.checkSignature(stored[0]!.key, expires, signature)).toBe('invalid');
    // The instance the server uses has its own generated key: it refuses them too.
    expect(await storage.checkSignature(stored[0]!.key, expires, signature)).toBe('invalid');
  });
});

describe('LocalStorage options', () => {
  function invalid(options: unknown): InvalidConfigError {
    let caught: unknown;
    try {
      new LocalStorage(options as LocalStorageOptions);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidConfigError);
    return caught as InvalidConfigError;
  }

  test.each([
    ['signingSecret', { signingSecret: '' }, /^signingSecret must be at least 32 bytes \(got an empty string\)/],
    ['signingSecret', { signingSecret: 'short-secret' }, /^signingSecret must be at least 32 bytes \(got 12 bytes\)/],
    ['signingSecret', { signingSecret: new Secret('short-secret') }, /^signingSecret must be at least 32 bytes \(got 12 bytes\)/],
    ['signingSecret', { signingSecret: 42 }, 'signingSecret must be a string or a Secret (got number)'],
    ['signingSecret', { signingSecret: { reveal: 'x' } }, 'signingSecret must be a string or a Secret (got object)'],
    ['signingSecret', { signingSecret: ` ${'k'.repeat(40)}` }, 'signingSecret has leading or trailing whitespace'],
    ['signingSecret', { signingSecret: 'k'.repeat(2000) }, /^signingSecret must be at most 1024 bytes/],
    ['urlTtlMs', { urlTtlMs: -1 }, 'urlTtlMs must be an integer from 1000 to 604800000 ms (7 days) (got -1)'],
    ['urlTtlMs', { urlTtlMs: 'abc' }, 'urlTtlMs must be an integer from 1000 to 604800000 ms (7 days) (got "abc")'],
    ['urlTtlMs', { urlTtlMs: 1e308 }, 'urlTtlMs must be an integer from 1000 to 604800000 ms (7 days) (got 1e+308)'],
    ['urlTtlMs', { urlTtlMs: Number.NaN }, /\(got NaN\)$/],
    ['urlTtlMs', { urlTtlMs: 0 }, /\(got 0\)$/],
    ['urlTtlMs', { urlTtlMs: 1500.5 }, /\(got 1500.5\)$/],
    ['urlTtlMs', { urlTtlMs: 604800001 }, /\(got 604800001\)$/],
    ['baseUrl', { baseUrl: 42 }, 'baseUrl must be a string (got 42)'],
    ['baseUrl', { baseUrl: 'ftp://host/x' }, 'baseUrl must use http: or https: (got "ftp:")'],
    ['baseUrl', { baseUrl: 'https://user:pw@host/x' }, 'baseUrl must not contain a user name or password'],
    ['baseUrl', { baseUrl: 'https://host/x?token=1' }, /^baseUrl must not have a query or fragment/],
    ['id', { id: '' }, 'id must be a non-empty string (got "")'],
    ['rot', { rot: 'x' }, /^rot is not a known field: did you mean root\? \(expected one of: root, baseUrl/],
  ])('refuses a bad %s (case %#), naming it', (field, extra, message) => {
    const error = invalid({ root, ...extra });
    expect(error.field).toBe(field);
    if (typeof message === 'string') expect(error.message).toBe(message);
    else expect(error.message).toMatch(message);
  });

  test('refuses a missing or non-string root and a non-object', () => {
    expect(invalid({}).message).toBe('root is required (the storage directory)');
    expect(invalid({ root: 42 }).message).toBe('root must be a non-empty string (got 42)');
    expect(invalid('/tmp/x').message).toBe('options must be an object (got a string)');
  });

  test('accepts the bounds: a 32-byte secret, urlTtlMs from 1 s to 7 days; signUrl checks its own ttlMs', async () => {
    const week = new LocalStorage({ root, signingSecret: 'k'.repeat(32), urlTtlMs: 7 * 24 * 3600_000, baseUrl: 'http://127.0.0.1:1' });
    const signed = await week.signUrl(stored[0]!.key, { now: 1_000_000 });
    expect(signed.expiresAt).toBe(1_000_000 + 7 * 24 * 3600_000);
    expect(() => new LocalStorage({ root, urlTtlMs: 1000 })).not.toThrow();
    await expect(week.signUrl(stored[0]!.key, { ttlMs: -1 })).rejects.toMatchObject({ name: 'InvalidConfigError', field: 'ttlMs' });
    await expect(week.signUrl(stored[0]!.key, { ttlMs: 8 * 24 * 3600_000 })).rejects.toMatchObject({ field: 'ttlMs' });
    await expect(week.signUrl(stored[0]!.key, { now: Number.NaN })).rejects.toMatchObject({ field: 'now' });
  });
});
