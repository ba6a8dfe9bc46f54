/**
 * Scale-out benchmark: the work after a call on BullMQ workers (separate processes, each
 * pinned to one core with `taskset`) against the in-process runner.
 *
 *   npm run bench -- scale-out [--part composite|sessions|both] [--duration 600] [--max-segment 20] [--sessions 20] [--session-duration 120]
 *
 * composite: a 4-peer session of `--duration` seconds (finalised-looking streams, one peer
 *   leaving at 2/3, segments of at most `--max-segment` s: 31 for 600 s) composed by the in-process runner,
 *   then by 1 worker on core 0, then by 2 workers on cores 0 and 1; wall time, speed-up, and
 *   the outputs compared (duration, the frame where the layout changes, A/V offset).
 * sessions: `--sessions` rooms of 2 replayed peers recorded at once for `--session-duration`
 *   seconds and ended within a second; the same journals are then finalised (individual +
 *   composite) with 1 and with 2 workers: time until the last file is stored, and this (the
 *   SFU host's) process's CPU meanwhile.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { BullMqJobRunner, DirectoryStaging, InProcessJobRunner, SfuRecorder, type JobRunner, type SfuRecorderOptions } from '../src/index.js';
import { runCompositeJobs } from '../src/jobs/composite-jobs.js';
import { resolveFfmpegBinaries } from '../src/ffmpeg/index.js';
import { sessionPaths } from '../src/spool/layout.js';
import { readTimeline, TimelineWriter } from '../src/timeline/timeline-file.js';
import { decodeAudio, decodeFrames, flashOnsets, pixel, toneAmplitude, toneOnsets } from '../test/helpers/compose-measure.js';
import { makeSession } from './composite.js';
import { startLocalRedis, type LocalRedis } from '../examples/demo-workers.js';

const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Worker {
  name: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** `sfu-recorder worker` pinned to `core` with taskset. */
