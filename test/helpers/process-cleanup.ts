import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';

/** Undo step for something a test helper set up outside this process (a server, a namespace). */
export interface CleanupHandle {
  /** Replaces the shell command (e.g. a restarted server has a new pid). */
  update(command: string): void;
  /** The helper cleaned up itself: forget the command. */
  done(): void;
}

const pending = new Map<number, string>();
let nextId = 1;
let reaper: ChildProcess | undefined;
let exitHookInstalled = false;

// The reaper outlives this process on purpose: it reads "+<id> <command>" / "-<id>" lines and,
// once its stdin closes (this process exited or was killed, even by SIGKILL, which no 'exit'
// handler sees), runs the commands still registered. Its own session, so a Ctrl-C to the
// process group does not take it down before it has cleaned up.
const REAPER_SCRIPT = [
  'd=$(mktemp -d) || exit 1',
  'while IFS= read -r line; do',
  '  case $line in',
  '    +*) id=${line%% *}; printf \'%s\\n\' "${line#* }" > "$d/${id#+}" ;;',
  '    -*) rm -f "$d/${line#-}" ;;',
  '  esac',
  'done',
  'for f in "$d"/*; do [ -f "$f" ] && sh "$f"; done >/dev/null 2>&1',
  'rm -rf "$d"',
].join('\n');

function send(line: string): void {
  if (!reaper) {
    reaper = spawn('sh', ['-c', REAPER_SCRIPT], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
    reaper.on('error', () => {}); // no sh: the 'exit' hook still covers normal exits
    reaper.stdin?.on('error', () => {});
    // Neither the reaper nor the pipe to it may keep the test process alive.
    reaper.unref();
    (reaper.stdin as unknown as Socket | null)?.unref();
  }
  reaper.stdin?.write(`${line}\n`);
}

/**
 * Registers a shell command that undoes outside state (kill a server, delete a namespace). It
 * runs when this process exits, from an 'exit' hook, or when the process dies without running
 * hooks (SIGTERM, SIGKILL), from a detached reaper process. The command must be idempotent and
 * single-line: both may run it.
 */
export function registerCleanup(command: string): CleanupHandle {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      if (pending.size) spawnSync('sh', ['-c', [...pending.values()].join('\n')], { stdio: 'ignore' });
      pending.clear();
    });
  }
  const id = nextId++;
  const set = (cmd: string) => {
    if (/[\r\n]/.test(cmd)) throw new Error(`cleanup command must be a single line: ${JSON.stringify(cmd)}`);
    pending.set(id, cmd);
    send(`+${id} ${cmd}`);
  };
  set(command);
  return {
    update: set,
    done() {
      if (pending.delete(id)) send(`-${id}`);
    },
  };
}

/** Quotes a string for sh. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
