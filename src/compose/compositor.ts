import { mkdtemp, rename, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';
import { EventEmitter } from 'eventemitter3';
import { describeValue, expectObject, fieldPath, integerIn, nonEmptyString, numberIn, optionNames, optionalBoolean } from '../config/validate.js';
import { canceledError, InvalidConfigError, SfuRecorderError, toSfuRecorderError } from '../errors.js';
import { resolveFfmpegBinaries, runFfprobe, type FfmpegBinaries } from '../ffmpeg/index.js';
import type { FinalisedStream } from '../mux/stream-result.js';
import { sessionPaths } from '../spool/layout.js';
import { MIX_SAMPLE_RATE } from './filtergraph.js';
import { findNameTileFont } from './fonts.js';
import { resolveLayout } from './layouts.js';
import { planComposition, type CompositionPlan } from './planner.js';
import { probeComposeSources, readComposeSources, type ComposeSources } from './session.js';
import { joinSegments, renderSegment, segmentFileNames, segmentStreamIds, type JoinSpec, type SegmentRenderSpec } from './steps.js';
import type { CompositeLayout, CompositeSegment, LayoutName } from './types.js';

/** A composition as steps: see {@link Compositor.steps}. */
export interface CompositionSteps {
  segments: SegmentRenderSpec[];
  join: JoinSpec;
}

/** How the composite looks and is encoded. Every field has a default. */
export interface CompositeOptions {
  /** A built-in layout or a custom function. Default `grid` (presentation while a screen is shared). */
  layout?: LayoutName | CompositeLayout;
  /** Output size. Default 1280x720. Must be even. */
  width?: number;
  height?: number;
  /** Output frame rate. Default 30. */
  fps?: number;
  /** Canvas colour behind and between tiles (`0xRRGGBB` or an ffmpeg colour name). Default `0x101010`. */
  background?: string;
  /** x264 preset. Default `superfast`: the fastest that still looks right for calls; 4 peers into 720p30 runs at about 5x realtime on 2 cores. */
  preset?: string;
  /** Video bitrate (`2500k`, `2.5M`); when absent, constant quality {@link crf}. */
  bitrate?: string;
  /** x264 CRF used without a bitrate. Default 23. */
  crf?: number;
  /** AAC bitrate. Default `128k`. */
  audioBitrate?: string;
  /** Segments encoded at once. Default `os.availableParallelism()`. */
  concurrency?: number;
  /** Constant-layout stretches longer than this are split into several segments. Default 120 000. */
  maxSegmentMs?: number;
  /** Active-speaker changes held for less than this are ignored. Default 1000. */
  minSpeakerMs?: number;
  /** `cut` (default): paused time is left out, like in the individual files. */
  pauses?: 'cut' | 'keep';
  /** Font for name tiles; default: found on the system (fc-match, /usr/share/fonts). */
  fontFile?: string;
  /** Where to write the mp4. Default `<session>/composite/Rec-<sessionId>-<epoch>.mp4`. */
  outFile?: string;
  /** Compose without streams whose stream.json or mp4 is missing instead of failing. Default false. */
  skipMissingSources?: boolean;
  ffmpegPath?: string;
  ffprobePath?: string;
}

/** Per-run controls. */
export interface ComposeRunOptions {
  /** Aborting kills the encoders and removes every partial output. */
  signal?: AbortSignal;
  onProgress?: (progress: CompositeProgress) => void;
}

/** Progress of one composition. */
export interface CompositeProgress {
  /** 0–100. Segment encoding is 0–95, the final join and audio encode the rest. */
  percent: number;
  phase: 'encoding' | 'joining' | 'done';
  segmentsDone: number;
  segments: number;
  durationMs: number;
}

/** `composite.json`: what a composition produced. */
export interface CompositeResult {
  version: 1;
  roomId: string;
  sessionId: string;
  /** Absolute path of the mp4. */
  file: string;
  /** Epoch ms of the composite's t = 0: the session's first media (the `epoch` in its name is the session start). */
  startedAt: number;
  /** Epoch ms of the composite's end: the session's last media. */
  endedAt: number;
  durationMs: number;
  sizeBytes: number;
  width: number;
  height: number;
  fps: number;
  video: { codec: 'h264' };
  audio: { codec: 'aac'; sampleRate: number; channels: number };
  /** Number of constant-layout segments encoded. */
  segments: number;
  /** Pauses left out of the composite (epoch ms). */
  cuts: Array<{ from: number; to: number }>;
  /** False when the timeline had no `session-ended` (composed after a crash). */
  timelineComplete: boolean;
}

/** Events of a {@link Compositor}. */
export interface CompositorEvents {
  plan: (plan: CompositionPlan) => void;
  progress: (progress: CompositeProgress) => void;
  segment: (segment: CompositeSegment, done: number, total: number) => void;
}

const DEFAULTS = {
  width: 1280,
  height: 720,
  fps: 30,
  background: '0x101010',
  preset: 'superfast',
  audioBitrate: '128k',
  maxSegmentMs: 120_000,
} as const;

/**
 * Composes a recorded session into one mp4 from what it left on disk (timeline and
 * finalised streams), so a composition can be re-run at any time without the call.
 *
 * The session is planned into constant-layout segments; segments are rendered in
 * parallel (video to H.264, audio mix to PCM), then joined without re-encoding the video
 * while the audio is encoded to AAC in one pass.
 */
export class Compositor extends EventEmitter<CompositorEvents> {
  readonly options: CompositeOptions;
  readonly #binaries: FfmpegBinaries;

  constructor(options: CompositeOptions = {}) {
    super();
    this.options = options;
    validateCompositeOptions(options);
    this.#binaries = resolveFfmpegBinaries({
      ...(options.ffmpegPath ? { ffmpegPath: options.ffmpegPath } : {}),
      ...(options.ffprobePath ? { ffprobePath: options.ffprobePath } : {}),
    });
  }

  /**
   * Plans a session without encoding anything (reads the files, probes nothing).
   * @throws {SfuRecorderError} as {@link Compositor.compose} does, before any encoding.
   */
  plan(sessionDir: string): CompositionPlan {
    try {
      const sources = readComposeSources(sessionDir, { skipMissing: this.options.skipMissingSources ?? false });
      return this.#plan(sources.events, sources.streams);
    } catch (error) {
      throw toSfuRecorderError(error, 'ERR_COMPOSE_FAILED', `planning ${sessionDir}`);
    }
  }

  /** Opens every stream mp4 of `streams` so that a broken one is named before any encoding. */
  probe(streams: readonly FinalisedStream[], signal?: AbortSignal): Promise<void> {
    return probeComposeSources(this.#binaries.ffprobePath, streams, signal);
  }

  /** Plans sources already read (by `readComposeSources`); pure. */
  planSources(sources: Pick<ComposeSources, 'events' | 'streams'>): CompositionPlan {
    return this.#plan(sources.events, sources.streams);
  }

  #plan(events: Parameters<typeof planComposition>[0]['events'], streams: Parameters<typeof planComposition>[0]['streams']) {
    const o = this.options;
    return planComposition({
      events,
      streams,
      layout: resolveLayout(o.layout),
      width: o.width ?? DEFAULTS.width,
      height: o.height ?? DEFAULTS.height,
      fps: o.fps ?? DEFAULTS.fps,
      maxSegmentMs: o.maxSegmentMs ?? DEFAULTS.maxSegmentMs,
      ...(o.minSpeakerMs !== undefined ? { minSpeakerMs: o.minSpeakerMs } : {}),
      ...(o.pauses ? { pauses: o.pauses } : {}),
    });
  }

  /**
   * Composes `sessionDir` into `composite/Rec-<sessionId>-<epoch>.mp4` (or `outFile`) and
   * writes `composite/composite.json`. Nothing partial is left behind on failure or abort.
   *
   * @throws {CompositeSourceError} `ERR_COMPOSE_SOURCE_MISSING` / `ERR_COMPOSE_SOURCE_BROKEN`
   *   naming the file at fault.
   * @throws {SfuRecorderError} `ERR_CANCELED` when `signal` aborts; `ERR_COMPOSE_EMPTY`;
   *   `ERR_FFMPEG_FAILED` ({@link FfmpegError}) or `ERR_FFMPEG_MISSING`; `ERR_SPOOL_FULL`;
   *   `ERR_COMPOSE_FAILED` for anything else (a listener or layout that threw, a disk error).
   */
  async compose(sessionDir: string, run: ComposeRunOptions = {}): Promise<CompositeResult> {
    const { signal } = run;
    try {
      if (signal?.aborted) throw canceledError(`composing ${sessionDir}`, signal.reason);
      return await this.#compose(sessionDir, run);
    } catch (error) {
      if (signal?.aborted) throw canceledError(`composing ${sessionDir}`, signal.reason);
      throw toSfuRecorderError(error, 'ERR_COMPOSE_FAILED', `composing ${sessionDir}`);
    }
  }

  async #compose(sessionDir: string, run: ComposeRunOptions): Promise<CompositeResult> {
    const { signal } = run;
    const o = this.options;
    const sources = readComposeSources(sessionDir, { skipMissing: o.skipMissingSources ?? false });
    await probeComposeSources(this.#binaries.ffprobePath, sources.streams, signal);
    const plan = this.#plan(sources.events, sources.streams);
    if (plan.frames <= 0) {
      throw new SfuRecorderError('ERR_COMPOSE_EMPTY', `session ${plan.sessionId} in ${sessionDir} has no duration to compose`);
    }
    this.emit('plan', plan);

    const compositeDir = sessionPaths.compositeDir(sessionDir);
    const outFile = o.outFile ?? join(compositeDir, sessionPaths.compositeFileName(plan.sessionId, plan.sessionStartedAt));
    await mkdir(dirname(outFile), { recursive: true });
    await mkdir(compositeDir, { recursive: true });
    const workDir = await mkdtemp(join(compositeDir, '.work-'));
    const partial = join(dirname(outFile), `.${basename(outFile)}.partial.mp4`);
    // One controller for the whole run: a failing segment stops the others.
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });

    try {
      const progress = new ProgressTracker(plan, (p) => {
        this.emit('progress', p);
        run.onProgress?.(p);
      });
      const steps = this.steps(plan, sources.streams);
      const needsFont = plan.segments.some((s) => s.tiles.some((t) => t.kind === 'name'));
      const fontFile = needsFont ? await findNameTileFont(this.#binaries.ffmpegPath, o.fontFile) : undefined;
      const cores = availableParallelism();
      const concurrency = Math.max(1, Math.min(o.concurrency ?? cores, plan.segments.length));
      // Parallel encoders share the cores instead of each starting a thread per core.
      const threads = concurrency > 1 ? Math.max(1, Math.floor(cores / concurrency)) : 0;
      let done = 0;
      await runPool(steps.segments, concurrency, controller, async (spec) => {
        const names = segmentFileNames(spec.segment.index);
        await renderSegment(
          { ...spec, ...(fontFile ? { fontFile } : {}) },
          sessionDir,
          { video: join(workDir, names.video), audio: join(workDir, names.audio), workDir },
          threads,
          {
            ffmpegPath: this.#binaries.ffmpegPath,
            signal: controller.signal,
            onProgress: (seconds) => progress.segment(spec.segment, seconds * 1000),
          },
        );
        progress.segmentDone(spec.segment);
        this.emit('segment', spec.segment, ++done, plan.segments.length);
      });

      progress.joining(0);
      await joinSegments(steps.join, workDir, partial, {
        ffmpegPath: this.#binaries.ffmpegPath,
        signal: controller.signal,
        onProgress: (seconds) => progress.joining(seconds * 1000),
      });
      const result = await compositeResultOf(this.#binaries.ffprobePath, plan, sources.complete, partial, outFile);
      await rename(partial, outFile);
      await writeJsonAtomic(sessionPaths.compositeResult(sessionDir), result);
      progress.finish();
      return result;
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      await rm(workDir, { recursive: true, force: true });
    }
  }

  /**
   * The plan as steps that run from data alone: one render spec per segment (its streams'
   * files relative to `sessionDir` when they lie inside it) and the join.
   */
  steps(plan: CompositionPlan, streams: readonly FinalisedStream[], sessionDir?: string): CompositionSteps {
    const o = this.options;
    const byId = new Map(streams.map((s) => [s.streamId, s]));
    const encoding = {
      fps: plan.fps,
      preset: o.preset ?? DEFAULTS.preset,
      ...(o.bitrate ? { bitrate: o.bitrate } : {}),
      ...(o.crf !== undefined ? { crf: o.crf } : {}),
    };
    const segments = plan.segments.map((segment): SegmentRenderSpec => ({
      segment,
      width: plan.width,
      height: plan.height,
      background: o.background ?? DEFAULTS.background,
      encoding,
      streams: segmentStreamIds(segment)
        .map((id) => byId.get(id))
        .filter((s): s is FinalisedStream => s !== undefined)
        .map((s) => ({ ...s, file: sessionDir && isInside(sessionDir, s.file) ? relative(sessionDir, s.file) : s.file })),
      ...(o.fontFile ? { fontFile: o.fontFile } : {}),
    }));
    return {
      segments,
      join: {
        fps: plan.fps,
        audioBitrate: o.audioBitrate ?? DEFAULTS.audioBitrate,
        segments: plan.segments.map(({ index, startFrame, endFrame }) => ({ index, startFrame, endFrame })),
      },
    };
  }
}

