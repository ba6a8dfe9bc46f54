import { InvalidConfigError, SfuRecorderError } from '../errors.js';
import type { FinalisedStream } from '../mux/stream-result.js';
import { nameTileColour } from './colours.js';
import { even } from './layouts.js';
import { fileOffsetMs } from './time-map.js';
import type { CompositeSegment, CompositeTile, Rect } from './types.js';

/** Audio is mixed at this rate and written as 16-bit stereo PCM per segment. */
export const MIX_SAMPLE_RATE = 48_000;

/**
 * alimiter looks ahead by its attack time and delays its output by as much (ffmpeg 4.1
 * has no latency compensation), so the mix is padded and trimmed by this many samples.
 */
const LIMITER_ATTACK_MS = 2;
const LIMITER_DELAY_SAMPLES = (LIMITER_ATTACK_MS * MIX_SAMPLE_RATE) / 1000;

/** Encoder settings shared by every segment (and the benchmark's bare pass). */
export interface VideoEncoding {
  fps: number;
  /** x264 preset. */
  preset: string;
  /** Target bitrate, e.g. `2500k`; when absent, constant quality `crf`. */
  bitrate?: string;
  crf?: number;
  /** x264 threads; 0 = automatic. */
  threads?: number;
}

/**
 * libx264 arguments. Every segment must produce the same SPS/PPS so that the concat
 * demuxer can join them with `-c copy`: fixed profile, GOP and no scene-cut keyframes,
 * so each segment is a closed run of GOPs starting with an IDR.
 */
export function x264Args(encoding: VideoEncoding): string[] {
  const gop = Math.max(1, Math.round(encoding.fps * 2));
  const rate = encoding.bitrate
    ? ['-b:v', encoding.bitrate, '-maxrate', encoding.bitrate, '-bufsize', doubleRate(encoding.bitrate)]
    : ['-crf', String(encoding.crf ?? 23)];
  return [
    '-c:v', 'libx264',
    '-preset', encoding.preset,
    '-profile:v', 'high',
    '-pix_fmt', 'yuv420p',
    '-g', String(gop),
    '-keyint_min', String(gop),
    '-sc_threshold', '0',
    ...rate,
    ...(encoding.threads ? ['-threads', String(encoding.threads)] : []),
  ];
}

function doubleRate(rate: string): string {
  const match = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(rate);
  if (!match) throw new InvalidConfigError('bitrate', `bitrate must look like 2500k or 2.5M, got "${rate}"`);
  return `${Number(match[1]) * 2}${match[2]}`;
}

/**
 * Escapes a value for a filter option inside a filtergraph: quoted for the option parser,
 * then backslash-escaped for the graph parser (the two levels ffmpeg unescapes in turn).
 */
