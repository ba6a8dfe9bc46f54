import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { SfuRecorderError } from '../errors.js';
import { resolveFfmpegBinaries } from '../ffmpeg/binaries.js';
import { FfmpegError } from '../ffmpeg/run.js';
import { sessionPaths } from '../spool/layout.js';
import type { SessionStartedEvent, TimelineEvent } from '../timeline/events.js';
import { readTimeline, type TimelineContents } from '../timeline/timeline-file.js';
import { decodesVideo, runEncodePlan } from './encode.js';
import { planEncode, type PlannedEncode, type PlanSelection } from './encode-plan.js';
import { writeIntermediates, type StreamIntermediates, type TrackDiagnostics, type VideoInput } from './intermediates.js';
import { resolveMuxOptions, type MuxOptions, type ResolvedMuxOptions } from './options.js';
import type { FinalisedStream } from './stream-result.js';
import { listTimelineStreams, type TimelineStream } from './streams.js';

export type { TrackDiagnostics } from './intermediates.js';

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

/** Diagnostics of one finalisation, beside the {@link FinalisedStream}. */
export interface MuxReport {
  tracks: TrackDiagnostics[];
  /** Milliseconds from the file's t = 0 to its first video frame (a keyframe). */
  firstKeyframeDelayMs: number | undefined;
  /** Milliseconds of silence added in front so that video frames fall on the output frame grid. */
  alignmentMs: number;
  /**
   * Runs of video (one codec and size each) left out because ffmpeg could not decode them;
   * their time is a gap in the file's video.
   */
  undecodableVideo: Array<{ codec: string; width: number | undefined; height: number | undefined; frames: number }>;
  /** Wall time spent, ms. */
  elapsedMs: number;
}

/**
 * A kind of media a stream's file was made without: its tracks held media, but none of it
 * was usable (undecodable, refused for its declared size, or refused by ffmpeg).
 */
export interface DroppedMedia {
  kind: 'audio' | 'video';
  /** Names the stream, peer and tracks, and what was wrong. */
  reason: string;
  /** `ERR_MEDIA_UNUSABLE`, with the same message; its `cause` is ffmpeg's error when ffmpeg refused the media. */
  error: SfuRecorderError;
}

/** The outcome of {@link finaliseStream}: a file (and what it was made without), or the reason there is none. */
export type FinaliseStreamResult =
  | { status: 'finalised'; stream: FinalisedStream; dropped: DroppedMedia[]; report: MuxReport }
  | { status: 'empty'; reason: string; report: MuxReport };

/**
 * Finalises one peer stream: reads its tracks' capture journals, puts every frame on
 * the recorder's wall clock, and writes `<streamId>.mp4` (H.264 + AAC, constant size
 * and frame rate, gaps filled) and `stream.json` into the stream's spool directory.
 *
 * A stream's audio survives its video and the other way round: when one kind is unusable
 * (no decodable frame, every keyframe refused for its size, or ffmpeg fails on it) the file
 * is made with the other, and `dropped` says what was left out and why. A stream with no
 * usable media at all produces no file and resolves `{ status: 'empty', reason }`; I/O
 * errors, and ffmpeg failing on each kind alone, reject.
 *
 * Works the same on a crashed session (no `stream-ended`, torn journal tails): the
 * stream then ends with its last media. The mp4 is written under a temporary name and
 * renamed, so a file at the final path is always complete.
 */
