/**
 * The final ffmpeg pass of finalising a stream: the arguments and filter script for an
 * {@link EncodePlan}, running them, and refusing an output without the planned streams.
 */
import { writeFile } from 'node:fs/promises';
import { SfuRecorderError } from '../errors.js';
import type { FfmpegBinaries } from '../ffmpeg/binaries.js';
import { runFfmpeg, runFfprobe } from '../ffmpeg/run.js';
import type { ResolvedMuxOptions } from './options.js';

/** One video intermediate: frames of one codec and one coded size. */
export interface VideoIntermediate {
  path: string;
  codec: string;
  /** Coded size; undefined when no keyframe said. */
  width: number | undefined;
  height: number | undefined;
}

/** Everything the final ffmpeg pass needs; times are in seconds of the output file. */
export interface EncodePlan {
  outputPath: string;
  durationS: number;
  /** Subtracted from every intermediate timestamp to get file time. */
  offsetS: number;
  video:
    | {
        inputs: VideoIntermediate[];
        width: number;
        height: number;
        fps: number;
        /** File-time intervals painted black (black gap fill). */
        blackS: Array<[number, number]>;
        copy: boolean;
      }
    | undefined;
  audio: { path: string; channels: 1 | 2; bitrate: number } | undefined;
}

/** The ffmpeg arguments and filter script for an {@link EncodePlan}. */
export function buildFfmpegArgs(plan: EncodePlan, options: ResolvedMuxOptions, scriptPath: string): { args: string[]; script: string } {
  const args: string[] = ['-copyts'];
  const filters: string[] = [];
  const offset = (-plan.offsetS).toFixed(6);
  let index = 0;
  const videoIndexes: number[] = [];
  for (const input of plan.video?.inputs ?? []) {
    args.push('-itsoffset', offset, '-reinit_filter', '0', '-i', input.path);
    videoIndexes.push(index++);
  }
  let audioIndex: number | undefined;
  if (plan.audio) {
    args.push('-itsoffset', offset, '-i', plan.audio.path);
    audioIndex = index;
  }

  const maps: string[] = [];
  const video = plan.video;
  if (video && video.copy) {
    maps.push('-map', `${videoIndexes[0]}:v`, '-c:v', 'copy');
  } else if (video) {
    const { width: W, height: H, fps } = video;
    const labels: string[] = ['[lead]'];
    // One black frame at t = 0: time before the first keyframe shows black, never garbage.
    filters.push(`color=c=black:s=${W}x${H}:r=${fps},trim=end_frame=1,setsar=1,format=yuv420p[lead]`);
    video.inputs.forEach((input, i) => {
      filters.push(`[${videoIndexes[i]}:v]${fitFilter(input, W, H)},setsar=1,format=yuv420p[g${i}]`);
      labels.push(`[g${i}]`);
    });
    // interleave merges the per-size inputs by timestamp, fps makes the frame rate
    // constant (holding frames across holes), tpad holds the last frame to the end,
    // drawbox blacks out the gaps.
    let chain = `${labels.join('')}interleave=nb_inputs=${labels.length},fps=fps=${fps}`;
    chain += `,tpad=stop_mode=clone:stop_duration=${plan.durationS.toFixed(3)}`;
    if (video.blackS.length > 0) {
      // A gap ends at the first frame after it, which fps puts on the output slot nearest to
      // it: that slot (up to half a frame earlier) shows the frame, it is not part of the gap.
      const end = (to: number) => (to - 0.5 / fps).toFixed(4);
      const enable = video.blackS.map(([from, to]) => `gte(t,${from.toFixed(4)})*lt(t,${end(to)})`).join('+');
      chain += `,drawbox=x=0:y=0:w=iw:h=ih:c=black:t=fill:enable='${enable}'`;
    }
    filters.push(`${chain}[vout]`);
    maps.push('-map', '[vout]');
    maps.push('-c:v', 'libx264', '-preset', options.x264Preset, '-crf', String(options.crf), '-pix_fmt', 'yuv420p');
    maps.push('-g', String(Math.round(fps * 2)), '-r', String(fps));
  }
  if (plan.audio && audioIndex !== undefined) {
    // async + min_hard_comp: every packet lands at its timestamp (gaps become silence,
    // overlaps are trimmed); first_pts=0 pads the start with silence.
    const layout = plan.audio.channels === 1 ? 'mono' : 'stereo';
    filters.push(
      `[${audioIndex}:a]aresample=48000:async=1:min_hard_comp=0.010:first_pts=0,` +
        `aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=${layout},apad[aout]`,
    );
    maps.push('-map', '[aout]', '-c:a', 'aac', '-b:a', String(plan.audio.bitrate), '-ar', '48000', '-ac', String(plan.audio.channels));
  }
  if (filters.length > 0) args.push('-filter_complex_script', scriptPath);
  args.push(...maps, '-t', plan.durationS.toFixed(3), '-movflags', '+faststart', '-f', 'mp4', plan.outputPath);
  return { args, script: filters.join(';\n') };
}

