import { execa, ExecaError } from 'execa';
import { canceledError, SfuRecorderError, toSfuRecorderError } from '../errors.js';

/** What {@link FfmpegError} is built from. */
export interface FfmpegFailure {
  /** The exit code; absent when the process was killed by a signal. */
  exitCode?: number | undefined;
  /** The signal that killed the process, e.g. `SIGKILL`. */
  signal?: NodeJS.Signals | undefined;
  /** The last lines the process printed on stderr. */
  stderrTail: string;
}

/**
 * ffmpeg or ffprobe ran and failed (code `ERR_FFMPEG_FAILED`). Shaped like execa's errors:
 * `shortMessage` is one line naming what ran, how it ended and its most telling stderr line
 * (for logs that keep one line, and for people); `message` is `shortMessage` followed by the
 * stderr tail. A run stopped by an abort signal is not an `FfmpegError` but an
 * `SfuRecorderError` with code `ERR_CANCELED`.
 */
export class FfmpegError extends SfuRecorderError {
  /** One line: `<what> failed (exit 1): <the stderr line that says why>`. */
  readonly shortMessage: string;
  /** The exit code; `undefined` when a signal ended the process. */
  readonly exitCode: number | undefined;
  /** The signal that ended the process (`SIGKILL`, `SIGSEGV`), if one did. */
  readonly signal: NodeJS.Signals | undefined;
  /** The last lines of stderr (at most 25). */
  readonly stderrTail: string;
  /** The arguments it ran with. */
  readonly args: readonly string[];

  constructor(what: string, args: readonly string[], failure: FfmpegFailure, cause?: unknown) {
    const stderrTail = failure.stderrTail.trim();
    const shortMessage = ffmpegShortMessage(what, failure.exitCode, failure.signal, stderrTail);
    super('ERR_FFMPEG_FAILED', stderrTail === '' ? shortMessage : `${shortMessage}\n${stderrTail}`, cause === undefined ? undefined : { cause });
    this.name = 'FfmpegError';
    this.shortMessage = shortMessage;
    this.exitCode = failure.exitCode;
    this.signal = failure.signal;
    this.stderrTail = stderrTail;
    this.args = args;
  }
}

function ffmpegShortMessage(what: string, exitCode: number | undefined, signal: NodeJS.Signals | undefined, stderr: string): string {
  const ended = signal !== undefined ? ` (killed by ${signal})` : exitCode !== undefined ? ` (exit ${exitCode})` : '';
  const line = tellingStderrLine(stderr);
  return `${what} failed${ended}${line === undefined ? '' : `: ${line}`}`;
}

/** Words of a line that says something went wrong. */
const ERROR_WORDS =
  /error|invalid|no such|not found|unable|cannot|can't|could not|couldn't|failed|unknown|unrecognized|denied|not supported|unsupported|does not|too many|must be|out of memory|corrupt/i;

/**
 * ffmpeg's closing lines that only repeat that something failed (`Conversion failed!`,
 * `Error initializing complex filters.`, a bare errno text such as `Invalid argument`): the
 * line before them says what.
 */
const GENERIC_LINES = [
  /^Conversion failed!?$/i,
  /^Error initializing (complex filters|output stream|filter)/i,
  /^Error while (opening encoder|filtering|processing the decoded data)/i,
  /^Exiting normally/i,
  /^[A-Z][a-z]+( [a-z]+){0,5}$/, // "Invalid argument", "No such file or directory", "Operation not permitted"
];

const MAX_LINE_CHARS = 300;

/**
 * The stderr line that best says why ffmpeg failed: the last one that looks like an error,
 * skipping ffmpeg's generic closing lines; failing that, the last generic one, then the last
 * line. The `@ 0x…` address in ffmpeg's `[component @ 0x…]` prefix is dropped, so the same
 * failure reads the same every time.
 */
export function tellingStderrLine(stderr: string): string | undefined {
  const lines = stderr
    .split('\n')
    .map((line) => line.trim().replace(/^\[([^\]]*?) @ 0x[0-9a-f]+\]/i, '[$1]'))
    .filter((line) => line !== '');
  if (lines.length === 0) return undefined;
  const isGeneric = (line: string) => GENERIC_LINES.some((pattern) => pattern.test(line));
  const found =
    lines.findLast((line) => ERROR_WORDS.test(line) && !isGeneric(line)) ??
    lines.findLast((line) => ERROR_WORDS.test(line)) ??
    lines.at(-1)!;
  return found.length > MAX_LINE_CHARS ? `${found.slice(0, MAX_LINE_CHARS - 1)}…` : found;
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
 * stdout.
 *
 * @throws {FfmpegError} when ffmpeg fails (`shortMessage` names the telling stderr line).
 * @throws {SfuRecorderError} `ERR_CANCELED` when `signal` aborts (the process is killed);
 *   `ERR_FFMPEG_MISSING` when the binary cannot be run.
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
    throw toFfmpegError(options.label ?? 'ffmpeg', ffmpegPath, fullArgs, error, options.signal);
  }
}

/**
 * Runs ffprobe and returns its parsed JSON output (`-print_format json` is added).
 *
 * @throws {FfmpegError} when ffprobe fails.
 * @throws {SfuRecorderError} `ERR_CANCELED` when `signal` aborts; `ERR_FFMPEG_MISSING`; `ERR_FFMPEG_FAILED`
 *   when what it printed is not JSON.
 */
export async function runFfprobe<T = unknown>(ffprobePath: string, args: readonly string[], signal?: AbortSignal): Promise<T> {
  const fullArgs = ['-v', 'error', '-print_format', 'json', ...args];
  let stdout: string;
  try {
    ({ stdout } = await execa(ffprobePath, fullArgs, {
      ...(signal ? { cancelSignal: signal } : {}),
      stdin: 'ignore',
      maxBuffer: 256 * 1024 * 1024,
    }));
  } catch (error) {
    throw toFfmpegError('ffprobe', ffprobePath, fullArgs, error, signal);
  }
  try {
    return JSON.parse(stdout) as T;
  } catch (error) {
    const start = stdout.trim().split('\n')[0]?.slice(0, 120) ?? '';
    throw new SfuRecorderError('ERR_FFMPEG_FAILED', `ffprobe printed something that is not JSON: ${JSON.stringify(start)}`, { cause: error });
  }
}

function toFfmpegError(what: string, binary: string, args: readonly string[], error: unknown, signal?: AbortSignal): SfuRecorderError {
  if (signal?.aborted) return canceledError(what, signal.reason);
  if (error instanceof ExecaError) {
    if (error.code === 'ENOENT' || error.code === 'EACCES') {
      const why = error.code === 'ENOENT' ? 'binary not found' : 'binary not executable';
      return new SfuRecorderError('ERR_FFMPEG_MISSING', `${what}: ${why} at ${binary}`, { cause: error });
    }
    const stderr = typeof error.stderr === 'string' ? error.stderr : '';
    const tail = stderr.trim().split('\n').slice(-STDERR_TAIL_LINES).join('\n');
    return new FfmpegError(what, args, { exitCode: error.exitCode, signal: error.signal, stderrTail: tail }, error);
  }
  // execa reports every failure of the process as an ExecaError; anything else is a bug of ours.
  return toSfuRecorderError(error, 'ERR_FFMPEG_FAILED', what);
}
