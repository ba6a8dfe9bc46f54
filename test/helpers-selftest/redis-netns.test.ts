// Self-test of the Redis and network-namespace helpers the job-runner tests build on:
// real redis-server processes, real namespaces (skipped where they cannot be created).
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { createNamespaces, netnsAvailable, type NetnsLab } from '../helpers/netns.js';
import { startRedis, type RedisTestServer } from '../helpers/redis-server.js';

const started: RedisTestServer[] = [];
let lab: NetnsLab | undefined;

afterEach(async () => {
  await lab?.destroy();
  lab = undefined;
  await Promise.all(started.splice(0).map((r) => r.stop()));
});

async function redis(...args: Parameters<typeof startRedis>): Promise<RedisTestServer> {
  const r = await startRedis(...args);
  started.push(r);
  return r;
}

async function withClient<T>(url: string, fn: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

// Run inside a namespace: one raw RESP PING to argv host:port; prints the reply or the error code.
const PING_SCRIPT = `
const net = require('node:net');
const [host, port] = process.argv.slice(1);
const s = net.connect({ host, port: Number(port), timeout: 3000 });
s.on('connect', () => s.write('*1\\r\\n$4\\r\\nPING\\r\\n'));
s.on('data', (d) => { console.log(d.toString().trim()); process.exit(0); });
s.on('timeout', () => { console.log('TIMEOUT'); process.exit(3); });
s.on('error', (e) => { console.log(e.code); process.exit(2); });
`;

describe('startRedis', () => {
  it('answers PING with the settings BullMQ needs, keeps an AOF-persisted key across restart(), stop() removes its dir', async () => {
    const r = await redis();
    expect(r.url).toBe(`redis://127.0.0.1:${r.port}`);
    await withClient(r.url, async (c) => {
      expect(await c.ping()).toBe('PONG');
      expect(await c.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
      expect(await c.config('GET', 'appendfsync')).toEqual(['appendfsync', 'always']);
      expect(await c.set('selftest:key', 'survives kill -9')).toBe('OK');
    });

    const pidBefore = r.pid;
    await r.restart();
    expect(r.pid).not.toBe(pidBefore);
    expect(await withClient(r.url, (c) => c.get('selftest:key'))).toBe('survives kill -9');

    await r.stop();
    started.splice(started.indexOf(r), 1);
    expect(existsSync(r.dir)).toBe(false);
  });

  it('refuses a port another redis already answers on, naming it', async () => {
    const r = await redis({ persistent: false });
    await expect(startRedis({ port: r.port, persistent: false })).rejects.toThrow(
      new RegExp(`port ${r.port} is answered by another redis|Address already in use`),
    );
  });
});

const netns = netnsAvailable();

describe('network namespaces', () => {
  it.skipIf(!netns.ok)(
    `a process in each namespace reaches redis on its host address, not the host's 127.0.0.1${netns.ok ? '' : ` (skipped: ${netns.reason})`}`,
    async () => {
      lab = await createNamespaces(2);
      const names = lab.namespaces.map((n) => n.name);
      expect(names).toEqual([`sfurec-${process.pid}-0`, `sfurec-${process.pid}-1`]);
      for (const n of lab.namespaces) expect(n.hostInterface.length).toBeLessThanOrEqual(15);

      const r = await redis({ host: [...lab.namespaces.map((n) => n.hostAddress), '127.0.0.1'], persistent: false });
      expect(r.url).toBe(`redis://${lab.namespaces[0]!.hostAddress}:${r.port}`);
      await withClient(`redis://127.0.0.1:${r.port}`, async (c) => expect(await c.ping()).toBe('PONG'));

      for (const n of lab.namespaces) {
        const viaHost = await lab.exec(n.name, process.execPath, ['-e', PING_SCRIPT, n.hostAddress, String(r.port)]);
        expect(viaHost, `${n.name} -> ${n.hostAddress}:${r.port}`).toMatchObject({ code: 0, stdout: '+PONG\n' });
        // The namespace's own loopback: nothing listens there, the host's redis is out of reach.
        const viaLoopback = await lab.exec(n.name, process.execPath, ['-e', PING_SCRIPT, '127.0.0.1', String(r.port)]);
        expect(viaLoopback, `${n.name} -> 127.0.0.1:${r.port}`).toMatchObject({ code: 2, stdout: 'ECONNREFUSED\n' });
      }

      expect(await lab.netem(names[0]!, { delayMs: 5 })).toBeTypeOf('boolean');

      await lab.destroy();
      lab = undefined;
      const listed = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
      const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
      for (const name of names) expect(listed).not.toContain(name);
      expect(links).not.toMatch(new RegExp(`sfr${process.pid}[hn]`));
    },
  );
});