/** Scale to fit inside W x H keeping the aspect ratio, then pad to W x H. */
function fitFilter(input: VideoIntermediate, W: number, H: number): string {
  if (!input.width || !input.height) return `scale=${W}:${H}`;
  const scale = Math.min(W / input.width, H / input.height);
  const w = Math.min(W, even(input.width * scale));
  const h = Math.min(H, even(input.height * scale));
  const x = even((W - w) / 2);
  const y = even((H - h) / 2);
  return `scale=${w}:${h}:flags=bicubic,pad=${W}:${H}:${x}:${y}:color=black`;
}

/** Rounds to the nearest even integer, at least 2. */
export function even(value: number): number {
  return Math.max(2, 2 * Math.round(value / 2));
}

/**
 * Runs the plan: writes the filter script next to the output, runs ffmpeg and checks the
 * file holds every planned stream and a duration. Rejects with `FfmpegError` (stderr tail)
 * or `ERR_MUX_OUTPUT_INVALID`.
 */
export async function runEncodePlan(
  plan: EncodePlan,
  options: ResolvedMuxOptions,
  binaries: FfmpegBinaries,
  label: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  const scriptPath = `${plan.outputPath}.filters.txt`;
  const { args, script } = buildFfmpegArgs(plan, options, scriptPath);
  await writeFile(scriptPath, script);
  await runFfmpeg(binaries.ffmpegPath, args, { ...(signal ? { signal } : {}), label });
  await verifyOutput(binaries.ffprobePath, plan, label, signal);
}

interface ProbeOutput {
  streams?: Array<{ codec_type?: string; codec_name?: string }>;
  format?: { duration?: string };
}

/** Refuses to report success for an output that lacks a planned stream or has no duration. */
async function verifyOutput(ffprobePath: string, plan: EncodePlan, label: string, signal?: AbortSignal): Promise<void> {
  const probe = await runFfprobe<ProbeOutput>(ffprobePath, ['-show_streams', '-show_format', plan.outputPath], signal);
  const types = (probe.streams ?? []).map((s) => s.codec_type);
  const duration = Number(probe.format?.duration ?? 0);
  const missing = [plan.video ? 'video' : undefined, plan.audio ? 'audio' : undefined].filter(
    (kind): kind is string => kind !== undefined && !types.includes(kind),
  );
  if (missing.length > 0 || !(duration > 0)) {
    throw new SfuRecorderError(
      'ERR_MUX_OUTPUT_INVALID',
      `${label} produced an unusable file (streams: ${types.join(', ') || 'none'}, duration ${duration}s)`,
    );
  }
}

/**
 * Whether ffmpeg decodes a frame from the start of a video intermediate: a file whose
 * first keyframe no decoder takes (a garbage or unsupported header that still looked
 * like a keyframe of a new size) makes the whole final pass fail, and is left out of it.
 */
export async function decodesVideo(ffprobePath: string, path: string, signal?: AbortSignal): Promise<boolean> {
  try {
    const probe = await runFfprobe<{ streams?: Array<{ nb_read_frames?: string }> }>(
      ffprobePath,
      ['-select_streams', 'v:0', '-count_frames', '-read_intervals', '%+#3', '-show_entries', 'stream=nb_read_frames', path],
      signal,
    );
    return Number(probe.streams?.[0]?.nb_read_frames ?? 0) > 0;
  } catch (error) {
    if (signal?.aborted) throw error;
    return false;
  }
}
