/**
 * Intermediate writing, the first half of finalising a stream: its tracks' capture journals
 * → one Matroska file of audio and one IVF file per video codec and size, every frame at its
 * exact wall-clock time. What goes in is checked here: complete frames only, video from a
 * keyframe on, and no frame whose declared size is empty or beyond the limits, so ffmpeg
 * never sees a frame that cannot be decoded or would make it allocate gigapixel pictures.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { codecNamed, type AudioCodecEntry, type VideoCodecEntry } from '../codecs/registry.js';
import { JournalFormatError } from '../capture/journal.js';
import { SfuRecorderError } from '../errors.js';
import type { TimelineEvent } from '../timeline/events.js';
import { IVF_TIMEBASE, IvfWriter } from './containers/ivf.js';
import { MatroskaAudioWriter } from './containers/matroska-audio.js';
import type { VideoIntermediate } from './encode.js';
import { frameSizeProblem } from './frame-limits.js';
import { cutBefore, inIntervals, touchesIntervals } from './intervals.js';
import type { ResolvedMuxOptions } from './options.js';
import type { Interval } from './stream-result.js';
import { recordingPauses, type TimelineStream, type TimelineTrack } from './streams.js';
import { emptyTrackStats, readTrackFrames, scanTrack, type SourceCodec, type TrackReadStats, type TrackScan } from './track-reader.js';

/** What finalisation found out about one track, for logs and diagnostics. */
export interface TrackDiagnostics extends TrackReadStats {
  trackId: string;
  kind: 'audio' | 'video';
  codec: SourceCodec | undefined;
  clockSource: 'sender-reports' | 'arrival' | undefined;
  mediaPackets: number;
  /** Frames written to the intermediate file. */
  usedFrames: number;
  /** Frames refused for the size they declare (see `MuxOptions.maxFramePixels`), and why the first was. */
  refusedFrames: number;
  refusal?: string;
  /** Why the track contributed nothing, if it did not. */
  skipped?: string;
}

/** A track whose journal holds media. */
export interface ScannedTrack {
  track: TimelineTrack;
  scan: TrackScan;
  stats: TrackDiagnostics;
}

/** A kind of media that the stream's tracks held but that gave nothing usable. */
export interface UnusableMedia {
  kind: 'audio' | 'video';
  /** Names the stream, peer and tracks and what was wrong with them. */
  reason: string;
}

/** The audio intermediate: every audio track of the stream, one after the other. */
export interface AudioIntermediate {
  path: string;
  packets: number;
  presence: PresenceRuns;
}

/** One video intermediate file and when its frames were there. */
export interface VideoInput extends VideoIntermediate {
  frames: number;
  /** The input's presence: left out of the file (ffmpeg cannot decode it), its time is a gap. */
  presence: PresenceRuns;
}

/** The video intermediates: one file per codec and size. */
export interface VideoIntermediates {
  inputs: VideoInput[];
  frames: number;
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
  /** Keyframes an mp4 could not carry as they are (see the codec registry's `canCopy`). */
  uncopyableKeyframes: number;
}

/** Everything the encode plan needs about one stream. */
export interface StreamIntermediates {
  stream: TimelineStream;
  diagnostics: TrackDiagnostics[];
  /** The tracks that held media, by first arrival. */
  tracks: ScannedTrack[];
  /** Wall-clock ms of intermediate time 0 (before any cut pause). */
  baseMs: number;
  /** Recording pauses, and those of them cut out of the file. */
  pauses: Interval[];
  cutPauses: Interval[];
  audio: AudioIntermediate;
  video: VideoIntermediates;
  /** Kinds the tracks held that gave nothing usable (the file is made without them). */
  unusable: UnusableMedia[];
}

/** The result of {@link writeIntermediates}: the files, or the diagnostics of a stream without media. */
export type IntermediatesOutcome =
  | { status: 'written'; intermediates: StreamIntermediates }
  | { status: 'no-media'; diagnostics: TrackDiagnostics[]; unusable: UnusableMedia[] };

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
/** Intermediate time 0 is this long before the stream's first arrival. */
const BASE_MARGIN_MS = 10_000;

