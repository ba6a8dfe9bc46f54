import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { FfmpegError, runFfmpeg, tellingStderrLine } from '../ffmpeg/index.js';
import type { FinalisedStream } from '../mux/stream-result.js';
import { MIX_SAMPLE_RATE, segmentArgs, type VideoEncoding } from './filtergraph.js';
import { findNameTileFont } from './fonts.js';
import { CompositeSourceError } from './session.js';
import type { CompositeSegment } from './types.js';

/**
 * The composition as steps that each run from data alone (plan → render every segment →
 * join), so that a segment can be rendered by another process or machine than the one that
 * planned it. {@link Compositor} runs them in one process; the job runners run each as a job.
 */

/** Everything rendering one segment needs: plain data, no paths of the planning machine. */
export interface SegmentRenderSpec {
  segment: CompositeSegment;
  width: number;
  height: number;
  /** `0xRRGGBB` or an ffmpeg colour name. */
  background: string;
  /** Encoder settings; the thread count is chosen where the segment runs. */
  encoding: Omit<VideoEncoding, 'threads'>;
  /** The finalised streams the segment shows or mixes, `file` relative to the session directory. */
  streams: FinalisedStream[];
  /** A font the planner chose; used where it exists, else one is looked up where the segment runs. */
  fontFile?: string;
}

/** The joining step: the segments in order, each by its frame range. */
export interface JoinSpec {
  fps: number;
  audioBitrate: string;
  segments: Array<{ index: number; startFrame: number; endFrame: number }>;
}

/** Per-run controls of a step. */
export interface StepRun {
  ffmpegPath: string;
  signal?: AbortSignal;
  /** Seconds of output written so far. */
  onProgress?: (seconds: number) => void;
}

/** File names of a segment's two outputs, relative to wherever segments are kept. */
export function segmentFileNames(index: number): { video: string; audio: string } {
  const name = `seg-${String(index).padStart(5, '0')}`;
  return { video: `${name}.mp4`, audio: `${name}.wav` };
}

/** The streams a segment reads: every video tile's and every mixed one. */
export function segmentStreamIds(segment: CompositeSegment): string[] {
  const ids = new Set<string>();
  for (const tile of segment.tiles) if (tile.kind === 'video' && tile.streamId) ids.add(tile.streamId);
  for (const source of segment.audioSources) ids.add(source.streamId);
  return [...ids];
}

/**
 * Renders one segment: H.264 video in mp4 and the mixed audio as PCM wav.
 *
 * @param sessionDir where the spec's relative stream files are found.
 * @param out the two output paths; `workDir` holds the name-tile label files.
 * @param threads x264 threads (0 = automatic).
 */
export async function renderSegment(
  spec: SegmentRenderSpec,
  sessionDir: string,
  out: { video: string; audio: string; workDir: string },
  threads: number,
  run: StepRun,
): Promise<void> {
  const { segment } = spec;
  const streams = spec.streams.map((s) => ({ ...s, file: resolve(sessionDir, s.file) }));
  const needsFont = segment.tiles.some((t) => t.kind === 'name');
  const fontFile = needsFont ? await findNameTileFont(run.ffmpegPath, spec.fontFile) : undefined;
  const labelFiles = fontFile ? await writeLabelFiles(out.workDir, segment) : [];
  await mkdir(dirname(out.video), { recursive: true });
  await mkdir(dirname(out.audio), { recursive: true });
  const args = segmentArgs({
    segment,
    width: spec.width,
    height: spec.height,
    encoding: { ...spec.encoding, threads },
    background: spec.background,
    streams: new Map(streams.map((s) => [s.streamId, s])),
    ...(fontFile ? { fontFile, labelFile: (i: number) => labelFiles[i]! } : {}),
    videoOut: out.video,
    audioOut: out.audio,
  });
  const render = () =>
    runFfmpeg(run.ffmpegPath, args, {
      ...(run.signal ? { signal: run.signal } : {}),
      label: `composing segment ${segment.index} (${fmt(segment.from)}–${fmt(segment.to)})`,
      ...(run.onProgress ? { onProgress: run.onProgress } : {}),
    });
  // ffmpeg 4.1 now and then crashes (SIGSEGV) on a segment of a frame or two; the same
  // run again succeeds. A failure with an exit code is about the input: not retried.
  await render()
    .catch((error: unknown) => {
      if (error instanceof FfmpegError && error.signal !== undefined && !run.signal?.aborted) return render();
      throw error;
    })
    .catch((error: unknown) => {
      throw namedSourceError(error, segment, streams);
    });
}

