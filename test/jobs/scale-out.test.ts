import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { types as ms } from 'mediasoup';
import { runCli } from '../../src/cli.js';
import {
  SfuRecorder,
  executeJob,
  type JobResult,
  type JobRunner,
  type RecordingFailedEvent,
  type RecordingJob,
  type RecordingStoredEvent,
  type SfuRecorderOptions,
} from '../../src/index.js';
import { resolveFfmpegBinaries } from '../../src/ffmpeg/binaries.js';
import { SyntheticPeer } from '../../src/testing/index.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/job-workers.js';
import { probeFile } from '../helpers/mux-probe.js';
import { sleep, startRouter, tempDir } from '../helpers/recorder-fixtures.js';
import { startRedis, type RedisTestServer } from '../helpers/redis-server.js';
import { newWebhookSecret, startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const VIDEO = { width: 320, height: 180, fps: 30, bitrateKbps: 300 };
const ROOM = 'scale-room';
/** Small, fast outputs; 2 s segments so that the composite has several. */
const OUTPUT: Pick<SfuRecorderOptions, 'individualOptions' | 'compositeOptions'> = {
  individualOptions: { x264Preset: 'ultrafast' },
  compositeOptions: { width: 320, height: 180, fps: 15, preset: 'ultrafast', maxSegmentMs: 2000 },
};

interface Run {
  stored: RecordingStoredEvent[];
  failed: RecordingFailedEvent[];
  errors: string[];
  sessionDir: string;
  storageRoot: string;
  status: ReturnType<SfuRecorder['sessionStatus']>;
}

describe('finalisation and composition as jobs on BullMQ workers', () => {
  let worker: ms.Worker;
  let router: ms.Router;
  let recordedSpool = '';
  let sessionId = '';
  let redis: RedisTestServer;
  let receiver: WebhookReceiver;
  let webhookSecret = '';
  const workers: WorkerProcess[] = [];
  let inProcess: Run;

  beforeAll(async () => {
    ({ worker, router } = await startRouter());
    redis = await startRedis();
    webhookSecret = newWebhookSecret();
    receiver = await startWebhookReceiver(webhookSecret);
    // One real call, recorded once and left unfinalised: each test finalises a copy of it.
    recordedSpool = tempDir('scale-spool');
    const recorder = await SfuRecorder.create({ spoolDir: recordedSpool, defaultStorage: { root: tempDir('scale-unused') }, recoverOnStart: false });
    const room = await recorder.enableRoom({ roomId: ROOM, router });
    const alice = await SyntheticPeer.create(router, { peerId: 'alice', video: { codec: 'VP8', ...VIDEO } });
    await sleep(2000);
    const bob = await SyntheticPeer.create(router, { peerId: 'bob', video: { codec: 'H264', ...VIDEO } });
    await sleep(4000);
    bob.close();
    await sleep(2500);
    sessionId = room.sessionId!;
    await room.stop();
    alice.close();
    await recorder.close({ finalise: false });
    // The reference every test compares with: the same journals finalised in-process.
    inProcess = await finaliseCopy('in-process', undefined);
  }, 180_000);

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.kill()));
    await receiver?.close();
    await redis?.stop();
    worker?.close();
  });

  /** Finalises a fresh copy of the recorded spool with `jobs`, and waits for every file. */
  async function finaliseCopy(
    name: string,
    jobs: SfuRecorderOptions['jobs'],
    during?: (recorder: SfuRecorder) => Promise<void>,
    output: typeof OUTPUT = OUTPUT,
  ): Promise<Run> {
    const spoolDir = tempDir(`scale-${name}`);
    cpSync(recordedSpool, spoolDir, { recursive: true });
    const storageRoot = tempDir(`scale-${name}-storage`);
    const recorder = await SfuRecorder.create({
      spoolDir,
      defaultStorage: { root: storageRoot },
      webhook: { url: receiver.url, secret: webhookSecret },
      recoverOnStart: false,
      ...output,
      ...(jobs ? { jobs } : {}),
    });
    const run: Run = { stored: [], failed: [], errors: [], sessionDir: join(spoolDir, ROOM, sessionId), storageRoot, status: undefined };
    recorder.on('recordingstored', (e) => run.stored.push(e));
    recorder.on('recordingfailed', (e) => run.failed.push(e));
    recorder.on('error', (e) => run.errors.push(`${e.code}: ${e.message}`));
    const recovering = recorder.recover();
    if (during) await during(recorder);
    await recovering;
    await recorder.whenIdle();
    run.status = recorder.sessionStatus(sessionId);
    await recorder.close();
    return run;
  }

  function startWorkers(names: string[], extra: string[] = [], env: NodeJS.ProcessEnv = {}): WorkerProcess[] {
    const started = names.map((name) =>
      startWorkerProcess(name, ['--redis', redis.url, '--lock-ms', '3000', '--work-dir', tempDir(`worker-${name}`), ...extra], { env }),
    );
    workers.push(...started);
    return started;
  }

  const keysOf = (run: Run) => run.stored.map((e) => e.key).sort();

  it('makes the same files as the in-process runner, its jobs spread over two worker processes', async () => {
    expect(inProcess.errors).toEqual([]);
    const [w1, w2] = startWorkers(['w1', 'w2']);
    await Promise.all([w1!.waitFor(/taking jobs/), w2!.waitFor(/taking jobs/)]);
    const queued = await finaliseCopy('bullmq', { redis: redis.url });
    await Promise.all([w1!.kill('SIGTERM'), w2!.kill('SIGTERM')]);
    expect(queued.errors).toEqual([]);

    // Same keys (2 streams of alice and bob + the composite), each stored once.
    expect(keysOf(queued)).toEqual(keysOf(inProcess));
    expect(new Set(keysOf(queued)).size).toBe(3);
    // Same media: every stream.json equal but for the path, the composite equal in duration and segments.
    for (const peer of ['alice', 'bob']) {
      const streamDir = join(inProcess.sessionDir, 'streams', peer);
      for (const stream of readdirSync(streamDir)) {
        const read = (run: Run) => {
          const { file: _file, ...rest } = JSON.parse(readFileSync(join(run.sessionDir, 'streams', peer, stream, 'stream.json'), 'utf8')) as Record<string, unknown>;
          return rest;
        };
        expect(read(queued)).toEqual(read(inProcess));
      }
    }
    const composite = (run: Run) => JSON.parse(readFileSync(join(run.sessionDir, 'composite', 'composite.json'), 'utf8')) as Record<string, number>;
    expect(composite(queued).segments).toBe(composite(inProcess).segments);
    expect(composite(queued).segments).toBeGreaterThanOrEqual(4);
    expect(Math.abs(composite(queued).durationMs! - composite(inProcess).durationMs!)).toBeLessThanOrEqual(1000 / 15);
    for (const event of queued.stored) {
      const twin = inProcess.stored.find((e) => e.key === event.key)!;
      const [a, b] = await Promise.all([probeFile(event.location), probeFile(twin.location)]);
      expect(Math.abs(a.durationS - b.durationS)).toBeLessThanOrEqual(1 / 15);
      expect(a.streams.map((s) => s.codec_type).sort()).toEqual(b.streams.map((s) => s.codec_type).sort());
    }

    // The status names every job and who ran it: both workers took some.
    const jobs = queued.status!.jobs;
    expect(queued.status).toMatchObject({ state: 'finalised', runner: 'bullmq', percent: 100 });
    expect(jobs.filter((j) => j.kind === 'finalise-stream')).toHaveLength(2);
    expect(jobs.filter((j) => j.kind === 'render-segment').length).toBe(composite(queued).segments);
    expect(jobs.filter((j) => j.kind === 'join-composite')).toHaveLength(1);
    expect(jobs.every((j) => j.state === 'done')).toBe(true);
    expect(new Set(jobs.map((j) => j.worker))).toEqual(new Set(['w1', 'w2']));
    // The staged copies are gone once the session is finalised.
    expect(readdirSync(join(queued.storageRoot, '.staging', 'sessions', ROOM))).toEqual([]);
  }, 240_000);

  it('a worker killed (kill -9) mid-segment: its job goes to another worker, every file stored and webhooked once', async () => {
    const [slow, steady] = startWorkers(['k1', 'k2']);
    await Promise.all([slow!.waitFor(/taking jobs/), steady!.waitFor(/taking jobs/)]);
    const webhooksBefore = receiver.accepted().length;
    // Segments that take a few seconds each, so that the kill lands inside one.
    const heavy = { ...OUTPUT, compositeOptions: { ...OUTPUT.compositeOptions, width: 1280, height: 720, fps: 30, preset: 'slow' } };
    const run = await finaliseCopy(
      'kill-worker',
      { redis: redis.url },
      async () => {
        await slow!.waitFor(/started render-segment/, 120_000);
        await slow!.kill('SIGKILL');
      },
      heavy,
    );
    await steady!.kill('SIGTERM');
    expect(run.errors).toEqual([]);
    expect(keysOf(run)).toEqual(keysOf(inProcess));
    const killedJob = /started render-segment job (\S+)/.exec(slow!.output())![1]!;
    expect(run.status!.jobs.find((j) => j.id === killedJob)).toMatchObject({ state: 'done', worker: 'k2' });
    // One recording.success webhook per file, no more.
    const hooks = await receiver.waitForAccepted(webhooksBefore + 3);
    const mine = hooks.slice(webhooksBefore).map((h) => JSON.parse(h.body) as { type: string; data: { key: string } });
    expect(mine.map((h) => h.data.key).sort()).toEqual(keysOf(run));
    await sleep(500);
    expect(receiver.accepted().length).toBe(webhooksBefore + 3);
    const composite = run.stored.find((e) => e.metadata.recordingType === 'composite')!;
    expect((await probeFile(composite.location)).durationS).toBeGreaterThan(7);
  }, 240_000);

  it('Redis killed (kill -9) and restarted mid-run: work resumes, every file stored once', async () => {
    const [r1] = startWorkers(['r1']);
    await r1!.waitFor(/taking jobs/);
    const run = await finaliseCopy('kill-redis', { redis: redis.url }, async () => {
      await r1!.waitFor(/done finalise-stream/, 120_000);
      await redis.kill('SIGKILL');
      await sleep(1500);
      await redis.restart();
    });
    await r1!.kill('SIGTERM');
    expect(run.errors).toEqual([]);
    expect(keysOf(run)).toEqual(keysOf(inProcess));
    expect(run.status).toMatchObject({ state: 'finalised' });
  }, 240_000);

  it('Redis restarted empty (no persistence) mid-run: the host queues its jobs again, every file stored once', async () => {
    const volatile = await startRedis({ persistent: false });
    try {
      const worker = startWorkerProcess('v2', ['--redis', volatile.url, '--lock-ms', '3000', '--work-dir', tempDir('worker-v2')]);
      workers.push(worker);
      await worker.waitFor(/taking jobs/);
      const run = await finaliseCopy('empty-redis', { redis: volatile.url }, async () => {
        await worker.waitFor(/done finalise-stream/, 120_000);
        await volatile.restart();
      });
      await worker.kill('SIGTERM');
      expect(run.errors).toEqual([]);
      expect(keysOf(run)).toEqual(keysOf(inProcess));
      expect(run.status).toMatchObject({ state: 'finalised' });
    } finally {
      await volatile.stop();
    }
  }, 240_000);

  it('a job failing on every attempt ends as recording.failed with its cause; sfu-recorder compose re-runs it from the staged inputs', async () => {
    // A worker whose ffmpeg cannot run: every job fails.
    const [broken] = startWorkers(['broken'], [], { SFU_RECORDER_FFMPEG: '/bin/false' });
    await broken!.waitFor(/taking jobs/);
    const run = await finaliseCopy('failing', { redis: redis.url, attempts: 2 });
    await broken!.kill('SIGTERM');
    expect(run.stored).toEqual([]);
    expect(run.failed.map((f) => f.metadata.recordingType).sort()).toEqual(['composite', 'individual', 'individual']);
    for (const failed of run.failed) {
      expect(failed.error.code).toBe('ERR_JOB_FAILED');
      expect(failed.error.message).toMatch(/failed on 2 attempts: ERR_FFMPEG_FAILED/);
    }
    const manifest = JSON.parse(readFileSync(join(run.sessionDir, 'session.json'), 'utf8')) as { state: string };
    expect(manifest.state).toBe('finalised');
    const hooks = receiver.accepted().map((h) => JSON.parse(h.body) as { type: string; data: { key: string; session_id: string; error?: { code: string } } });
    const failedHooks = hooks.filter((h) => h.type === 'recording.failed' && h.data.session_id === sessionId);
    expect(failedHooks).toHaveLength(3);
    expect(failedHooks.every((h) => h.data.error?.code === 'ERR_JOB_FAILED')).toBe(true);

    // The inputs stayed staged: compose makes the composite from them alone.
    const staging = join(run.storageRoot, '.staging');
    expect(existsSync(join(staging, 'sessions', ROOM, sessionId, 'timeline.jsonl'))).toBe(true);
    const restored = join(tempDir('scale-restored'), 'session');
    const out = { stdout: '', stderr: '' };
    const code = await runCli(
      ['compose', restored, '--from-staging', `${ROOM}/${sessionId}`, '--staging-dir', staging, '--width', '320', '--height', '180', '--fps', '15', '--preset', 'ultrafast', '--quiet'],
      { stdout: (t) => void (out.stdout += t), stderr: (t) => void (out.stderr += t) },
    );
    expect(code, out.stderr).toBe(0);
    const result = JSON.parse(out.stdout) as { file: string; durationMs: number };
    expect(Math.abs((await probeFile(result.file)).durationS * 1000 - result.durationMs)).toBeLessThan(100);
    const inProcessComposite = inProcess.stored.find((e) => e.metadata.recordingType === 'composite')!;
    expect(Math.abs(result.durationMs - inProcessComposite.metadata.durationMs)).toBeLessThanOrEqual(1000 / 15);
  }, 240_000);

  it('a runner of one\'s own (here: every job in a scratch directory of its own) is all the recorder needs', async () => {
    /** Runs each job where only its inputs are, as a remote backend would, and brings back what is asked. */
    class ScratchRunner implements JobRunner {
      readonly name = 'scratch';
      readonly sessionConcurrency = 2;
      readonly ran: RecordingJob[] = [];
      async run(job: RecordingJob, sessionDir: string): Promise<JobResult> {
        this.ran.push(job);
        const scratch = tempDir(`scratch-${job.kind}`);
        for (const rel of job.inputs) {
          mkdirSync(dirname(join(scratch, rel)), { recursive: true });
          cpSync(join(sessionDir, rel), join(scratch, rel));
        }
        const result = await executeJob(job, scratch, { ffmpeg: resolveFfmpegBinaries(), threads: 1, worker: 'scratch-1' });
        // Outputs go back to the session directory: later jobs read them there (the join reads the segments).
        for (const rel of result.produced) {
          mkdirSync(dirname(join(sessionDir, rel)), { recursive: true });
          cpSync(join(scratch, rel), join(sessionDir, rel));
        }
        return result;
      }
      close(): Promise<void> {
        return Promise.resolve();
      }
    }
    const runner = new ScratchRunner();
    const run = await finaliseCopy('own-runner', { runner });
    expect(run.errors).toEqual([]);
    expect(keysOf(run)).toEqual(keysOf(inProcess));
    expect(new Set(runner.ran.map((j) => j.kind))).toEqual(new Set(['finalise-stream', 'render-segment', 'join-composite']));
    expect(run.status).toMatchObject({ state: 'finalised', runner: 'scratch' });
    expect(run.status!.jobs.every((j) => j.worker === 'scratch-1')).toBe(true);
    // Every job's data survives a round trip through JSON: no closures, no Maps.
    for (const job of runner.ran) expect(JSON.parse(JSON.stringify(job))).toEqual(job);
  }, 240_000);
});