function startWorker(name: string, core: number, redisUrl: string): Worker {
  const child = spawn('taskset', ['-c', String(core), process.execPath, '--import', 'tsx', CLI, 'worker', '--redis', redisUrl, '--name', name], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child.stdout!.on('data', () => {});
  return {
    name,
    child,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function startWorkers(count: number, redisUrl: string): Promise<Worker[]> {
  const workers = Array.from({ length: count }, (_, i) => startWorker(`core${i}`, i % availableParallelism(), redisUrl));
  await sleep(2500); // tsx start-up, connection
  return workers;
}

/** CPU seconds of a process and its waited-for children (the worker's ffmpeg runs), from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / 100;
}

/** What the composite looks like where it matters: duration, the layout change, A/V offset. */
async function measureComposite(file: string, fps: number, changeAtS: number) {
  const { ffprobePath } = resolveFfmpegBinaries();
  const probe = JSON.parse((await execa(ffprobePath, ['-v', 'error', '-show_entries', 'format=duration', '-of', 'json', file])).stdout) as {
    format: { duration: string };
  };
  const width = 64;
  const height = 36;
  const frames = await decodeFrames(file, width, height);
  // Peer 4's tile (bottom right in the 2x2 grid) changes when it leaves.
  const at = (i: number) => pixel(frames[i]!, width, 48, 27);
  let changeFrame = -1;
  // Frames of a flash (the first tenth of every second) are not compared.
  const flashing = (i: number) => (i / fps) % 1 < 0.15;
  for (let i = Math.floor((changeAtS - 0.4) * fps); i < Math.min(frames.length, (changeAtS + 0.4) * fps); i++) {
    if (flashing(i) || flashing(i - 1)) continue;
    const [a, b] = [at(i - 1), at(i)];
    if (Math.abs(a[0] - b[0]) + Math.abs(a[1] - b[1]) + Math.abs(a[2] - b[2]) > 60) {
      changeFrame = i;
      break;
    }
  }
  // A/V offset of peer 1 (top left, 500 Hz beeps) over the first and last 30 s.
  const audio = await decodeAudio(file);
  const duration = Number(probe.format.duration);
  // The beeps are 5x the tone between them: the threshold halfway up the loudest window.
  let loudest = 0;
  for (let start = 0; start + 480 <= Math.min(audio.length, 10 * 48_000); start += 240) loudest = Math.max(loudest, toneAmplitude(audio, start, 480, 500));
  const beepOnsets = toneOnsets(audio, 500, loudest * 0.6);
  const offsets = (range: [number, number]) => {
    const flashes = flashOnsets(frames, width, 16, 9, fps, range);
    const beeps = beepOnsets.filter((t) => t >= range[0] - 0.5 && t <= range[1] + 0.5);
    const pairs = flashes.map((f) => beeps.reduce((best, b) => (Math.abs(b - f) < Math.abs(best - f) ? b : best), Number.POSITIVE_INFINITY) - f);
    const sorted = pairs.filter((p) => Math.abs(p) < 0.5).sort((x, y) => x - y);
    return sorted.length > 0 ? Math.round(sorted[Math.floor(sorted.length / 2)]! * 1000) : Number.NaN;
  };
  return {
    durationS: duration,
    changeFrame,
    avOffsetStartMs: offsets([0, 30]),
    avOffsetEndMs: offsets([Math.max(0, Math.floor(changeAtS) - 31), Math.floor(changeAtS) - 1]),
  };
}

async function compositePart(seconds: number, maxSegmentS: number, redis: LocalRedis): Promise<void> {
  const binaries = resolveFfmpegBinaries();
  const root = mkdtempSync(join(tmpdir(), 'sfu-recorder-bench-scale-'));
  const source = join(root, 'session');
  const t0 = performance.now();
  await makeSession(source, seconds, binaries.ffmpegPath);
  // Peer 4 leaves at two thirds, between two flashes: a layout change to compare between the runners.
  const leaveAt = Math.round((seconds * 2) / 3) + 0.5;
  const { events } = readTimeline(sessionPaths.timeline(source));
  const start = events[0]!.at;
  const ended = events.pop()!;
  events.push(
    { type: 'stream-ended', at: start + leaveAt * 1000, peerId: 'peer-4', streamId: 'peer-4-cam' },
    { type: 'peer-left', at: start + leaveAt * 1000, peerId: 'peer-4' },
    ended,
  );
  rmSync(sessionPaths.timeline(source));
  const writer = new TimelineWriter(sessionPaths.timeline(source));
  for (const e of events) writer.append(e);
  writer.close();
  console.log(`composite part: 4 peers x ${seconds} s (peer-4 leaves at ${leaveAt} s), sources made in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const compositeOptions = { width: 1280, height: 720, fps: 30, preset: 'superfast', maxSegmentMs: maxSegmentS * 1000 };
  const runs: Array<{ label: string; wallS: number; segments: number; file: string; stagedBytes?: number }> = [];
  const compose = async (label: string, runner: JobRunner, staging?: string) => {
    const dir = join(root, label.replace(/\W+/g, '-'));
    cpSync(source, dir, { recursive: true });
    const t = performance.now();
    const result = await runCompositeJobs({
      sessionDir: dir,
      runner,
      binaries,
      compositeOptions,
      // Unique per run: each run's jobs are new work for the queue.
      jobId: (kind, what) => `${kind}-${createHash('sha256').update(`${dir}\0${JSON.stringify(what)}`).digest('hex').slice(0, 32)}`,
    });
    const wallS = (performance.now() - t) / 1000;
    let stagedBytes: number | undefined;
    if (staging) {
        stagedBytes = Number((await execa('du', ['-sb', staging])).stdout.split('\t')[0]);
    }
    runs.push({ label, wallS, segments: result.segments, file: result.file, ...(stagedBytes !== undefined ? { stagedBytes } : {}) });
    console.log(`${label}: ${wallS.toFixed(1)} s wall, ${result.segments} segments, ${(result.sizeBytes / 1e6).toFixed(1)} MB`);
  };

  await compose('in-process', new InProcessJobRunner({ ffmpeg: binaries }));
  for (const count of [1, 2]) {
    const stagingDir = join(root, `staging-${count}`);
    mkdirSync(stagingDir, { recursive: true });
    const workers = await startWorkers(count, redis.url);
    const runner = new BullMqJobRunner({ redis: redis.url, staging: new DirectoryStaging(stagingDir), pollMs: 1000 });
    await compose(`${count} worker${count > 1 ? 's' : ''} (taskset ${workers.map((_, i) => `-c ${i}`).join(', ')})`, runner, stagingDir);
    await runner.close();
    await Promise.all(workers.map((w) => w.stop()));
  }
  const [, one, two] = runs;
  console.log(`speed-up 2 workers / 1 worker: ${(one!.wallS / two!.wallS).toFixed(2)}x (target >= 1.8x)`);
  console.log(`staged for the composite (segments + stream files + composite), per hour of meeting: ${((two!.stagedBytes! / seconds) * 3600 / 1e9).toFixed(2)} GB`);
  for (const run of runs) {
    const m = await measureComposite(run.file, compositeOptions.fps, leaveAt);
    console.log(
      `${run.label}: duration ${m.durationS.toFixed(3)} s, layout change at frame ${m.changeFrame} (${(m.changeFrame / compositeOptions.fps).toFixed(3)} s), ` +
        `A/V offset ${m.avOffsetStartMs} ms (first 30 s) / ${m.avOffsetEndMs} ms (before the change)`,
    );
  }
  rmSync(root, { recursive: true, force: true });
}

async function sessionsPart(count: number, seconds: number, redis: LocalRedis): Promise<void> {
  const mediasoup = await import('mediasoup');
  const { captureSyntheticMedia, RtpReplayer, SYNTHETIC_ROUTER_CODECS } = await import('../src/testing/index.js');
  const root = mkdtempSync(join(tmpdir(), 'sfu-recorder-bench-sessions-'));
  const recorded = join(root, 'spool');
  const worker = await mediasoup.createWorker({ logLevel: 'error' });
  const capture = await captureSyntheticMedia({ durationSeconds: 10 });
  const recorder = await SfuRecorder.create({ spoolDir: recorded, defaultStorage: { root: join(root, 'unused') }, recoverOnStart: false });
  const rooms = [];
  const replayers = [];
  for (let i = 0; i < count; i++) {
    const router = await worker.createRouter({ mediaCodecs: [...SYNTHETIC_ROUTER_CODECS] });
    rooms.push(await recorder.enableRoom({ roomId: `room-${i + 1}`, router }));
    for (let p = 0; p < 2; p++) replayers.push(await RtpReplayer.create(router, { peerId: `peer-${p + 1}`, capture, phaseMs: ((i * 2 + p) * 397) % capture.durationMs }));
  }
  console.log(`sessions part: ${count} rooms x 2 replayed peers recording for ${seconds} s`);
  await sleep(seconds * 1000);
  const stopAt = performance.now();
  await Promise.all(rooms.map((room) => room.stop()));
  console.log(`all ${count} sessions ended within ${((performance.now() - stopAt) / 1000).toFixed(2)} s`);
  for (const replayer of replayers) replayer.close();
  await recorder.close({ finalise: false });
  worker.close();

  const options: Pick<SfuRecorderOptions, 'individualOptions' | 'compositeOptions'> = {
    compositeOptions: { width: 640, height: 360, preset: 'superfast' },
  };
  for (const workers of [1, 2]) {
    const spoolDir = join(root, `spool-${workers}`);
    cpSync(recorded, spoolDir, { recursive: true });
    const pool = await startWorkers(workers, redis.url);
    const run = await SfuRecorder.create({ spoolDir, defaultStorage: { root: join(root, `storage-${workers}`) }, recoverOnStart: false, ...options, jobs: { redis: redis.url } });
    let stored = 0;
    let lastStoredAt = 0;
    run.on('recordingstored', () => {
      stored++;
      lastStoredAt = performance.now();
    });
    const cpu0 = process.cpuUsage();
    const t = performance.now();
    await run.recover();
    await run.whenIdle();
    const wallS = (lastStoredAt - t) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const hostPct = ((cpu.user + cpu.system) / 1e6 / ((performance.now() - t) / 1000)) * 100;
    const workerCpu = pool.map((w) => cpuSeconds(w.child.pid!));
    await run.close();
    await Promise.all(pool.map((w) => w.stop()));
    console.log(
      `${workers} worker${workers > 1 ? 's' : ''}: ${stored} files stored, the last ${wallS.toFixed(1)} s after the sessions were handed over; ` +
        `host process CPU ${hostPct.toFixed(1)} % of one core; workers' CPU (with their ffmpeg) ${workerCpu.map((s) => `${s.toFixed(0)} s`).join(', ')}`,
    );
  }
  const journalBytes = Number((await execa('du', ['-sb', recorded])).stdout.split('\t')[0]);
  console.log(`journals staged: ${(journalBytes / 1e6).toFixed(0)} MB for ${count} x ${seconds} s of 2 peers (${((journalBytes / (count * 2 * seconds)) * 3600 / 1e9).toFixed(2)} GB per peer-hour)`);
  rmSync(root, { recursive: true, force: true });
}

export async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      part: { type: 'string', default: 'both' },
      duration: { type: 'string', default: '600' },
      'max-segment': { type: 'string', default: '20' },
      sessions: { type: 'string', default: '20' },
      'session-duration': { type: 'string', default: '120' },
    },
  });
  console.log(`machine: ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown'}), node ${process.version}`);
  const redis = await startLocalRedis();
  try {
    if (values.part === 'composite' || values.part === 'both') await compositePart(Number(values.duration), Number(values['max-segment']), redis);
    if (values.part === 'sessions' || values.part === 'both') await sessionsPart(Number(values.sessions), Number(values['session-duration']), redis);
  } finally {
    await redis.stop();
  }
}