/** `composite.json` of a joined composite, probed (an empty result is an error). */
export async function compositeResultOf(
  ffprobePath: string,
  plan: CompositionPlan,
  complete: boolean,
  partial: string,
  outFile: string,
): Promise<CompositeResult> {
  const { size } = await stat(partial);
  const probe = await runFfprobe<{ format?: { duration?: string } }>(ffprobePath, [
    '-show_entries', 'format=duration', partial,
  ]);
  const durationMs = Number(probe.format?.duration ?? 0) * 1000;
  if (!(size > 0 && durationMs > 0)) {
    throw new SfuRecorderError('ERR_COMPOSE_FAILED', `composite of session ${plan.sessionId} came out empty (${size} bytes)`);
  }
  return {
    version: 1,
    roomId: plan.roomId,
    sessionId: plan.sessionId,
    file: outFile,
    startedAt: plan.startedAt,
    endedAt: plan.endedAt,
    durationMs: Math.round(durationMs),
    sizeBytes: size,
    width: plan.width,
    height: plan.height,
    fps: plan.fps,
    video: { codec: 'h264' },
    audio: { codec: 'aac', sampleRate: MIX_SAMPLE_RATE, channels: 2 },
    segments: plan.segments.length,
    cuts: plan.cuts,
    timelineComplete: complete,
  };
}

