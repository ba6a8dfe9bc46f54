import { existsSync } from 'node:fs';
import { readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RecordingDelivery, type RecordingStoredEvent } from '../../src/notify/delivery.js';
import { createSignedUrlHandler, LocalStorage, type LocalStorageServer } from '../../src/storage/local-storage.js';
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
