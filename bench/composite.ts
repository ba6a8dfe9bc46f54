/**
 * Composite benchmark: 4 peers at 640x360 composed into 1280x720@30, against a bare
 * single ffmpeg pass (fixed 2x2 xstack grid, amix, same x264 settings, same AAC) run
 * on the same sources in the same process.
 *
 *   npm run bench -- composite [--duration 60] [--preset superfast] [--runs 1] [--keep]
 */
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Compositor, x264Args, type CompositeResult } from '../src/compose/index.js';
import { resolveFfmpegBinaries, runFfmpeg } from '../src/ffmpeg/index.js';
import type { FinalisedStream } from '../src/mux/stream-result.js';
import { sessionPaths } from '../src/spool/layout.js';
import type { TimelineEvent } from '../src/timeline/events.js';
import { TimelineWriter } from '../src/timeline/timeline-file.js';

const SOURCE = { width: 640, height: 360, fps: 30 };
const OUTPUT = { width: 1280, height: 720, fps: 30 };
const AUDIO_BITRATE = '128k';

/** CPU seconds (user + system) of this process's waited-for children, from /proc (Linux). */
function childCpuSeconds(): number | undefined {
  try {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
    // Fields 16 and 17 of stat (cutime, cstime), counted after "pid (comm)".
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return undefined;
  }
}

async function measure<T>(fn: () => Promise<T>): Promise<{ value: T; wallS: number; cpuS: number | undefined }> {
  const cpu0 = childCpuSeconds();
  const t0 = performance.now();
  const value = await fn();
  const wallS = (performance.now() - t0) / 1000;
  const cpu1 = childCpuSeconds();
  return { value, wallS, cpuS: cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : undefined };
}

/** Four finalised-looking streams (moving test pattern, hue per peer, flash + beep) and a timeline. */
export async function makeSession(dir: string, seconds: number, ffmpegPath: string): Promise<FinalisedStream[]> {
  const S = 1_700_000_000_000;
  const end = S + seconds * 1000;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const streams: FinalisedStream[] = [];
  for (let i = 0; i < 4; i++) {
    const peerId = `peer-${i + 1}`;
    const streamId = `${peerId}-cam`;
    mkdirSync(sessionPaths.streamDir(dir, peerId, streamId), { recursive: true });
    const file = sessionPaths.streamFile(dir, peerId, streamId);
    await runFfmpeg(
      ffmpegPath,
      [
        '-f', 'lavfi', '-i',
        `testsrc2=s=${SOURCE.width}x${SOURCE.height}:r=${SOURCE.fps}:d=${seconds},hue=h=${i * 90},` +
          `drawbox=c=white:t=fill:enable='lt(mod(t,1),0.1)'`,
        '-f', 'lavfi', '-i', `aevalsrc=exprs='(0.1+0.4*lt(mod(t,1),0.1))*sin(2*PI*${500 + i * 300}*t)':s=48000:d=${seconds}`,
        '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '26', '-g', '60', '-pix_fmt', 'yuv420p',
        '-c:a', 'aac', '-b:a', '64k', '-movflags', '+faststart', '-t', String(seconds), file,
      ],
      { label: `bench source ${peerId}` },
    );
    const stream: FinalisedStream = {
      version: 1, roomId: 'bench-room', sessionId: 'bench-session', peerId, streamId, source: 'camera', file,
      startedAt: S, endedAt: end, durationMs: seconds * 1000, sizeBytes: statSync(file).size,
      video: { codec: 'h264', sourceCodecs: ['video/VP8'], ...SOURCE, copied: false, gaps: [] },
      audio: { codec: 'aac', sourceCodecs: ['audio/opus'], sampleRate: 48000, channels: 1, gaps: [] },
      cuts: [],
    };
    writeFileSync(sessionPaths.streamResult(dir, peerId, streamId), JSON.stringify(stream, null, 2));
    streams.push(stream);
  }
  const events: TimelineEvent[] = [{ type: 'session-started', at: S, roomId: 'bench-room', sessionId: 'bench-session' }];
  for (const s of streams) {
    events.push(
      { type: 'peer-joined', at: S, peerId: s.peerId },
      { type: 'stream-started', at: S, peerId: s.peerId, streamId: s.streamId, source: 'camera' },
    );
  }
  events.push({ type: 'session-ended', at: end, reason: 'stopped' });
  const writer = new TimelineWriter(sessionPaths.timeline(dir));
  for (const e of events) writer.append(e);
  writer.close();
  return streams;
}

