import { readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveFfmpegBinaries } from '../../src/ffmpeg/binaries.js';
import { finaliseStream } from '../../src/mux/index.js';
import type { MuxOptions } from '../../src/mux/options.js';
import type { FinalisedStream } from '../../src/mux/stream-result.js';
import { sessionPaths } from '../../src/spool/layout.js';
import { expectGoodMp4 } from '../helpers/mux-assert.js';
import { audioLevels, lumaTimeline } from '../helpers/mux-probe.js';
import { captureTestRtp, type CapturedRtpStream } from '../helpers/mux-rtp-source.js';
import { synthesiseArrivals, testClock, writeTestSession, type TestSession } from '../helpers/mux-session.js';

// One 6 s 320x180 Opus + VP8 capture (white flash + beep for the first 100 ms of every second).
let video: CapturedRtpStream;
let audio: CapturedRtpStream;
const sessions: TestSession[] = [];

beforeAll(async () => {
  const captured = await captureTestRtp({ video: 'VP8', audio: true, durationS: 6, width: 320, height: 180 });
  video = captured.video!;
  audio = captured.audio!;
});

afterAll(() => {
  for (const s of sessions) rmSync(dirname(dirname(s.sessionDir)), { recursive: true, force: true });
});

async function finalise(session: TestSession, options: MuxOptions = {}) {
  sessions.push(session);
  return finaliseStream({ sessionDir: session.sessionDir, peerId: session.peerId, streamId: session.streamId, options });
}

const GRAY_W = 64;
const GRAY_H = 36;

/** Every decoded video frame as a 64x36 grey image (output is constant frame rate). */
async function grayFrames(file: string): Promise<Uint8Array[]> {
  const { ffmpegPath } = resolveFfmpegBinaries();
  const { stdout } = await execa(ffmpegPath, ['-v', 'error', '-nostdin', '-i', file, '-map', '0:v:0', '-vf', `scale=${GRAY_W}:${GRAY_H},format=gray`, '-f', 'rawvideo', '-'], {
    encoding: 'buffer', maxBuffer: 256 * 1024 * 1024, stdin: 'ignore',
  });
  const size = GRAY_W * GRAY_H;
  const frames: Uint8Array[] = [];
  for (let i = 0; (i + 1) * size <= stdout.length; i++) frames.push(stdout.subarray(i * size, (i + 1) * size));
  return frames;
}

function mse(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i]! - b[i]!) ** 2;
  return sum / a.length;
}

function meanLuma(frame: Uint8Array): number {
  let sum = 0;
  for (const v of frame) sum += v;
  return sum / frame.length;
}

/** The stream.json written next to the mp4. */
function readStreamJson(session: TestSession): FinalisedStream {
  return JSON.parse(readFileSync(sessionPaths.streamResult(session.sessionDir, session.peerId, session.streamId), 'utf8')) as FinalisedStream;
}

/** A session whose camera is off (muted, no packets) from 2.5 s to 4.5 s of media time. */
async function cameraOffSession(): Promise<TestSession> {
  const { originMono, monoToEpochMs } = testClock();
  const epoch = (mediaMs: number) => originMono + mediaMs + monoToEpochMs;
  return writeTestSession({
    monoToEpochMs,
    tracks: [
      { trackId: 'mic', stream: audio, entries: synthesiseArrivals(audio, { originMono, senderReportIntervalMs: 2000, seed: 11 }) },
      {
        trackId: 'cam',
        stream: video,
        entries: synthesiseArrivals(video, { originMono, delayMs: 5, senderReportIntervalMs: 1000, dropMediaMs: [[2500, 4500]], seed: 12 }),
        muted: [[epoch(2500), epoch(4500)]],
      },
    ],
  });
}

/** A session with a recording pause from 2 s to 3.5 s of media time: no packets of either track in between. */
async function pausedSession(): Promise<TestSession> {
  const { originMono, monoToEpochMs } = testClock();
  const epoch = (mediaMs: number) => originMono + mediaMs + monoToEpochMs;
  const paused: Array<[number, number]> = [[2000, 3500]];
  return writeTestSession({
    monoToEpochMs,
    tracks: [
      { trackId: 'mic', stream: audio, entries: synthesiseArrivals(audio, { originMono, senderReportIntervalMs: 2000, dropMediaMs: paused, seed: 21 }) },
      { trackId: 'cam', stream: video, entries: synthesiseArrivals(video, { originMono, delayMs: 5, senderReportIntervalMs: 1000, dropMediaMs: paused, seed: 22 }) },
    ],
    extraEvents: [
      { type: 'recording-paused', at: epoch(2000) },
      { type: 'recording-resumed', at: epoch(3500) },
    ],
  });
}

const FPS = 30;
/** The 6 s capture, plus the alignment padding of up to one frame (as in finalise-gaps). */
const FULL_MS = 6020;