export async function finaliseStream(params: FinaliseStreamParams): Promise<FinaliseStreamResult> {
  const started = Date.now();
  const options = resolveMuxOptions(params.options);
  const { sessionDir, peerId, streamId, signal } = params;
  const events = timelineEvents(sessionDir, params.timeline);
  const stream = listTimelineStreams(events, sessionDir).find((s) => s.streamId === streamId && s.peerId === peerId);
  if (!stream) {
    throw new SfuRecorderError('ERR_STREAM_NOT_FOUND', `stream ${streamId} of peer ${peerId} is not in the timeline of ${sessionDir}`);
  }
  const streamDir = sessionPaths.streamDir(sessionDir, peerId, streamId);
  const workDir = join(streamDir, '.mux-work');
  await rm(workDir, { recursive: true, force: true }); // leftovers of an interrupted run
  await mkdir(workDir, { recursive: true });
  const report = (diagnostics: TrackDiagnostics[], encoded?: EncodeOutcome): MuxReport => ({
    tracks: diagnostics,
    firstKeyframeDelayMs: encoded?.planned.firstKeyframeDelayMs,
    alignmentMs: encoded?.planned.alignmentMs ?? 0,
    undecodableVideo: (encoded?.undecodableVideo ?? []).map(({ codec, width, height, frames }) => ({ codec, width, height, frames })),
    elapsedMs: Date.now() - started,
  });
  try {
    const written = await writeIntermediates(stream, events, options, workDir, signal);
    if (written.status === 'no-media') {
      const why = [describeSkips(written.diagnostics), ...written.unusable.map((u) => u.reason)].join('; ');
      return { status: 'empty', reason: `stream ${streamId} has no media (${why})`, report: report(written.diagnostics) };
    }
    const media = written.intermediates;
    const unusable = media.unusable.map((u) => dropped(u.kind, u.reason));
    if (media.audio.packets === 0 && media.video.frames === 0) {
      const why = unusable.length > 0 ? unusable.map((d) => d.reason).join('; ') : describeSkips(media.diagnostics);
      return { status: 'empty', reason: `stream ${streamId} has no usable media (${why})`, report: report(media.diagnostics) };
    }
    const encoded = await encodeKeepingWhatWorks(media, options, join(workDir, 'out.mp4'), signal);
    const allDropped = [...unusable, ...encoded.dropped];

    const session = events.find((e): e is SessionStartedEvent => e.type === 'session-started');
    const finalFile = sessionPaths.streamFile(sessionDir, peerId, streamId);
    await rename(encoded.planned.plan.outputPath, finalFile);
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
      ...encoded.planned.result,
      sizeBytes,
      dropped: allDropped.map(({ kind, reason }) => ({ kind, reason })),
    };
    const resultPath = sessionPaths.streamResult(sessionDir, peerId, streamId);
    await writeFile(`${resultPath}.tmp`, `${JSON.stringify(result, null, 2)}\n`);
    await rename(`${resultPath}.tmp`, resultPath);
    return { status: 'finalised', stream: result, dropped: allDropped, report: report(media.diagnostics, encoded) };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

interface EncodeOutcome {
  planned: PlannedEncode;
  dropped: DroppedMedia[];
  undecodableVideo: VideoInput[];
}

/**
 * Runs the plan; when ffmpeg refuses the media, finds out what it refuses and runs it
 * again without that, so that bad media costs only itself:
 * 1. video inputs (runs of one size) it cannot decode on their own: a keyframe of garbage
 *    that still looked like a new size costs the video up to the next keyframe;
 * 2. otherwise each kind alone, audio first (hostile or broken bitstreams are mostly
 *    video, and audio alone is cheap); the other kind is dropped.
 * Rejects with the first error when nothing helps.
 */
async function encodeKeepingWhatWorks(
  media: StreamIntermediates,
  options: ResolvedMuxOptions,
  outputPath: string,
  signal: AbortSignal | undefined,
): Promise<EncodeOutcome> {
  const binaries = resolveFfmpegBinaries(options.ffmpeg);
  const label = `finalising stream ${media.stream.streamId}`;
  const attempt = async (selection: PlanSelection): Promise<PlannedEncode> => {
    const planned = planEncode(media, options, selection, outputPath);
    await runEncodePlan(planned.plan, options, binaries, label, signal);
    return planned;
  };
  const all = { audio: true, video: true };
  try {
    return { planned: await attempt(all), dropped: [], undecodableVideo: [] };
  } catch (error) {
    if (!refusedByFfmpeg(error, signal)) throw error;
    const { inputs } = media.video;
    if (inputs.length > 1) {
      const undecodable: VideoInput[] = [];
      for (const input of inputs) if (!(await decodesVideo(binaries.ffprobePath, input.path, signal))) undecodable.push(input);
      if (undecodable.length > 0 && undecodable.length < inputs.length) {
        try {
          return { planned: await attempt({ ...all, withoutVideoInputs: new Set(undecodable) }), dropped: [], undecodableVideo: undecodable };
        } catch (retryError) {
          if (!refusedByFfmpeg(retryError, signal)) throw retryError;
        }
      }
    }
    const bothKinds = media.audio.packets > 0 && media.video.frames > 0;
    if (!bothKinds) throw error;
    for (const kept of ['audio', 'video'] as const) {
      const lost = kept === 'audio' ? 'video' : 'audio';
      try {
        const planned = await attempt({ audio: kept === 'audio', video: kept === 'video' });
        const reason = `${describeKind(media.stream, media.diagnostics, lost)}: ffmpeg could not encode it (${lastLine(error)}); the file has the ${kept} alone`;
        return { planned, dropped: [dropped(lost, reason, error)], undecodableVideo: [] };
      } catch (retryError) {
        if (!refusedByFfmpeg(retryError, signal)) throw retryError;
      }
    }
    throw error;
  }
}

/** ffmpeg failed on the media (not cancelled, not missing): retrying with less media may work. */
function refusedByFfmpeg(error: unknown, signal: AbortSignal | undefined): boolean {
  if (signal?.aborted) return false;
  return error instanceof FfmpegError || (error instanceof SfuRecorderError && error.code === 'ERR_MUX_OUTPUT_INVALID');
}

function dropped(kind: 'audio' | 'video', reason: string, cause?: unknown): DroppedMedia {
  return { kind, reason, error: new SfuRecorderError('ERR_MEDIA_UNUSABLE', reason, cause === undefined ? undefined : { cause }) };
}

/** `video of stream cam (peer alice, tracks t1, t2)`. */
function describeKind(stream: TimelineStream, diagnostics: TrackDiagnostics[], kind: 'audio' | 'video'): string {
  const tracks = diagnostics.filter((d) => d.kind === kind && d.usedFrames > 0).map((d) => d.trackId);
  return `${kind} of stream ${stream.streamId} (peer ${stream.peerId}, track${tracks.length === 1 ? '' : 's'} ${tracks.join(', ')})`;
}

/** The last line ffmpeg printed (its verdict), or the error's message. */
function lastLine(error: unknown): string {
  const text = error instanceof FfmpegError ? error.stderrTail : error instanceof Error ? error.message : String(error);
  const lines = text.trim().split('\n').filter((line) => line.trim() !== '');
  return lines[lines.length - 1]?.trim() ?? 'no output';
}

function describeSkips(diagnostics: TrackDiagnostics[]): string {
  if (diagnostics.length === 0) return 'no tracks in the timeline';
  return diagnostics.map((d) => `${d.trackId}: ${d.skipped ?? `${d.mediaPackets} packets`}`).join('; ');
}

function timelineEvents(sessionDir: string, timeline: TimelineContents | readonly TimelineEvent[] | undefined): readonly TimelineEvent[] {
  const contents = timeline ?? readTimeline(sessionPaths.timeline(sessionDir));
  return Array.isArray(contents) ? (contents as readonly TimelineEvent[]) : (contents as TimelineContents).events;
}

/** Lists the streams of a session (from its timeline), for finalising them one by one. */
export function listSessionStreams(sessionDir: string, timeline?: TimelineContents | readonly TimelineEvent[]): TimelineStream[] {
  return listTimelineStreams(timelineEvents(sessionDir, timeline), sessionDir);
}