/** The reference: one ffmpeg, fixed 2x2 grid, nothing else. */
async function barePass(ffmpegPath: string, streams: FinalisedStream[], out: string, preset: string): Promise<void> {
  await runFfmpeg(ffmpegPath, [
    ...streams.flatMap((s) => ['-i', s.file]),
    '-filter_complex',
    '[0:v][1:v][2:v][3:v]xstack=inputs=4:layout=0_0|w0_0|0_h0|w0_h0[v];' +
      '[0:a][1:a][2:a][3:a]amix=inputs=4:duration=longest[a]',
    '-map', '[v]', '-map', '[a]',
    ...x264Args({ fps: OUTPUT.fps, preset }),
    '-c:a', 'aac', '-b:a', AUDIO_BITRATE, '-ar', '48000', '-ac', '2',
    '-movflags', '+faststart', '-f', 'mp4', out,
  ], { label: 'bare pass' });
}

export async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      duration: { type: 'string', default: '60' },
      preset: { type: 'string' },
      runs: { type: 'string', default: '1' },
      'max-segment': { type: 'string' },
      keep: { type: 'boolean', default: false },
    },
  });
  const seconds = Number(values.duration);
  const runs = Math.max(1, Number(values.runs));
  if (!(seconds > 0)) throw new Error(`--duration must be positive seconds, got ${values.duration}`);
  const { ffmpegPath } = resolveFfmpegBinaries();
  const compositor = new Compositor({
    ...OUTPUT,
    ...(values.preset ? { preset: values.preset } : {}),
    ...(values['max-segment'] ? { maxSegmentMs: Number(values['max-segment']) * 1000 } : {}),
  });
  const preset = compositor.options.preset ?? 'superfast';
  const root = join(tmpdir(), `sfu-recorder-bench-composite-${process.pid}`);
  const sessionDir = join(root, 'session');

  console.log(`composite bench: 4 x ${SOURCE.width}x${SOURCE.height}@${SOURCE.fps} -> ${OUTPUT.width}x${OUTPUT.height}@${OUTPUT.fps}, ${seconds} s, preset ${preset}`);
  console.log(`machine: ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown'}), ffmpeg ${ffmpegPath}`);
  const gen = await measure(() => makeSession(sessionDir, seconds, ffmpegPath));
  console.log(`sources generated in ${gen.wallS.toFixed(1)} s`);
  const streams = gen.value;

  const rows: Array<{ what: string; wallS: number; cpuS: number | undefined }> = [];
  let last: CompositeResult | undefined;
  for (let run = 0; run < runs; run++) {
    const bare = await measure(() => barePass(ffmpegPath, streams, join(root, 'bare.mp4'), preset));
    rows.push({ what: 'bare', ...bare });

    // Where the time goes: probe + plan, segment encoding, join (concat + AAC).
    const marks: Record<string, number> = {};
    const t0 = performance.now();
    const onPlan = () => (marks.planned = performance.now() - t0);
    const onProgress = (p: { phase: string }) => {
      if (p.phase === 'joining' && marks.joining === undefined) marks.joining = performance.now() - t0;
    };
    compositor.on('plan', onPlan).on('progress', onProgress);
    const composed = await measure(() => compositor.compose(sessionDir));
    compositor.off('plan', onPlan).off('progress', onProgress);
    last = composed.value;
    rows.push({ what: 'composite', wallS: composed.wallS, cpuS: composed.cpuS });
    const planned = (marks.planned ?? 0) / 1000;
    const joining = (marks.joining ?? composed.wallS * 1000) / 1000;
    console.log(
      `run ${run + 1}: composite phases: probe+plan ${planned.toFixed(2)} s, segments ${(joining - planned).toFixed(2)} s ` +
        `(${composed.value.segments} segment${composed.value.segments > 1 ? 's' : ''}), join+aac ${(composed.wallS - joining).toFixed(2)} s`,
    );
  }

  const median = (what: string, key: 'wallS' | 'cpuS') => {
    const v = rows.filter((r) => r.what === what).map((r) => r[key] ?? NaN).sort((a, b) => a - b);
    return v[Math.floor(v.length / 2)]!;
  };
  const bareWall = median('bare', 'wallS');
  const compWall = median('composite', 'wallS');
  const fmt = (what: string, wall: number) =>
    `${what.padEnd(10)} ${wall.toFixed(2).padStart(7)} s wall  ${(seconds / wall).toFixed(2).padStart(6)}x realtime  ` +
    `${median(what, 'cpuS').toFixed(2).padStart(7)} s cpu`;
  console.log(fmt('bare', bareWall));
  console.log(fmt('composite', compWall));
  console.log(
    `composite / bare: ${(compWall / bareWall).toFixed(3)} wall (target <= 1.15), ` +
      `${(median('composite', 'cpuS') / median('bare', 'cpuS')).toFixed(3)} cpu; ` +
      `composite ${(seconds / compWall).toFixed(2)}x realtime (target >= 4x)`,
  );
  if (last) console.log(`output: ${last.file} (${(last.sizeBytes / 1e6).toFixed(1)} MB, ${last.durationMs} ms)`);
  if (!values.keep) rmSync(root, { recursive: true, force: true });
}
