import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VideoFrameAssembler } from '../../src/mux/video-assembler.js';
import { Vp8PayloadReader } from '../../src/codecs/vp8.js';
import { finaliseStream } from '../../src/mux/index.js';
import type { MuxOptions } from '../../src/mux/options.js';
import { parseRtp } from '../../src/mux/rtp.js';
import { expectGoodMp4 } from '../helpers/mux-assert.js';
import { lumaTimeline } from '../helpers/mux-probe.js';
import { captureTestRtp, type CapturedRtpStream } from '../helpers/mux-rtp-source.js';
import { synthesiseArrivals, testClock, writeTestSession, type JournalEntry, type TestSession } from '../helpers/mux-session.js';
import { measureAvSync } from '../helpers/sync-measure.js';

// Opus + VP8 (flash + beep for the first 100 ms of every second): one capture with a keyframe
// only at the start, as Chromium sends VP8 when nobody asks for more, and one with a keyframe
// every second.
let singleKeyframe: { video: CapturedRtpStream; audio: CapturedRtpStream };
let keyframeEverySecond: { video: CapturedRtpStream; audio: CapturedRtpStream };
const sessions: TestSession[] = [];
const FPS = 30;
/** The 8 s capture, plus the alignment padding of up to one frame (as in finalise-gaps). */
const FULL_MS = 8020;

beforeAll(async () => {
  const first = await captureTestRtp({ video: 'VP8', audio: true, durationS: 8, width: 320, height: 180, gop: 10_000 });
  const second = await captureTestRtp({ video: 'VP8', audio: true, durationS: 8, width: 320, height: 180, gop: FPS });
  singleKeyframe = { video: first.video!, audio: first.audio! };
  keyframeEverySecond = { video: second.video!, audio: second.audio! };
});

afterAll(() => {
  for (const s of sessions) rmSync(dirname(dirname(s.sessionDir)), { recursive: true, force: true });
});

async function finalise(session: TestSession, options: MuxOptions = {}) {
  sessions.push(session);
  return finaliseStream({ sessionDir: session.sessionDir, peerId: session.peerId, streamId: session.streamId, options });
}

/** The RTP entries renumbered without holes: a sender that stopped sending, not packets lost on the way. */
function withoutSequenceHoles(entries: JournalEntry[]): JournalEntry[] {
  const firstSeq = entries.find((e) => e.kind === 'rtp')!.data.readUInt16BE(2);
  let index = 0;
  return entries.map((entry) => {
    if (entry.kind !== 'rtp') return entry;
    const data = Buffer.from(entry.data);
    data.writeUInt16BE((firstSeq + index++) & 0xffff, 2);
    return { ...entry, data };
  });
}

/** RTP timestamps of the stream's keyframes. */
function keyframeTimestamps(stream: CapturedRtpStream): Set<number> {
  const assembler = new VideoFrameAssembler(new Vp8PayloadReader());
  const keyframes = new Set<number>();
  stream.packets.forEach(({ data, arrivalMono }, index) => {
    const packet = parseRtp(data)!;
    for (const frame of assembler.push(packet, index, arrivalMono)) if (frame.keyframe) keyframes.add(frame.rtpTimestamp);
  });
  return keyframes;
}

