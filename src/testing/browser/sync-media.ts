import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { resolveFfmpegBinaries } from '../../ffmpeg/binaries.js';
import { SYNC_BEEP_HZ, SYNC_PULSE_MS } from '../ffmpeg-source.js';

/** A y4m + wav pair for Chromium's fake camera and microphone. */
export interface SyncMediaFiles {
  video: string;
  audio: string;
}

/** Options of {@link generateSyncMedia}. */
export interface SyncMediaOptions {
  width: number;
  height: number;
  fps: number;
  /** Loop length; Chromium plays both files in a loop. Default 2 s. */
  seconds?: number;
  /** Where the files are cached; default `<tmpdir>/sfu-recorder-browser-media`. */
  dir?: string;
}

/**
 * Makes (once, then cached) the fake devices' files: a moving test pattern that turns
 * white for the first {@link SYNC_PULSE_MS} ms of every second, and audio that beeps
 * at {@link SYNC_BEEP_HZ} Hz at the same instants and is silent in between (so Opus
 * DTX has silence to suppress). The picture is never black, so black in a recording
 * is the recorder's.
 */
export async function generateSyncMedia(options: SyncMediaOptions): Promise<SyncMediaFiles> {
  const { width, height, fps } = options;
  const seconds = options.seconds ?? 2;
  const dir = options.dir ?? join(tmpdir(), 'sfu-recorder-browser-media');
  mkdirSync(dir, { recursive: true });
  const video = join(dir, `sync-${width}x${height}-${fps}-${seconds}s.y4m`);
  const audio = join(dir, `sync-${seconds}s.wav`);
  const { ffmpegPath } = resolveFfmpegBinaries();
  const flashFrames = Math.max(1, Math.round((fps * SYNC_PULSE_MS) / 1000));
  const pulse = Math.round((48_000 * SYNC_PULSE_MS) / 1000);
  if (!existsSync(video)) {
    await execa(ffmpegPath, [
      '-v', 'error', '-nostdin', '-y',
      '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=${fps}`,
      '-vf', `drawbox=c=white:t=fill:enable='lt(mod(n,${fps}),${flashFrames})'`,
      '-t', String(seconds), '-pix_fmt', 'yuv420p', '-f', 'yuv4mpegpipe', `${video}.tmp`,
    ]);
    renameSync(`${video}.tmp`, video);
  }
  if (!existsSync(audio)) {
    await execa(ffmpegPath, [
      '-v', 'error', '-nostdin', '-y',
      '-f', 'lavfi', '-i', `aevalsrc=exprs='if(lt(mod(n,48000),${pulse}),0.5*sin(2*PI*${SYNC_BEEP_HZ}*n/48000),0)':s=48000:c=mono`,
      '-t', String(seconds), '-c:a', 'pcm_s16le', '-f', 'wav', `${audio}.tmp`,
    ]);
    renameSync(`${audio}.tmp`, audio);
  }
  return { video, audio };
}
