import { execa } from 'execa';
import { resolveFfmpegBinaries } from '../../src/ffmpeg/index.js';

/**
 * Measurements on a composite: per-tile colours and flashes from decoded RGB frames,
 * per-peer tones and beeps from decoded PCM (each synthetic peer has its own frequency,
 * so a Goertzel filter separates them in the mix).
 */

export type Rgb = readonly [number, number, number];

/** Every frame of `file` as packed RGB24, `width`x`height`. */
export async function decodeFrames(file: string, width: number, height: number): Promise<Buffer[]> {
  const { ffmpegPath } = resolveFfmpegBinaries();
  const { stdout } = await execa(
    ffmpegPath,
    ['-v', 'error', '-nostdin', '-i', file, '-map', '0:v:0', '-vsync', 'passthrough', '-s', `${width}x${height}`, '-pix_fmt', 'rgb24', '-f', 'rawvideo', '-'],
    { encoding: 'buffer', maxBuffer: 1024 * 1024 * 1024, stdin: 'ignore' },
  );
  const all = Buffer.from(stdout.buffer, stdout.byteOffset, stdout.length);
  const size = width * height * 3;
  const frames: Buffer[] = [];
  for (let offset = 0; offset + size <= all.length; offset += size) frames.push(all.subarray(offset, offset + size));
  return frames;
}

/** One frame at `seconds` (accurate seek), as packed RGB24. */
export async function decodeFrameAt(file: string, seconds: number, width: number, height: number): Promise<Buffer> {
  const { ffmpegPath } = resolveFfmpegBinaries();
  const { stdout } = await execa(
    ffmpegPath,
    ['-v', 'error', '-nostdin', '-ss', seconds.toFixed(3), '-i', file, '-frames:v', '1', '-s', `${width}x${height}`, '-pix_fmt', 'rgb24', '-f', 'rawvideo', '-'],
    { encoding: 'buffer', stdin: 'ignore' },
  );
  return Buffer.from(stdout);
}

/** Mean colour of a 5x5 patch centred on (x, y). */
export function pixel(frame: Buffer, width: number, x: number, y: number): Rgb {
  const sum = [0, 0, 0];
  let n = 0;
  for (let dy = -2; dy <= 2; dy++) {
    for (let dx = -2; dx <= 2; dx++) {
      const i = ((y + dy) * width + (x + dx)) * 3;
      sum[0]! += frame[i]!;
      sum[1]! += frame[i + 1]!;
      sum[2]! += frame[i + 2]!;
      n++;
    }
  }
  return [sum[0]! / n, sum[1]! / n, sum[2]! / n];
}

export function near(a: Rgb, b: Rgb, tolerance = 40): boolean {
  return Math.abs(a[0] - b[0]) <= tolerance && Math.abs(a[1] - b[1]) <= tolerance && Math.abs(a[2] - b[2]) <= tolerance;
}

export function isWhite(c: Rgb): boolean {
  return c[0] > 200 && c[1] > 200 && c[2] > 200;
}

/** Whole-file audio, first channel, as float samples at 48 kHz (a downmix would add the channels up). */
export async function decodeAudio(file: string): Promise<Float32Array> {
  const { ffmpegPath } = resolveFfmpegBinaries();
  const { stdout } = await execa(
    ffmpegPath,
    ['-v', 'error', '-nostdin', '-i', file, '-map', '0:a:0', '-af', 'pan=mono|c0=c0', '-ar', '48000', '-f', 'f32le', '-'],
    { encoding: 'buffer', maxBuffer: 1024 * 1024 * 1024, stdin: 'ignore' },
  );
  const copy = Buffer.from(stdout);
  return new Float32Array(copy.buffer, copy.byteOffset, Math.floor(copy.length / 4));
}

/** Amplitude of the `hz` component in samples[start, start + length) (Goertzel, Hann window). */
export function toneAmplitude(samples: Float32Array, start: number, length: number, hz: number, rate = 48000): number {
  const k = (2 * Math.cos((2 * Math.PI * hz) / rate));
  let s1 = 0;
  let s2 = 0;
  let windowSum = 0;
  for (let i = 0; i < length; i++) {
    const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (length - 1));
    windowSum += w;
    const s0 = (samples[start + i] ?? 0) * w + k * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const power = s1 * s1 + s2 * s2 - k * s1 * s2;
  return (2 * Math.sqrt(Math.max(0, power))) / windowSum;
}

/**
 * Beep onsets of the `hz` tone (seconds): where its amplitude, measured in 10 ms windows
 * every 1 ms, first crosses `threshold` after at least 300 ms below it. The window centre
 * is reported, which is where a step onset reaches half its height.
 */
export function toneOnsets(samples: Float32Array, hz: number, threshold: number, rate = 48000): number[] {
  const window = rate / 100;
  const hop = rate / 1000;
  const onsets: number[] = [];
  let quiet = Number.POSITIVE_INFINITY;
  for (let start = 0; start + window <= samples.length; start += hop) {
    const loud = toneAmplitude(samples, start, window, hz, rate) > threshold;
    if (loud && quiet >= 300) onsets.push((start + window / 2) / rate);
    quiet = loud ? 0 : quiet + 1;
  }
  return onsets;
}

/** Flash onsets (seconds) of the tile around (x, y): first white frame after a non-white one. */
export function flashOnsets(frames: readonly Buffer[], width: number, x: number, y: number, fps: number, range?: [number, number]): number[] {
  const onsets: number[] = [];
  let previous = true;
  const from = range ? Math.ceil(range[0] * fps) : 0;
  const to = range ? Math.floor(range[1] * fps) : frames.length;
  for (let i = from; i < Math.min(to, frames.length); i++) {
    const white = isWhite(pixel(frames[i]!, width, x, y));
    if (white && !previous) onsets.push(i / fps);
    previous = white;
  }
  return onsets;
}
