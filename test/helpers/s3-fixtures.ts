import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { resolveFfmpegBinaries } from '../../src/ffmpeg/binaries.js';
import type { RecordingMetadata } from '../../src/storage/upload-destination.js';

/** A fresh temp directory. */
export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `${prefix}-`));
}

/** A real 2-second H.264/AAC mp4 (320x240), made with ffmpeg. */
export async function makeTestMp4(file: string, seconds = 2): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const { ffmpegPath } = resolveFfmpegBinaries();
  await execa(ffmpegPath, [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=30',
    '-f', 'lavfi', '-i', 'sine=frequency=440',
    '-t', String(seconds),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-threads', '1',
    '-c:a', 'aac', '-movflags', '+faststart',
    file,
  ]);
}

/** A file of random bytes (storage does not look inside). */
export async function makeRandomFile(file: string, bytes: number): Promise<Buffer> {
  await mkdir(dirname(file), { recursive: true });
  const data = randomBytes(bytes);
  await writeFile(file, data);
  return data;
}

/** Copies a fixture into a spool-like path (delivery deletes the spool copy after upload). */
export async function spoolCopy(fixture: string, file: string): Promise<string> {
  await mkdir(dirname(file), { recursive: true });
  await copyFile(fixture, file);
  return file;
}

/** The session start used by the documentation's example: 2021-07-21T20:13:42Z. */
export const EXAMPLE_SESSION_START = 1626898422000;

/** Metadata of a composite recording. */
export function compositeMetadata(roomId: string, sessionId: string, sizeBytes = 1000): RecordingMetadata {
  return {
    recordingType: 'composite',
    roomId,
    sessionId,
    sessionStartedAt: EXAMPLE_SESSION_START,
    startedAt: EXAMPLE_SESSION_START,
    stoppedAt: EXAMPLE_SESSION_START + 2000,
    durationMs: 2000,
    sizeBytes,
    codecs: { video: 'h264', audio: 'aac' },
  };
}

/** Metadata of an individual recording. */
export function individualMetadata(
  roomId: string,
  sessionId: string,
  peerId: string,
  streamId: string,
  sizeBytes = 1000,
): RecordingMetadata {
  return {
    recordingType: 'individual',
    roomId,
    sessionId,
    peerId,
    streamId,
    sessionStartedAt: EXAMPLE_SESSION_START,
    startedAt: EXAMPLE_SESSION_START + 500,
    stoppedAt: EXAMPLE_SESSION_START + 2500,
    durationMs: 2000,
    sizeBytes,
    codecs: { video: 'h264', audio: 'aac' },
  };
}