export function escapeFilterValue(value: string): string {
  const quoted = `'${value.replace(/'/g, "'\\''")}'`;
  return quoted.replace(/[\\'[\],;]/g, '\\$&');
}

/** What the segment encoder needs besides the plan. */
export interface SegmentGraphInput {
  segment: CompositeSegment;
  width: number;
  height: number;
  encoding: VideoEncoding;
  /** `0xRRGGBB` or an ffmpeg colour name. */
  background: string;
  /** Streams by id, with `file` resolved to a readable path. */
  streams: ReadonlyMap<string, FinalisedStream>;
  /** Font for name tiles; without one they are plain coloured tiles. */
  fontFile?: string;
  /** Name tile label files (one per tile index), written by the caller. */
  labelFile?: (tileIndex: number) => string;
  videoOut: string;
  audioOut: string;
}

/**
 * ffmpeg arguments that render one segment: the video (H.264, in mp4) and the mixed audio
 * (PCM wav; audio is encoded once for the whole session so that AAC priming never lands
 * at a segment joint).
 *
 * Tiles are assembled with one `xstack` over the tiles plus solid fillers for the
 * uncovered canvas: an `overlay` chain on a background costs about as much again as the
 * whole decode on ffmpeg 4.1, `xstack` is a copy.
 */
export function segmentArgs(input: SegmentGraphInput): string[] {
  const { segment, width, height, encoding, background, streams } = input;
  const frames = segment.endFrame - segment.startFrame;
  const seconds = frames / encoding.fps;
  const startSample = Math.round((segment.startFrame * MIX_SAMPLE_RATE) / encoding.fps);
  const samples = Math.round((segment.endFrame * MIX_SAMPLE_RATE) / encoding.fps) - startSample;

  // One demuxer per stream, seeked to where the segment starts in that stream's file.
  const args: string[] = [];
  const inputIndex = new Map<string, { index: number; delayMs: number }>();
  const useStream = (streamId: string) => {
    let entry = inputIndex.get(streamId);
    if (entry) return entry;
    const stream = streams.get(streamId);
    if (!stream) {
      throw new SfuRecorderError('ERR_COMPOSE_SOURCE_MISSING', `segment ${segment.index} uses stream ${streamId}, which has no finalised file`);
    }
    const offset = fileOffsetMs(stream, segment.wallFrom);
    entry = { index: inputIndex.size, delayMs: Math.max(0, -offset) };
    inputIndex.set(streamId, entry);
    // -ss before -i: a demuxer seek plus exact decoding up to the position (re-encode path).
    // Not at 0: ffmpeg 4.1 then drops the AAC priming twice (1024 samples, 21 ms early).
    if (offset > 0) args.push('-ss', ms(offset));
    args.push('-t', ms(seconds * 1000 + 500), '-i', stream.file);
    return entry;
  };
  for (const tile of segment.tiles) if (tile.kind === 'video' && tile.streamId) useStream(tile.streamId);
  const audio = segment.audioSources.map((s) => useStream(s.streamId));

  const graph: string[] = [];
  const parts: Array<{ label: string; rect: Rect }> = [];
  const rate = `${encoding.fps}`;
  for (const [i, rect] of fillers(segment.tiles.map((t) => t.rect), width, height).entries()) {
    graph.push(`color=c=${background}:s=${rect.width}x${rect.height}:r=${rate}:d=${sec(seconds)}[f${i}]`);
    parts.push({ label: `f${i}`, rect });
  }
  segment.tiles.forEach((tile, i) => {
    const label = `t${i}`;
    if (tile.kind === 'video' && tile.streamId) {
      const { index, delayMs } = inputIndex.get(tile.streamId)!;
      graph.push(`[${index}:v]${videoTileChain(tile, streams.get(tile.streamId)!, delayMs, encoding.fps, background)}[${label}]`);
    } else {
      graph.push(`${nameTileSource(tile, rate, seconds, input.fontFile, input.labelFile?.(i))}[${label}]`);
    }
    parts.push({ label, rect: tile.rect });
  });

  const finish = `tpad=stop=-1:stop_mode=clone,trim=end_frame=${frames},setsar=1,format=yuv420p[vout]`;
  if (parts.length === 1) {
    graph.push(`[${parts[0]!.label}]${finish}`);
  } else {
    const layout = parts.map((p) => `${p.rect.x}_${p.rect.y}`).join('|');
    graph.push(`${parts.map((p) => `[${p.label}]`).join('')}xstack=inputs=${parts.length}:layout=${layout},${finish}`);
  }

  graph.push(...mixChain(audio.map((a) => a.index), audio.map((a) => a.delayMs), samples));

  return [
    ...args,
    '-filter_complex', graph.join(';'),
    '-map', '[vout]', '-frames:v', String(frames), ...x264Args(encoding), '-an', '-f', 'mp4', input.videoOut,
    '-map', '[aout]', '-c:a', 'pcm_s16le', '-ar', String(MIX_SAMPLE_RATE), '-ac', '2', '-vn', '-f', 'wav', input.audioOut,
  ];
}

/** Scale to fit the tile keeping the aspect ratio, centre it on the background colour. */
function videoTileChain(tile: CompositeTile, stream: FinalisedStream, delayMs: number, fps: number, background: string): string {
  const { width: tw, height: th } = tile.rect;
  const sw = stream.video?.width ?? tw;
  const sh = stream.video?.height ?? th;
  const fit = Math.min(tw / sw, th / sh);
  const w = Math.min(tw, Math.max(2, even(sw * fit)));
  const h = Math.min(th, Math.max(2, even(sh * fit)));
  const chain: string[] = [];
  // A stream starting inside the segment (frame rounding): shift it to its instant.
  if (delayMs > 0) chain.push(`setpts=PTS+${sec(delayMs / 1000)}/TB`);
  // Resample onto the output frame grid from t = 0 so every xstack input has the same timestamps.
  chain.push(`fps=${fps}:start_time=0`);
  if (w !== sw || h !== sh) chain.push(`scale=${w}:${h}`);
  chain.push('setsar=1');
  if (w !== tw || h !== th) chain.push(`pad=${tw}:${th}:${even((tw - w) / 2)}:${even((th - h) / 2)}:color=${background}`);
  return chain.join(',');
}

function nameTileSource(tile: CompositeTile, rate: string, seconds: number, fontFile?: string, labelFile?: string): string {
  const { width, height } = tile.rect;
  const source = `color=c=${nameTileColour(tile.peerId)}:s=${width}x${height}:r=${rate}:d=${sec(seconds)}`;
  if (!fontFile || !labelFile) return source;
  const size = Math.max(8, Math.round(Math.min(height / 6, (width * 0.8) / Math.max(1, tile.label.length * 0.6))));
  return (
    `${source},drawtext=fontfile=${escapeFilterValue(fontFile)}:textfile=${escapeFilterValue(labelFile)}` +
    `:expansion=none:fontcolor=white:fontsize=${size}:x=(w-text_w)/2:y=(h-text_h)/2`
  );
}

/**
 * Mixes the inputs' audio into exactly `samples` stereo samples. Each input is padded to
 * the segment length first, so amix (4.1: no `normalize`) scales every input by a
 * constant 1/n; `volume=n` undoes it and a limiter keeps the sum from clipping.
 */
function mixChain(indexes: number[], delaysMs: number[], samples: number): string[] {
  if (indexes.length === 0) return [`anullsrc=r=${MIX_SAMPLE_RATE}:cl=stereo,atrim=end_sample=${samples}[aout]`];
  const limited = indexes.length > 1;
  const total = samples + (limited ? LIMITER_DELAY_SAMPLES : 0);
  const graph = indexes.map((index, i) => {
    const delay = delaysMs[i]! >= 0.5 ? `,adelay=${Math.round(delaysMs[i]!)}|${Math.round(delaysMs[i]!)}` : '';
    return (
      `[${index}:a]aformat=sample_fmts=fltp:sample_rates=${MIX_SAMPLE_RATE}:channel_layouts=stereo${delay},` +
      `apad=whole_len=${total},atrim=end_sample=${total}[a${i}]`
    );
  });
  if (!limited) {
    graph.push('[a0]anull[aout]');
    return graph;
  }
  graph.push(
    `${indexes.map((_, i) => `[a${i}]`).join('')}amix=inputs=${indexes.length}:duration=longest:dropout_transition=0,` +
      `volume=${indexes.length},alimiter=level=0:limit=0.95:attack=${LIMITER_ATTACK_MS}:release=50,` +
      `atrim=start_sample=${LIMITER_DELAY_SAMPLES},asetpts=N/SR/TB[aout]`,
  );
  return graph;
}

/**
 * Rectangles covering the canvas outside `tiles`: horizontal bands between tile edges,
 * split at the tiles inside each band. xstack leaves uncovered pixels undefined.
 */
export function fillers(tiles: readonly Rect[], width: number, height: number): Rect[] {
  const ys = [...new Set([0, height, ...tiles.flatMap((t) => [t.y, t.y + t.height])])]
    .filter((y) => y >= 0 && y <= height)
    .sort((a, b) => a - b);
  const out: Rect[] = [];
  for (let i = 0; i + 1 < ys.length; i++) {
    const y0 = ys[i]!;
    const y1 = ys[i + 1]!;
    const covered = tiles
      .filter((t) => t.y < y1 && t.y + t.height > y0)
      .map((t) => [t.x, t.x + t.width] as const)
      .sort((a, b) => a[0] - b[0]);
    let x = 0;
    for (const [from, to] of covered) {
      if (from > x) out.push({ x, y: y0, width: from - x, height: y1 - y0 });
      x = Math.max(x, to);
    }
    if (x < width) out.push({ x, y: y0, width: width - x, height: y1 - y0 });
  }
  // Merge vertically adjacent fillers with the same columns: fewer sources to generate.
  const merged: Rect[] = [];
  for (const r of out) {
    const above = merged.find((m) => m.x === r.x && m.width === r.width && m.y + m.height === r.y);
    if (above) above.height += r.height;
    else merged.push({ ...r });
  }
  return merged;
}

function ms(value: number): string {
  return sec(value / 1000);
}

function sec(value: number): string {
  return value.toFixed(6);
}
