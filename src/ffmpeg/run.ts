import { execa, ExecaError } from 'execa';
import { SfuRecorderError } from '../errors.js';

/** ffmpeg or ffprobe failed; `stderrTail` holds the end of what it printed. */
export class FfmpegError extends SfuRecorderError {
  readonly exitCode: number | undefined;
  readonly stderrTail: string;
  readonly args: readonly string[];

  constructor(what: string, args: readonly string[], exitCode: number | undefined, stderrTail: string, cause?: unknown) {
    super('ERR_FFMPEG_FAILED', `${what} failed${exitCode === undefined ? '' : ` (exit ${exitCode})`}:\n${stderrTail}`, {
      cause,
    });
    this.name = 'FfmpegError';
    this.exitCode = exitCode;
    this.stderrTail = stderrTail;
    this.args = args;
  }
}

/** Options for {@link runFfmpeg}. */
export interface RunFfmpegOptions {
  signal?: AbortSignal;
  /** Called with the output time in seconds as ffmpeg reports progress. */
  onProgress?: (outTimeSeconds: number) => void;
  /** Input piped to ffmpeg's stdin (e.g. a concat list). */
  input?: string | Buffer;
  /** Name used in error messages, e.g. `finalising stream cam-1`. */
  label?: string;
}

const STDERR_TAIL_LINES = 25;

/**
 * Runs ffmpeg with `-hide_banner -nostdin -y` and machine-readable progress on
 * stdout. Rejects with {@link FfmpegError} carrying the stderr tail, or with an
 * AbortError when `signal` aborts (the process is killed).
 */
export async function runFfmpeg(ffmpegPath: string, args: readonly string[], options: RunFfmpegOptions = {}): Promise<void> {
  const fullArgs = ['-hide_banner', '-nostats', '-y', ...(options.onProgress ? ['-progress', 'pipe:1'] : []), ...args];
  if (options.input === undefined) fullArgs.splice(1, 0, '-nostdin');
  const child = execa(ffmpegPath, fullArgs, {
    ...(options.signal ? { cancelSignal: options.signal } : {}),
    ...(options.input !== undefined ? { input: options.input } : { stdin: 'ignore' }),
    stdout: options.onProgress ? 'pipe' : 'ignore',
    stderr: 'pipe',
    buffer: { stdout: false, stderr: true },
    maxBuffer: { stderr: 4 * 1024 * 1024 },
    forceKillAfterDelay: 2000,
  });
  if (options.onProgress && child.stdout) {
    const onProgress = options.onProgress;
    let pending = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text: string) => {
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const match = /^out_time_(?:us|ms)=(\d+)/.exec(line);
        if (match) onProgress(Number(match[1]) / 1e6);
      }
    });
  }
  try {
    await child;
  } catch (error) {
    throw toFfmpegError(options.label ?? 'ffmpeg', fullArgs, error, options.signal);
  }
}

/** Runs ffprobe and returns its parsed JSON output (`-print_format json` is added). */
export async function runFfprobe<T = unknown>(ffprobePath: string, args: readonly string[], signal?: AbortSignal): Promise<T> {
  const fullArgs = ['-v', 'error', '-print_format', 'json', ...args];
  try {
    const { stdout } = await execa(ffprobePath, fullArgs, {
      ...(signal ? { cancelSignal: signal } : {}),
      stdin: 'ignore',
      maxBuffer: 256 * 1024 * 1024,
    });
    return JSON.parse(stdout) as T;
  } catch (error) {
    throw toFfmpegError('ffprobe', fullArgs, error, signal);
  }
}

function toFfmpegError(what: string, args: readonly string[], error: unknown, signal?: AbortSignal): Error {
  if (signal?.aborted) {
    const abort = new Error(`${what} was cancelled`, { cause: signal.reason });
    abort.name = 'AbortError';
    return abort;
  }
  if (error instanceof ExecaError) {
    if (error.code === 'ENOENT') {
      return new SfuRecorderError('ERR_FFMPEG_MISSING', `${what}: binary not found at ${error.command.split(' ')[0]}`, {
        cause: error,
      });
    }
    const stderr = typeof error.stderr === 'string' ? error.stderr : '';
    const tail = stderr.trim().split('\n').slice(-STDERR_TAIL_LINES).join('\n');
    return new FfmpegError(what, args, error.exitCode, tail, error);
  }
  return error instanceof Error ? error : new Error(String(error));
}
