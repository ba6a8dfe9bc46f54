import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SfuRecorderError } from '../errors.js';
import { FfmpegError, runFfprobe } from '../ffmpeg/index.js';
import type { FinalisedStream } from '../mux/stream-result.js';
import { listSubdirectories } from '../spool/list.js';
import { sessionPaths } from '../spool/layout.js';
import type { TimelineEvent } from '../timeline/events.js';
import { readTimeline } from '../timeline/timeline-file.js';

/** A source of the composition (timeline, stream.json or stream mp4) is missing or unreadable. */
export class CompositeSourceError extends SfuRecorderError {
  /** The file at fault. */
  readonly file: string;

  constructor(code: 'ERR_COMPOSE_SOURCE_MISSING' | 'ERR_COMPOSE_SOURCE_BROKEN', file: string, message: string, cause?: unknown) {
    super(code, message, { cause });
    this.name = 'CompositeSourceError';
    this.file = file;
  }
}

/** What a session directory holds for composition. */
export interface ComposeSources {
  sessionDir: string;
  events: TimelineEvent[];
  /** False when the timeline has no `session-ended` (the recorder died). */
  complete: boolean;
  /** Finalised streams with `file` resolved to an existing path. */
  streams: FinalisedStream[];
}

/**
 * Reads the timeline and every finalised stream of a session directory. Streams are the
 * `stream-started` events of the timeline plus any `stream.json` found on disk; each must
 * have its `stream.json` and mp4. The mp4 path in `stream.json` is used when it exists,
 * else the one in the session directory (a moved or copied spool).
 */
export function readComposeSources(
  sessionDir: string,
  options: {
    skipMissing?: boolean;
    /**
     * False when the stream mp4s are not in this directory but wherever the segments are
     * rendered (staged for remote workers): each stream's `file` is then its place in the
     * session layout, unchecked. Default true.
     */
    requireFiles?: boolean;
  } = {},
): ComposeSources {
  const timelinePath = sessionPaths.timeline(sessionDir);
  if (!existsSync(timelinePath)) {
    throw new CompositeSourceError('ERR_COMPOSE_SOURCE_MISSING', timelinePath, `cannot compose ${sessionDir}: no timeline at ${timelinePath}`);
  }
  const { events, complete } = readTimeline(timelinePath);

  const ids = new Map<string, string>(); // streamId -> peerId
  for (const e of events) if (e.type === 'stream-started') ids.set(e.streamId, e.peerId);
  const streamsRoot = join(sessionDir, 'streams');
  for (const peerId of listSubdirectories(streamsRoot)) {
    for (const streamId of listSubdirectories(join(streamsRoot, peerId))) {
      if (existsSync(sessionPaths.streamResult(sessionDir, peerId, streamId))) ids.set(streamId, peerId);
    }
  }

  const streams: FinalisedStream[] = [];
  for (const [streamId, peerId] of ids) {
    const resultPath = sessionPaths.streamResult(sessionDir, peerId, streamId);
    if (!existsSync(resultPath)) {
      if (options.skipMissing) continue;
      throw new CompositeSourceError(
        'ERR_COMPOSE_SOURCE_MISSING',
        resultPath,
        `stream ${streamId} of peer ${peerId} is in the timeline but was not finalised: ${resultPath} is missing`,
      );
    }
    let stream: FinalisedStream;
    try {
      stream = JSON.parse(readFileSync(resultPath, 'utf8')) as FinalisedStream;
    } catch (cause) {
      throw new CompositeSourceError('ERR_COMPOSE_SOURCE_BROKEN', resultPath, `${resultPath} is not a valid stream.json: ${String(cause)}`, cause);
    }
    if (typeof stream?.startedAt !== 'number' || typeof stream.endedAt !== 'number') {
      throw new CompositeSourceError('ERR_COMPOSE_SOURCE_BROKEN', resultPath, `${resultPath} is not a valid stream.json: startedAt/endedAt missing`);
    }
    const local = sessionPaths.streamFile(sessionDir, peerId, streamId);
    if (options.requireFiles === false) {
      streams.push({ ...stream, file: local, cuts: stream.cuts ?? [] });
      continue;
    }
    const file = stream.file && existsSync(stream.file) ? stream.file : local;
    if (!existsSync(file)) {
      if (options.skipMissing) continue;
      throw new CompositeSourceError(
        'ERR_COMPOSE_SOURCE_MISSING',
        file,
        `the mp4 of stream ${streamId} (peer ${peerId}) is missing: ${file}`,
      );
    }
    streams.push({ ...stream, file, cuts: stream.cuts ?? [] });
  }
  return { sessionDir, events, complete, streams };
}

interface ProbeResult {
  streams?: Array<{ codec_type?: string }>;
  format?: { duration?: string };
}

/**
 * Opens every stream mp4 with ffprobe so that a broken file (torn, "moov atom not found",
 * no media) is reported by name before any encoding starts.
 */
export async function probeComposeSources(ffprobePath: string, streams: readonly FinalisedStream[], signal?: AbortSignal): Promise<void> {
  // A few at a time: a long session can have hundreds of streams.
  for (let i = 0; i < streams.length; i += PROBE_BATCH) await probeBatch(ffprobePath, streams.slice(i, i + PROBE_BATCH), signal);
}

const PROBE_BATCH = 8;

async function probeBatch(ffprobePath: string, streams: readonly FinalisedStream[], signal?: AbortSignal): Promise<void> {
  await Promise.all(
    streams.map(async (stream) => {
      let probe: ProbeResult;
      try {
        probe = await runFfprobe<ProbeResult>(ffprobePath, ['-show_entries', 'stream=codec_type:format=duration', stream.file], signal);
      } catch (cause) {
        if (signal?.aborted || (cause instanceof SfuRecorderError && cause.code === 'ERR_FFMPEG_MISSING')) throw cause;
        // ffprobe's last two lines name the file and the problem ("moov atom not found").
        const detail = cause instanceof FfmpegError ? cause.stderrTail.split('\n').slice(-2).join(' ').trim() : String(cause);
        throw new CompositeSourceError(
          'ERR_COMPOSE_SOURCE_BROKEN',
          stream.file,
          `the mp4 of stream ${stream.streamId} (peer ${stream.peerId}) cannot be read: ${stream.file}: ${detail}`,
          cause,
        );
      }
      const kinds = new Set((probe.streams ?? []).map((s) => s.codec_type));
      const missing = [stream.video && !kinds.has('video') ? 'video' : '', stream.audio && !kinds.has('audio') ? 'audio' : ''].filter(Boolean);
      if (missing.length > 0) {
        throw new CompositeSourceError(
          'ERR_COMPOSE_SOURCE_BROKEN',
          stream.file,
          `the mp4 of stream ${stream.streamId} (peer ${stream.peerId}) has no ${missing.join(' or ')} track although stream.json says it has: ${stream.file}`,
        );
      }
    }),
  );
}

