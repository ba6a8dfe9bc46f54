import { chmodSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SfuRecorderError } from '../../src/errors.js';
import { FfmpegError, resolveFfmpegBinaries, runFfmpeg, runFfprobe, tellingStderrLine } from '../../src/ffmpeg/index.js';
import { failureOf } from '../helpers/outcomes.js';

const { ffmpegPath, ffprobePath } = resolveFfmpegBinaries();

let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ffmpeg-errors-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** An executable shell script standing in for a binary. */
function script(name: string, body: string): string {
  const file = join(work, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

describe('FfmpegError, shaped like execa errors', () => {
  it('has a one-line shortMessage naming the run, the exit code and the stderr line that says why', async () => {
    const missing = join(work, 'nope.mp4');
    const error = await failureOf(runFfmpeg(ffmpegPath, ['-i', missing, '-f', 'null', '-'], { label: 'reading the test input' }));
    expect(error).toBeInstanceOf(FfmpegError);
    const e = error as FfmpegError;
    expect(e).toMatchObject({ code: 'ERR_FFMPEG_FAILED', exitCode: 1, signal: undefined, isCanceled: false });
    expect(e.shortMessage).toBe(`reading the test input failed (exit 1): ${missing}: No such file or directory`);
    // The message keeps the stderr tail for the logs.
    expect(e.message).toBe(`${e.shortMessage}\n${e.stderrTail}`);
    expect(e.stderrTail).toContain(`${missing}: No such file or directory`);
  });

  it("picks the cause over ffmpeg's generic closing lines, without the component's address", async () => {
    const error = (await failureOf(
      runFfmpeg(ffmpegPath, ['-f', 'lavfi', '-i', 'testsrc=d=1', '-filter_complex', '[0:v]nosuchfilter[x]', '-map', '[x]', '-f', 'null', '-']),
    )) as FfmpegError;
    // stderr ends "Error initializing complex filters." and "Invalid argument"; the line before says what.
    expect(error.stderrTail.trim().split('\n').at(-1)).toBe('Invalid argument');
    expect(error.shortMessage).toBe("ffmpeg failed (exit 1): [AVFilterGraph] No such filter: 'nosuchfilter'");

    const preset = (await failureOf(
      runFfmpeg(ffmpegPath, ['-f', 'lavfi', '-i', 'testsrc=d=1', '-c:v', 'libx264', '-preset', 'nope', '-f', 'mp4', join(work, 'x.mp4')]),
    )) as FfmpegError;
    expect(preset.shortMessage).toMatch(/^ffmpeg failed \(exit 1\): \[libx264\] Error setting preset\/tune nope/);
  });

  it('names the signal when the process was killed', async () => {
    const crashing = script('crashing-ffmpeg', 'echo "[h264 @ 0x55aa] decoder state is corrupt" >&2\nkill -KILL $$');
    const error = (await failureOf(runFfmpeg(crashing, ['-i', 'x'], { label: 'finalising stream cam' }))) as FfmpegError;
    expect(error).toBeInstanceOf(FfmpegError);
    expect(error).toMatchObject({ exitCode: undefined, signal: 'SIGKILL', isCanceled: false });
    expect(error.shortMessage).toBe('finalising stream cam failed (killed by SIGKILL): [h264] decoder state is corrupt');
  });

  it('an abort is ERR_CANCELED (isCanceled, name AbortError), not an FfmpegError', async () => {
    const controller = new AbortController();
    const run = runFfmpeg(ffmpegPath, ['-re', '-f', 'lavfi', '-i', 'testsrc=d=60', '-f', 'null', '-'], {
      signal: controller.signal,
      label: 'a minute of test source',
      onProgress: () => controller.abort(),
    });
    const error = await failureOf(run);
    expect(error).toBeInstanceOf(SfuRecorderError);
    expect(error).not.toBeInstanceOf(FfmpegError);
    expect(error).toMatchObject({ code: 'ERR_CANCELED', isCanceled: true, name: 'AbortError' });
    expect((error as Error).message).toBe('a minute of test source was cancelled');
  });

  it('a binary that is not there is ERR_FFMPEG_MISSING naming the path', async () => {
    const path = join(work, 'no-such-ffmpeg');
    const error = await failureOf(runFfmpeg(path, ['-version']));
    expect(error).toMatchObject({ code: 'ERR_FFMPEG_MISSING' });
    expect((error as Error).message).toContain(path);
  });

  it('ffprobe of a torn mp4 names the file in its shortMessage', async () => {
    const torn = join(work, 'torn.mp4');
    writeFileSync(torn, Buffer.alloc(3000, 7));
    const error = (await failureOf(runFfprobe(ffprobePath, ['-show_format', torn]))) as FfmpegError;
    expect(error).toBeInstanceOf(FfmpegError);
    expect(error.shortMessage).toBe(`ffprobe failed (exit 1): ${torn}: Invalid data found when processing input`);
  });

  it('ffprobe output that is not JSON is ERR_FFMPEG_FAILED, not a SyntaxError', async () => {
    const chatty = script('chatty-ffprobe', 'echo "this is not json"');
    const error = await failureOf(runFfprobe(chatty, ['x.mp4']));
    expect(error).toBeInstanceOf(SfuRecorderError);
    expect(error).toMatchObject({ code: 'ERR_FFMPEG_FAILED' });
    expect((error as Error).message).toContain('this is not json');
  });
});

describe('tellingStderrLine', () => {
  it('falls back to a generic error line, then to the last line, and says nothing for no output', () => {
    expect(tellingStderrLine('Input #0, lavfi\nConversion failed!\n')).toBe('Conversion failed!');
    expect(tellingStderrLine('frame=1\nsomething odd\n')).toBe('something odd');
    expect(tellingStderrLine('  \n')).toBeUndefined();
  });
});