/** Presence runs: the intervals a kind of media was there, for gap reporting and painting. */
export class PresenceRuns {
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

/**
 * Scans a stream's journals and writes its intermediate files into `workDir`. Tracks whose
 * journal is missing, unreadable or without media are skipped (and said so in the
 * diagnostics); a kind whose tracks held media but gave nothing usable is listed in
 * `unusable`, so the file is made with the other kind.
 */
export async function writeIntermediates(
  stream: TimelineStream,
  events: readonly TimelineEvent[],
  options: ResolvedMuxOptions,
  workDir: string,
  signal: AbortSignal | undefined,
): Promise<IntermediatesOutcome> {
  const { diagnostics, scanned, unreadable } = await scanStreamTracks(stream, signal);
  if (scanned.length === 0) return { status: 'no-media', diagnostics, unusable: unusableKinds(stream, diagnostics, unreadable) };

  // Intermediate timestamps are wall clock minus a base (minus the cut pauses before
  // them); the final pass shifts them so that the file starts at the first media.
  const tracks = [...scanned].sort((a, b) => firstArrivalEpoch(a) - firstArrivalEpoch(b));
  const baseMs = Math.floor(firstArrivalEpoch(tracks[0]!)) - BASE_MARGIN_MS;
  const pauses = recordingPauses(events);
  const cutPauses = options.pausedTime === 'cut' ? pauses : [];
  const intermediateMs = (wall: number) => wall - baseMs - cutBefore(cutPauses, wall);
  const context = { workDir, options, pauses, intermediateMs, signal };
  const audio = await writeAudio(tracks.filter((t) => t.track.kind === 'audio'), context);
  const video = await writeVideo(tracks.filter((t) => t.track.kind === 'video'), context);
  const written = { audio: audio.packets > 0, video: video.frames > 0 };
  const unusable = unusableKinds(stream, diagnostics, unreadable).filter((u) => !written[u.kind]);
  return { status: 'written', intermediates: { stream, diagnostics, tracks, baseMs, pauses, cutPauses, audio, video, unusable } };
}

async function scanStreamTracks(
  stream: TimelineStream,
  signal: AbortSignal | undefined,
): Promise<{ diagnostics: TrackDiagnostics[]; scanned: ScannedTrack[]; unreadable: TrackDiagnostics[] }> {
  const diagnostics: TrackDiagnostics[] = [];
  const scanned: ScannedTrack[] = [];
  const unreadable: TrackDiagnostics[] = [];
  for (const track of stream.tracks) {
    const diag: TrackDiagnostics = {
      trackId: track.trackId,
      kind: track.kind,
      codec: undefined,
      clockSource: undefined,
      mediaPackets: 0,
      usedFrames: 0,
      refusedFrames: 0,
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
      // A journal that cannot be read, or holds a codec this version cannot finalise, costs
      // that track only; it is reported, the stream's other tracks are still written.
      if (error instanceof JournalFormatError || (error instanceof SfuRecorderError && error.code === 'ERR_UNSUPPORTED_CODEC')) {
        diag.skipped = error.message;
        unreadable.push(diag);
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
  return { diagnostics, scanned, unreadable };
}

/**
 * The kinds with a track that held something unusable: an unreadable journal, media packets
 * without one decodable frame, or only frames refused for their size. Kinds that were
 * written are filtered out by the caller.
 */
function unusableKinds(stream: TimelineStream, diagnostics: TrackDiagnostics[], unreadable: TrackDiagnostics[]): UnusableMedia[] {
  const out: UnusableMedia[] = [];
  for (const kind of ['audio', 'video'] as const) {
    const problems = diagnostics
      .filter((d) => d.kind === kind && d.usedFrames === 0)
      .flatMap((d) => {
        const problem = unreadable.includes(d) ? `journal unreadable: ${d.skipped}` : trackProblem(d);
        return problem === undefined ? [] : [`track ${d.trackId}: ${problem}`];
      });
    if (problems.length > 0) out.push({ kind, reason: `${kind} of stream ${stream.streamId} (peer ${stream.peerId}): ${problems.join('; ')}` });
  }
  return out;
}

/** Why a track with media packets gave no frame, if it is the media's fault (not a pause). */
function trackProblem(d: TrackDiagnostics): string | undefined {
  if (d.mediaPackets === 0) return undefined;
  if (d.skipped !== undefined) return d.skipped;
  if (d.refusal !== undefined) return `${d.refusal}; ${d.refusedFrames} frame(s) refused, no usable keyframe`;
  if (d.frames > 0) return undefined; // frames there, all inside a pause or before an earlier track's end
  if (d.kind === 'audio') return `${d.mediaPackets} packets, none a valid ${d.codec} packet`;
  return `${d.mediaPackets} packets but no decodable keyframe (${d.incompleteFrames} incomplete frames, ${d.framesAwaitingKeyframe} frames before a keyframe)`;
}

function firstArrivalEpoch(track: ScannedTrack): number {
  return track.scan.firstArrivalMono! + track.scan.header.monoToEpochMs;
}

/** Whether a mute of `track` or a pause begins or lasts between two media times. */
function interrupted(track: TimelineTrack, pauses: Interval[], from: number, to: number): boolean {
  return touchesIntervals(track.muted, from, to) || touchesIntervals(pauses, from, to);
}

/** `wallMs`, or just after the previous frame of the same track if it does not come after it. */
function afterPrevious(wallMs: number, previousWall: number | undefined): number {
  return previousWall === undefined || wallMs > previousWall ? wallMs : previousWall + MIN_SPACING_MS;
}

interface WriteContext {
  workDir: string;
  options: ResolvedMuxOptions;
  pauses: Interval[];
  intermediateMs: (wall: number) => number;
  signal: AbortSignal | undefined;
}

function frames(scanned: ScannedTrack, context: WriteContext) {
  const { options, pauses, signal } = context;
  return readTrackFrames(scanned.scan, scanned.stats, { reorder: options.reorder, isExcluded: (w) => inIntervals(pauses, w), ...(signal ? { signal } : {}) });
}

async function writeAudio(tracks: ScannedTrack[], context: WriteContext): Promise<AudioIntermediate> {
  const { workDir, pauses, intermediateMs } = context;
  const path = join(workDir, 'audio.mka');
  const presence = new PresenceRuns();
  let writer: MatroskaAudioWriter | undefined;
  let writerCodec: AudioCodecEntry | undefined;
  let floor = Number.NEGATIVE_INFINITY; // end of the previous track's media
  for (const scanned of tracks) {
    const { track, stats } = scanned;
    const codec = codecNamed(scanned.scan.codec) as AudioCodecEntry;
    // One audio intermediate: a later track in another codec would need a second file.
    if (writerCodec && codec !== writerCodec) {
      stats.skipped = `${codec.name} after ${writerCodec.name} in one stream is not supported`;
      continue;
    }
    let previousWall: number | undefined;
    let previousEnd: number | undefined;
    let trackEnd = floor;
    for await (const frame of frames(scanned, context)) {
      const wallMs = afterPrevious(frame.wallMs, previousWall);
      if (wallMs < floor || inIntervals(pauses, wallMs) || intermediateMs(wallMs) < 0) continue;
      const endWallMs = frame.endWallMs + (wallMs - frame.wallMs);
      writerCodec ??= codec;
      writer ??= new MatroskaAudioWriter(path, { ...codec.matroska, codecPrivate: codec.matroska.codecPrivate(2), channels: 2 });
      writer.writePacket(frame.data, intermediateMs(wallMs));
      stats.usedFrames++;
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

async function writeVideo(tracks: ScannedTrack[], context: WriteContext): Promise<VideoIntermediates> {
  const { workDir, options, pauses, intermediateMs } = context;
  const groups = new Map<string, { writer: IvfWriter; input: VideoInput }>();
  let frameCount = 0;
  let floor = Number.NEGATIVE_INFINITY;
  let intervalEstimate = 1000 / 30;
  let firstFrameWallMs: number | undefined;
  const phaseSamples: number[] = [];
  const frameMs = 1000 / options.fps;
  let offGridFrames = 0;
  let uncopyableKeyframes = 0;
  for (const scanned of tracks) {
    const { track, stats } = scanned;
    const codec = codecNamed(scanned.scan.codec) as VideoCodecEntry;
    let group: { writer: IvfWriter; input: VideoInput } | undefined;
    let previousGroup: typeof group;
    let needKeyframe = true;
    let previousWall: number | undefined;
    for await (const frame of frames(scanned, context)) {
      const wallMs = afterPrevious(frame.wallMs, previousWall);
      // Only an earlier track of the stream (floor), a pause or the base can drop a frame.
      if (wallMs <= floor || inIntervals(pauses, wallMs) || intermediateMs(wallMs) < 0) {
        needKeyframe = true; // what follows may reference the dropped frame
        continue;
      }
      // A frame declaring an unusable size is never decoded: what follows it references it.
      const problem = frameSizeProblem(frame, options);
      if (problem !== undefined) {
        stats.refusedFrames++;
        stats.refusal ??= problem;
        needKeyframe = true;
        continue;
      }
      if (needKeyframe && !frame.keyframe) continue;
      needKeyframe = false;
      if (frame.keyframe && (group?.input.width !== frame.width || group?.input.height !== frame.height)) group = undefined;
      if (!group) {
        const key = `${codec.name}-${frame.width}x${frame.height}`;
        group = groups.get(key);
        if (!group) {
          const path = join(workDir, `video-${groups.size}.ivf`);
          const input: VideoInput = { path, codec: codec.name, width: frame.width, height: frame.height, frames: 0, presence: new PresenceRuns() };
          group = { writer: new IvfWriter(input.path, codec.ivfFourcc, frame.width ?? 0, frame.height ?? 0), input };
          groups.set(key, group);
        }
      }
      if (frame.keyframe && !codec.canCopy?.(frame.data)) uncopyableKeyframes++;
      group.writer.writeFrame(frame.data, (intermediateMs(wallMs) * IVF_TIMEBASE) / 1000);
      stats.usedFrames++;
      group.input.frames++;
      frameCount++;
      firstFrameWallMs ??= wallMs;
      const phase = (((wallMs - firstFrameWallMs) % frameMs) + frameMs) % frameMs;
      const crowded = previousWall !== undefined && wallMs - previousWall < frameMs * 0.75;
      if (crowded || Math.min(phase, frameMs - phase) > frameMs / 4) offGridFrames++;
      if (phaseSamples.length < 90) phaseSamples.push(wallMs);
      if (previousWall !== undefined) {
        const spacing = wallMs - previousWall;
        if (spacing < 200) intervalEstimate += (spacing - intervalEstimate) / 16;
      }
      // Each input has its own runs, so that leaving one out of the file leaves its time as a gap.
      if (previousGroup !== group) previousGroup?.input.presence.close();
      const breakBefore =
        previousGroup !== group || previousWall === undefined || wallMs - previousWall > VIDEO_HOLE_MS || interrupted(track, pauses, previousWall, wallMs);
      const frameEnd = wallMs + Math.min(Math.max(intervalEstimate, 10), 100);
      group.input.presence.add(wallMs, frameEnd, breakBefore);
      previousGroup = group;
      previousWall = wallMs;
      floor = Math.max(floor, wallMs);
    }
    previousGroup?.input.presence.close();
  }
  for (const { writer } of groups.values()) writer.close();
  return {
    inputs: [...groups.values()].map((g) => g.input),
    frames: frameCount,
    frameIntervalMs: Math.min(Math.max(intervalEstimate, 10), 100),
    firstFrameWallMs,
    phaseSamples,
    offGridFrames,
    uncopyableKeyframes,
  };
}
