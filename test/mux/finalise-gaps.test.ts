import { existsSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finaliseStream, listSessionStreams } from '../../src/mux/index.js';
import { sessionPaths } from '../../src/spool/layout.js';
import { readTimeline } from '../../src/timeline/timeline-file.js';
import { expectGoodMp4 } from '../helpers/mux-assert.js';
import { audioLevels, lumaTimeline } from '../helpers/mux-probe.js';
import { captureTestRtp, type CapturedRtpStream } from '../helpers/mux-rtp-source.js';
import { synthesiseArrivals, tearTail, testClock, writeTestSession, type TestSession } from '../helpers/mux-session.js';
import { measureAvSync } from '../helpers/sync-measure.js';

// One 10 s Opus + VP8 capture, replayed with different faults by every test.
let video: CapturedRtpStream;
let audio: CapturedRtpStream;
const sessions: TestSession[] = [];

beforeAll(async () => {
  const captured = await captureTestRtp({ video: 'VP8', audio: true, durationS: 10 });
  video = captured.video!;
  audio = captured.audio!;
});

afterAll(() => {
  for (const s of sessions) rmSync(dirname(dirname(s.sessionDir)), { recursive: true, force: true });
});

async function finalise(session: TestSession, options = {}) {
  sessions.push(session);
  return finaliseStream({ sessionDir: session.sessionDir, peerId: session.peerId, streamId: session.streamId, options });
}

