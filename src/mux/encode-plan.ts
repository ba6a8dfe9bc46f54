/**
 * The encode plan, the second half of finalising a stream: from the intermediate files and
 * what the tracks held, decide what ffmpeg does. The file's extent (first to last media),
 * its size, copy or re-encode, the frame-grid alignment, which recording pauses are cut,
 * and which gaps are painted black or filled with silence.
 */
import { even, type EncodePlan } from './encode.js';
import type { StreamIntermediates, VideoInput } from './intermediates.js';
import { clipIntervals, cutBefore, subtractIntervals, totalLength } from './intervals.js';
import type { ResolvedMuxOptions } from './options.js';
import type { FinalisedStream, Interval } from './stream-result.js';

/** Gaps shorter than this are neither reported nor painted. */
const MIN_GAP_MS = 20;
/** A file may be copied only when its first keyframe comes this soon after its first media. */
const COPY_MAX_KEYFRAME_DELAY_MS = 300;
/** Output size when no keyframe said what the source's is. */
const FALLBACK_SIZE = { width: 640, height: 360 };

/** The parts of {@link FinalisedStream} that the plan decides. */
export type PlannedStreamFields = Pick<FinalisedStream, 'startedAt' | 'endedAt' | 'durationMs' | 'video' | 'audio' | 'cuts'>;

/** What ffmpeg is to do for one stream, and what the file will be. */
export interface PlannedEncode {
  plan: EncodePlan;
  result: PlannedStreamFields;
  /** Milliseconds from the file's t = 0 to its first video frame (a keyframe). */
  firstKeyframeDelayMs: number | undefined;
  /** Milliseconds of silence added in front so that video frames fall on the output frame grid. */
  alignmentMs: number;
}

/** Which intermediates go into the file: what ffmpeg could not decode is left out of a retry. */
export interface PlanSelection {
  audio: boolean;
  video: boolean;
  /** Video inputs left out (their time becomes a gap); a file without some is never a copy. */
  withoutVideoInputs?: ReadonlySet<VideoInput>;
}

/**
 * Plans the final ffmpeg pass for the selected intermediates (each kind only if it has
 * media). The extent counts every track's media, decodable or not, so a stream lasts its
 * wall-clock presence whichever kinds make it into the file.
 */
