import { execa } from 'execa';
import { resolveFfmpegBinaries } from '../../src/ffmpeg/binaries.js';
import { rtpTimestampDiff } from '../../src/mux/rtp.js';
import { emptyTrackStats, readTrackFrames, scanTrack } from '../../src/mux/track-reader.js';
import { listSessionStreams } from '../../src/mux/index.js';
import type { BrowserSenderReport } from '../../src/testing/index.js';

/** Luma and change against the previous frame, per output frame, from a 64x36 grey decode. */
export async function pictureTimeline(file: string, fps: number): Promise<Array<{ t: number; luma: number; change: number }>> {
  const { ffmpegPath } = resolveFfmpegBinaries();
  const size = 64 * 36;
  const { stdout } = await execa(ffmpegPath, ['-v', 'error', '-nostdin', '-i', file, '-map', '0:v:0', '-vf', 'scale=64:36,format=gray', '-f', 'rawvideo', '-'], {
    encoding: 'buffer',
    maxBuffer: 512 * 1024 * 1024,
    stdin: 'ignore',
  });
  const out: Array<{ t: number; luma: number; change: number }> = [];
  for (let i = 0; (i + 1) * size <= stdout.length; i++) {
    let sum = 0;
    let change = 0;
    for (let j = 0; j < size; j++) {
      const value = stdout[i * size + j]!;
      sum += value;
      if (i > 0) change += Math.abs(value - stdout[(i - 1) * size + j]!);
    }
    out.push({ t: i / fps, luma: sum / size, change: i > 0 ? change / size : Number.POSITIVE_INFINITY });
  }
  return out;
}

/** Black is luma 16; the test pattern's mean is far above it. */
export const BLACK_LUMA = 30;
/** Mean absolute change per pixel below which a frame repeats the previous one. */
export const FROZEN_CHANGE = 0.3;

/** Stretches (seconds of the file) that are black, or frozen for at least `minFrozenS`. */
export function pictureFaults(
  frames: Array<{ t: number; luma: number; change: number }>,
  minFrozenS = 0.5,
): { black: Array<[number, number]>; frozen: Array<[number, number]> } {
  const runs = (predicate: (f: { luma: number; change: number }) => boolean, minS: number) => {
    const found: Array<[number, number]> = [];
    let start: number | undefined;
    for (const frame of [...frames, { t: Number.POSITIVE_INFINITY, luma: 255, change: 255 }]) {
      if (predicate(frame)) start ??= frame.t;
      else if (start !== undefined) {
        const end = Number.isFinite(frame.t) ? frame.t : frames.at(-1)!.t;
        if (end - start >= minS) found.push([start, end]);
        start = undefined;
      }
    }
    return found;
  };
  return {
    black: runs((f) => f.luma < BLACK_LUMA, 0.05),
    frozen: runs((f) => f.luma >= BLACK_LUMA && f.change < FROZEN_CHANGE, minFrozenS),
  };
}

/**
 * The recorder's A/V offset against the browser's own clock (ms, positive: video
 * later): every frame's wall-clock time as finalisation places it, minus the
 * browser's capture time of the same RTP timestamp from the browser's sender reports,
 * taken per track (median); the difference between the tracks is what the recorder
 * added. The fake devices' own offset is in both and cancels.
 */
export async function recorderAvOffsetMs(
  sessionDir: string,
  streamId: string,
  browserReports: { audio: BrowserSenderReport[]; video: BrowserSenderReport[] },
): Promise<number> {
  const stream = listSessionStreams(sessionDir).find((s) => s.streamId === streamId);
  if (!stream) throw new Error(`no stream ${streamId} in ${sessionDir}`);
  const perKind: Record<string, number[]> = { audio: [], video: [] };
  for (const track of stream.tracks) {
    const reports = browserReports[track.kind];
    if (reports.length === 0) throw new Error(`no browser sender reports for ${track.kind}`);
    const scan = await scanTrack(track.journal);
    for await (const frame of readTrackFrames(scan, emptyTrackStats())) {
      // The browser's report nearest in RTP time maps the frame onto the browser's clock.
      let best = reports[0]!;
      for (const report of reports) {
        if (Math.abs(rtpTimestampDiff(frame.rtpTimestamp, report.rtpTimestamp)) < Math.abs(rtpTimestampDiff(frame.rtpTimestamp, best.rtpTimestamp))) best = report;
      }
      const browserMs = best.ntpMs + (rtpTimestampDiff(frame.rtpTimestamp, best.rtpTimestamp) * 1000) / scan.header.clockRate;
      perKind[track.kind]!.push(frame.wallMs - browserMs);
    }
  }
  const median = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[sorted.length >> 1]!;
  };
  if (perKind.audio!.length === 0 || perKind.video!.length === 0) throw new Error(`stream ${streamId} lacks audio or video frames`);
  return median(perKind.video!) - median(perKind.audio!);
}
