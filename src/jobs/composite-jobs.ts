import { setMaxListeners } from 'node:events';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { Compositor, compositeResultOf, type CompositeOptions, type CompositeResult } from '../compose/compositor.js';
import { readComposeSources } from '../compose/session.js';
import { segmentFileNames } from '../compose/steps.js';
import { SfuRecorderError } from '../errors.js';
import type { FfmpegBinaries } from '../ffmpeg/index.js';
import { sessionPaths } from '../spool/layout.js';
import type { JobRunner } from './runner.js';
import type { JobResult, RecordingJob } from './types.js';

/** What {@link runCompositeJobs} needs. */
export interface CompositeJobsParams {
  /** The session's spool directory: the timeline and every finalised stream's `stream.json` are there. */
  sessionDir: string;
  runner: JobRunner;
  binaries: FfmpegBinaries;
  compositeOptions?: Omit<CompositeOptions, 'ffmpegPath' | 'ffprobePath' | 'outFile'>;
  /** The id of a job from its kind and what identifies its work. */
  jobId: (kind: RecordingJob['kind'], what: unknown) => string;
  /** Runs one job (default: `runner.run`); the finaliser's keeps a status board. */
  run?: (job: RecordingJob, returns: string[], signal: AbortSignal) => Promise<JobResult>;
  signal?: AbortSignal;
}

/**
 * The composite as jobs: planned here (the layout may be the application's function, and
 * only `stream.json` files are read), each segment rendered as a job of its own, all
 * queued at once (the runner spreads them over its cores or workers), then one job joins
 * them. Writes `composite/Rec-<session>-<epoch>.mp4` and `composite.json` into `sessionDir`.
 *
 * @throws as {@link Compositor.compose}; a job's own failure as its runner reports it
 *   (`ERR_JOB_FAILED` from a runner that retried). The first failing segment stops the others.
 */
export async function runCompositeJobs(params: CompositeJobsParams): Promise<CompositeResult> {
  const { sessionDir, runner, binaries } = params;
  const signal = params.signal ?? new AbortController().signal;
  const run = params.run ?? ((job, returns, jobSignal) => runner.run(job, sessionDir, { signal: jobSignal, returns }));
  const compositor = new Compositor({
    ...params.compositeOptions,
    ffmpegPath: binaries.ffmpegPath,
    ffprobePath: binaries.ffprobePath,
    skipMissingSources: true,
  });
  const local = runner.runsInSpool === true;
  // Jobs that run elsewhere read the stream files from the staging store, not this spool.
  const sources = readComposeSources(sessionDir, { skipMissing: true, requireFiles: local });
  if (local) await compositor.probe(sources.streams, signal);
  const plan = compositor.planSources(sources);
  if (plan.frames <= 0) {
    throw new SfuRecorderError('ERR_COMPOSE_EMPTY', `session ${plan.sessionId} in ${sessionDir} has no duration to compose`);
  }
  const steps = compositor.steps(plan, sources.streams, sessionDir);
  const segmentsDir = relative(sessionDir, join(sessionPaths.compositeDir(sessionDir), '.segments'));
  if (local) rmSync(join(sessionDir, segmentsDir), { recursive: true, force: true }); // an interrupted run's
  const outFile = join(sessionPaths.compositeDir(sessionDir), sessionPaths.compositeFileName(plan.sessionId, plan.sessionStartedAt));
  const partial = join(dirname(outFile), `.${basename(outFile)}.partial.mp4`);
  const controller = new AbortController();
  // Every segment job listens to it: as many listeners as segments is expected, not a leak.
  setMaxListeners(0, controller.signal);
  const onAbort = () => controller.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const segmentFiles: string[] = [];
    const jobs = steps.segments.map((spec): RecordingJob => {
      const names = segmentFileNames(spec.segment.index);
      const outputs = [join(segmentsDir, names.video), join(segmentsDir, names.audio)];
      segmentFiles.push(...outputs);
      return {
        kind: 'render-segment',
        id: params.jobId('render-segment', spec),
        roomId: plan.roomId,
        sessionId: plan.sessionId,
        inputs: spec.streams.map((s) => s.file),
        outputs,
        spec,
        segmentsDir,
      };
    });
    await Promise.all(
      jobs.map((job) =>
        run(job, [], controller.signal).catch((error: unknown) => {
          controller.abort(error);
          throw error;
        }),
      ),
    );
    const partialRel = relative(sessionDir, partial);
    await run(
      {
        kind: 'join-composite',
        id: params.jobId('join-composite', steps.join),
        roomId: plan.roomId,
        sessionId: plan.sessionId,
        inputs: segmentFiles,
        outputs: [partialRel],
        spec: steps.join,
        segmentsDir,
        outFile: partialRel,
      },
      [partialRel],
      controller.signal,
    );
    const result = await compositeResultOf(binaries.ffprobePath, plan, sources.complete, partial, outFile);
    renameSync(partial, outFile);
    const resultPath = sessionPaths.compositeResult(sessionDir);
    writeFileSync(`${resultPath}.tmp`, `${JSON.stringify(result, null, 2)}\n`);
    renameSync(`${resultPath}.tmp`, resultPath);
    return result;
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  } finally {
    signal.removeEventListener('abort', onAbort);
    if (local) rmSync(join(sessionDir, segmentsDir), { recursive: true, force: true });
  }
}
