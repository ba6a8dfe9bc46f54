import { createRequire } from 'node:module';
import { SfuRecorderError } from '../errors.js';

const require = createRequire(import.meta.url);

/** Which ffmpeg and ffprobe binaries to run. */
export interface FfmpegBinaries {
  ffmpegPath: string;
  ffprobePath: string;
}

/**
 * Picks the binaries: explicit paths first, then `SFU_RECORDER_FFMPEG` /
 * `SFU_RECORDER_FFPROBE`, then the ones shipped by `@ffmpeg-installer/ffmpeg` and
 * `@ffprobe-installer/ffprobe`.
 */
export function resolveFfmpegBinaries(explicit: Partial<FfmpegBinaries> = {}): FfmpegBinaries {
  return {
    ffmpegPath: explicit.ffmpegPath ?? process.env.SFU_RECORDER_FFMPEG ?? installed('@ffmpeg-installer/ffmpeg', 'ffmpeg'),
    ffprobePath:
      explicit.ffprobePath ?? process.env.SFU_RECORDER_FFPROBE ?? installed('@ffprobe-installer/ffprobe', 'ffprobe'),
  };
}

function installed(pkg: string, name: string): string {
  try {
    return (require(pkg) as { path: string }).path;
  } catch (cause) {
    throw new SfuRecorderError(
      'ERR_FFMPEG_MISSING',
      `${name} not found: install ${pkg}, set SFU_RECORDER_${name.toUpperCase()}, or pass ${name}Path`,
      { cause },
    );
  }
}
