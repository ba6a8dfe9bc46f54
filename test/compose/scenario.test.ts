import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeSession, nameTileColour, type CompositeProgress, type CompositeResult } from '../../src/compose/index.js';
import { parseHexColour } from '../../src/compose/colours.js';
import { resolveFfmpegBinaries, runFfprobe } from '../../src/ffmpeg/index.js';
import { sessionPaths } from '../../src/spool/layout.js';
import {
  decodeAudio,
  decodeFrames,
  flashOnsets,
  isWhite,
  near,
  pixel,
  toneAmplitude,
  toneOnsets,
  type Rgb,
} from '../helpers/compose-measure.js';
import { createSyntheticSession, scratchDir, type SyntheticSession } from '../helpers/compose-session.js';

/**
 * The scenario: A alone, B joins, C joins, A leaves, C turns its camera off.
 * Events sit between flashes (x.5 s) so that colours can be told apart at the switch.
 */
const W = 320;
const H = 180;
const FPS = 30;
const DURATION = 10_000;
const EVENTS = { bJoins: 2500, cJoins: 4500, aLeaves: 6500, cCameraOff: 8500 };
const PEERS = {
  A: { peerId: 'peer-a', displayName: 'Alice', colour: '0xff0000', toneHz: 700 },
  B: { peerId: 'peer-b', colour: '0x00ff00', toneHz: 1100 },
  C: { peerId: 'peer-c', displayName: 'Carol', colour: '0x0000ff', toneHz: 1700 },
} as const;
type Peer = keyof typeof PEERS;

const colourOf = (peer: Peer): Rgb => parseHexColour(PEERS[peer].colour);
const nameColourOf = (peer: Peer): Rgb => parseHexColour(nameTileColour(PEERS[peer].peerId));

/** Expected tiles (what each sampled point shows) per layout phase; geometry of the 320x180 grid. */
type Expect = Array<{ x: number; y: number; shows: Peer | `name:${Peer}` }>;
const PHASES: Array<{ from: number; to: number; tiles: Expect }> = [
  { from: 0, to: EVENTS.bJoins, tiles: [{ x: 160, y: 90, shows: 'A' }] },
  {
    from: EVENTS.bJoins,
    to: EVENTS.cJoins,
    tiles: [
      { x: 80, y: 90, shows: 'A' },
      { x: 240, y: 90, shows: 'B' },
    ],
  },
  {
    from: EVENTS.cJoins,
    to: EVENTS.aLeaves,
    tiles: [
      { x: 80, y: 45, shows: 'A' },
      { x: 240, y: 45, shows: 'B' },
      { x: 160, y: 135, shows: 'C' },
    ],
  },
  {
    from: EVENTS.aLeaves,
    to: EVENTS.cCameraOff,
    tiles: [
      { x: 80, y: 90, shows: 'B' },
      { x: 240, y: 90, shows: 'C' },
    ],
  },
  {
    from: EVENTS.cCameraOff,
    to: DURATION,
    tiles: [
      { x: 80, y: 90, shows: 'B' },
      // The name tile fills its cell; sample a corner, away from the centred text.
      { x: 170, y: 10, shows: 'name:C' },
    ],
  },
];

function matches(frame: Buffer, tiles: Expect): boolean {
  return tiles.every(({ x, y, shows }) => {
    const c = pixel(frame, W, x, y);
    if (shows.startsWith('name:')) return near(c, nameColourOf(shows.slice(5) as Peer));
    return near(c, colourOf(shows as Peer)) || isWhite(c);
  });
}

