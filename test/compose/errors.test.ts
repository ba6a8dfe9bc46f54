import { chmodSync, cpSync, existsSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Compositor, composeSession, CompositeSourceError } from '../../src/compose/index.js';
import { InvalidConfigError, SfuRecorderError } from '../../src/errors.js';
import { FfmpegError, resolveFfmpegBinaries } from '../../src/ffmpeg/index.js';
import { sessionPaths } from '../../src/spool/layout.js';
import { createSyntheticSession, scratchDir } from '../helpers/compose-session.js';

const SMALL = { width: 160, height: 90, fps: 15, preset: 'ultrafast' } as const;

describe('composite failures, cancellation and re-runs', () => {
  let root: string;
  let template: string;
  let n = 0;

  beforeAll(async () => {
    root = scratchDir('errors');
    template = join(root, 'template');
    await createSyntheticSession(template, {
      durationMs: 6000,
      width: 80,
      height: 44,
      peers: [
        { peerId: 'peer-a', colour: '0xff0000', toneHz: 700, joinAt: 0 },
        { peerId: 'peer-b', colour: '0x00ff00', toneHz: 1100, joinAt: 1000, leaveAt: 5000 },
      ],
    });
  });

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  /** A fresh copy of the template session (tests change it). */
  function copy(): string {
    const dir = join(root, `s${n++}`);
    cpSync(template, dir, { recursive: true });
    return dir;
  }

  it('names a missing stream mp4', async () => {
    const dir = copy();
    const mp4 = sessionPaths.streamFile(dir, 'peer-b', 'peer-b-s1');
    unlinkSync(mp4);
    // stream.json still points at the template's file; make it point nowhere.
    const json = sessionPaths.streamResult(dir, 'peer-b', 'peer-b-s1');
    writeFileSync(json, JSON.stringify({ ...JSON.parse(readFileSync(json, 'utf8')), file: mp4 }));
    const error = await composeSession(dir, SMALL).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CompositeSourceError);
    expect(error).toMatchObject({ code: 'ERR_COMPOSE_SOURCE_MISSING', file: mp4 });
    expect((error as Error).message).toContain(mp4);
  });

  it('names a missing stream.json', async () => {
    const dir = copy();
    const json = sessionPaths.streamResult(dir, 'peer-a', 'peer-a-s1');
    unlinkSync(json);
    await expect(composeSession(dir, SMALL)).rejects.toMatchObject({ code: 'ERR_COMPOSE_SOURCE_MISSING', file: json });
  });

  it('names a broken stream mp4', async () => {
    const dir = copy();
    const mp4 = sessionPaths.streamFile(dir, 'peer-a', 'peer-a-s1');
    const json = sessionPaths.streamResult(dir, 'peer-a', 'peer-a-s1');
    writeFileSync(json, JSON.stringify({ ...JSON.parse(readFileSync(json, 'utf8')), file: mp4 }));
    writeFileSync(mp4, Buffer.alloc(4096, 7));
    const error = await composeSession(dir, SMALL).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_COMPOSE_SOURCE_BROKEN', file: mp4 });
    expect((error as Error).message).toContain('peer-a');
    expect(existsSync(join(dir, 'composite', 'composite.json'))).toBe(false);
  });

  it('names a missing timeline', async () => {
    const dir = copy();
    unlinkSync(sessionPaths.timeline(dir));
    await expect(composeSession(dir, SMALL)).rejects.toMatchObject({ code: 'ERR_COMPOSE_SOURCE_MISSING', file: sessionPaths.timeline(dir) });
  });

  it('rejects bad options with the option named', () => {
    expect(() => new Compositor({ width: 641 })).toThrow(/width/);
    expect(() => new Compositor({ bitrate: 'fast' })).toThrow(/bitrate/);
    expect(() => new Compositor({ layout: 'mosaic' as never })).toThrow(/mosaic/);
  });

  it('cancels on abort and leaves no partial output', async () => {
    const dir = copy();
    const controller = new AbortController();
    const compositor = new Compositor({ ...SMALL, maxSegmentMs: 1000, concurrency: 1 });
    compositor.on('segment', () => controller.abort());
    const error = await compositor.compose(dir, { signal: controller.signal }).catch((e: unknown) => e);
    // A cancellation is one of ours (ERR_CANCELED, isCanceled) and still reads as an AbortError.
    expect(error).toBeInstanceOf(SfuRecorderError);
    expect(error).toMatchObject({ code: 'ERR_CANCELED', isCanceled: true, name: 'AbortError' });
    expect(readdirSync(join(dir, 'composite'))).toEqual([]);
  });

  it('refuses to start on an already aborted signal, writing nothing', async () => {
    const dir = copy();
    const error = await composeSession(dir, { ...SMALL, signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_CANCELED', isCanceled: true });
    expect(existsSync(join(dir, 'composite'))).toBe(false);
  });

  it('names the broken stream by file when ffmpeg fails reading it mid-segment, in one line', async () => {
    const dir = copy();
    const mp4 = sessionPaths.streamFile(dir, 'peer-b', 'peer-b-s1');
    const json = sessionPaths.streamResult(dir, 'peer-b', 'peer-b-s1');
    writeFileSync(json, JSON.stringify({ ...JSON.parse(readFileSync(json, 'utf8')), file: mp4 }));
    const compositor = new Compositor({ ...SMALL, concurrency: 1 });
    // The probe passes on the intact file; the file is broken once encoding has begun.
    compositor.on('plan', () => writeFileSync(mp4, Buffer.alloc(4096, 7)));
    const error = await compositor.compose(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CompositeSourceError);
    expect(error).toMatchObject({ code: 'ERR_COMPOSE_SOURCE_BROKEN', file: mp4 });
    const message = (error as Error).message;
    expect(message.split('\n')).toHaveLength(1);
    expect(message).toContain('peer-b-s1');
    // The cause is ffmpeg's own error, with the whole stderr tail for the logs.
    expect((error as Error).cause).toBeInstanceOf(FfmpegError);
    expect(((error as Error).cause as FfmpegError).stderrTail).toContain(mp4);
  });

  it('reports a custom layout that throws or returns garbage as a compose failure, not a TypeError', async () => {
    const dir = copy();
    const throwing = await composeSession(dir, {
      ...SMALL,
      layout: () => {
        throw new Error('layout bug');
      },
    }).catch((e: unknown) => e);
    expect(throwing).toMatchObject({ code: 'ERR_COMPOSE_FAILED' });
    expect((throwing as Error).message).toContain('layout bug');
    const garbage = await composeSession(dir, { ...SMALL, layout: (() => 42) as never }).catch((e: unknown) => e);
    expect(garbage).toBeInstanceOf(InvalidConfigError);
    expect(garbage).toMatchObject({ field: 'layout' });
  });

  it('renders a segment again when ffmpeg crashed on it (a signal), and gives up on a second crash', async () => {
    const ffmpegPath = resolveFfmpegBinaries().ffmpegPath;
    // A real process that dies of SIGSEGV on its first segment render, then runs ffmpeg.
    const wrapper = (crashes: number) => {
      const script = join(root, `crash-${crashes}-${n++}.sh`);
      const counter = `${script}.count`;
      writeFileSync(
        script,
        `#!/bin/sh\ncase "$*" in *seg-00000.mp4*) c=$(cat ${counter} 2>/dev/null || echo 0); echo $((c+1)) > ${counter}; [ "$c" -lt ${crashes} ] && kill -SEGV $$;; esac\nexec ${ffmpegPath} "$@"\n`,
      );
      chmodSync(script, 0o755);
      return { script, renders: () => Number(readFileSync(counter, 'utf8')) };
    };
    const once = wrapper(1);
    const result = await composeSession(copy(), { ...SMALL, ffmpegPath: once.script });
    expect(once.renders()).toBe(2);
    expect(Math.abs(result.durationMs - 6000)).toBeLessThanOrEqual(100);

    const always = wrapper(2);
    const error = await composeSession(copy(), { ...SMALL, ffmpegPath: always.script }).catch((e: unknown) => e);
    expect(always.renders()).toBe(2);
    expect(error).toBeInstanceOf(SfuRecorderError);
    expect((error as SfuRecorderError).message).toMatch(/composing segment 0 .*killed by SIGSEGV/);
  });

  it('re-runs from what is on disk and replaces the previous composite', async () => {
    const dir = copy();
    const first = await composeSession(dir, SMALL);
    const second = await composeSession(dir, { ...SMALL, layout: 'speaker', maxSegmentMs: 2000 });
    expect(second.file).toBe(first.file);
    expect(second.segments).toBeGreaterThan(first.segments);
    expect(Math.abs(second.durationMs - 6000)).toBeLessThanOrEqual(100);
    expect(readdirSync(join(dir, 'composite')).sort()).toEqual([`Rec-session-1-1700000000000.mp4`, 'composite.json']);
  });
});
