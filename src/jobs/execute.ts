import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { joinSegments, renderSegment, segmentFileNames } from '../compose/steps.js';
import type { FfmpegBinaries } from '../ffmpeg/index.js';
import { finaliseStream } from '../mux/finalise.js';
import type { JobResult, RecordingJob } from './types.js';

/** Where and how a job is executed. */
export interface ExecuteContext {
  ffmpeg: FfmpegBinaries;
  /** x264 threads for a segment (0 = automatic). */
  threads: number;
  /** Named in the result. */
  worker: string;
  signal?: AbortSignal;
  /** 0–100. */
  onProgress?: (percent: number) => void;
}

/**
 * Runs one job in `sessionDir`, a directory shaped like the session's spool directory that
 * holds the job's inputs (the spool itself in-process, a fetched copy on a worker).
 * Rejects with the step's own error ({@link FfmpegError}, `ERR_COMPOSE_SOURCE_BROKEN`, …).
 */
export async function executeJob(job: RecordingJob, sessionDir: string, context: ExecuteContext): Promise<JobResult> {
  const startedAt = Date.now();
  const run = {
    ffmpegPath: context.ffmpeg.ffmpegPath,
    ...(context.signal ? { signal: context.signal } : {}),
  };
  const progress = (seconds: number, totalSeconds: number) =>
    context.onProgress?.(Math.min(99, Math.floor((seconds / Math.max(totalSeconds, 0.001)) * 100)));
  let stream: JobResult['stream'];
  switch (job.kind) {
    case 'finalise-stream': {
      const result = await finaliseStream({
        sessionDir,
        peerId: job.peerId,
        streamId: job.streamId,
        options: { ...job.options, ffmpeg: context.ffmpeg },
        ...(context.signal ? { signal: context.signal } : {}),
      });
      stream =
        result.status === 'empty'
          ? { status: 'empty', reason: result.reason, dropped: [] }
          : { status: 'finalised', dropped: result.dropped.map(({ kind, reason }) => ({ kind, reason })) };
      break;
    }
    case 'render-segment': {
      const names = segmentFileNames(job.spec.segment.index);
      const dir = join(sessionDir, job.segmentsDir);
      const seconds = (job.spec.segment.to - job.spec.segment.from) / 1000;
      await renderSegment(job.spec, sessionDir, { video: join(dir, names.video), audio: join(dir, names.audio), workDir: dir }, context.threads, {
        ...run,
        onProgress: (s) => progress(s, seconds),
      });
      break;
    }
    case 'join-composite': {
      const last = job.spec.segments.at(-1);
      const seconds = last ? last.endFrame / job.spec.fps : 0;
      const out = join(sessionDir, job.outFile);
      await rm(out, { force: true });
      await joinSegments(job.spec, join(sessionDir, job.segmentsDir), out, { ...run, onProgress: (s) => progress(s, seconds) });
      break;
    }
  }
  context.onProgress?.(100);
  return {
    worker: context.worker,
    startedAt,
    finishedAt: Date.now(),
    produced: job.outputs.filter((rel) => existsSync(join(sessionDir, rel))),
    ...(stream ? { stream } : {}),
  };
}

/** One line naming a job, for logs and errors. */
export function describeJob(job: RecordingJob): string {
  const session = `session ${job.sessionId} of room ${job.roomId}`;
  switch (job.kind) {
    case 'finalise-stream':
      return `finalise-stream job ${job.id} (stream ${job.streamId} of peer ${job.peerId}, ${session})`;
    case 'render-segment':
      return `render-segment job ${job.id} (segment ${job.spec.segment.index}, ${session})`;
    case 'join-composite':
      return `join-composite job ${job.id} (${job.spec.segments.length} segments, ${session})`;
  }
}
