import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { registerCleanup, shellQuote, type CleanupHandle } from './process-cleanup.js';

/** A running redis-server child process on a free port, data in a temp dir. */
export interface RedisTestServer {
  /** `redis://<first host>:<port>` */
  url: string;
  /** The first bind address (the one `url` uses). */
  host: string;
  /** All bind addresses. */
  hosts: string[];
  port: number;
  /** Redis's working directory (AOF files). */
  dir: string;
  /** pid of the current redis-server process (a new one after `restart()`). */
  readonly pid: number | undefined;
  /** Sends `signal` to redis (default SIGKILL: a crash) and waits until it has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** kill -9, then a new redis on the same hosts, port and dir: AOF-persisted data survives. */
  restart(): Promise<void>;
  /** Graceful shutdown (SIGTERM), then removes the temp dir unless the caller passed `dir`. */
  stop(): Promise<void>;
  /** The last lines redis printed, for failure messages. */
  logTail(): string;
}

export interface StartRedisOptions {
  /**
   * Bind address, or several (Redis listens on each; `url` uses the first). Default 127.0.0.1.
   * A server that processes in a network namespace must reach binds to that namespace's
   * host-side address (see test/helpers/netns.ts).
   */
  host?: string | string[];
  /** Default: a free port. */
  port?: number;
  /** AOF with fsync on every write, so a kill -9 loses nothing acknowledged. Default true. */
  persistent?: boolean;
  /** Working directory; default a new temp dir, removed by `stop()`. */
  dir?: string;
}

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;
const PORT_ATTEMPTS = 5;
const LOG_TAIL_CHARS = 4_000;

class RedisStartError extends Error {
  constructor(
    message: string,
    readonly addressInUse: boolean,
  ) {
    super(message);
  }
}

const isLoopback = (h: string) => h === 'localhost' || h === '::1' || /^127\./.test(h);
const isWildcard = (h: string) => h === '0.0.0.0' || h === '::' || h === '*';
/** Where a client connects to reach redis bound to `h`. */
const dialAddress = (h: string) => (h === '::' ? '::1' : isWildcard(h) ? '127.0.0.1' : h);
const urlHost = (h: string) => (h.includes(':') ? `[${h}]` : h);

/** A port nothing listens on right now (it may be taken again before redis binds it: callers retry). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (err) => {
      reject(new Error(`startRedis: cannot listen on ${host} (${err.message}); is the address assigned here? A namespace's hostAddress exists once createNamespaces() has run`, { cause: err }));
    });
    server.listen(0, host, () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Sends one command as raw RESP and resolves with the reply: a status or error line as is
 * (`+PONG`, `-LOADING ...`), a bulk string's contents. Enough for PING and INFO.
 */
function rawCommand(host: string, port: number, args: string[], timeoutMs = 1_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let data = Buffer.alloc(0);
    const done = (err: Error | undefined, reply?: string) => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(() => done(new Error(`no reply to ${args[0]} within ${timeoutMs} ms`)), timeoutMs);
    socket.on('connect', () => {
      socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
    });
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const end = data.indexOf('\r\n');
      if (end < 0) return;
      const line = data.subarray(0, end).toString('utf8');
      if (!line.startsWith('$')) return done(undefined, line);
      const len = Number(line.slice(1));
      if (data.length >= end + 2 + len) done(undefined, data.subarray(end + 2, end + 2 + len).toString('utf8'));
    });
    socket.on('error', (err) => done(err));
    socket.on('close', () => done(new Error(`connection closed before a reply to ${args[0]}`)));
  });
}

