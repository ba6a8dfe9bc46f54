#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { composeSession, type CompositeOptions } from './compose/index.js';
import { validateCompositeOptions } from './compose/compositor.js';
import { InvalidConfigError, SfuRecorderError } from './errors.js';
import { finaliseStream, listSessionStreams } from './mux/index.js';
import { sessionPaths } from './spool/layout.js';

const USAGE = `Usage: sfu-recorder compose <session dir> [options]

Re-composes a recorded session from what it left on disk (timeline.jsonl + finalised
streams) into composite/Rec-<session>-<epoch>.mp4. Streams whose mp4 is gone from the
spool (it is removed once stored) are finalised again from their capture journals.

Options:
  --layout grid|speaker|presentation   default grid (presentation while a screen is shared)
  --width <px> --height <px>           default 1280x720
  --fps <n>                            default 30
  --preset <x264 preset>               default superfast
  --bitrate <rate>                     e.g. 2500k (default: constant quality)
  --concurrency <n>                    segments encoded at once (default: cores)
  --out <file>                         write the mp4 here instead
  --quiet                              no progress on stderr
  -h, --help`;

/** Where the CLI writes; injectable for tests. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/**
 * Runs the `sfu-recorder` command line with `argv` (without node and the script) and
 * returns the exit code: 0 done, 1 failed, 2 bad usage, 130 interrupted (`signal` aborted).
 * Every failure is reported as one line on stderr (its code and `shortMessage`), never a stack.
 */
export async function runCli(argv: readonly string[], io: CliIo = processIo, signal?: AbortSignal): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        layout: { type: 'string' },
        width: { type: 'string' },
        height: { type: 'string' },
        fps: { type: 'string' },
        preset: { type: 'string' },
        bitrate: { type: 'string' },
        concurrency: { type: 'string' },
        out: { type: 'string' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    io.stderr(`${oneLine(error)}\n\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout(`${USAGE}\n`);
    return 0;
  }
  const [command, sessionDir, ...extra] = positionals;
  if (command !== 'compose' || !sessionDir || extra.length > 0) {
    io.stderr(`${command && command !== 'compose' ? `unknown command "${command}"` : 'missing <session dir>'}\n\n${USAGE}\n`);
    return 2;
  }

  const options: CompositeOptions = {};
  try {
    if (values.layout !== undefined) {
      if (!['grid', 'speaker', 'presentation'].includes(values.layout)) {
        throw new SfuRecorderError('ERR_INVALID_ARGUMENT', `--layout must be grid, speaker or presentation, got "${values.layout}"`);
      }
      options.layout = values.layout as CompositeOptions['layout'];
    }
    for (const key of ['width', 'height', 'fps', 'concurrency'] as const) {
      const raw = values[key];
      if (raw === undefined) continue;
      const n = Number(raw);
      if (!Number.isFinite(n) || n <= 0) throw new SfuRecorderError('ERR_INVALID_ARGUMENT', `--${key} must be a positive number, got "${raw}"`);
      options[key] = n;
    }
    if (values.preset !== undefined) options.preset = values.preset;
    if (values.bitrate !== undefined) options.bitrate = values.bitrate;
    if (values.out !== undefined) options.outFile = resolve(values.out);
    // The compositor's own checks, before anything runs: a bad value is bad usage, named by its flag.
    validateCompositeOptions(options);
  } catch (error) {
    io.stderr(`${flagMessage(error)}\n`);
    return 2;
  }

  let last = -1;
  try {
    await restoreStreams(resolve(sessionDir), io, values.quiet === true, signal);
    const result = await composeSession(resolve(sessionDir), {
      ...options,
      ...(signal ? { signal } : {}),
      onProgress: (p) => {
        if (values.quiet || p.percent === last) return;
        last = p.percent;
        io.stderr(`composing ${p.percent}% (${p.phase}, ${p.segmentsDone}/${p.segments} segments)\n`);
      },
    });
    io.stdout(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  } catch (error) {
    if (error instanceof SfuRecorderError && error.isCanceled) {
      io.stderr('sfu-recorder compose interrupted: no composite was written\n');
      return 130;
    }
    io.stderr(`sfu-recorder compose failed: ${oneLine(error)}\n`);
    return 1;
  }
}

/** CLI flags of the compositor options whose name differs. */
const FLAGS: Record<string, string> = { outFile: 'out' };

/** An option error told by its flag: `--width must be an even integer ...`. */
function flagMessage(error: unknown): string {
  if (error instanceof InvalidConfigError && error.message.startsWith(error.field)) {
    return `--${FLAGS[error.field] ?? error.field}${error.message.slice(error.field.length)}`;
  }
  return oneLine(error);
}

/**
 * One line for a person: the code and the short message (an ffmpeg failure's telling stderr
 * line rather than its whole tail); the rest of a multi-line message is left out.
 */
function oneLine(error: unknown): string {
  const short = (error as { shortMessage?: unknown } | null)?.shortMessage;
  const text = typeof short === 'string' ? short : error instanceof Error ? error.message : String(error);
  const first = text.split('\n')[0]!.trim();
  return error instanceof SfuRecorderError ? `${error.code}: ${first}` : first;
}

/** Finalises again, from the capture journals, every stream whose mp4 is no longer in the spool. */
async function restoreStreams(sessionDir: string, io: CliIo, quiet: boolean, signal?: AbortSignal): Promise<void> {
  if (!existsSync(sessionPaths.timeline(sessionDir))) return;
  for (const stream of listSessionStreams(sessionDir)) {
    if (existsSync(sessionPaths.streamFile(sessionDir, stream.peerId, stream.streamId))) continue;
    if (!stream.tracks.some((track) => existsSync(track.journal))) continue;
    if (!quiet) io.stderr(`finalising stream ${stream.streamId} of ${stream.peerId} again from its capture journals\n`);
    await finaliseStream({ sessionDir, peerId: stream.peerId, streamId: stream.streamId, ...(signal ? { signal } : {}) });
  }
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  process.once('SIGTERM', () => controller.abort());
  process.exitCode = await runCli(process.argv.slice(2), processIo, controller.signal);
}
