import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { EventEmitter } from 'eventemitter3';
import { SfuRecorderError } from '../errors.js';
import { FfmpegError } from '../ffmpeg/run.js';
import { videoEncoderArgs, AUDIO_PAYLOAD_TYPE, VIDEO_PAYLOAD_TYPES } from './codecs.js';
import type { SyntheticVideoCodec } from './rtp.js';

/** Video settings of the generated source, all resolved. */
export interface SourceVideo {
  codec: SyntheticVideoCodec;
  width: number;
  height: number;
  fps: number;
  bitrateKbps: number;
  keyframeIntervalMs: number;
  /** Background, `#rrggbb`. */
  color: string;
  /** Text drawn in the frame when a font is available (sanitised). */
  label?: string;
  /** 0..100: grain added to every frame to push the bitrate up (load tests). */
  noise: number;
  ssrc: number;
}

/** Audio settings of the generated source. */
export interface SourceAudio {
  ssrc: number;
}

/** What to generate and where to send it (one UDP port receives RTP and RTCP of both tracks). */
export interface SourceSpec {
  video?: SourceVideo;
  audio?: SourceAudio;
  syncPattern: boolean;
  /** Where ffmpeg sends RTP and RTCP. */
  port: number;
  /** Seconds to generate; unlimited when absent. */
  durationSeconds?: number;
  /** Pace output at real time (`-re`). Default true. */
  realtime?: boolean;
}

/** Length of the flash and the beep at the start of every second. */
export const SYNC_PULSE_MS = 100;
/** Beep frequency. */
export const SYNC_BEEP_HZ = 1000;

const FONT_CANDIDATES = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf',
  '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
  '/System/Library/Fonts/Supplemental/Arial.ttf',
];

/**
 * The ffmpeg arguments for one synthetic peer: a single lavfi graph makes both tracks, so
 * the audio and video share one media clock and one `-re` pacing; two RTP outputs go to the
 * same local port (RTCP too: `rtcpport` is the same port), where the relay demultiplexes by SSRC.
 */
export function buildSourceArgs(spec: SourceSpec): string[] {
  const graph: string[] = [];
  const outputs: string[] = [];
  const dest = `rtp://127.0.0.1:${spec.port}?rtcpport=${spec.port}&pkt_size=1200`;
  const duration = spec.durationSeconds === undefined ? '' : `:d=${spec.durationSeconds}`;
  let out = 0;
  if (spec.video) {
    const v = spec.video;
    // A small moving test pattern over the background, so the video is never a still image.
    graph.push(`color=c=0x${v.color.slice(1)}:s=${v.width}x${v.height}:r=${v.fps}${duration},format=yuv420p[bg${out}]`);
    graph.push(`testsrc=s=${even(v.width / 4)}x${even(v.height / 4)}:r=${v.fps}${duration},format=yuv420p[ts${out}]`);
    const chain = [`[bg${out}][ts${out}]overlay=x=${even(v.width / 16)}:y=${even(v.height / 16)}:shortest=1`];
    if (v.noise > 0) chain.push(`noise=alls=${Math.round(v.noise)}:allf=t`);
    const font = v.label ? FONT_CANDIDATES.find((f) => existsSync(f)) : undefined;
    if (font && v.label) {
      const size = Math.max(12, Math.round(v.height / 10));
      chain.push(`drawtext=fontfile=${font}:text='${v.label}':fontcolor=white:fontsize=${size}:x=(w-text_w)/2:y=h-2*text_h`);
    }
    if (spec.syncPattern) {
      // Frame-exact: the first round(fps/10) frames of every second are white.
      const flashFrames = Math.max(1, Math.round((v.fps * SYNC_PULSE_MS) / 1000));
      chain.push(`drawbox=c=white:t=fill:enable='lt(mod(n,${v.fps}),${flashFrames})'`);
    }
    graph.push(`${chain.join(',')}[out${out}]`);
    outputs.push(
      '-map',
      `0:${out}`,
      '-pix_fmt',
      'yuv420p',
      ...videoEncoderArgs(v.codec, { bitrateKbps: v.bitrateKbps, gop: gopFrames(v.fps, v.keyframeIntervalMs) }),
      '-f',
      'rtp',
      '-payload_type',
      String(VIDEO_PAYLOAD_TYPES[v.codec]),
      '-ssrc',
      String(v.ssrc | 0), // ffmpeg's option is a signed int
      dest,
    );
    out++;
  }
  if (spec.audio) {
    // Sample-exact beep (aevalsrc evaluates per sample; a volume filter with `enable`
    // would switch on whole 1024-sample frames, i.e. 21 ms steps).
    const pulse = Math.round((48000 * SYNC_PULSE_MS) / 1000);
    const expr = spec.syncPattern
      ? `if(lt(mod(n,48000),${pulse}),0.5*sin(2*PI*${SYNC_BEEP_HZ}*n/48000),0)`
      : `0.05*sin(2*PI*440*n/48000)`;
    graph.push(`aevalsrc=exprs='${expr}':s=48000:c=mono:n=960${duration}[out${out}]`);
    outputs.push(
      '-map',
      `0:${out}`,
      '-c:a',
      'libopus',
      '-ac',
      '1',
      '-b:a',
      '32k',
      '-application',
      'lowdelay',
      '-frame_duration',
      '20',
      '-f',
      'rtp',
      '-payload_type',
      String(AUDIO_PAYLOAD_TYPE),
      '-ssrc',
      String(spec.audio.ssrc | 0),
      dest,
    );
  }
  return [
    '-hide_banner',
    '-nostdin',
    '-nostats',
    '-loglevel',
    'warning',
    ...(spec.realtime === false ? [] : ['-re']),
    '-f',
    'lavfi',
    '-i',
    graph.join(';'),
    ...outputs,
  ];
}

