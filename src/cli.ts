#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { composeSession, type CompositeOptions } from './compose/index.js';
import { validateCompositeOptions } from './compose/compositor.js';
import { InvalidConfigError, SfuRecorderError } from './errors.js';
import { finaliseStream, listSessionStreams } from './mux/index.js';
import { sessionPaths } from './spool/layout.js';
import { describeJob } from './jobs/execute.js';
import { stagingSessionPrefix } from './jobs/queue-contract.js';
import { DirectoryStaging, S3Staging, type StagingStore } from './jobs/staging/index.js';
import { RecordingJobWorker, type RecordingJobWorkerOptions } from './jobs/worker.js';

const USAGE = `Usage: sfu-recorder compose <session dir> [options]
       sfu-recorder worker --redis <url> [worker options]

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
  --from-staging <room>/<session>      first fetch the session's staged files (a failed
                                       scale-out run's inputs) into <session dir>
  --quiet                              no progress on stderr
  -h, --help

sfu-recorder worker takes finalisation and composition jobs from the recorder's BullMQ
queue, on any machine: inputs come from the staging store, outputs go back there.

Worker options:
  --redis <url>                        redis://[:password@]host:port[/db] (required)
  --concurrency <n>                    jobs at once (default 1)
  --name <name>                        shown in the recorder's sessionStatus (default host:pid)
  --work-dir <dir>                     scratch directory (default: under the system temp dir)
  --queue <name>                       queue name (default sfu-recorder)
  --lock-ms <ms>                       job lock; a killed worker's job moves on after it (default 30000)

Staging (worker, and compose --from-staging; a worker otherwise uses the store each job names):
  --staging-dir <dir>                  a directory staging store
  --staging-s3 <bucket>[/<prefix>]     an S3 staging store; credentials from
                                       SFU_RECORDER_STAGING_KEY / SFU_RECORDER_STAGING_SECRET,
                                       else the AWS SDK's chain (AWS_ACCESS_KEY_ID, ...)
  --s3-endpoint <url> --s3-region <region>`;

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
        'from-staging': { type: 'string' },
        redis: { type: 'string' },
        name: { type: 'string' },
        'work-dir': { type: 'string' },
        queue: { type: 'string' },
        'lock-ms': { type: 'string' },
        'staging-dir': { type: 'string' },
        'staging-s3': { type: 'string' },
        's3-endpoint': { type: 'string' },
        's3-region': { type: 'string' },
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
  if (command === 'worker' && sessionDir === undefined) return runWorkerCommand(values, io, signal);
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
    if (values['from-staging'] !== undefined) {
      const store = stagingFromFlags(values);
      if (!store) throw new SfuRecorderError('ERR_INVALID_ARGUMENT', '--from-staging needs --staging-dir or --staging-s3');
      try {
        await fetchStagedSession(store, values['from-staging'], resolve(sessionDir), io, values.quiet === true);
      } finally {
        await store.close();
      }
    }
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

type Flags = Record<string, string | boolean | undefined>;

/** `sfu-recorder worker`: runs until SIGINT/SIGTERM (`signal`), finishing the jobs in flight. */
async function runWorkerCommand(values: Flags, io: CliIo, signal?: AbortSignal): Promise<number> {
  const redis = values.redis;
  let options: RecordingJobWorkerOptions;
  try {
    if (typeof redis !== 'string' || !/^rediss?:\/\/\S+$/.test(redis)) {
      throw new SfuRecorderError('ERR_INVALID_ARGUMENT', '--redis must be a redis:// or rediss:// URL');
    }
    const concurrency = positiveInteger(values, 'concurrency');
    const lockMs = positiveInteger(values, 'lock-ms');
    const staging = stagingFromFlags(values);
    options = {
      redis,
      ...(concurrency !== undefined ? { concurrency } : {}),
      ...(lockMs !== undefined ? { lockDurationMs: lockMs } : {}),
      ...(typeof values.name === 'string' ? { name: values.name } : {}),
      ...(typeof values['work-dir'] === 'string' ? { workDir: resolve(values['work-dir']) } : {}),
      ...(typeof values.queue === 'string' ? { queueName: values.queue } : {}),
      ...(staging ? { staging } : {}),
      ...(stagingCredentialsFromEnv() ?? {}),
    };
  } catch (error) {
    io.stderr(`${oneLine(error)}\n`);
    return 2;
  }
  const worker = new RecordingJobWorker(options);
  const at = () => new Date().toISOString();
  worker.on('jobstarted', ({ job, attempt }) => io.stdout(`${at()} ${worker.name} started ${describeJob(job)}${attempt > 1 ? ` (attempt ${attempt})` : ''}\n`));
  worker.on('jobdone', ({ job, result }) =>
    io.stdout(`${at()} ${worker.name} done ${describeJob(job)} in ${((result.finishedAt - result.startedAt) / 1000).toFixed(1)} s\n`),
  );
  worker.on('jobfailed', ({ job, error }) => io.stderr(`${at()} ${worker.name} failed ${describeJob(job)}: ${error.message}\n`));
  worker.on('error', (error) => io.stderr(`${at()} ${worker.name}: ${oneLine(error)}\n`));
  const stop = () => void worker.close();
  signal?.addEventListener('abort', stop, { once: true });
  io.stdout(`${at()} ${worker.name} taking jobs from ${redactUrl(redis)}\n`);
  try {
    await worker.run();
    return 0;
  } catch (error) {
    io.stderr(`sfu-recorder worker failed: ${oneLine(error)}\n`);
    return 1;
  } finally {
    signal?.removeEventListener('abort', stop);
    await worker.close();
  }
}

