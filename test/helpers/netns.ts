import { execFile, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { promisify } from 'node:util';
import { registerCleanup, shellQuote, type CleanupHandle } from './process-cleanup.js';

const execFileAsync = promisify(execFile);

/**
 * One network namespace of a {@link NetnsLab}: a veth pair, `hostAddress` on the end in the
 * root namespace, `nsAddress` on the end inside, a /30 between them. The namespace has its own
 * loopback and no default route: a process inside reaches `hostAddress` and nothing else.
 */
export interface Netns {
  /** `sfurec-<pid>-<i>` */
  name: string;
  /** Host side of the veth (e.g. 10.231.x.1). Servers the namespace must reach bind here. */
  hostAddress: string;
  /** The namespace's own address (e.g. 10.231.x.2): what servers on the host see as the peer. */
  nsAddress: string;
  /** veth end in the root namespace. */
  hostInterface: string;
  /** veth end inside the namespace. */
  nsInterface: string;
}

/** Emulated link conditions on a namespace's side of its veth (packets it sends). */
export interface NetemOptions {
  delayMs?: number;
  lossPercent?: number;
}

export interface NetnsExecResult {
  stdout: string;
  stderr: string;
  /** Exit code; null when killed by a signal (timeout included). */
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * Network namespaces for worker processes, each isolated from the host's loopback.
 *
 * A process inside a namespace cannot reach 127.0.0.1 of the host: a server it must reach binds
 * to the namespace's `hostAddress` (or 0.0.0.0). Each namespace has its own host address; Redis
 * can listen on all of them at once:
 *
 * ```ts
 * const lab = await createNamespaces(2);
 * const redis = await startRedis({ host: [...lab.namespaces.map((n) => n.hostAddress), '127.0.0.1'] });
 * // inside namespace i: redis://<lab.namespaces[i].hostAddress>:<redis.port>
 * ```
 */
export interface NetnsLab {
  namespaces: Netns[];
  /** Spawns `command` inside the namespace (`ip netns exec <name> command ...args`). */
  spawn(nsName: string, command: string, args?: readonly string[], options?: SpawnOptions): ChildProcess;
  /** Runs `command` inside the namespace to completion (killed after `timeoutMs`, default 30 s). */
  exec(nsName: string, command: string, args?: readonly string[], options?: { timeoutMs?: number }): Promise<NetnsExecResult>;
  /**
   * Adds delay and/or loss (tc netem) to what the namespace sends. Resolves false, doing
   * nothing, when `tc` is missing or the kernel has no netem.
   */
  netem(nsName: string, options: NetemOptions): Promise<boolean>;
  /** Kills processes in the namespaces, deletes namespaces and veths. */
  destroy(): Promise<void>;
}

export interface CreateNamespacesOptions {
  /** Second octet of the 10.x.0.0/16 the /30s come from. Default 231. */
  secondOctet?: number;
}

/** Namespaces one process can create: 64 /30s in its /24. */
const MAX_NAMESPACES = 64;
const NAME_PREFIX = 'sfurec-';

let availability: { ok: true } | { ok: false; reason: string } | undefined;

function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Runs `ip`/`tc`; the error names the command and carries its stderr. */
async function run(cmd: string, args: string[]): Promise<string> {
  try {
    return (await execFileAsync(cmd, args, { encoding: 'utf8' })).stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${(e.stderr || e.message).trim()}`, { cause: err });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Shell command that removes a namespace, its processes and its host-side veth; idempotent. */
const teardownCommand = (name: string, hostInterface: string) =>
  `ip netns pids ${shellQuote(name)} 2>/dev/null | xargs -r kill -9 2>/dev/null; ip link del ${shellQuote(hostInterface)} 2>/dev/null; ip netns del ${shellQuote(name)} 2>/dev/null; true`;

/**
 * Whether this process can create network namespaces with veth pairs: Linux, root, iproute2's
 * `ip`, and a probe namespace + veth that could be created and deleted. Cached.
 */
export function netnsAvailable(): { ok: true } | { ok: false; reason: string } {
  if (availability) return availability;
  const check = (): { ok: true } | { ok: false; reason: string } => {
    if (process.platform !== 'linux') return { ok: false, reason: `network namespaces need Linux (this is ${process.platform})` };
    if (process.getuid?.() !== 0) return { ok: false, reason: 'network namespaces need root (ip netns add)' };
    if (spawnSync('ip', ['-V'], { stdio: 'ignore' }).error) {
      return { ok: false, reason: '`ip` (iproute2) not found; `npm run bootstrap` installs it' };
    }
    const name = `${NAME_PREFIX}${process.pid}-probe`;
    const hostIf = `sfr${process.pid}hp`;
    const steps = [
      ['netns', 'add', name],
      ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', `sfr${process.pid}np`, 'netns', name],
    ];
    try {
      for (const args of steps) {
        const res = spawnSync('ip', args, { encoding: 'utf8' });
        if (res.status !== 0) return { ok: false, reason: `ip ${args.join(' ')} failed: ${(res.stderr || res.error?.message || '').trim()}` };
      }
      return { ok: true };
    } finally {
      spawnSync('sh', ['-c', teardownCommand(name, hostIf)], { stdio: 'ignore' });
    }
  };
  availability = check();
  return availability;
}

/** Deletes namespaces and host veths left by test processes that no longer run (killed hard, reaper too). */
async function removeStale(): Promise<void> {
  const deadPid = (pid: string | undefined) => !isAlive(Number(pid));
  const cmds: string[] = [];
  for (const line of (await run('ip', ['netns', 'list'])).split('\n')) {
    const m = /^(sfurec-(\d+)-\S+)/.exec(line);
    if (m && deadPid(m[2])) cmds.push(`ip netns pids ${shellQuote(m[1]!)} | xargs -r kill -9; ip netns del ${shellQuote(m[1]!)}`);
  }
  for (const line of (await run('ip', ['-o', 'link', 'show'])).split('\n')) {
    const m = /^\d+:\s+(sfr(\d+)h[\dp]+)[@:]/.exec(line);
    if (m && deadPid(m[2])) cmds.push(`ip link del ${shellQuote(m[1]!)}`);
  }
  if (cmds.length) spawnSync('sh', ['-c', cmds.map((c) => `{ ${c}; } 2>/dev/null`).join('; ')], { stdio: 'ignore' });
}

/** A third octet (in 10.<second>.x.0/24) no interface of the root namespace has an address in, starting from our pid. */
async function pickSubnet(second: number): Promise<number> {
  const used = new Set<number>();
  for (const m of (await run('ip', ['-4', '-o', 'addr', 'show'])).matchAll(/inet 10\.(\d+)\.(\d+)\./g)) {
    if (Number(m[1]) === second) used.add(Number(m[2]));
  }
  for (let k = 0; k < 256; k++) {
    const third = (process.pid + k) % 256;
    if (!used.has(third)) return third;
  }
  throw new Error(`no free /24 left in 10.${second}.0.0/16 for test namespaces`);
}

/**
 * Creates `count` network namespaces (`sfurec-<pid>-<i>`), each joined to the root namespace by
 * a veth pair with a /30 from 10.231.<pid-derived>.0/24 (host side .1, namespace side .2 of each
 * /30), lo and veth up. Needs {@link netnsAvailable}. Everything is removed by `destroy()`, and
 * also when the test process exits or is killed (see process-cleanup.ts).
 */
export async function createNamespaces(count: number, opts: CreateNamespacesOptions = {}): Promise<NetnsLab> {
  if (!Number.isInteger(count) || count < 1 || count > MAX_NAMESPACES) {
    throw new Error(`createNamespaces: count must be 1..${MAX_NAMESPACES}, got ${count}`);
  }
  const available = netnsAvailable();
  if (!available.ok) throw new Error(`createNamespaces: ${available.reason}`);
  const second = opts.secondOctet ?? 231;
  await removeStale();
  const third = await pickSubnet(second);

  const namespaces: Netns[] = [];
  const cleanups: CleanupHandle[] = [];
  const children = new Set<ChildProcess>();
  let destroyed = false;

  const destroy = async () => {
    destroyed = true;
    const exits = [...children].map((c) => new Promise<void>((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve() : c.once('exit', () => resolve()))));
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(exits);
    // Synchronous, one shell: also what the exit hook and reaper would run.
    spawnSync('sh', ['-c', namespaces.map((n) => teardownCommand(n.name, n.hostInterface)).join('; ') || 'true'], { stdio: 'ignore' });
    for (const c of cleanups) c.done();
    const left = (await run('ip', ['netns', 'list'])).split('\n').map((l) => l.split(' ')[0]);
    const still = namespaces.filter((n) => left.includes(n.name)).map((n) => n.name);
    if (still.length) throw new Error(`destroy: namespaces still present: ${still.join(' ')}`);
  };

  try {
    for (let i = 0; i < count; i++) {
      const ns: Netns = {
        name: `${NAME_PREFIX}${process.pid}-${i}`,
        hostAddress: `10.${second}.${third}.${i * 4 + 1}`,
        nsAddress: `10.${second}.${third}.${i * 4 + 2}`,
        hostInterface: `sfr${process.pid}h${i}`,
        nsInterface: `sfr${process.pid}n${i}`,
      };
      // Registered before creating anything, so a half-built namespace is removed too.
      cleanups.push(registerCleanup(teardownCommand(ns.name, ns.hostInterface)));
      namespaces.push(ns);
      await run('ip', ['netns', 'add', ns.name]);
      await run('ip', ['link', 'add', ns.hostInterface, 'type', 'veth', 'peer', 'name', ns.nsInterface, 'netns', ns.name]);
      await run('ip', ['addr', 'add', `${ns.hostAddress}/30`, 'dev', ns.hostInterface]);
      await run('ip', ['link', 'set', ns.hostInterface, 'up']);
      await run('ip', ['-n', ns.name, 'addr', 'add', `${ns.nsAddress}/30`, 'dev', ns.nsInterface]);
      await run('ip', ['-n', ns.name, 'link', 'set', ns.nsInterface, 'up']);
      await run('ip', ['-n', ns.name, 'link', 'set', 'lo', 'up']);
    }
  } catch (err) {
    await destroy().catch(() => {});
    throw err;
  }

  const find = (nsName: string): Netns => {
    if (destroyed) throw new Error(`netns lab is destroyed (asked for ${nsName})`);
    const ns = namespaces.find((n) => n.name === nsName);
    if (!ns) throw new Error(`no namespace ${nsName} in this lab (${namespaces.map((n) => n.name).join(', ')})`);
    return ns;
  };

  const spawnIn = (nsName: string, command: string, args: readonly string[] = [], options: SpawnOptions = {}): ChildProcess => {
    const ns = find(nsName);
    // `ip netns exec` execs the command: the child's pid is the command's own.
    const child = spawn('ip', ['netns', 'exec', ns.name, command, ...args], options);
    children.add(child);
    child.once('exit', () => children.delete(child));
    child.once('error', () => children.delete(child));
    return child;
  };

  return {
    namespaces,
    spawn: spawnIn,
    exec(nsName, command, args = [], { timeoutMs = 30_000 } = {}) {
      return new Promise((resolve, reject) => {
        const child = spawnIn(nsName, command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
        child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        child.once('error', (err) => {
          clearTimeout(timer);
          reject(new Error(`ip netns exec ${nsName} ${command} failed to start: ${err.message}`));
        });
        child.once('close', (code, signal) => {
          clearTimeout(timer);
          resolve({ stdout, stderr, code, signal });
        });
      });
    },
    async netem(nsName, { delayMs, lossPercent }) {
      const ns = find(nsName);
      if (!hasCommand('tc')) return false;
      const params = [
        ...(delayMs ? ['delay', `${delayMs}ms`] : []),
        ...(lossPercent ? ['loss', `${lossPercent}%`] : []),
      ];
      if (!params.length) return true;
      try {
        await run('tc', ['-n', ns.name, 'qdisc', 'replace', 'dev', ns.nsInterface, 'root', 'netem', ...params]);
        return true;
      } catch (err) {
        // A kernel built without sch_netem (e.g. some VM kernels).
        if (/qdisc kind is unknown/i.test((err as Error).message)) return false;
        throw err;
      }
    },
    destroy,
  };
}
