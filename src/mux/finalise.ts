import { existsSync } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { JournalFormatError } from '../capture/journal.js';
import { SfuRecorderError } from '../errors.js';
import { resolveFfmpegBinaries } from '../ffmpeg/binaries.js';
import { runFfmpeg, runFfprobe } from '../ffmpeg/run.js';
import { sessionPaths } from '../spool/layout.js';
import type { SessionStartedEvent, TimelineEvent } from '../timeline/events.js';
import { readTimeline, type TimelineContents } from '../timeline/timeline-file.js';
import { IVF_TIMEBASE, IvfWriter, type IvfFourcc } from './containers/ivf.js';
import { MatroskaOpusWriter } from './containers/matroska-opus.js';
import { buildFfmpegArgs, even, type EncodePlan, type VideoIntermediate } from './encode.js';
import { clipIntervals, cutBefore, inIntervals, subtractIntervals, totalLength, touchesIntervals } from './intervals.js';
import { resolveMuxOptions, type MuxOptions, type ResolvedMuxOptions } from './options.js';
import type { FinalisedStream, Interval } from './stream-result.js';
import { listTimelineStreams, recordingPauses, type TimelineStream, type TimelineTrack } from './streams.js';
import { emptyTrackStats, readTrackFrames, scanTrack, type SourceCodec, type TrackReadStats, type TrackScan } from './track-reader.js';

/** Arguments of {@link finaliseStream}. */
export interface FinaliseStreamParams {
  /** The session's spool directory (`sessionPaths.dir(...)`). */
  sessionDir: string;
  peerId: string;
  streamId: string;
  /** The session timeline; read from `timeline.jsonl` when absent. */
  timeline?: TimelineContents | readonly TimelineEvent[];
  options?: MuxOptions;
  signal?: AbortSignal;
}

/** What finalisation found out about one track, for logs and diagnostics. */
export interface TrackDiagnostics extends TrackReadStats {
  trackId: string;
  kind: 'audio' | 'video';
  codec: SourceCodec | undefined;
  clockSource: 'sender-reports' | 'arrival' | undefined;
  mediaPackets: number;
  /** Why the track contributed nothing, if it did not. */
  skipped?: string;
}

/** Diagnostics of one finalisation, beside the {@link FinalisedStream}. */
export interface MuxReport {
  tracks: TrackDiagnostics[];
  /** Milliseconds from the file's t = 0 to its first video frame (a keyframe). */
  firstKeyframeDelayMs: number | undefined;
  /** Milliseconds of silence added in front so that video frames fall on the output frame grid. */
  alignmentMs: number;
  /** Wall time spent, ms. */
  elapsedMs: number;
}

/** The outcome of {@link finaliseStream}: a file, or the reason there is none. */
export type FinaliseStreamResult =
  | { status: 'finalised'; stream: FinalisedStream; report: MuxReport }
  | { status: 'empty'; reason: string; report: MuxReport };

/** Audio holes longer than this (without a mute) are reported as gaps. */
const AUDIO_HOLE_MS = 1000;
/**
 * Video holes longer than this (without a mute: a sender that stopped, e.g. after
 * `replaceTrack(null)`) are reported as gaps. Twice the 1 s at which Chromium repeats
 * the frame of an idle screen share, so a static screen is not painted black.
 */
const VIDEO_HOLE_MS = 2000;
/**
 * A frame or packet that maps at or before its predecessor in the same track is placed
 * this much after it: dropping it would leave video undecodable until the next
 * keyframe, which browsers send only when asked.
 */
const MIN_SPACING_MS = 1;
/** Gaps shorter than this are neither reported nor painted. */
const MIN_GAP_MS = 20;

/**
 * Finalises one peer stream: reads its tracks' capture journals, puts every frame on
 * the recorder's wall clock, and writes `<streamId>.mp4` (H.264 + AAC, constant size
 * and frame rate, gaps filled) and `stream.json` into the stream's spool directory.
 *
 * Works the same on a crashed session (no `stream-ended`, torn journal tails): the
 * stream then ends with its last media. A stream without any decodable media
 * produces no file at all and resolves `{ status: 'empty', reason }`. The mp4 is
 * written under a temporary name and renamed, so a file at the final path is
 * always complete.
 */
