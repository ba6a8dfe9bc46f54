import { execa } from 'execa';
import { resolveFfmpegBinaries } from '../../src/ffmpeg/binaries.js';
import { runFfprobe } from '../../src/ffmpeg/run.js';

/**
 * A/V sync measurement on files made from the flash/beep test source: the video
 * flashes white and the audio beeps at the same instants (the first 100 ms of every
 * second). Decoding both and pairing the onsets gives the A/V offset at each flash.
 */

/** Mean luma (0..255) above which a frame counts as a flash. */
const FLASH_LUMA = 200;
/** RMS (of full scale 1.0) above which a 1 ms window counts as sound. */
const BEEP_RMS = 0.02;

/** Times (seconds of the file) of the first frame of every flash. */
export async function measureFlashOnsets(file: string): Promise<number[]> {
  const { ffmpegPath, ffprobePath } = resolveFfmpegBinaries();
  const probe = await runFfprobe<{ frames?: Array<{ best_effort_timestamp_time?: string; pkt_pts_time?: string }> }>(ffprobePath, [
    '-select_streams',
    'v:0',
    '-show_entries',
    'frame=best_effort_timestamp_time,pkt_pts_time',
    '-show_frames',
    file,
  ]);
  const times = (probe.frames ?? []).map((f) => Number(f.best_effort_timestamp_time ?? f.pkt_pts_time));
  const { stdout } = await execa(
    ffmpegPath,
    ['-v', 'error', '-nostdin', '-i', file, '-map', '0:v:0', '-vsync', 'passthrough', '-vf', 'scale=16:16,format=gray', '-f', 'rawvideo', '-'],
    { encoding: 'buffer', maxBuffer: 512 * 1024 * 1024, stdin: 'ignore' },
  );
  const frameSize = 256;
  const count = Math.min(times.length, Math.floor(stdout.length / frameSize));
  const onsets: number[] = [];
  let previousBright = false;
  for (let i = 0; i < count; i++) {
    let sum = 0;
    for (let j = 0; j < frameSize; j++) sum += stdout[i * frameSize + j]!;
    const bright = sum / frameSize > FLASH_LUMA;
    if (bright && !previousBright) onsets.push(times[i]!);
    previousBright = bright;
  }
  return onsets;
}

/** Times (seconds of the file) at which every beep starts, at 1 ms resolution. */
export async function measureBeepOnsets(file: string): Promise<number[]> {
  const { ffmpegPath } = resolveFfmpegBinaries();
  const { stdout } = await execa(
    ffmpegPath,
    ['-v', 'error', '-nostdin', '-copyts', '-i', file, '-map', '0:a:0', '-af', 'aresample=async=1:first_pts=0', '-ac', '1', '-ar', '48000', '-f', 's16le', '-'],
    { encoding: 'buffer', maxBuffer: 512 * 1024 * 1024, stdin: 'ignore' },
  );
  const samples = new Int16Array(stdout.buffer, stdout.byteOffset, Math.floor(stdout.length / 2));
  const window = 48;
  const onsets: number[] = [];
  let quietWindows = Number.POSITIVE_INFINITY;
  for (let w = 0; (w + 1) * window <= samples.length; w++) {
    let energy = 0;
    for (let i = w * window; i < (w + 1) * window; i++) energy += (samples[i]! / 32768) ** 2;
    const loud = Math.sqrt(energy / window) > BEEP_RMS;
    if (loud && quietWindows >= 300) onsets.push(w / 1000);
    quietWindows = loud ? 0 : quietWindows + 1;
  }
  return onsets;
}

/** A/V offsets at each flash: video onset minus audio onset, in ms (positive: video late). */
export interface AvSyncMeasurement {
  offsetsMs: number[];
  maxAbsMs: number;
  flashes: number[];
  beeps: number[];
}

/** Pairs every flash with the nearest beep (within 400 ms) and reports the offsets. */
export async function measureAvSync(file: string): Promise<AvSyncMeasurement> {
  const [flashes, beeps] = await Promise.all([measureFlashOnsets(file), measureBeepOnsets(file)]);
  const offsetsMs: number[] = [];
  for (const flash of flashes) {
    let best: number | undefined;
    for (const beep of beeps) if (best === undefined || Math.abs(beep - flash) < Math.abs(best - flash)) best = beep;
    if (best !== undefined && Math.abs(best - flash) < 0.4) offsetsMs.push(Math.round((flash - best) * 10_000) / 10);
  }
  return { offsetsMs, maxAbsMs: offsetsMs.reduce((max, o) => Math.max(max, Math.abs(o)), 0), flashes, beeps };
}
