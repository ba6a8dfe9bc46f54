import { readFileSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeSession, type CompositeResult } from '../../src/compose/index.js';
import { parseHexColour } from '../../src/compose/colours.js';
import type { FinalisedStream } from '../../src/mux/stream-result.js';
import { sessionPaths } from '../../src/spool/layout.js';
import {
  decodeAudio,
  decodeFrames,
  flashOnsets,
  isWhite,
  near,
  pixel,
  toneOnsets,
  type Rgb,
} from '../helpers/compose-measure.js';
import { createSyntheticSession, scratchDir, type SyntheticSession } from '../helpers/compose-session.js';

const W = 320;
const H = 180;
const FPS = 30;

/** Shows colour `c` (or the white flash of the same tile). */
const shows = (frame: Buffer, x: number, y: number, c: Rgb) => {
  const p = pixel(frame, W, x, y);
  return near(p, c) || isWhite(p);
};

describe('composite while a peer shares its screen (default layout)', () => {
  const DURATION = 6000;
  const SHARE = { from: 2500, to: 4500 };
  const A = { peerId: 'peer-a', displayName: 'Alice', colour: '0xff0000', toneHz: 700 };
  const B = { peerId: 'peer-b', colour: '0x00ff00', toneHz: 1100 };
  const SCREEN = { colour: '0xff00ff', toneHz: 1700 };
  const red = parseHexColour(A.colour);
  const green = parseHexColour(B.colour);
  const magenta = parseHexColour(SCREEN.colour);

  /**
   * Presentation at 320x180: the share in x 0..256 (a 16:9 source letterboxed to 256x144,
   * y 18..162), the strip in x 256..320 with 64x36 tiles centred (A at y 54..90, B at 90..126).
   */
  const bigArea = [
    [30, 30],
    [128, 90],
    [226, 150],
    [30, 150],
    [226, 30],
  ] as const;
  // The share does not flash, so its colour is exact; the cameras may be white on the second.
  const isPresentation = (f: Buffer) =>
    bigArea.every(([x, y]) => near(pixel(f, W, x, y), magenta)) && shows(f, 288, 72, red) && shows(f, 288, 108, green);
  /** Grid of two: A left, B right, each 160x180. */
  const isGrid = (f: Buffer) => shows(f, 80, 90, red) && shows(f, 240, 90, green) && !near(pixel(f, W, 128, 90), magenta);

  let dir: string;
  let result: CompositeResult;
  let frames: Buffer[];

  beforeAll(async () => {
    dir = scratchDir('presentation');
    await createSyntheticSession(dir, {
      durationMs: DURATION,
      peers: [
        { ...A, joinAt: 0 },
        { ...B, joinAt: 0 },
        {
          peerId: A.peerId,
          streamId: 'peer-a-screen',
          source: 'screen',
          streamOnly: true,
          flash: false,
          ...SCREEN,
          joinAt: SHARE.from,
          leaveAt: SHARE.to,
        },
      ],
    });
    result = await composeSession(dir, { width: W, height: H, fps: FPS, preset: 'ultrafast' });
    frames = await decodeFrames(result.file, W, H);
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('shows the grid, then the share large with both cameras in the strip, then the grid again', () => {
    expect(frames.length).toBe((DURATION / 1000) * FPS);
    expect(result.segments).toBe(3);
    const shareFrom = (SHARE.from / 1000) * FPS;
    const shareTo = (SHARE.to / 1000) * FPS;
    for (let i = 0; i < frames.length; i++) {
      if (Math.abs(i - shareFrom) <= 1 || Math.abs(i - shareTo) <= 1) continue;
      const inShare = i > shareFrom && i < shareTo;
      const f = frames[i]!;
      expect(inShare ? isPresentation(f) : isGrid(f), `frame ${i} (${(i / FPS).toFixed(3)} s)`).toBe(true);
      expect(inShare ? isGrid(f) : isPresentation(f), `frame ${i} (${(i / FPS).toFixed(3)} s)`).toBe(false);
    }
    // Away from flashes the cameras show their own colours in the strip.
    const mid = frames[Math.round(3.5 * FPS)]!;
    expect(near(pixel(mid, W, 288, 72), red)).toBe(true);
    expect(near(pixel(mid, W, 288, 108), green)).toBe(true);
  });

  it('switches to presentation and back within one frame of the share starting and ending', () => {
    const firstWhere = (from: number, to: number, test: (f: Buffer) => boolean) => {
      for (let i = from; i <= to; i++) if (test(frames[i]!)) return i;
      return -1;
    };
    const shareFrom = (SHARE.from / 1000) * FPS;
    const shareTo = (SHARE.to / 1000) * FPS;
    const on = firstWhere(shareFrom - 5, shareFrom + 5, isPresentation);
    const off = firstWhere(shareTo - 5, shareTo + 5, isGrid);
    expect(Math.abs(on - shareFrom), `presentation from frame ${on}`).toBeLessThanOrEqual(1);
    expect(Math.abs(off - shareTo), `grid again from frame ${off}`).toBeLessThanOrEqual(1);
  });
});

describe('composite of a session with a recording pause (cut by default)', () => {
  const DURATION = 6000;
  const PAUSE = { from: 2500, to: 3800 };
  const A = { peerId: 'peer-a', colour: '0xff0000', toneHz: 700 };
  const B = { peerId: 'peer-b', colour: '0x00ff00', toneHz: 1100 };

  let dir: string;
  let session: SyntheticSession;
  let result: CompositeResult;
  let frames: Buffer[];
  let audio: Float32Array;

  beforeAll(async () => {
    dir = scratchDir('pauses');
    session = await createSyntheticSession(dir, {
      durationMs: DURATION,
      peers: [
        { ...A, joinAt: 0 },
        { ...B, joinAt: 0 },
      ],
      pauses: [PAUSE],
    });
    result = await composeSession(dir, { width: W, height: H, fps: FPS, preset: 'ultrafast' });
    [frames, audio] = await Promise.all([decodeFrames(result.file, W, H), decodeAudio(result.file)]);
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('leaves the pause out: duration and cuts in composite.json match the individual files', () => {
    const S = session.startedAt;
    const cut = { from: S + PAUSE.from, to: S + PAUSE.to };
    const expectedMs = DURATION - (PAUSE.to - PAUSE.from);
    expect(Math.abs(result.durationMs - expectedMs), `composite ${result.durationMs} ms`).toBeLessThanOrEqual(100);
    expect(frames.length).toBe((expectedMs / 1000) * FPS);
    expect(result.cuts).toEqual([cut]);
    expect(result.startedAt).toBe(S);
    expect(result.endedAt).toBe(S + DURATION);
    const stored = JSON.parse(readFileSync(sessionPaths.compositeResult(dir), 'utf8')) as CompositeResult;
    expect(stored.cuts).toEqual([cut]);
    for (const s of session.streams) {
      const written = JSON.parse(readFileSync(sessionPaths.streamResult(dir, s.peerId, s.streamId), 'utf8')) as FinalisedStream;
      expect(written.cuts).toEqual(result.cuts);
      expect(written.durationMs).toBe(expectedMs);
    }
  });

  it('joins the media either side of the pause seamlessly (flashes and beeps on the shifted seconds)', () => {
    // Wall seconds 1, 2 | (3 is paused) | 4, 5 -> composite 1, 2, 2.7, 3.7.
    const expected = [1, 2, 4 - 1.3, 5 - 1.3];
    const red = parseHexColour(A.colour);
    const green = parseHexColour(B.colour);
    for (let i = 0; i < frames.length; i++) {
      expect(shows(frames[i]!, 80, 90, red) && shows(frames[i]!, 240, 90, green), `frame ${i}`).toBe(true);
    }
    for (const x of [80, 240]) {
      const flashes = flashOnsets(frames, W, x, 90, FPS);
      expect(flashes.length, `flashes at x=${x}: ${flashes.join(', ')}`).toBe(expected.length);
      flashes.forEach((t, i) => expect(Math.abs(t - expected[i]!) * FPS, `flash ${t} s`).toBeLessThanOrEqual(1));
    }
    for (const hz of [A.toneHz, B.toneHz]) {
      const beeps = toneOnsets(audio, hz, 0.3).filter((t) => t > 0.5);
      expect(beeps.length, `beeps at ${hz} Hz: ${beeps.join(', ')}`).toBe(expected.length);
      beeps.forEach((t, i) => expect(Math.abs(t - expected[i]!) * 1000, `beep ${t} s`).toBeLessThanOrEqual(20));
    }
  });
});