export function planEncode(media: StreamIntermediates, options: ResolvedMuxOptions, selection: PlanSelection, outputPath: string): PlannedEncode {
  const { audio, cutPauses, baseMs } = media;
  const leftOut = selection.withoutVideoInputs ?? new Set<VideoInput>();
  const video = { ...media.video, inputs: media.video.inputs.filter((input) => !leftOut.has(input)) };
  const videoRuns = video.inputs.flatMap((input) => input.presence.runs);
  const withVideo = selection.video && video.inputs.some((input) => input.frames > 0);
  const withAudio = selection.audio && audio.packets > 0;

  // The stream's extent: first to last media of any track, decodable or not.
  const present = media.tracks.filter((t) => t.stats.firstMediaWallMs !== undefined);
  const firstMedia = Math.min(...present.map((t) => t.stats.firstMediaWallMs!));
  const lastMedia = Math.max(...present.map((t) => t.stats.lastMediaWallMs! + (t.track.kind === 'video' ? video.frameIntervalMs : 0)));
  const endedAt = Math.max(lastMedia, firstMedia + 1);
  const frameMs = 1000 / options.fps;
  const { width, height } = outputSize(video.inputs, options);

  const uncutGaps = (runs: Interval[], from: number) =>
    subtractIntervals([{ from, to: endedAt }], [...runs, ...clipIntervals(cutPauses, from, endedAt)]).filter((gap) => gap.to - gap.from >= MIN_GAP_MS);
  const only = video.inputs.length === 1 ? video.inputs[0]! : undefined;
  // A source whose every keyframe an mp4 can carry (the codec registry's `canCopy`) is
  // copied when nothing forces a re-encode: one size, starts on a keyframe soon enough,
  // no cuts, and no gaps that would have to be painted black.
  const copy =
    withVideo &&
    options.copyH264 &&
    only !== undefined &&
    leftOut.size === 0 &&
    video.uncopyableKeyframes === 0 &&
    only.width === width &&
    only.height === height &&
    clipIntervals(cutPauses, firstMedia, endedAt).length === 0 &&
    video.firstFrameWallMs !== undefined &&
    video.firstFrameWallMs - firstMedia <= COPY_MAX_KEYFRAME_DELAY_MS &&
    // A copy keeps the source's frame times: only a source on a constant frame rate (not a
    // browser's capture-timed frames) gives a constant-rate file that way.
    video.offGridFrames === 0 &&
    (options.videoGapFill === 'hold' ||
      uncutGaps(videoRuns, firstMedia).every((gap) => gap.from === firstMedia || (gap.to >= endedAt && gap.to - gap.from <= COPY_MAX_KEYFRAME_DELAY_MS)));

  // When re-encoding, start the file up to one frame earlier (adding silence) so that
  // the video frames land on the output frame grid instead of being rounded by up to
  // half a frame, which would eat into the A/V sync budget.
  const alignmentMs = withVideo && !copy ? gridAlignment(video.phaseSamples.map((w) => w - firstMedia), frameMs) : 0;
  const startedAt = firstMedia - alignmentMs;
  const cuts = clipIntervals(cutPauses, startedAt, endedAt);
  const durationMs = endedAt - startedAt - totalLength(cuts);
  const fileMs = (wall: number) => wall - startedAt - cutBefore(cuts, wall);
  // Gaps are measured from the first media: the alignment padding is not missing media.
  const videoGaps = withVideo ? uncutGaps(videoRuns, firstMedia) : [];
  const audioGaps = withAudio ? uncutGaps(audio.presence.runs, firstMedia) : [];
  const firstKeyframeDelayMs = withVideo && video.firstFrameWallMs !== undefined ? fileMs(video.firstFrameWallMs) : undefined;

  const plan: EncodePlan = {
    outputPath,
    durationS: durationMs / 1000,
    offsetS: (startedAt - baseMs - cutBefore(cutPauses, startedAt)) / 1000,
    video: withVideo
      ? {
          inputs: video.inputs,
          width,
          height,
          fps: options.fps,
          blackS: options.videoGapFill === 'black' ? videoGaps.map((gap) => [fileMs(gap.from) / 1000, fileMs(gap.to) / 1000] as [number, number]) : [],
          copy,
        }
      : undefined,
    audio: withAudio ? { path: audio.path, channels: options.audioChannels, bitrate: options.audioBitrate } : undefined,
  };
  const sourceCodecs = (kind: 'audio' | 'video') => [
    ...new Set(media.tracks.filter((t) => t.track.kind === kind && t.stats.usedFrames > 0).map((t) => t.scan.codec)),
  ];
  return {
    plan,
    result: {
      startedAt,
      endedAt,
      durationMs,
      ...(withVideo
        ? {
            video: {
              codec: 'h264',
              sourceCodecs: sourceCodecs('video'),
              width: copy ? only!.width! : width,
              height: copy ? only!.height! : height,
              fps: options.fps,
              copied: copy,
              gaps: videoGaps,
            },
          }
        : {}),
      ...(withAudio
        ? { audio: { codec: 'aac', sourceCodecs: sourceCodecs('audio'), sampleRate: 48_000, channels: options.audioChannels, gaps: audioGaps } }
        : {}),
      cuts,
    },
    firstKeyframeDelayMs,
    alignmentMs,
  };
}

/** The output size: as configured, else the largest source size (the other side keeping its aspect ratio). */
function outputSize(inputs: readonly VideoInput[], options: ResolvedMuxOptions): { width: number; height: number } {
  const largest =
    inputs.reduce<{ width: number; height: number } | undefined>(
      (best, input) =>
        input.width && input.height && (!best || input.width * input.height > best.width * best.height) ? { width: input.width, height: input.height } : best,
      undefined,
    ) ?? FALLBACK_SIZE;
  const width = options.width ?? (options.height ? even((options.height * largest.width) / largest.height) : even(largest.width));
  const height = options.height ?? (options.width ? even((options.width * largest.height) / largest.width) : even(largest.height));
  return { width, height };
}

/**
 * How much earlier than the first media the file should start so that the video
 * frames fall on the output grid: the circular mean of their phases modulo the
 * output frame duration. Zero when the phases do not agree (another frame rate).
 */
function gridAlignment(offsetsMs: number[], frameMs: number): number {
  if (offsetsMs.length === 0) return 0;
  let x = 0;
  let y = 0;
  for (const offset of offsetsMs) {
    const angle = (2 * Math.PI * offset) / frameMs;
    x += Math.cos(angle);
    y += Math.sin(angle);
  }
  if (Math.hypot(x, y) / offsetsMs.length < 0.5) return 0;
  const phase = ((Math.atan2(y, x) / (2 * Math.PI)) * frameMs + frameMs) % frameMs;
  const shift = (frameMs - phase) % frameMs;
  return shift < 0.5 ? 0 : shift;
}