function positiveInteger(values: Flags, flag: string): number | undefined {
  const raw = values[flag];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new SfuRecorderError('ERR_INVALID_ARGUMENT', `--${flag} must be a positive integer, got "${String(raw)}"`);
  return n;
}

/** A staging store named by flags, or undefined. */
function stagingFromFlags(values: Flags): StagingStore | undefined {
  const dir = values['staging-dir'];
  const s3 = values['staging-s3'];
  if (typeof dir === 'string' && typeof s3 === 'string') {
    throw new SfuRecorderError('ERR_INVALID_ARGUMENT', 'use one of --staging-dir and --staging-s3');
  }
  if (typeof dir === 'string') return new DirectoryStaging(resolve(dir));
  if (typeof s3 !== 'string') return undefined;
  const [bucket, ...prefix] = s3.replace(/^s3:\/\//, '').split('/');
  if (!bucket) throw new SfuRecorderError('ERR_INVALID_ARGUMENT', `--staging-s3 must be <bucket>[/<prefix>], got "${s3}"`);
  const credentials = stagingCredentialsFromEnv()?.stagingCredentials;
  return new S3Staging({
    bucket,
    ...(prefix.length > 0 ? { prefix: prefix.join('/') } : {}),
    ...(typeof values['s3-region'] === 'string' ? { region: values['s3-region'] } : {}),
    ...(typeof values['s3-endpoint'] === 'string' ? { endpoint: values['s3-endpoint'] } : {}),
    ...(credentials ? { credentials } : {}),
  });
}

function stagingCredentialsFromEnv(): { stagingCredentials: { key: string; secret: string } } | undefined {
  const key = process.env.SFU_RECORDER_STAGING_KEY;
  const secret = process.env.SFU_RECORDER_STAGING_SECRET;
  return key && secret ? { stagingCredentials: { key, secret } } : undefined;
}

/** Fetches every staged file of `<room>/<session>` into `sessionDir`, in the spool's layout. */
async function fetchStagedSession(store: StagingStore, ref: string, sessionDir: string, io: CliIo, quiet: boolean): Promise<void> {
  const slash = ref.indexOf('/');
  if (slash <= 0 || slash === ref.length - 1) {
    throw new SfuRecorderError('ERR_INVALID_ARGUMENT', `--from-staging must be <room>/<session>, got "${ref}"`);
  }
  const prefix = stagingSessionPrefix(ref.slice(0, slash), ref.slice(slash + 1));
  const keys = await store.list(prefix);
  if (keys.length === 0) throw new SfuRecorderError('ERR_STAGING_MISSING', `nothing is staged under ${prefix} in ${store.description}`);
  for (const key of keys) {
    const rel = key.slice(prefix.length);
    // Segments of an unfinished composite are remade: only the sources matter.
    if (rel.startsWith('composite/')) continue;
    await store.get(key, join(sessionDir, ...rel.split('/')));
  }
  if (!quiet) io.stderr(`fetched ${keys.length} staged files of ${ref} from ${store.description}\n`);
}

/** A Redis URL without its password. */
function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//[redacted]@');
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
