import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { finaliseStream } from '../../src/mux/index.js';
import { expectGoodMp4 } from '../helpers/mux-assert.js';
import { frameSizes, lumaTimeline } from '../helpers/mux-probe.js';
import { captureTestRtp } from '../helpers/mux-rtp-source.js';
import { spliceStreams, synthesiseArrivals, testClock, writeTestSession, type TestSession } from '../helpers/mux-session.js';
import { measureAvSync } from '../helpers/sync-measure.js';

const sessions: TestSession[] = [];
afterAll(() => {
  for (const s of sessions) rmSync(dirname(dirname(s.sessionDir)), { recursive: true, force: true });
});

async function finalise(session: TestSession, options = {}) {
  sessions.push(session);
  return finaliseStream({ sessionDir: session.sessionDir, peerId: session.peerId, streamId: session.streamId, options });
}

describe('finaliseStream: codecs', () => {
  it('Opus + VP8 received in real time, mapped by arrival time (no sender reports)', async () => {
    const { video, audio } = await captureTestRtp({ video: 'VP8', audio: true, durationS: 4, realtime: true });
    const { monoToEpochMs } = testClock();
    const toEntries = (s: typeof video) => s!.packets.map((p) => ({ kind: 'rtp' as const, ...p }));
    const session = await writeTestSession({
      monoToEpochMs,
      tracks: [
        { trackId: 'mic', stream: audio!, entries: toEntries(audio) },
        { trackId: 'cam', stream: video!, entries: toEntries(video) },
      ],
    });
    const result = await finalise(session);
    const stream = await expectGoodMp4(result, 4000);
    expect(stream.video).toMatchObject({ width: 640, height: 360, fps: 30, copied: false, sourceCodecs: ['VP8'] });
    expect(result.report.tracks.map((t) => t.clockSource)).toEqual(['arrival', 'arrival']);
    const sync = await measureAvSync(stream.file);
    console.info('VP8 real time: sync offsets (ms)', sync.offsetsMs, 'duration', stream.durationMs, 'report', result.report.elapsedMs, 'ms');
    expect(sync.offsetsMs.length).toBeGreaterThanOrEqual(3);
    expect(sync.maxAbsMs).toBeLessThanOrEqual(20);
  });

  it('Opus + H.264 is copied without re-encoding when nothing forces it', async () => {
    const { video, audio } = await captureTestRtp({ video: 'H264', audio: true, durationS: 5 });
    const { originMono, monoToEpochMs } = testClock();
    const session = await writeTestSession({
      monoToEpochMs,
      tracks: [
        { trackId: 'mic', stream: audio!, entries: synthesiseArrivals(audio!, { originMono, senderReportIntervalMs: 2000, seed: 2 }) },
        { trackId: 'cam', stream: video!, entries: synthesiseArrivals(video!, { originMono, delayMs: 6, senderReportIntervalMs: 1000 }) },
      ],
    });
    const result = await finalise(session);
    const stream = await expectGoodMp4(result, 5020);
    expect(stream.video).toMatchObject({ copied: true, width: 640, height: 360, sourceCodecs: ['H264'] });
    expect(result.report.tracks.map((t) => t.clockSource)).toEqual(['arrival', 'arrival']);
    const sync = await measureAvSync(stream.file);
    console.info('H.264 copy: sync offsets (ms)', sync.offsetsMs, 'first keyframe delay', result.report.firstKeyframeDelayMs);
    expect(sync.offsetsMs.length).toBe(5);
    expect(sync.maxAbsMs).toBeLessThanOrEqual(20);
  });

  it('Opus + H.264 with the camera starting 3 s after the microphone: re-encoded, black until then, in sync', async () => {
    const { video, audio } = await captureTestRtp({ video: 'H264', audio: true, durationS: 7 });
    const { originMono, monoToEpochMs } = testClock();
    const session = await writeTestSession({
      monoToEpochMs,
      tracks: [
        { trackId: 'mic', stream: audio!, entries: synthesiseArrivals(audio!, { originMono, senderReportIntervalMs: 2000, seed: 3 }) },
        {
          trackId: 'cam',
          stream: video!,
          // The camera's first packets arrive at 3.0 s, mid-GOP: the frames before the next keyframe are unusable.
          entries: synthesiseArrivals(video!, { originMono, delayMs: 6, dropMediaMs: [[0, 2990]], senderReportIntervalMs: 1000 }),
        },
      ],
    });
    const result = await finalise(session);
    const stream = await expectGoodMp4(result, 7020);
    expect(stream.video!.copied).toBe(false);
    expect(stream.video!.gaps).toHaveLength(1);
    expect(stream.video!.gaps[0]!.to - stream.video!.gaps[0]!.from).toBeGreaterThan(2900);
    const luma = await lumaTimeline(stream.file, 30);
    expect(luma.filter((f) => f.t < 2.9).every((f) => f.luma < 20)).toBe(true);
    expect(luma.filter((f) => f.t > 3.4).every((f) => f.luma > 50)).toBe(true);
    const sync = await measureAvSync(stream.file);
    console.info('H.264 late camera: sync offsets (ms)', sync.offsetsMs, 'first keyframe delay', result.report.firstKeyframeDelayMs);
    expect(sync.offsetsMs.length).toBe(4); // flashes at 3..6 s
    expect(sync.maxAbsMs).toBeLessThanOrEqual(20);
  });

  it('shows the first frame after a black gap at its own output slot, also when it lies off the frame grid', async () => {
    const { video, audio } = await captureTestRtp({ video: 'H264', audio: true, durationS: 5 });
    // The camera starts with the keyframe at 3 s, which a capture-timed source stamped 8 ms
    // late: the output grid follows the other frames, so that frame's slot lies 8 ms before it.
    const firstTs = video!.packets[0]!.data.readUInt32BE(4);
    const keyframeTs = (firstTs + 3000 * 90) >>> 0;
    const camera = {
      ...video!,
      packets: video!.packets.map(({ data, arrivalMono }) => {
        if (data.readUInt32BE(4) !== keyframeTs) return { data, arrivalMono };
        const copy = Buffer.from(data);
        copy.writeUInt32BE((keyframeTs + 8 * 90) >>> 0, 4);
        return { data: copy, arrivalMono };
      }),
    };
    const { originMono, monoToEpochMs } = testClock();
    const session = await writeTestSession({
      monoToEpochMs,
      tracks: [
        { trackId: 'mic', stream: audio!, entries: synthesiseArrivals(audio!, { originMono, seed: 5 }) },
        { trackId: 'cam', stream: camera, entries: synthesiseArrivals(camera, { originMono, dropMediaMs: [[0, 2999]], seed: 6 }) },
      ],
    });
    const result = await finalise(session);
    const stream = await expectGoodMp4(result, 5020);
    const firstFrameS = result.report.firstKeyframeDelayMs! / 1000;
    const luma = await lumaTimeline(stream.file, 30);
    const firstPicture = luma.find((f) => f.luma > 50)!;
    console.info('off-grid first frame at', firstFrameS.toFixed(4), 's of the file; first picture at', firstPicture.t.toFixed(4), 's');
    // The slot nearest the frame shows it (black there would also move the first flash a frame late).
    expect(Math.abs(firstPicture.t - firstFrameS)).toBeLessThanOrEqual(0.5 / 30 + 0.001);
    expect(luma.filter((f) => f.t < firstFrameS - 0.5 / 30).every((f) => f.luma < 20)).toBe(true);
  });

  it('Opus + VP9', async () => {
    const { video, audio } = await captureTestRtp({ video: 'VP9', audio: true, durationS: 4 });
    const { originMono, monoToEpochMs } = testClock();
    const session = await writeTestSession({
      monoToEpochMs,
      tracks: [
        { trackId: 'mic', stream: audio!, entries: synthesiseArrivals(audio!, { originMono, senderReportIntervalMs: 2000, seed: 4 }) },
        { trackId: 'cam', stream: video!, entries: synthesiseArrivals(video!, { originMono, delayMs: 5, senderReportIntervalMs: 1000 }) },
      ],
    });
    const result = await finalise(session);
    const stream = await expectGoodMp4(result, 4020);
    expect(stream.video).toMatchObject({ width: 640, height: 360, sourceCodecs: ['VP9'], copied: false });
    const sync = await measureAvSync(stream.file);
    console.info('VP9: sync offsets (ms)', sync.offsetsMs);
    expect(sync.offsetsMs.length).toBe(4);
    expect(sync.maxAbsMs).toBeLessThanOrEqual(20);
  });

  it('keeps one output resolution across a mid-stream resolution change', async () => {
    const [small, large] = await Promise.all([
      captureTestRtp({ video: 'VP8', durationS: 2, width: 640, height: 360 }),
      captureTestRtp({ video: 'VP8', durationS: 2, width: 1280, height: 720 }),
    ]);
    const { audio } = await captureTestRtp({ audio: true, durationS: 4 });
    const video = spliceStreams(small.video!, large.video!);
    const { originMono, monoToEpochMs } = testClock();
    const session = await writeTestSession({
      monoToEpochMs,
      tracks: [
        { trackId: 'mic', stream: audio!, entries: synthesiseArrivals(audio!, { originMono, senderReportIntervalMs: 2000 }) },
        { trackId: 'cam', stream: video, entries: synthesiseArrivals(video, { originMono, delayMs: 5, senderReportIntervalMs: 1000 }) },
      ],
    });
    const result = await finalise(session);
    const stream = await expectGoodMp4(result, 4020);
    expect(stream.video).toMatchObject({ width: 1280, height: 720 });
    expect(await frameSizes(stream.file)).toEqual(['1280x720']);
    const sync = await measureAvSync(stream.file);
    expect(sync.offsetsMs.length).toBe(4);
    expect(sync.maxAbsMs).toBeLessThanOrEqual(20);

    // A configured size wins, and the 16:9 sources are fitted into it.
    const fixed = await finaliseStream({ sessionDir: session.sessionDir, peerId: session.peerId, streamId: session.streamId, options: { width: 480, height: 480 } });
    const fixedStream = await expectGoodMp4(fixed, 4020);
    expect(await frameSizes(fixedStream.file)).toEqual(['480x480']);
  });
});