/** GOP in frames for a key frame interval: never longer than asked. */
export function gopFrames(fps: number, keyframeIntervalMs: number): number {
  return Math.max(1, Math.floor((fps * keyframeIntervalMs) / 1000));
}

function even(n: number): number {
  return Math.max(2, Math.floor(n / 2) * 2);
}

/** Events of {@link FfmpegSource}. */
export interface FfmpegSourceEvents {
  /** ffmpeg exited without being asked to (error carries the stderr tail), or could not start. */
  error: [FfmpegError | SfuRecorderError];
  /** ffmpeg exited (asked to or not). */
  exit: [code: number | null, signal: NodeJS.Signals | null];
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL whatever is left so no encoder outlives us.
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

const STDERR_TAIL_LINES = 25;

/**
 * Runs ffmpeg under `sh` so that it cannot outlive us even after a SIGKILL (no 'exit'
 * handler runs then): a background `cat` reads our pipe and, at EOF (we died or closed it),
 * terminates ffmpeg. SIGTERM to the shell is passed on; the shell exits with ffmpeg's code.
 */
const WATCHDOG = [
  'exec 3<&0', // background jobs get /dev/null as stdin unless redirected explicitly
  '"$@" </dev/null & p=$!',
  'trap \'kill -TERM $p 2>/dev/null\' TERM INT',
  '{ cat <&3 >/dev/null; kill -TERM $p 2>/dev/null; } &',
  'wait $p; c=$?',
  'while kill -0 $p 2>/dev/null; do wait $p; c=$?; done',
  'exit $c',
].join('\n');

/** One ffmpeg process with a bounded stderr tail and no way to outlive the node process. */
export class FfmpegSource extends EventEmitter<FfmpegSourceEvents> {
  readonly args: readonly string[];
  #child: ChildProcess;
  #stderr: string[] = [];
  #stopping = false;
  #exited = false;
  readonly #exitPromise: Promise<void>;

  /**
   * @param finite - the run has a duration (`durationSeconds`): a clean exit is then expected,
   *   not an error.
   */
  constructor(ffmpegPath: string, args: readonly string[], label: string, options: { finite?: boolean } = {}) {
    super();
    this.args = args;
    installExitHook();
    if (!existsSync(ffmpegPath)) {
      throw new SfuRecorderError('ERR_FFMPEG_MISSING', `${label}: ffmpeg not found at ${ffmpegPath} (set ffmpegPath or SFU_RECORDER_FFMPEG)`);
    }
    this.#child =
      process.platform === 'win32'
        ? spawn(ffmpegPath, args, { stdio: ['ignore', 'ignore', 'pipe'] })
        : spawn('/bin/sh', ['-c', WATCHDOG, 'sh', ffmpegPath, ...args], { stdio: ['pipe', 'ignore', 'pipe'] });
    // Our end of the watchdog's stdin: it must not keep this process alive, and errors on it
    // (EPIPE once the watchdog is gone) mean nothing.
    this.#child.stdin?.on('error', () => {});
    (this.#child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    live.add(this.#child);
    this.#child.stderr!.setEncoding('utf8');
    let partial = '';
    this.#child.stderr!.on('data', (text: string) => {
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      this.#stderr.push(...lines);
      if (this.#stderr.length > STDERR_TAIL_LINES * 2) this.#stderr.splice(0, this.#stderr.length - STDERR_TAIL_LINES);
    });
    this.#exitPromise = new Promise((resolve) => {
      this.#child.once('error', (error) => {
        live.delete(this.#child);
        this.#exited = true;
        if (!this.#stopping) {
          this.emit('error', new SfuRecorderError('ERR_FFMPEG_MISSING', `${label}: could not start ffmpeg at ${ffmpegPath}: ${error.message}`, { cause: error }));
        }
        resolve();
      });
      this.#child.once('exit', (code, signal) => {
        live.delete(this.#child);
        this.#child.stdin?.destroy();
        this.#exited = true;
        if (partial) this.#stderr.push(partial);
        if (!this.#stopping && !(options.finite && code === 0)) {
          this.emit('error', new FfmpegError(label, args, { exitCode: code ?? undefined, signal: signal ?? undefined, stderrTail: this.stderrTail }));
        }
        this.emit('exit', code, signal);
        resolve();
      });
    });
  }

  /** The pid to measure or signal: ffmpeg's watchdog shell on POSIX (ffmpeg is its child). */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  get exited(): boolean {
    return this.#exited;
  }

  /** The last lines ffmpeg printed. */
  get stderrTail(): string {
    return this.#stderr.slice(-STDERR_TAIL_LINES).join('\n').trim();
  }

  /** Resolves when ffmpeg exits on its own (e.g. a finite `durationSeconds`). */
  whenExited(): Promise<void> {
    return this.#exitPromise;
  }

  /** Kills ffmpeg (SIGTERM, then SIGKILL after `graceMs`) and waits for it to exit. */
  async stop(graceMs = 1000): Promise<void> {
    if (this.#exited) return;
    this.#stopping = true;
    this.#child.kill('SIGTERM');
    this.#child.stdin?.destroy();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), graceMs);
    await this.#exitPromise;
    clearTimeout(timer);
  }
}