export async function finaliseStream(params: FinaliseStreamParams): Promise<FinaliseStreamResult> {
  const started = Date.now();
  const options = resolveMuxOptions(params.options);
  const { sessionDir, peerId, streamId, signal } = params;
  const contents = params.timeline ?? readTimeline(sessionPaths.timeline(sessionDir));
  const events = Array.isArray(contents) ? (contents as readonly TimelineEvent[]) : (contents as TimelineContents).events;
  const stream = listTimelineStreams(events, sessionDir).find((s) => s.streamId === streamId && s.peerId === peerId);
  if (!stream) {
    throw new SfuRecorderError('ERR_STREAM_NOT_FOUND', `stream ${streamId} of peer ${peerId} is not in the timeline of ${sessionDir}`);
  }
  const streamDir = sessionPaths.streamDir(sessionDir, peerId, streamId);
  const workDir = join(streamDir, '.mux-work');
  await rm(workDir, { recursive: true, force: true }); // leftovers of an interrupted run
  await mkdir(workDir, { recursive: true });
  try {
    const outcome = await finaliseInWorkDir(stream, events, options, workDir, signal);
    const report: MuxReport = { ...outcome.report, elapsedMs: Date.now() - started };
    if (outcome.status === 'empty') return { status: 'empty', reason: outcome.reason, report };

    const session = events.find((e): e is SessionStartedEvent => e.type === 'session-started');
    const finalFile = sessionPaths.streamFile(sessionDir, peerId, streamId);
    await rename(outcome.tmpFile, finalFile);
    const sizeBytes = (await stat(finalFile)).size;
    const result: FinalisedStream = {
      version: 1,
      roomId: session?.roomId ?? basename(dirname(sessionDir)),
      sessionId: session?.sessionId ?? basename(sessionDir),
      peerId,
      streamId,
      source: stream.source,
      ...(stream.displayName !== undefined ? { displayName: stream.displayName } : {}),
      file: finalFile,
      ...outcome.result,
      sizeBytes,
    };
    const resultPath = sessionPaths.streamResult(sessionDir, peerId, streamId);
    await writeFile(`${resultPath}.tmp`, `${JSON.stringify(result, null, 2)}\n`);
    await rename(`${resultPath}.tmp`, resultPath);
    return { status: 'finalised', stream: result, report };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

type WorkOutcome =
  | { status: 'empty'; reason: string; report: Omit<MuxReport, 'elapsedMs'> }
  | {
      status: 'finalised';
      tmpFile: string;
      result: Omit<FinalisedStream, 'version' | 'roomId' | 'sessionId' | 'peerId' | 'streamId' | 'source' | 'displayName' | 'file' | 'sizeBytes'>;
      report: Omit<MuxReport, 'elapsedMs'>;
    };

interface ScannedTrack {
  track: TimelineTrack;
  scan: TrackScan;
  stats: TrackReadStats;
}

/** Presence runs: the intervals a kind of media was there, for gap reporting and painting. */
class PresenceRuns {
  readonly runs: Interval[] = [];
  #open: Interval | undefined;

  add(from: number, to: number, breakBefore: boolean): void {
    if (!this.#open || breakBefore) {
      this.close();
      this.#open = { from, to };
    } else {
      this.#open.to = Math.max(this.#open.to, to);
    }
  }

  close(): void {
    if (this.#open) this.runs.push(this.#open);
    this.#open = undefined;
  }
}

async function finaliseInWorkDir(
  stream: TimelineStream,
  events: readonly TimelineEvent[],
  options: ResolvedMuxOptions,
  workDir: string,
  signal: AbortSignal | undefined,
): Promise<WorkOutcome> {
  const diagnostics: TrackDiagnostics[] = [];
  const scanned: ScannedTrack[] = [];
  for (const track of stream.tracks) {
    const diag: TrackDiagnostics = {
      trackId: track.trackId,
      kind: track.kind,
      codec: undefined,
      clockSource: undefined,
      mediaPackets: 0,
      ...emptyTrackStats(),
    };
    diagnostics.push(diag);
    if (!existsSync(track.journal)) {
      diag.skipped = `journal ${track.journal} does not exist`;
      continue;
    }
    let scan: TrackScan;
    try {
      scan = await scanTrack(track.journal, signal);
    } catch (error) {
      if (error instanceof JournalFormatError) {
        diag.skipped = error.message;
        continue;
      }
      throw error;
    }
    diag.codec = scan.codec;
    diag.clockSource = scan.clockSource;
    diag.mediaPackets = scan.mediaPackets;
    if (scan.mediaPackets === 0) {
      diag.skipped = 'no media packets';
      continue;
    }
    scanned.push({ track, scan, stats: diag });
  }
  const emptyReport = { tracks: diagnostics, firstKeyframeDelayMs: undefined, alignmentMs: 0 };
  if (scanned.length === 0) {
    return { status: 'empty', reason: `stream ${stream.streamId} has no media (${describeSkips(diagnostics)})`, report: emptyReport };
  }

  // Intermediate timestamps are wall clock minus a base (minus the cut pauses before
  // them); the final pass shifts them so that the file starts at the first media.
  const byArrival = [...scanned].sort((a, b) => firstArrivalEpoch(a) - firstArrivalEpoch(b));
  const baseMs = Math.floor(firstArrivalEpoch(byArrival[0]!)) - 10_000;
  const pauses = recordingPauses(events);
  const cutPauses = options.pausedTime === 'cut' ? pauses : [];
  const intermediateMs = (wall: number) => wall - baseMs - cutBefore(cutPauses, wall);

  const audio = await writeAudio(byArrival.filter((t) => t.track.kind === 'audio'), workDir, options, pauses, intermediateMs, signal);
  const video = await writeVideo(byArrival.filter((t) => t.track.kind === 'video'), workDir, options, pauses, intermediateMs, signal);

  const present = scanned.filter((t) => t.stats.firstMediaWallMs !== undefined);
  if (audio.packets === 0 && video.frames === 0) {
    return {
      status: 'empty',
      reason: `stream ${stream.streamId} has no decodable media (${describeSkips(diagnostics)}; ${present.length} track(s) had undecodable packets only)`,
      report: emptyReport,
    };
  }

  // The stream's extent: first to last media of any track, decodable or not.
  const firstMedia = Math.min(...present.map((t) => t.stats.firstMediaWallMs!));
  const lastMedia = Math.max(
    ...present.map((t) => t.stats.lastMediaWallMs! + (t.track.kind === 'video' ? video.frameIntervalMs : 0)),
  );
  const endedAt = Math.max(lastMedia, firstMedia + 1);
  const frameMs = 1000 / options.fps;
  const largest = video.inputs.reduce<{ width: number; height: number } | undefined>(
    (best, input) =>
      input.width && input.height && (!best || input.width * input.height > best.width * best.height)
        ? { width: input.width, height: input.height }
        : best,
    undefined,
  ) ?? { width: 640, height: 360 };
  const width = options.width ?? (options.height ? even((options.height * largest.width) / largest.height) : even(largest.width));
  const height = options.height ?? (options.width ? even((options.width * largest.height) / largest.width) : even(largest.height));

  // H.264 is copied when nothing forces a re-encode: one size, starts on a keyframe
  // within 300 ms, no cuts, and no gaps that would have to be painted black.
  const uncutGaps = (runs: Interval[], from: number) =>
    subtractIntervals([{ from, to: endedAt }], [...runs, ...clipIntervals(cutPauses, from, endedAt)]).filter(
      (gap) => gap.to - gap.from >= MIN_GAP_MS,
    );
  const copy =
    options.copyH264 &&
    video.frames > 0 &&
    video.inputs.length === 1 &&
    video.inputs[0]!.codec === 'H264' &&
    video.inputs[0]!.width === width &&
    video.inputs[0]!.height === height &&
    clipIntervals(cutPauses, firstMedia, endedAt).length === 0 &&
    video.firstFrameWallMs !== undefined &&
    video.firstFrameWallMs - firstMedia <= 300 &&
    // A copy keeps the source's frame times: only a source on a constant frame rate (not a
    // browser's capture-timed frames) gives a constant-rate file that way.
    video.offGridFrames === 0 &&
    (options.videoGapFill === 'hold' ||
      uncutGaps(video.presence.runs, firstMedia).every((gap) => gap.from === firstMedia || (gap.to >= endedAt && gap.to - gap.from <= 300)));

  // When re-encoding, start the file up to one frame earlier (adding silence) so that
  // the video frames land on the output frame grid instead of being rounded by up to
  // half a frame, which would eat into the A/V sync budget.
  const alignmentMs = video.frames > 0 && !copy ? gridAlignment(video.phaseSamples.map((w) => w - firstMedia), frameMs) : 0;
  const startedAt = firstMedia - alignmentMs;
  const cuts = clipIntervals(cutPauses, startedAt, endedAt);
  const durationMs = endedAt - startedAt - totalLength(cuts);
  const fileMs = (wall: number) => wall - startedAt - cutBefore(cuts, wall);
  // Gaps are measured from the first media: the alignment padding is not missing media.
  const videoGaps = video.frames > 0 ? uncutGaps(video.presence.runs, firstMedia) : [];
  const audioGaps = audio.packets > 0 ? uncutGaps(audio.presence.runs, firstMedia) : [];
  const firstKeyframeDelayMs = video.firstFrameWallMs !== undefined ? fileMs(video.firstFrameWallMs) : undefined;

  const tmpFile = join(workDir, 'out.mp4');
  const plan: EncodePlan = {
    outputPath: tmpFile,
    durationS: durationMs / 1000,
    offsetS: (startedAt - baseMs - cutBefore(cutPauses, startedAt)) / 1000,
    video:
      video.frames > 0
        ? {
            inputs: video.inputs,
            width,
            height,
            fps: options.fps,
            blackS:
              options.videoGapFill === 'black'
                ? videoGaps.map((gap) => [fileMs(gap.from) / 1000, fileMs(gap.to) / 1000] as [number, number])
                : [],
            copy,
          }
        : undefined,
    audio: audio.packets > 0 ? { path: audio.path, channels: options.audioChannels, bitrate: options.audioBitrate } : undefined,
  };
  const binaries = resolveFfmpegBinaries(options.ffmpeg);
  const scriptPath = join(workDir, 'filters.txt');
  const { args, script } = buildFfmpegArgs(plan, options, scriptPath);
  await writeFile(scriptPath, script);
  await runFfmpeg(binaries.ffmpegPath, args, { ...(signal ? { signal } : {}), label: `finalising stream ${stream.streamId}` });
  await verifyOutput(binaries.ffprobePath, tmpFile, plan, stream.streamId, signal);

  const sourceCodecs = (kind: 'audio' | 'video') => [
    ...new Set(scanned.filter((t) => t.track.kind === kind && t.stats.frames > 0).map((t) => t.scan.codec)),
  ];
  return {
    status: 'finalised',
    tmpFile,
    result: {
      startedAt,
      endedAt,
      durationMs,
      ...(plan.video
        ? {
            video: {
              codec: 'h264',
              sourceCodecs: sourceCodecs('video'),
              width: copy ? video.inputs[0]!.width! : width,
              height: copy ? video.inputs[0]!.height! : height,
              fps: options.fps,
              copied: copy,
              gaps: videoGaps,
            },
          }
        : {}),
      ...(plan.audio
        ? {
            audio: {
              codec: 'aac',
              sourceCodecs: sourceCodecs('audio'),
              sampleRate: 48_000,
              channels: options.audioChannels,
              gaps: audioGaps,
            },
          }
        : {}),
      cuts,
    },
    report: { tracks: diagnostics, firstKeyframeDelayMs, alignmentMs },
  };
}

function firstArrivalEpoch(track: ScannedTrack): number {
  return track.scan.firstArrivalMono! + track.scan.header.monoToEpochMs;
}

function describeSkips(diagnostics: TrackDiagnostics[]): string {
  if (diagnostics.length === 0) return 'no tracks in the timeline';
  return diagnostics.map((d) => `${d.trackId}: ${d.skipped ?? `${d.mediaPackets} packets`}`).join('; ');
}

/** Whether a mute of `track` or a pause begins or lasts between two media times. */
function interrupted(track: TimelineTrack, pauses: Interval[], from: number, to: number): boolean {
  return touchesIntervals(track.muted, from, to) || touchesIntervals(pauses, from, to);
}

async function writeAudio(
  tracks: ScannedTrack[],
  workDir: string,
  options: ResolvedMuxOptions,
  pauses: Interval[],
  intermediateMs: (wall: number) => number,
  signal: AbortSignal | undefined,
): Promise<{ path: string; packets: number; presence: PresenceRuns }> {
  const path = join(workDir, 'audio.mka');
  const presence = new PresenceRuns();
  let writer: MatroskaOpusWriter | undefined;
  let floor = Number.NEGATIVE_INFINITY; // end of the previous track's media
  for (const { track, scan, stats } of tracks) {
    let previousWall: number | undefined;
    let previousEnd: number | undefined;
    let trackEnd = floor;
    const frames = readTrackFrames(scan, stats, { reorder: options.reorder, isExcluded: (w) => inIntervals(pauses, w), ...(signal ? { signal } : {}) });
    for await (const frame of frames) {
      const wallMs = afterPrevious(frame.wallMs, previousWall);
      if (wallMs < floor || inIntervals(pauses, wallMs) || intermediateMs(wallMs) < 0) continue;
      const endWallMs = frame.endWallMs + (wallMs - frame.wallMs);
      writer ??= new MatroskaOpusWriter(path, 2);
      writer.writePacket(frame.data, intermediateMs(wallMs));
      const breakBefore = previousEnd === undefined || wallMs - previousEnd > AUDIO_HOLE_MS || interrupted(track, pauses, previousEnd, wallMs);
      presence.add(wallMs, endWallMs, breakBefore);
      previousWall = wallMs;
      previousEnd = endWallMs;
      trackEnd = Math.max(trackEnd, endWallMs);
    }
    presence.close();
    floor = trackEnd;
  }
  writer?.close();
  return { path, packets: writer?.packets ?? 0, presence };
}

/** `wallMs`, or just after the previous frame of the same track if it does not come after it. */
function afterPrevious(wallMs: number, previousWall: number | undefined): number {
  return previousWall === undefined || wallMs > previousWall ? wallMs : previousWall + MIN_SPACING_MS;
}

const FOURCC: Record<Exclude<SourceCodec, 'opus'>, IvfFourcc> = { VP8: 'VP80', VP9: 'VP90', H264: 'H264' };

interface VideoOutcome {
  inputs: VideoIntermediate[];
  frames: number;
  presence: PresenceRuns;
  /** Typical frame spacing (ms): how long the last frame of a run lasts. */
  frameIntervalMs: number;
  firstFrameWallMs: number | undefined;
  /** Wall times of early frames, to align the output frame grid with them. */
  phaseSamples: number[];
  /**
   * Frames further than a quarter frame from the output frame grid, or closer than 3/4 of a
   * frame to their predecessor (browsers' variable frame rate): a copy would keep them so.
   */
  offGridFrames: number;
}

async function writeVideo(
  tracks: ScannedTrack[],
  workDir: string,
  options: ResolvedMuxOptions,
  pauses: Interval[],
  intermediateMs: (wall: number) => number,
  signal: AbortSignal | undefined,
): Promise<VideoOutcome> {
  const presence = new PresenceRuns();
  const groups = new Map<string, { writer: IvfWriter; input: VideoIntermediate }>();
  let frames = 0;
  let floor = Number.NEGATIVE_INFINITY;
  let intervalEstimate = 1000 / 30;
  let firstFrameWallMs: number | undefined;
  const phaseSamples: number[] = [];
  const frameMs = 1000 / options.fps;
  let offGridFrames = 0;
  for (const { track, scan, stats } of tracks) {
    const codec = scan.codec as Exclude<SourceCodec, 'opus'>;
    let group: { writer: IvfWriter; input: VideoIntermediate } | undefined;
    let needKeyframe = true;
    let previousWall: number | undefined;
    const frameStream = readTrackFrames(scan, stats, { reorder: options.reorder, isExcluded: (w) => inIntervals(pauses, w), ...(signal ? { signal } : {}) });
    for await (const frame of frameStream) {
      const wallMs = afterPrevious(frame.wallMs, previousWall);
      // Only an earlier track of the stream (floor), a pause or the base can drop a frame.
      if (wallMs <= floor || inIntervals(pauses, wallMs) || intermediateMs(wallMs) < 0) {
        needKeyframe = true; // what follows may reference the dropped frame
        continue;
      }
      if (needKeyframe && !frame.keyframe) continue;
      needKeyframe = false;
      if (frame.keyframe && frame.width && frame.height && (group?.input.width !== frame.width || group.input.height !== frame.height)) {
        group = undefined;
      }
      if (!group) {
        const key = `${codec}-${frame.width ?? 0}x${frame.height ?? 0}`;
        group = groups.get(key);
        if (!group) {
          const input: VideoIntermediate = {
            path: join(workDir, `video-${groups.size}.ivf`),
            codec,
            width: frame.width,
            height: frame.height,
          };
          group = { writer: new IvfWriter(input.path, FOURCC[codec], frame.width ?? 0, frame.height ?? 0), input };
          groups.set(key, group);
        }
      }
      group.writer.writeFrame(frame.data, (intermediateMs(wallMs) * IVF_TIMEBASE) / 1000);
      frames++;
      firstFrameWallMs ??= wallMs;
      const phase = (((wallMs - firstFrameWallMs) % frameMs) + frameMs) % frameMs;
      const crowded = previousWall !== undefined && wallMs - previousWall < frameMs * 0.75;
      if (crowded || Math.min(phase, frameMs - phase) > frameMs / 4) offGridFrames++;
      if (phaseSamples.length < 90) phaseSamples.push(wallMs);
      if (previousWall !== undefined) {
        const spacing = wallMs - previousWall;
        if (spacing < 200) intervalEstimate += (spacing - intervalEstimate) / 16;
      }
      const breakBefore =
        previousWall === undefined || wallMs - previousWall > VIDEO_HOLE_MS || interrupted(track, pauses, previousWall, wallMs);
      const frameEnd = wallMs + Math.min(Math.max(intervalEstimate, 10), 100);
      presence.add(wallMs, frameEnd, breakBefore);
      previousWall = wallMs;
      floor = Math.max(floor, wallMs);
    }
    presence.close();
  }
  for (const { writer } of groups.values()) writer.close();
  return {
    inputs: [...groups.values()].map((g) => g.input),
    frames,
    presence,
    frameIntervalMs: Math.min(Math.max(intervalEstimate, 10), 100),
    firstFrameWallMs,
    phaseSamples,
    offGridFrames,
  };
}

/**
 * How much earlier than the first media the file should start so that the video
 * frames fall on the output grid: the circular mean of their phases modulo the
 * output frame duration. Zero when the phases do not agree (another frame rate).
 */
function gridAlignment(offsetsMs: number[], frameMs: number): number {
  if (offsetsMs.length === 0) return 0;
  let x = 0;
  let y = 0;
  for (const offset of offsetsMs) {
    const angle = (2 * Math.PI * offset) / frameMs;
    x += Math.cos(angle);
    y += Math.sin(angle);
  }
  if (Math.hypot(x, y) / offsetsMs.length < 0.5) return 0;
  const phase = ((Math.atan2(y, x) / (2 * Math.PI)) * frameMs + frameMs) % frameMs;
  const shift = (frameMs - phase) % frameMs;
  return shift < 0.5 ? 0 : shift;
}

interface ProbeOutput {
  streams?: Array<{ codec_type?: string; codec_name?: string }>;
  format?: { duration?: string };
}

/** Refuses to report success for an output that has no streams or no duration. */
async function verifyOutput(ffprobePath: string, file: string, plan: EncodePlan, streamId: string, signal?: AbortSignal): Promise<void> {
  const probe = await runFfprobe<ProbeOutput>(ffprobePath, ['-show_streams', '-show_format', file], signal);
  const types = (probe.streams ?? []).map((s) => s.codec_type);
  const duration = Number(probe.format?.duration ?? 0);
  const missing = [plan.video ? 'video' : undefined, plan.audio ? 'audio' : undefined].filter(
    (kind): kind is string => kind !== undefined && !types.includes(kind),
  );
  if (missing.length > 0 || !(duration > 0)) {
    throw new SfuRecorderError(
      'ERR_MUX_OUTPUT_INVALID',
      `finalising stream ${streamId} produced an unusable file (streams: ${types.join(', ') || 'none'}, duration ${duration}s)`,
    );
  }
}

/** Lists the streams of a session (from its timeline), for finalising them one by one. */
export function listSessionStreams(sessionDir: string, timeline?: TimelineContents | readonly TimelineEvent[]): TimelineStream[] {
  const contents = timeline ?? readTimeline(sessionPaths.timeline(sessionDir));
  const events = Array.isArray(contents) ? (contents as readonly TimelineEvent[]) : (contents as TimelineContents).events;
  return listTimelineStreams(events, sessionDir);
}

