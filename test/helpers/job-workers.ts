import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

/** An `sfu-recorder worker` child process and what it printed. */
export interface WorkerProcess {
  name: string;
  child: ChildProcess;
  /** Everything it printed, stdout and stderr. */
  output(): string;
  /** Resolves when a line matching `pattern` was printed. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends `signal` (default SIGKILL) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts `sfu-recorder worker` from the sources as a separate process (`node --import tsx`),
 * or through `spawner` (a network namespace's `ip netns exec`).
 */
export function startWorkerProcess(
  name: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; spawner?: (command: string, args: readonly string[], options: SpawnOptions) => ChildProcess } = {},
): WorkerProcess {
  const argv = ['--import', 'tsx', CLI, 'worker', '--name', name, ...args];
  const spawnOptions: SpawnOptions = { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] };
  const child = options.spawner ? options.spawner(process.execPath, argv, spawnOptions) : spawn(process.execPath, argv, spawnOptions);
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    for (const listener of listeners) listener();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    name,
    child,
    output: () => text,
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const line = text.split('\n').find((l) => pattern.test(l));
          if (line === undefined) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolve(line);
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`worker ${name} printed no line matching ${pattern} in ${timeoutMs} ms; it printed:\n${text}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