/**
 * Joins rendered segments: the video as it is (every segment has the same SPS/PPS), the
 * concatenated audio encoded to AAC once, so no AAC priming lands at a joint.
 *
 * @param segmentsDir where {@link segmentFileNames} of every segment are.
 */
export async function joinSegments(spec: JoinSpec, segmentsDir: string, outFile: string, run: StepRun): Promise<void> {
  const video = ['ffconcat version 1.0'];
  const audio = ['ffconcat version 1.0'];
  for (const s of spec.segments) {
    const names = segmentFileNames(s.index);
    const samples =
      Math.round((s.endFrame * MIX_SAMPLE_RATE) / spec.fps) - Math.round((s.startFrame * MIX_SAMPLE_RATE) / spec.fps);
    video.push(`file ${names.video}`, `duration ${((s.endFrame - s.startFrame) / spec.fps).toFixed(6)}`);
    audio.push(`file ${names.audio}`, `duration ${(samples / MIX_SAMPLE_RATE).toFixed(6)}`);
  }
  await writeFile(join(segmentsDir, 'video.ffconcat'), `${video.join('\n')}\n`);
  await writeFile(join(segmentsDir, 'audio.ffconcat'), `${audio.join('\n')}\n`);
  await mkdir(dirname(outFile), { recursive: true });
  await runFfmpeg(
    run.ffmpegPath,
    [
      '-f', 'concat', '-safe', '0', '-i', join(segmentsDir, 'video.ffconcat'),
      '-f', 'concat', '-safe', '0', '-i', join(segmentsDir, 'audio.ffconcat'),
      '-map', '0:v:0', '-map', '1:a:0',
      '-c:v', 'copy',
      '-c:a', 'aac', '-b:a', spec.audioBitrate, '-ar', String(MIX_SAMPLE_RATE), '-ac', '2',
      '-movflags', '+faststart',
      '-f', 'mp4', outFile,
    ],
    {
      ...(run.signal ? { signal: run.signal } : {}),
      label: 'joining composite segments',
      ...(run.onProgress ? { onProgress: run.onProgress } : {}),
    },
  );
}

/** One label file per name tile (drawtext reads them: no escaping of user text). */
async function writeLabelFiles(workDir: string, segment: CompositeSegment): Promise<string[]> {
  await mkdir(workDir, { recursive: true });
  const files: string[] = [];
  for (const [i, tile] of segment.tiles.entries()) {
    const file = join(workDir, `label-${segment.index}-${i}.txt`);
    if (tile.kind === 'name') await writeFile(file, tile.label);
    files.push(file);
  }
  return files;
}

/**
 * When ffmpeg's complaint names one of the segment's source files, say which stream it is.
 * Only the telling line, or a line in ffmpeg's `<file>: <error>` form, counts: every input
 * that opened fine is also named in the tail (`Input #0, ... from '<file>'`).
 */
function namedSourceError(error: unknown, segment: CompositeSegment, streams: ReadonlyArray<{ file: string; streamId: string; peerId: string }>) {
  if (!(error instanceof FfmpegError)) return error;
  const line = tellingStderrLine(error.stderrTail);
  const lines = error.stderrTail.split('\n').map((l) => l.trim());
  const culprit =
    streams.find((s) => line?.includes(s.file)) ?? streams.find((s) => lines.some((l) => l.startsWith(`${s.file}: `)));
  if (!culprit) return error;
  const detail = line === undefined ? culprit.file : line.includes(culprit.file) ? line : `${culprit.file}: ${line}`;
  return new CompositeSourceError(
    'ERR_COMPOSE_SOURCE_BROKEN',
    culprit.file,
    `segment ${segment.index} failed reading stream ${culprit.streamId} (peer ${culprit.peerId}): ${detail}`,
    error,
  );
}

function fmt(ms: number): string {
  return `${(ms / 1000).toFixed(3)}s`;
}