/**
 * Starts `redis-server` (`$REDIS_SERVER_BIN`, default from PATH) as a child process and waits
 * until it answers PING. Configured for tests: no RDB snapshots, `noeviction` (BullMQ refuses
 * other policies), AOF with `appendfsync always` unless `persistent: false`, protected mode off
 * only when bound to a non-loopback address (clients from a network namespace are not loopback).
 * The process never outlives the test process (see process-cleanup.ts).
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisTestServer> {
  const hosts = options.host === undefined ? ['127.0.0.1'] : [options.host].flat();
  if (hosts.length === 0) throw new Error('startRedis: host is an empty list');
  const host = hosts[0]!;
  const persistent = options.persistent ?? true;
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'redis-test-')));
  const bin = process.env.REDIS_SERVER_BIN ?? 'redis-server';

  let log = '';
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const cleanupOf = (pid?: number) =>
    [pid ? `kill -9 -${pid}` : '', ownDir ? `rm -rf ${shellQuote(dir)}` : ''].filter(Boolean).join('; ') || 'true';
  const cleanup: CleanupHandle = registerCleanup(cleanupOf());

  const args = (port: number) => [
    '--port', String(port),
    '--bind', ...hosts,
    '--protected-mode', hosts.every(isLoopback) ? 'yes' : 'no',
    '--dir', dir,
    '--save', '',
    '--appendonly', persistent ? 'yes' : 'no',
    ...(persistent ? ['--appendfsync', 'always'] : []),
    '--maxmemory-policy', 'noeviction',
    '--daemonize', 'no',
    '--always-show-logo', 'no',
  ];

  async function launch(port: number): Promise<void> {
    log = '';
    // Own process group, so a kill reaches an AOF-rewrite child too.
    const proc = spawn(bin, args(port), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child = proc;
    const onOutput = (chunk: Buffer) => {
      log = (log + chunk.toString('utf8')).slice(-LOG_TAIL_CHARS);
    };
    proc.stdout?.on('data', onOutput);
    proc.stderr?.on('data', onOutput);
    // A forgotten stop() must not keep the test process alive: the exit hook kills redis then.
    proc.unref();
    (proc.stdout as Socket | null)?.unref();
    (proc.stderr as Socket | null)?.unref();
    let exitInfo: string | undefined;
    exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        exitInfo = signal ? `killed by ${signal}` : `exited with code ${code}`;
        if (child === proc) child = undefined;
        resolve();
      });
    });
    let spawnError: Error | undefined;
    proc.once('error', (err) => {
      spawnError = err;
    });
    if (proc.pid) cleanup.update(cleanupOf(proc.pid));

    const where = `${bin} on ${hosts.join(',')}:${port} (dir ${dir})`;
    const deadline = Date.now() + START_TIMEOUT_MS;
    let lastReply = '';
    for (;;) {
      if (spawnError) {
        throw new RedisStartError(`${where} failed to start: ${spawnError.message} (REDIS_SERVER_BIN names the binary; npm run bootstrap installs Debian's redis-server)`, false);
      }
      if (exitInfo) {
        throw new RedisStartError(`${where} ${exitInfo} before accepting connections; its output:\n${log.trim()}`, /Address already in use/i.test(log));
      }
      if (Date.now() > deadline) {
        await killChild('SIGKILL');
        throw new RedisStartError(`${where} did not answer PING within ${START_TIMEOUT_MS} ms (last reply: ${lastReply || 'none'}); its output:\n${log.trim()}`, false);
      }
      try {
        lastReply = await rawCommand(dialAddress(host), port, ['PING']);
        if (lastReply === '+PONG') {
          // A PONG may come from another server already on this port (ours then fails to bind).
          const pid = /^process_id:(\d+)/m.exec(await rawCommand(dialAddress(host), port, ['INFO', 'server']))?.[1];
          if (Number(pid) === proc.pid) return;
          await killChild('SIGKILL');
          throw new RedisStartError(`${where}: port ${port} is answered by another redis (pid ${pid ?? 'unknown'})`, true);
        }
      } catch (err) {
        if (err instanceof RedisStartError) throw err;
        lastReply = (err as Error).message;
      }
      await sleep(50);
    }
  }

  async function killChild(signal: NodeJS.Signals): Promise<void> {
    const proc = child;
    if (!proc?.pid) return;
    proc.ref(); // keep the event loop alive until the exit is seen
    try {
      process.kill(-proc.pid, signal);
    } catch {
      // already gone
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-proc.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
    cleanup.update(cleanupOf());
  }

  let port = options.port ?? (await freePort(dialAddress(host)));
  for (let attempt = 1; ; attempt++) {
    try {
      await launch(port);
      break;
    } catch (err) {
      // Another process took the free port between our probe and redis's bind: try another.
      if (err instanceof RedisStartError && err.addressInUse && options.port === undefined && attempt < PORT_ATTEMPTS) {
        port = await freePort(dialAddress(host));
        continue;
      }
      cleanup.done();
      if (ownDir) await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  return {
    url: `redis://${urlHost(dialAddress(host))}:${port}`,
    host,
    hosts,
    port,
    dir,
    get pid() {
      return child?.pid;
    },
    kill: (signal = 'SIGKILL') => killChild(signal),
    async restart() {
      await killChild('SIGKILL');
      await launch(port);
    },
    async stop() {
      await killChild('SIGTERM');
      if (ownDir) await rm(dir, { recursive: true, force: true });
      cleanup.done();
    },
    logTail: () => log,
  };
}