describe('finaliseStream options', () => {
  it("videoGapFill 'hold' shows the last frame before a camera-off gap; the default paints it black", async () => {
    const measured: Record<string, unknown> = {};
    for (const fill of ['hold', 'black'] as const) {
      const session = await cameraOffSession();
      const result = await finalise(session, fill === 'hold' ? { videoGapFill: 'hold' } : {});
      const stream = await expectGoodMp4(result, FULL_MS);
      expect(stream.video!.gaps).toHaveLength(1);
      const gap = stream.video!.gaps[0]!;
      const fromS = (gap.from - stream.startedAt) / 1000;
      const toS = (gap.to - stream.startedAt) / 1000;
      expect(fromS).toBeGreaterThan(2.4);
      expect(fromS).toBeLessThan(2.6);
      expect(toS).toBeGreaterThan(4.4);
      expect(toS).toBeLessThan(4.9); // resumes at the next keyframe

      const frames = await grayFrames(stream.file);
      expect(frames.length).toBeGreaterThanOrEqual(Math.floor((FULL_MS - 100) / 1000 * FPS));
      // The last frame before the gap: the gap starts one frame after it, on the frame grid (give or take float noise).
      const refIndex = Math.round(fromS * FPS) - 1;
      const ref = frames[refIndex]!;
      const gapFrames = frames.slice(Math.ceil(fromS * FPS) + 1, Math.floor(toS * FPS) - 1);
      expect(gapFrames.length).toBeGreaterThanOrEqual(55);
      const lumas = gapFrames.map(meanLuma);
      const errors = gapFrames.map((f) => mse(f, ref));
      // How much the moving test picture changes from one frame to the next, before the gap.
      const motion = frames.slice(refIndex - 10, refIndex + 1).map((f, i, all) => (i === 0 ? Infinity : mse(f, all[i - 1]!))).slice(1);
      measured[fill] = {
        gap: [fromS.toFixed(3), toS.toFixed(3)],
        refLuma: meanLuma(ref).toFixed(1),
        gapLuma: [Math.min(...lumas).toFixed(1), Math.max(...lumas).toFixed(1)],
        maxMseToRef: Math.max(...errors).toFixed(2),
        minMotionMse: Math.min(...motion).toFixed(2),
      };
      expect(meanLuma(ref)).toBeGreaterThan(50);
      if (fill === 'hold') {
        expect(Math.min(...motion)).toBeGreaterThan(0.6); // the picture moves, so a held frame is recognisable
        const beforeRef = frames[refIndex - 1]!;
        for (let i = 0; i < gapFrames.length; i++) {
          expect(lumas[i]!).toBeGreaterThan(50);
          expect(Math.abs(lumas[i]! - meanLuma(ref))).toBeLessThan(1);
          expect(errors[i]!).toBeLessThan(0.6);
          // It is the last frame before the gap that is held, not an earlier one.
          expect(errors[i]!).toBeLessThan(mse(gapFrames[i]!, beforeRef));
        }
      } else {
        expect(lumas.every((l) => l < 20)).toBe(true);
      }
    }
    console.info('videoGapFill:', JSON.stringify(measured));
  });

  it("pausedTime 'keep' keeps a recording pause as black and silence; the default cuts it", async () => {
    const measured: Record<string, unknown> = {};
    for (const pausedTime of ['keep', 'cut'] as const) {
      const session = await pausedSession();
      const result = await finalise(session, pausedTime === 'keep' ? { pausedTime: 'keep' } : {});
      const expectedMs = pausedTime === 'keep' ? FULL_MS : FULL_MS - 1500;
      const stream = await expectGoodMp4(result, expectedMs);
      const json = readStreamJson(session);
      expect(json.durationMs).toBe(stream.durationMs);
      const span = json.endedAt - json.startedAt;
      measured[pausedTime] = {
        videoGaps: json.video!.gaps.map((g) => [(g.from - json.startedAt).toFixed(0), (g.to - json.startedAt).toFixed(0)]),
        durationMs: json.durationMs.toFixed(1),
        spanMs: span.toFixed(1),
        cuts: json.cuts.map((c) => (c.to - c.from).toFixed(1)),
      };
      const luma = await lumaTimeline(stream.file, FPS);
      const levels = await audioLevels(stream.file);
      if (pausedTime === 'keep') {
        expect(json.cuts).toEqual([]);
        expect(Math.abs(json.durationMs - span)).toBeLessThanOrEqual(100);
        const inPause = luma.filter((f) => f.t > 2.1 && f.t < 3.4);
        expect(inPause.length).toBeGreaterThanOrEqual(35);
        expect(inPause.every((f) => f.luma < 20)).toBe(true);
        expect(luma.filter((f) => (f.t > 0.2 && f.t < 1.9) || (f.t > 3.9 && f.t < 5.9)).every((f) => f.luma > 50)).toBe(true);
        expect(levels.slice(210, 340).every((rms) => rms < 0.001)).toBe(true); // 2.1 .. 3.4 s
        expect(Math.max(...levels.slice(400, 410))).toBeGreaterThan(0.05); // the beep at 4 s
        measured.keepPauseLuma = Math.max(...inPause.map((f) => f.luma)).toFixed(1);
        measured.keepPauseRms = Math.max(...levels.slice(210, 340)).toExponential(1);
      } else {
        expect(json.cuts).toHaveLength(1);
        expect(Math.abs(json.cuts[0]!.to - json.cuts[0]!.from - 1500)).toBeLessThanOrEqual(100);
        expect(Math.abs(span - json.durationMs - 1500)).toBeLessThanOrEqual(100);
        // The video resumes at the first keyframe after the pause: that short hole is a reported (black) gap.
        const gaps = json.video!.gaps;
        expect(gaps).toHaveLength(1);
        expect(Math.abs(gaps[0]!.from - json.cuts[0]!.to)).toBeLessThanOrEqual(1);
        const resumeS = (json.cuts[0]!.from - json.startedAt + gaps[0]!.to - gaps[0]!.from) / 1000;
        expect(resumeS).toBeLessThan(2.4);
        measured.cutVideoGapMs = (gaps[0]!.to - gaps[0]!.from).toFixed(1);
        // Otherwise no black where the pause was: the picture runs from 0.2 s to the cut and on from the resume.
        expect(luma.filter((f) => (f.t > 0.2 && f.t < 1.95) || (f.t > resumeS + 0.05 && f.t < 4.4)).every((f) => f.luma > 50)).toBe(true);
        expect(Math.max(...levels.slice(250, 262))).toBeGreaterThan(0.05); // the beep at 4 s of media plays at 2.5 s of the file
      }
    }
    console.info('pausedTime:', JSON.stringify(measured));
  });
});