describe('finaliseStream: gaps, faults and recovery', () => {
  it('fills a 5 s microphone mute with silence and a 5 s camera-off with black, keeping the duration', async () => {
    const { originMono, monoToEpochMs } = testClock();
    const epoch = (mediaMs: number) => originMono + mediaMs + monoToEpochMs;
    const session = await writeTestSession({
      monoToEpochMs,
      tracks: [
        {
          trackId: 'mic',
          stream: audio,
          entries: synthesiseArrivals(audio, { originMono, senderReportIntervalMs: 2000, dropMediaMs: [[1500, 6500]], seed: 5 }),
          muted: [[epoch(1500), epoch(6500)]],
        },
        {
          trackId: 'cam',
          stream: video,
          entries: synthesiseArrivals(video, { originMono, delayMs: 5, senderReportIntervalMs: 1000, dropMediaMs: [[3500, 8500]] }),
          muted: [[epoch(3500), epoch(8500)]],
        },
      ],
    });
    const result = await finalise(session);
    const stream = await expectGoodMp4(result, 10_020);
    expect(stream.audio!.gaps).toHaveLength(1);
    expect(stream.video!.gaps).toHaveLength(1);
    const audioGap = stream.audio!.gaps[0]!;
    const videoGap = stream.video!.gaps[0]!;
    expect(Math.abs(audioGap.to - audioGap.from - 5000)).toBeLessThan(60);
    expect(Math.abs(videoGap.to - videoGap.from - 5000)).toBeLessThan(400); // resumes at the next keyframe

    const luma = await lumaTimeline(stream.file, 30);
    expect(luma.filter((f) => f.t > 3.6 && f.t < 8.4).every((f) => f.luma < 20)).toBe(true);
    expect(luma.filter((f) => (f.t > 0.2 && f.t < 3.4) || f.t > 9).every((f) => f.luma > 50)).toBe(true);
    const levels = await audioLevels(stream.file);
    expect(levels.slice(160, 640).every((rms) => rms < 0.001)).toBe(true); // 1.6 .. 6.4 s
    const sync = await measureAvSync(stream.file);
    console.info('mute gaps: sync offsets (ms)', sync.offsetsMs, 'duration', stream.durationMs);
    expect(sync.offsetsMs.length).toBe(3); // 0, 1 and 9 s have both a flash and a beep
    expect(sync.maxAbsMs).toBeLessThanOrEqual(20);
  });

  it('survives loss, reordering, duplicates and sequence/timestamp wrap-around', async () => {
    const { originMono, monoToEpochMs } = testClock();
    const faults = { lossRate: 0.02, reorderRate: 0.05, duplicateRate: 0.02 };
    const session = await writeTestSession({
      monoToEpochMs,
      tracks: [
        {
          trackId: 'mic',
          stream: audio,
          entries: synthesiseArrivals(audio, {
            // No audio loss here: a lost packet at a beep onset would move the measured onset.
            originMono, senderReportIntervalMs: 2000, seed: 6, reorderRate: 0.05, duplicateRate: 0.02, sequenceStart: 65_400, timestampStart: 2 ** 32 - 48_000 * 3,
          }),
        },
        {
          trackId: 'cam',
          stream: video,
          entries: synthesiseArrivals(video, {
            originMono, delayMs: 5, senderReportIntervalMs: 1000, seed: 7, ...faults, sequenceStart: 65_000, timestampStart: 2 ** 32 - 90_000 * 4,
          }),
        },
      ],
    });
    const result = await finalise(session);
    const stream = await expectGoodMp4(result, 10_020);
    const cam = result.report.tracks.find((t) => t.trackId === 'cam')!;
    expect(cam.incompleteFrames).toBeGreaterThan(0);
    expect(cam.duplicates).toBeGreaterThan(0);
    expect(cam.skewedFrames).toBe(0);
    const sync = await measureAvSync(stream.file);
    console.info('loss/reorder: sync offsets (ms)', sync.offsetsMs, 'video frames kept', cam.frames, 'dropped', cam.incompleteFrames, '+', cam.framesAwaitingKeyframe);
    expect(sync.offsetsMs.length).toBeGreaterThanOrEqual(7);
    expect(sync.maxAbsMs).toBeLessThanOrEqual(20);
  });

  it('recovers a crashed session: no stream-ended, torn journal tails', async () => {
    const { originMono, monoToEpochMs } = testClock();
    const session = await writeTestSession({
      monoToEpochMs,
      crashed: true,
      tracks: [
        { trackId: 'mic', stream: audio, entries: synthesiseArrivals(audio, { originMono, senderReportIntervalMs: 2000 }) },
        { trackId: 'cam', stream: video, entries: synthesiseArrivals(video, { originMono, delayMs: 5, senderReportIntervalMs: 1000 }) },
      ],
    });
    tearTail(join(session.sessionDir, sessionPaths.journalRelative('cam')), 7);
    tearTail(join(session.sessionDir, sessionPaths.journalRelative('mic')), 3);
    expect(readTimeline(sessionPaths.timeline(session.sessionDir)).complete).toBe(false);
    const result = await finalise(session);
    // The last audio packet and the last video frame are torn off.
    const stream = await expectGoodMp4(result, 10_000);
    const sync = await measureAvSync(stream.file);
    expect(sync.maxAbsMs).toBeLessThanOrEqual(20);
  });

  it('cuts a recording pause out of the file and reports it', async () => {
    const { originMono, monoToEpochMs } = testClock();
    const epoch = (mediaMs: number) => originMono + mediaMs + monoToEpochMs;
    const session = await writeTestSession({
      monoToEpochMs,
      tracks: [
        { trackId: 'mic', stream: audio, entries: synthesiseArrivals(audio, { originMono, senderReportIntervalMs: 2000 }) },
        { trackId: 'cam', stream: video, entries: synthesiseArrivals(video, { originMono, delayMs: 5, senderReportIntervalMs: 1000 }) },
      ],
      extraEvents: [
        { type: 'recording-paused', at: epoch(4200) },
        { type: 'recording-resumed', at: epoch(6200) },
      ],
    });
    const result = await finalise(session);
    const stream = await expectGoodMp4(result, 8020);
    expect(stream.cuts).toHaveLength(1);
    expect(stream.cuts[0]!.to - stream.cuts[0]!.from).toBeCloseTo(2000, 0);
    expect(stream.endedAt - stream.startedAt - stream.durationMs).toBeCloseTo(2000, 0);
    const sync = await measureAvSync(stream.file);
    console.info('pause cut: sync offsets (ms)', sync.offsetsMs);
    expect(sync.offsetsMs.length).toBeGreaterThanOrEqual(7);
    expect(sync.maxAbsMs).toBeLessThanOrEqual(20);
  });

  it('writes no file for a stream without media, and says why', async () => {
    const { monoToEpochMs } = testClock();
    const session = await writeTestSession({
      monoToEpochMs,
      tracks: [
        { trackId: 'mic', stream: audio, entries: [] },
        { trackId: 'cam', stream: video, entries: [] },
      ],
    });
    expect(listSessionStreams(session.sessionDir).map((s) => s.streamId)).toEqual(['cam1']);
    const result = await finalise(session);
    expect(result.status).toBe('empty');
    if (result.status === 'empty') expect(result.reason).toMatch(/no media.*mic: no media packets.*cam: no media packets/);
    const streamDir = sessionPaths.streamDir(session.sessionDir, session.peerId, session.streamId);
    expect(existsSync(sessionPaths.streamFile(session.sessionDir, session.peerId, session.streamId))).toBe(false);
    expect(existsSync(streamDir) ? readdirSync(streamDir) : []).toEqual([]);
  });
});