describe('finaliseStream: timing as browsers send it (biased sender reports, holes, idle screens)', () => {
  it('keeps the picture to the end when the sender reports step back 80 ms two seconds in (one keyframe only)', async () => {
    const { video, audio } = singleKeyframe;
    const { originMono, monoToEpochMs } = testClock();
    const session = await writeTestSession({
      monoToEpochMs,
      tracks: [
        { trackId: 'mic', stream: audio, entries: synthesiseArrivals(audio, { originMono, senderReportIntervalMs: 2000, seed: 31 }) },
        {
          trackId: 'cam',
          stream: video,
          entries: synthesiseArrivals(video, {
            originMono,
            delayMs: 5,
            senderReportIntervalMs: 1000,
            // The first reports map the video 80 ms late, as mediasoup's do while a keyframe is paced out.
            senderReportErrorMs: (sinceFirst) => (sinceFirst < 2000 ? 80 : 0),
            seed: 32,
          }),
        },
      ],
    });
    const result = await finalise(session);
    const stream = await expectGoodMp4(result, FULL_MS);
    const luma = await lumaTimeline(stream.file, FPS);
    const dark = luma.filter((f) => f.t > 0.2 && f.luma <= 50);
    const sync = await measureAvSync(stream.file);
    console.info('reports stepping back: frames', luma.length, 'dark frames after 0.2 s', dark.length, 'sync offsets (ms)', sync.offsetsMs);
    expect(luma.length).toBeGreaterThanOrEqual(Math.floor(((FULL_MS - 100) / 1000) * FPS));
    expect(dark).toEqual([]);
    expect(luma[luma.length - 1]!.t).toBeGreaterThan(7.9);
    expect(sync.offsetsMs.length).toBeGreaterThanOrEqual(7);
    expect(sync.maxAbsMs).toBeLessThanOrEqual(20);
  });

  it('never places audio after it arrived: sparse sender reports that map it 25 ms late are bounded by the arrivals', async () => {
    const { video, audio } = singleKeyframe;
    const { originMono, monoToEpochMs } = testClock();
    const session = await writeTestSession({
      monoToEpochMs,
      tracks: [
        // Two reports in 8 s (mediasoup sends audio reports every 5 s), both 25 ms late.
        { trackId: 'mic', stream: audio, entries: synthesiseArrivals(audio, { originMono, delayMs: 2, senderReportIntervalMs: 5000, senderReportErrorMs: () => 25, seed: 35 }) },
        { trackId: 'cam', stream: video, entries: synthesiseArrivals(video, { originMono, delayMs: 2, senderReportIntervalMs: 1000, seed: 36 }) },
      ],
    });
    const result = await finalise(session);
    const stream = await expectGoodMp4(result, FULL_MS);
    const sync = await measureAvSync(stream.file);
    console.info('late audio reports: sync offsets (ms)', sync.offsetsMs);
    expect(sync.offsetsMs.length).toBeGreaterThanOrEqual(7);
    expect(sync.maxAbsMs).toBeLessThanOrEqual(10);
  });

  it('keeps a camera that starts 3.27 s late in sync when the delay of the whole path rose 120 ms before it started', async () => {
    // What individual.test.ts recorded under load: 0.6 s into the call every packet of the
    // peer came 120 ms later for good; the camera's first packets arrive at 3.27 s (mid-GOP).
    const { video, audio } = keyframeEverySecond;
    const stepped = (mediaMs: number) => (mediaMs >= 600 ? 120 : 0);
    const { originMono, monoToEpochMs } = testClock();
    const session = await writeTestSession({
      monoToEpochMs,
      tracks: [
        { trackId: 'mic', stream: audio, entries: synthesiseArrivals(audio, { originMono, senderReportIntervalMs: 5000, extraDelayMs: stepped, seed: 61 }) },
        {
          trackId: 'cam',
          stream: video,
          entries: synthesiseArrivals(video, { originMono, senderReportIntervalMs: 1000, extraDelayMs: stepped, dropMediaMs: [[0, 3270]], seed: 62 }),
        },
      ],
    });
    const result = await finalise(session);
    const stream = await expectGoodMp4(result, FULL_MS + 120);
    const sync = await measureAvSync(stream.file);
    console.info('delay step before a late camera: sync offsets (ms)', sync.offsetsMs);
    expect(sync.offsetsMs.length).toBeGreaterThanOrEqual(4); // the flashes at 4..7 s
    expect(sync.maxAbsMs).toBeLessThanOrEqual(10);
  });

  it('places a frame that maps before its predecessor just after it instead of dropping it (one keyframe only)', async () => {
    const { video, audio } = singleKeyframe;
    // The frames at 3.167 s and 3.2 s (after the flash) carry each other's RTP timestamps: the second maps 33 ms before the first.
    const timestamps = [...new Set(video.packets.map((p) => p.data.readUInt32BE(4)))];
    const [earlier, later] = [timestamps[95]!, timestamps[96]!];
    const swapped: CapturedRtpStream = {
      ...video,
      packets: video.packets.map(({ data, arrivalMono }) => {
        const ts = data.readUInt32BE(4);
        if (ts !== earlier && ts !== later) return { data, arrivalMono };
        const copy = Buffer.from(data);
        copy.writeUInt32BE(ts === earlier ? later : earlier, 4);
        return { data: copy, arrivalMono };
      }),
    };
    const { originMono, monoToEpochMs } = testClock();
    const session = await writeTestSession({
      monoToEpochMs,
      tracks: [
        { trackId: 'mic', stream: audio, entries: synthesiseArrivals(audio, { originMono, senderReportIntervalMs: 2000, seed: 33 }) },
        { trackId: 'cam', stream: swapped, entries: synthesiseArrivals(swapped, { originMono, delayMs: 5, senderReportIntervalMs: 1000, seed: 34 }) },
      ],
    });
    const result = await finalise(session);
    const stream = await expectGoodMp4(result, FULL_MS);
    const luma = await lumaTimeline(stream.file, FPS);
    const dark = luma.filter((f) => f.t > 0.2 && f.luma <= 50);
    const sync = await measureAvSync(stream.file);
    console.info('frame mapped backwards: dark frames after 0.2 s', dark.length, 'sync offsets (ms)', sync.offsetsMs);
    expect(dark).toEqual([]);
    expect(stream.video!.gaps).toEqual([]);
    expect(sync.offsetsMs.length).toBeGreaterThanOrEqual(7);
    expect(sync.maxAbsMs).toBeLessThanOrEqual(20);
  });

  it("reports a 3 s video hole without a mute as a gap: black by default, the held frame with 'hold'", async () => {
    const { video, audio } = keyframeEverySecond;
    const resumeTimestamp = (video.packets[0]!.data.readUInt32BE(4) + 6000 * 90) >>> 0;
    expect(keyframeTimestamps(video).has(resumeTimestamp)).toBe(true);
    const measured: Record<string, unknown> = {};
    for (const fill of ['black', 'hold'] as const) {
      const { originMono, monoToEpochMs } = testClock();
      const session = await writeTestSession({
        monoToEpochMs,
        tracks: [
          { trackId: 'mic', stream: audio, entries: synthesiseArrivals(audio, { originMono, senderReportIntervalMs: 2000, seed: 41 }) },
          {
            trackId: 'cam',
            stream: video,
            // replaceTrack(null) from 3 s to 6 s: no packets, no mute; it resumes on a keyframe.
            entries: withoutSequenceHoles(
              synthesiseArrivals(video, { originMono, delayMs: 5, senderReportIntervalMs: 1000, dropMediaMs: [[3000, 6000]], seed: 42 }),
            ),
          },
        ],
      });
      const result = await finalise(session, fill === 'hold' ? { videoGapFill: 'hold' } : {});
      const stream = await expectGoodMp4(result, FULL_MS);
      expect(stream.video!.gaps).toHaveLength(1);
      const gap = stream.video!.gaps[0]!;
      // Media time 0 is the stream's first media, which the file starts with (up to one frame of alignment before it).
      const firstMedia = stream.startedAt + result.report.alignmentMs;
      const fromMs = gap.from - firstMedia;
      const toMs = gap.to - firstMedia;
      expect(Math.abs(fromMs - 3000)).toBeLessThanOrEqual(100);
      expect(Math.abs(toMs - 6000)).toBeLessThanOrEqual(100);

      const luma = await lumaTimeline(stream.file, FPS);
      const inHole = luma.filter((f) => f.t > 3.1 && f.t < 5.9);
      const around = luma.filter((f) => (f.t > 0.2 && f.t < 2.95) || f.t > 6.1);
      const sync = await measureAvSync(stream.file);
      measured[fill] = {
        gapMs: [fromMs.toFixed(1), toMs.toFixed(1)],
        holeLuma: [Math.min(...inHole.map((f) => f.luma)).toFixed(1), Math.max(...inHole.map((f) => f.luma)).toFixed(1)],
        syncMs: sync.offsetsMs,
      };
      expect(inHole.length).toBeGreaterThanOrEqual(80);
      expect(around.every((f) => f.luma > 50)).toBe(true);
      if (fill === 'black') {
        expect(inHole.every((f) => f.luma < 20)).toBe(true);
      } else {
        const held = luma[Math.round(((gap.from - stream.startedAt) / 1000) * FPS) - 1]!.luma; // the last frame before the gap (the gap starts on the grid)
        expect(held).toBeGreaterThan(50);
        expect(inHole.every((f) => Math.abs(f.luma - held) < 1)).toBe(true);
      }
      expect(sync.offsetsMs.length).toBeGreaterThanOrEqual(5); // 0, 1, 2, 6, 7 s (and 3 s in audio only)
      expect(sync.maxAbsMs).toBeLessThanOrEqual(20);
    }
    console.info('video hole without a mute:', JSON.stringify(measured));
  });

  it('reports no gaps in a 1 fps stream (Chromium repeats an idle screen share about once a second)', async () => {
    const { video, audio } = keyframeEverySecond;
    // The keyframes alone, 1010 ms apart: a repeat scheduled 1 s after the last frame runs a little late.
    const keyframes = [...keyframeTimestamps(video)].sort((a, b) => a - b);
    const repeatMs = 1010;
    const idleScreen: CapturedRtpStream = {
      ...video,
      packets: video.packets.flatMap(({ data, arrivalMono }) => {
        const index = keyframes.indexOf(data.readUInt32BE(4));
        if (index < 0) return [];
        const copy = Buffer.from(data);
        copy.writeUInt32BE((keyframes[0]! + index * repeatMs * 90) >>> 0, 4);
        return [{ data: copy, arrivalMono }];
      }),
    };
    const lastFrameMs = (keyframes.length - 1) * repeatMs;
    const { originMono, monoToEpochMs } = testClock();
    const session = await writeTestSession({
      monoToEpochMs,
      tracks: [
        {
          trackId: 'mic',
          stream: audio,
          // The microphone stops with the last frame, so the file ends with the video.
          entries: synthesiseArrivals(audio, { originMono, senderReportIntervalMs: 2000, dropMediaMs: [[lastFrameMs, 60_000]], seed: 52 }),
        },
        {
          trackId: 'screen',
          stream: idleScreen,
          entries: withoutSequenceHoles(synthesiseArrivals(idleScreen, { originMono, delayMs: 5, senderReportIntervalMs: 1000, seed: 51 })),
        },
      ],
    });
    const result = await finalise(session);
    const stream = await expectGoodMp4(result, lastFrameMs + 40);
    console.info('idle screen share: frames', keyframes.length, 'every', repeatMs, 'ms; video gaps', stream.video!.gaps);
    expect(keyframes.length).toBeGreaterThanOrEqual(7);
    expect(stream.video!.gaps).toEqual([]);
  });
});
