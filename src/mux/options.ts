import { InvalidConfigError } from '../errors.js';
import type { FfmpegBinaries } from '../ffmpeg/binaries.js';
import type { ReorderOptions } from './reorder.js';

/** How finalising a stream turns its capture into an mp4. Every field is optional. */
export interface MuxOptions {
  /** Output width; default: the largest source width (with `height`, the largest source size). */
  width?: number;
  /** Output height; default: the largest source height. Sources are scaled to fit and padded. */
  height?: number;
  /** Constant output frame rate (default 30). */
  fps?: number;
  /** What fills time without video: black (default) or the last frame held. */
  videoGapFill?: 'black' | 'hold';
  /** Recording pauses: removed from the file (`cut`, default) or kept as black and silence. */
  pausedTime?: 'cut' | 'keep';
  /** libx264 preset (default `veryfast`). */
  x264Preset?: string;
  /** libx264 CRF (default 23). */
  crf?: number;
  /** AAC bitrate in bits per second (default 128000). */
  audioBitrate?: number;
  /** AAC channels (default 2). */
  audioChannels?: 1 | 2;
  /**
   * Copy H.264 without re-encoding when nothing forces a re-encode (default true): one size,
   * a keyframe within 300 ms, no cuts or painted gaps, frames on a constant frame rate
   * (browsers time frames by capture, so their H.264 is re-encoded to a constant rate), and
   * an SPS every player decodes (progressive 8-bit 4:2:0, baseline, main or high profile).
   */
  copyH264?: boolean;
  /**
   * Largest width or height of a source video frame (default 8192, DCI 8K's width). A
   * keyframe declaring more is refused before ffmpeg sees it (see {@link MuxOptions.maxFramePixels}).
   */
  maxFrameDimension?: number;
  /**
   * Largest source video frame in pixels (default 35 651 584 = 8192×4352, the largest frame
   * H.264 level 6.2 and VP9 level 6.2 allow; an 8K screen share has 33 177 600). Browsers
   * send at most their capture size and mediasoup checks none, so a bigger or zero-sized
   * frame is hostile or broken: it is refused, the stream's video waits for the next
   * acceptable keyframe, and a stream with none is written without video.
   */
  maxFramePixels?: number;
  /** Reorder window for RTP packets. */
  reorder?: ReorderOptions;
  /** ffmpeg / ffprobe binaries (default: {@link resolveFfmpegBinaries}). */
  ffmpeg?: Partial<FfmpegBinaries>;
}

/** {@link MuxOptions} with defaults applied. */
export interface ResolvedMuxOptions {
  width: number | undefined;
  height: number | undefined;
  fps: number;
  videoGapFill: 'black' | 'hold';
  pausedTime: 'cut' | 'keep';
  x264Preset: string;
  crf: number;
  audioBitrate: number;
  audioChannels: 1 | 2;
  copyH264: boolean;
  maxFrameDimension: number;
  maxFramePixels: number;
  reorder: ReorderOptions;
  ffmpeg: Partial<FfmpegBinaries>;
}

/** Default {@link MuxOptions.maxFrameDimension}: DCI 8K's width. */
export const DEFAULT_MAX_FRAME_DIMENSION = 8192;
/** Default {@link MuxOptions.maxFramePixels}: 8192×4352, H.264 level 6.2's and VP9 level 6.2's largest frame. */
export const DEFAULT_MAX_FRAME_PIXELS = 8192 * 4352;

const X264_PRESETS = ['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium', 'slow', 'slower', 'veryslow', 'placebo'];

/** Applies defaults and validates; throws {@link InvalidConfigError} naming the field. */
export function resolveMuxOptions(options: MuxOptions = {}): ResolvedMuxOptions {
  const dimension = (field: 'width' | 'height'): number | undefined => {
    const value = options[field];
    if (value === undefined) return undefined;
    if (!Number.isInteger(value) || value < 16 || value > 7680) {
      throw new InvalidConfigError(`mux.${field}`, `mux.${field} must be an integer from 16 to 7680, got ${String(value)}`);
    }
    return value - (value % 2);
  };
  const fps = options.fps ?? 30;
  if (!Number.isFinite(fps) || fps < 1 || fps > 120) throw new InvalidConfigError('mux.fps', `mux.fps must be from 1 to 120, got ${String(fps)}`);
  const oneOf = <T extends string>(field: string, value: T | undefined, allowed: readonly T[], fallback: T): T => {
    if (value === undefined) return fallback;
    if (!allowed.includes(value)) throw new InvalidConfigError(`mux.${field}`, `mux.${field} must be one of ${allowed.join(', ')}, got ${String(value)}`);
    return value;
  };
  const crf = options.crf ?? 23;
  if (!Number.isFinite(crf) || crf < 0 || crf > 51) throw new InvalidConfigError('mux.crf', `mux.crf must be from 0 to 51, got ${String(crf)}`);
  const audioBitrate = options.audioBitrate ?? 128_000;
  if (!Number.isInteger(audioBitrate) || audioBitrate < 8000 || audioBitrate > 512_000) {
    throw new InvalidConfigError('mux.audioBitrate', `mux.audioBitrate must be an integer from 8000 to 512000, got ${String(audioBitrate)}`);
  }
  const maxFrameDimension = options.maxFrameDimension ?? DEFAULT_MAX_FRAME_DIMENSION;
  if (!Number.isInteger(maxFrameDimension) || maxFrameDimension < 16 || maxFrameDimension > 16_384) {
    throw new InvalidConfigError('mux.maxFrameDimension', `mux.maxFrameDimension must be an integer from 16 to 16384, got ${String(maxFrameDimension)}`);
  }
  const maxFramePixels = options.maxFramePixels ?? DEFAULT_MAX_FRAME_PIXELS;
  if (!Number.isInteger(maxFramePixels) || maxFramePixels < 256 || maxFramePixels > 16_384 * 16_384) {
    throw new InvalidConfigError('mux.maxFramePixels', `mux.maxFramePixels must be an integer from 256 to 268435456 (16384×16384), got ${String(maxFramePixels)}`);
  }
  return {
    width: dimension('width'),
    height: dimension('height'),
    fps,
    videoGapFill: oneOf('videoGapFill', options.videoGapFill, ['black', 'hold'], 'black'),
    pausedTime: oneOf('pausedTime', options.pausedTime, ['cut', 'keep'], 'cut'),
    x264Preset: oneOf('x264Preset', options.x264Preset, X264_PRESETS, 'veryfast'),
    crf,
    audioBitrate,
    audioChannels: options.audioChannels === 1 ? 1 : 2,
    copyH264: options.copyH264 ?? true,
    maxFrameDimension,
    maxFramePixels,
    reorder: options.reorder ?? {},
    ffmpeg: options.ffmpeg ?? {},
  };
}