describe('composite of a session where peers join, leave and turn the camera off', () => {
  let dir: string;
  let session: SyntheticSession;
  let result: CompositeResult;
  let frames: Buffer[];
  let audio: Float32Array;
  const progress: CompositeProgress[] = [];

  beforeAll(async () => {
    dir = scratchDir('scenario');
    session = await createSyntheticSession(dir, {
      durationMs: DURATION,
      peers: [
        { ...PEERS.A, joinAt: 0, leaveAt: EVENTS.aLeaves },
        { ...PEERS.B, joinAt: EVENTS.bJoins },
        { ...PEERS.C, joinAt: EVENTS.cJoins, cameraOff: { from: EVENTS.cCameraOff } },
      ],
    });
    result = await composeSession(dir, { width: W, height: H, fps: FPS, preset: 'ultrafast', onProgress: (p) => progress.push(p) });
    [frames, audio] = await Promise.all([decodeFrames(result.file, W, H), decodeAudio(result.file)]);
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes Rec-<session>-<epoch>.mp4 and composite.json, with the session duration', async () => {
    expect(result.file).toBe(join(dir, 'composite', `Rec-${session.sessionId}-${session.startedAt}.mp4`));
    const stored = JSON.parse(readFileSync(sessionPaths.compositeResult(dir), 'utf8')) as CompositeResult;
    expect(stored).toEqual(result);
    expect(result.startedAt).toBe(session.startedAt);
    expect(Math.abs(result.durationMs - DURATION)).toBeLessThanOrEqual(100);
    expect(frames.length).toBe((DURATION / 1000) * FPS);
    expect(result.segments).toBe(5);
    // Nothing left behind but the outputs.
    expect(readdirSync(join(dir, 'composite')).sort()).toEqual([`Rec-${session.sessionId}-${session.startedAt}.mp4`, 'composite.json']);

    const { ffprobePath } = resolveFfmpegBinaries();
    const probe = await runFfprobe<{ streams: Array<{ codec_name: string; codec_type: string }> }>(ffprobePath, [
      '-show_entries', 'stream=codec_name,codec_type', result.file,
    ]);
    expect(probe.streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort()).toEqual(['audio:aac', 'video:h264']);
    // +faststart: the moov atom comes before mdat.
    const head = readFileSync(result.file).subarray(0, 64 * 1024).toString('latin1');
    expect(head.indexOf('moov')).toBeGreaterThan(-1);
    expect(head.indexOf('moov')).toBeLessThan(head.indexOf('mdat') === -1 ? Infinity : head.indexOf('mdat'));
  });

  it('shows 1, 2, 3, 2 tiles with the right peers, and the camera-off peer as a name tile', () => {
    for (const phase of PHASES) {
      // Every frame of the phase, except the one either side of each boundary.
      const first = Math.round((phase.from / 1000) * FPS) + 1;
      const last = Math.round((phase.to / 1000) * FPS) - 2;
      for (let i = first; i <= last; i++) {
        expect(matches(frames[i]!, phase.tiles), `frame ${i} (${(i / FPS).toFixed(3)} s) in phase from ${phase.from} ms`).toBe(true);
      }
    }
    // The name tile is neither the peer's video colour nor black.
    const nameFrame = frames[Math.round(9.5 * FPS)]!;
    const centre = pixel(nameFrame, W, 240, 90);
    expect(near(centre, colourOf('C'))).toBe(false);
    const corner = pixel(nameFrame, W, 170, 10);
    expect(corner.reduce((a, b) => a + b, 0)).toBeGreaterThan(60);
  });

  it('switches layout within one frame of each event', () => {
    for (let p = 1; p < PHASES.length; p++) {
      const eventFrame = (PHASES[p]!.from / 1000) * FPS;
      let switchFrame = -1;
      for (let i = Math.floor(eventFrame) - 4; i <= Math.ceil(eventFrame) + 4; i++) {
        if (matches(frames[i]!, PHASES[p]!.tiles) && !matches(frames[i]!, PHASES[p - 1]!.tiles)) {
          switchFrame = i;
          break;
        }
      }
      expect(Math.abs(switchFrame - eventFrame), `switch at ${PHASES[p]!.from} ms: frame ${switchFrame}`).toBeLessThanOrEqual(1);
    }
  });

  it("has each peer's tone exactly while the peer is present", () => {
    const presence: Record<Peer, [number, number]> = {
      A: [0, EVENTS.aLeaves],
      B: [EVENTS.bJoins, DURATION],
      C: [EVENTS.cJoins, DURATION],
    };
    const window = 2400; // 50 ms
    for (const peer of ['A', 'B', 'C'] as const) {
      const [from, to] = presence[peer];
      for (let start = 0; start + window <= audio.length; start += window / 2) {
        const t0 = (start / 48000) * 1000;
        const t1 = t0 + 50;
        const amplitude = toneAmplitude(audio, start, window, PEERS[peer].toneHz);
        if (t0 >= from + 10 && t1 <= to - 10) expect(amplitude, `${peer} at ${t0} ms`).toBeGreaterThan(0.05);
        // Absent: under a fifth of the tone (the other peers' beep edges leak a little into the band).
        else if (t1 <= from - 10 || t0 >= to + 10) expect(amplitude, `${peer} at ${t0} ms`).toBeLessThan(0.02);
      }
    }
    // No clipping: three peers beeping together (3 x 0.5) are limited, not clipped.
    const peak = audio.reduce((max, s) => Math.max(max, Math.abs(s)), 0);
    expect(peak).toBeLessThanOrEqual(1);
  });

  it('keeps peers in sync with each other (±40 ms) and audio with video (±20 ms)', () => {
    // A and B are both on screen (and both in the 3-tile grid) from 2.5 s to 6.5 s.
    const range: [number, number] = [EVENTS.bJoins / 1000, EVENTS.cJoins / 1000];
    const flashA = flashOnsets(frames, W, 80, 90, FPS, range);
    const flashB = flashOnsets(frames, W, 240, 90, FPS, range);
    expect(flashA).toEqual([3, 4]);
    expect(flashB.length).toBe(flashA.length);
    flashA.forEach((t, i) => expect(Math.abs(t - flashB[i]!) * 1000).toBeLessThanOrEqual(40));

    const beepsA = toneOnsets(audio, PEERS.A.toneHz, 0.3).filter((t) => t > 2.6 && t < 6.4);
    const beepsB = toneOnsets(audio, PEERS.B.toneHz, 0.3).filter((t) => t > 2.6 && t < 6.4);
    expect(beepsA.length).toBe(4);
    expect(beepsB.length).toBe(4);
    beepsA.forEach((t, i) => expect(Math.abs(t - beepsB[i]!) * 1000, `beeps at ${t}`).toBeLessThanOrEqual(40));
    // A/V per peer: each flash against its own beep.
    for (const [flashes, beeps] of [
      [flashA, beepsA],
      [flashB, beepsB],
    ] as const) {
      for (const flash of flashes) {
        const beep = beeps.reduce((best, b) => (Math.abs(b - flash) < Math.abs(best - flash) ? b : best), Infinity);
        expect(Math.abs(flash - beep) * 1000, `flash ${flash} vs beep ${beep}`).toBeLessThanOrEqual(20);
      }
    }
  });

  it('reports progress up to 100 %', () => {
    expect(progress.length).toBeGreaterThan(2);
    expect(progress.at(-1)).toMatchObject({ percent: 100, phase: 'done' });
    const percents = progress.map((p) => p.percent);
    expect([...percents].sort((a, b) => a - b)).toEqual(percents);
    expect(existsSync(result.file)).toBe(true);
  });
});