/**
 * Composes a session directory into its composite mp4: see {@link Compositor}.
 * @example
 * const result = await composeSession('/spool/room/session', { layout: 'speaker', signal });
 */
export async function composeSession(sessionDir: string, options: CompositeOptions & ComposeRunOptions = {}): Promise<CompositeResult> {
  const { signal, onProgress, ...rest } = options;
  // Async, so that bad options reject like every other failure instead of throwing.
  return new Compositor(rest).compose(sessionDir, {
    ...(signal ? { signal } : {}),
    ...(onProgress ? { onProgress } : {}),
  });
}

/** The fields of {@link CompositeOptions}. */
export const COMPOSITE_OPTION_NAMES = optionNames<CompositeOptions>({
  layout: true,
  width: true,
  height: true,
  fps: true,
  background: true,
  preset: true,
  bitrate: true,
  crf: true,
  audioBitrate: true,
  concurrency: true,
  maxSegmentMs: true,
  minSpeakerMs: true,
  pauses: true,
  fontFile: true,
  outFile: true,
  skipMissingSources: true,
  ffmpegPath: true,
  ffprobePath: true,
});

const X264_PRESETS = ['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium', 'slow', 'slower', 'veryslow', 'placebo'];
const BITRATE = /^\d{1,9}(\.\d{1,6})?[kKmM]?$/;
// `0xRRGGBB`, `#RRGGBB` (optionally with alpha) or an ffmpeg colour name: the value goes into
// a filtergraph, so nothing else (`:`, `;`, `[`) may get through.
const COLOUR = /^((0x|#)[0-9a-fA-F]{6}([0-9a-fA-F]{2})?|[A-Za-z]{3,30})$/;

/**
 * Checks composite options (what the {@link Compositor} constructor does first). `field`
 * prefixes the names in errors (`compositeOptions` gives `compositeOptions.width`); unknown
 * fields are refused by name.
 *
 * @throws {InvalidConfigError} naming the option at fault and the value.
 */
export function validateCompositeOptions(input: unknown, field?: string, known: readonly string[] = COMPOSITE_OPTION_NAMES): void {
  const o = expectObject(field ?? 'options', input, known, { root: field === undefined });
  const name = (option: string) => fieldPath(field, option);
  for (const size of ['width', 'height'] as const) {
    const v = o[size];
    if (v !== undefined && !(typeof v === 'number' && Number.isInteger(v) && v >= 16 && v <= 8192 && v % 2 === 0)) {
      throw new InvalidConfigError(name(size), `${name(size)} must be an even integer from 16 to 8192 (got ${describeValue(v)})`);
    }
  }
  if (o.fps !== undefined && !(typeof o.fps === 'number' && o.fps > 0 && o.fps <= 120)) {
    throw new InvalidConfigError(name('fps'), `${name('fps')} must be a number above 0 and at most 120 (got ${describeValue(o.fps)})`);
  }
  const oneOf = (option: string, allowed: readonly string[]) => {
    const v = o[option];
    if (v !== undefined && !(typeof v === 'string' && allowed.includes(v))) {
      throw new InvalidConfigError(name(option), `${name(option)} must be one of ${allowed.join(', ')} (got ${describeValue(v)})`);
    }
  };
  const matching = (option: string, pattern: RegExp, what: string) => {
    const v = o[option];
    if (v !== undefined && !(typeof v === 'string' && pattern.test(v))) {
      throw new InvalidConfigError(name(option), `${name(option)} must be ${what} (got ${describeValue(v)})`);
    }
  };
  if (o.layout !== undefined && typeof o.layout !== 'function') oneOf('layout', ['grid', 'speaker', 'presentation']);
  matching('background', COLOUR, 'a colour such as 0x101010, #101010 or black');
  oneOf('preset', X264_PRESETS);
  matching('bitrate', BITRATE, 'a bitrate such as 2500k or 2.5M');
  if (o.crf !== undefined) numberIn(name('crf'), o.crf, 0, 51);
  matching('audioBitrate', BITRATE, 'a bitrate such as 128k');
  if (o.concurrency !== undefined) integerIn(name('concurrency'), o.concurrency, 1, 1024);
  if (o.maxSegmentMs !== undefined) numberIn(name('maxSegmentMs'), o.maxSegmentMs, 1000, 24 * 3600_000);
  if (o.minSpeakerMs !== undefined) numberIn(name('minSpeakerMs'), o.minSpeakerMs, 0, 3600_000);
  oneOf('pauses', ['cut', 'keep']);
  for (const path of ['fontFile', 'outFile', 'ffmpegPath', 'ffprobePath']) if (o[path] !== undefined) nonEmptyString(name(path), o[path]);
  optionalBoolean(name('skipMissingSources'), o.skipMissingSources, false);
}

/** Runs `worker` over `items`, at most `concurrency` at a time; the first failure aborts the rest. */
async function runPool<T>(items: readonly T[], concurrency: number, controller: AbortController, worker: (item: T) => Promise<void>) {
  const { signal } = controller;
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async () => {
    while (!failure && !signal.aborted && next < items.length) {
      const item = items[next++]!;
      try {
        await worker(item);
      } catch (error) {
        if (!failure) {
          failure = { error };
          controller.abort(error);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  if (failure) throw failure.error;
  // Only the caller's signal aborts without a failure; compose() turns it into ERR_CANCELED.
  signal.throwIfAborted();
}

/** Weights segment progress by duration; reports whole percents only. */
class ProgressTracker {
  readonly #plan: CompositionPlan;
  readonly #emit: (p: CompositeProgress) => void;
  readonly #segmentMs = new Map<number, number>();
  #doneMs = 0;
  #segmentsDone = 0;
  #last = -1;
  #phase: CompositeProgress['phase'] = 'encoding';

  constructor(plan: CompositionPlan, emit: (p: CompositeProgress) => void) {
    this.#plan = plan;
    this.#emit = emit;
  }

  segment(segment: CompositeSegment, ms: number) {
    this.#segmentMs.set(segment.index, Math.min(segment.to - segment.from, ms));
    this.#report('encoding', this.#encodedMs() / this.#plan.durationMs * 95);
  }

  segmentDone(segment: CompositeSegment) {
    this.#segmentMs.delete(segment.index);
    this.#doneMs += segment.to - segment.from;
    this.#segmentsDone++;
    this.#report('encoding', (this.#encodedMs() / this.#plan.durationMs) * 95);
  }

  joining(ms: number) {
    this.#report('joining', 95 + Math.min(1, ms / this.#plan.durationMs) * 4);
  }

  finish() {
    this.#report('done', 100);
  }

  #encodedMs() {
    let ms = this.#doneMs;
    for (const v of this.#segmentMs.values()) ms += v;
    return ms;
  }

  #report(phase: CompositeProgress['phase'], percent: number) {
    const whole = Math.floor(Math.min(100, Math.max(0, percent)));
    if (whole <= this.#last && phase === this.#phase) return;
    this.#last = Math.max(this.#last, whole);
    this.#phase = phase;
    this.#emit({
      percent: this.#last,
      phase,
      segmentsDone: this.#segmentsDone,
      segments: this.#plan.segments.length,
      durationMs: this.#plan.durationMs,
    });
  }
}

async function writeJsonAtomic(path: string, value: unknown) {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`);
  await rename(tmp, path);
}

function isInside(dir: string, file: string): boolean {
  const rel = relative(dir, file);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}
