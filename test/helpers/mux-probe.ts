import { execa } from 'execa';
import { resolveFfmpegBinaries } from '../../src/ffmpeg/binaries.js';
import { runFfprobe } from '../../src/ffmpeg/run.js';

/** What the mux tests check on an mp4. */
export interface ProbedFile {
  durationS: number;
  streams: Array<{ codec_type: string; codec_name: string; width?: number; height?: number; start_time?: string; duration?: string; r_frame_rate?: string }>;
}

export async function probeFile(file: string): Promise<ProbedFile> {
  const { ffprobePath } = resolveFfmpegBinaries();
  const out = await runFfprobe<{ format: { duration: string }; streams: ProbedFile['streams'] }>(ffprobePath, ['-show_format', '-show_streams', file]);
  return { durationS: Number(out.format.duration), streams: out.streams };
}

/** The first decoded video frame: is it a keyframe, and when. */
export async function firstVideoFrame(file: string): Promise<{ keyframe: boolean; timeS: number; pictType: string }> {
  const { ffprobePath } = resolveFfmpegBinaries();
  const out = await runFfprobe<{ frames: Array<{ key_frame: number; best_effort_timestamp_time: string; pict_type: string }> }>(ffprobePath, [
    '-select_streams', 'v:0', '-show_frames', '-read_intervals', '%+#1', file,
  ]);
  const frame = out.frames[0]!;
  return { keyframe: frame.key_frame === 1, timeS: Number(frame.best_effort_timestamp_time), pictType: frame.pict_type };
}

/** Resolutions of every decoded video frame (distinct values). */
export async function frameSizes(file: string): Promise<string[]> {
  const { ffprobePath } = resolveFfmpegBinaries();
  const out = await runFfprobe<{ frames: Array<{ width: number; height: number }> }>(ffprobePath, [
    '-select_streams', 'v:0', '-show_entries', 'frame=width,height', '-show_frames', file,
  ]);
  return [...new Set(out.frames.map((f) => `${f.width}x${f.height}`))];
}

/** What `ffmpeg -v error` prints while decoding the whole file (empty when clean). */
export async function decodeErrors(file: string): Promise<string> {
  const { ffmpegPath } = resolveFfmpegBinaries();
  const { stderr } = await execa(ffmpegPath, ['-v', 'error', '-nostdin', '-i', file, '-f', 'null', '-'], { stdin: 'ignore', reject: false });
  return stderr.trim();
}

/** Mean luma per video frame (0..255) with its time, from a 16x16 grey decode. */
export async function lumaTimeline(file: string, fps: number): Promise<Array<{ t: number; luma: number }>> {
  const { ffmpegPath } = resolveFfmpegBinaries();
  const { stdout } = await execa(ffmpegPath, ['-v', 'error', '-nostdin', '-i', file, '-map', '0:v:0', '-vf', 'scale=16:16,format=gray', '-f', 'rawvideo', '-'], {
    encoding: 'buffer', maxBuffer: 512 * 1024 * 1024, stdin: 'ignore',
  });
  const out: Array<{ t: number; luma: number }> = [];
  for (let i = 0; (i + 1) * 256 <= stdout.length; i++) {
    let sum = 0;
    for (let j = 0; j < 256; j++) sum += stdout[i * 256 + j]!;
    out.push({ t: i / fps, luma: sum / 256 });
  }
  return out;
}

/** RMS (0..1) of the decoded audio per 10 ms window. */
export async function audioLevels(file: string): Promise<number[]> {
  const { ffmpegPath } = resolveFfmpegBinaries();
  const { stdout } = await execa(ffmpegPath, ['-v', 'error', '-nostdin', '-i', file, '-map', '0:a:0', '-ac', '1', '-ar', '48000', '-f', 's16le', '-'], {
    encoding: 'buffer', maxBuffer: 512 * 1024 * 1024, stdin: 'ignore',
  });
  const samples = new Int16Array(stdout.buffer, stdout.byteOffset, Math.floor(stdout.length / 2));
  const levels: number[] = [];
  for (let w = 0; (w + 1) * 480 <= samples.length; w++) {
    let energy = 0;
    for (let i = w * 480; i < (w + 1) * 480; i++) energy += (samples[i]! / 32768) ** 2;
    levels.push(Math.sqrt(energy / 480));
  }
  return levels;
}
