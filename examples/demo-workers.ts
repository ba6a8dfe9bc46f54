/**
 * What `npm run demo -- --workers N` adds: a Redis of its own (Debian's redis-server on a
 * free loopback port) and N `sfu-recorder worker` processes, so the same meeting is
 * finalised through BullMQ by other processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Socket, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));

/** A redis-server child process. */
export interface LocalRedis {
  url: string;
  stop(): Promise<void>;
}

/** Starts `redis-server` (or `$REDIS_SERVER_BIN`) on a free loopback port, without persistence. */
export async function startLocalRedis(): Promise<LocalRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sfu-recorder-demo-redis-'));
  const child = spawn(
    process.env.REDIS_SERVER_BIN ?? 'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--maxmemory-policy', 'noeviction'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const spawned = new Promise<never>((_, reject) => {
    child.once('error', (error) => reject(new Error(`cannot start redis-server (npm run bootstrap installs it): ${error.message}`)));
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${output.trim().split('\n').slice(-3).join(' ')}`)));
  });
  await Promise.race([spawned, waitForPong(port)]);
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return { url: `redis://127.0.0.1:${port}`, stop };
}

/** Starts `count` worker processes; their lines are printed prefixed. */
export function startDemoWorkers(count: number, redisUrl: string, print: (line: string) => void): { stop(): Promise<void> } {
  const children: ChildProcess[] = [];
  for (let i = 1; i <= count; i++) {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'worker', '--redis', redisUrl, '--name', `worker-${i}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const forward = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) if (line.trim()) print(line.replace(/^\S+Z /, ''));
    };
    child.stdout.on('data', forward);
    child.stderr.on('data', forward);
    children.push(child);
  }
  return {
    async stop() {
      await Promise.all(
        children.map(async (child) => {
          if (child.exitCode !== null) return;
          const exited = new Promise((resolve) => child.once('exit', resolve));
          child.kill('SIGTERM');
          await exited;
        }),
      );
    },
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitForPong(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = new Socket();
      socket.setTimeout(500);
      socket.once('error', () => resolve(false));
      socket.once('timeout', () => (socket.destroy(), resolve(false)));
      socket.once('data', (data) => (socket.destroy(), resolve(data.toString().startsWith('+PONG'))));
      socket.connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`redis-server did not answer on 127.0.0.1:${port} within 10 s`);
}
