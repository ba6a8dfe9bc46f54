/**
 * Capture benchmark: N replayed peers (audio + video, ~1 Mbps each) on one real
 * mediasoup router, recorded by SfuRecorder, against the same replay without the
 * recorder. Reports the recorder's CPU (the difference between the two runs, so the
 * replayer's own cost is not counted), the worker's CPU, memory over time, and packet
 * loss at the recorder (RTP mediasoup's consumers sent vs RTP the journals hold), with
 * what the kernel says about it: the capture socket's receive buffer (asked for and
 * granted), its drops and largest backlog, when each drop happened, and the system's
 * `RcvbufErrors` / `InErrors` over the run.
 *
 *   npm run bench -- capture [--peers 100] [--duration 60] [--sample 10] [--skip-baseline]
 */
import { readFileSync, rmSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { types as ms } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import { DEFAULT_RECEIVE_BUFFER_BYTES } from '../src/capture/capture-socket.js';
import { JournalRecordKind, openJournal } from '../src/capture/journal.js';
import { SfuRecorder } from '../src/index.js';
import { listSessionStreams } from '../src/mux/index.js';
import { captureSyntheticMedia, RtpReplayer, SYNTHETIC_ROUTER_CODECS, type RtpCapture } from '../src/testing/index.js';
import { grantedReceiveBuffer, LoopStallWatch, readUdpCounters, SocketWatch, udpCountersDelta, type DropEvent, type LoopStall, type UdpCounters } from './udp-stats.js';

interface RunFigures {
  label: string;
  peers: number;
  durationS: number;
  nodeCpuPct: number;
  workerCpuPct: number;
  rssMiB: number[];
  heapMiB: number[];
  loopDelayP99Ms: number;
  /** The main thread's longest stall: the replayer sends what fell due meanwhile in one burst. */
  loopDelayMaxMs: number;
  ingressMbps: number;
  /** System-wide UDP receive counters over the run (every socket: the worker's too). */
  udp?: UdpCounters;
  /** The capture socket's own drops (kernel, receive buffer full), when they happened, and its largest backlog. */
  socketDrops?: number;
  dropEvents?: DropEvent[];
  /** Stalls of the main thread (the replayer's) over 100 ms, on the same clock as the drops. */
  mainStalls?: LoopStall[];
  peakQueuedBytes?: number;
  peakAtS?: number;
  /** Seconds since the capture socket opened at which the replayers were all running and at which measuring ended. */
  phases?: { steadyFromS: number; steadyToS: number };
  consumerPackets?: number;
  journalPackets?: number;
  lostPackets?: number;
  spoolMiB?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const mib = (bytes: number): number => Math.round((bytes / 1048576) * 10) / 10;

/** CPU seconds (user + system) of a process, from /proc. */
function processCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function run(label: string, capture: RtpCapture, peers: number, durationS: number, sampleS: number, record: boolean): Promise<RunFigures> {
  const worker = await mediasoup.createWorker({ logLevel: 'error' });
  const router = await worker.createRouter({ mediaCodecs: [...SYNTHETIC_ROUTER_CODECS] });
  const spoolDir = mkdtempSync(join(tmpdir(), 'sfu-recorder-bench-capture-'));
  const consumers: ms.Consumer[] = [];
  const recorderTransports: ms.PlainTransport[] = [];
  router.observer.on('newtransport', (transport) => {
    if (!(transport.appData as Record<string, unknown>).sfuRecorder) return;
    recorderTransports.push(transport as ms.PlainTransport);
    transport.observer.on('newconsumer', (c) => consumers.push(c));
  });
  const udp0 = readUdpCounters();
  let watch: SocketWatch | undefined;
  let stalls: LoopStallWatch | undefined;
  let recorder: SfuRecorder | undefined;
  let room: Awaited<ReturnType<SfuRecorder['enableRoom']>> | undefined;
  if (record) {
    recorder = await SfuRecorder.create({ spoolDir, defaultStorage: { root: join(spoolDir, 'storage') }, recoverOnStart: false });
    room = await recorder.enableRoom({ roomId: 'bench', router });
  }
  const replayers: RtpReplayer[] = [];
  for (let i = 0; i < peers; i++) {
    // Spread the replayers over the loop so their keyframes do not all land at once.
    replayers.push(await RtpReplayer.create(router, { peerId: `p${i}`, capture, phaseMs: (i * capture.durationMs) / peers }));
    // The recorder's transport sends to the capture socket: watch that socket from the first peer on.
    const port = recorderTransports[0]?.tuple.remotePort;
    if (record && !watch && port) {
      watch = new SocketWatch(port);
      stalls = new LoopStallWatch();
    }
  }
  await sleep(1000);
  const steadyFromS = watch?.elapsedS ?? 0;
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const cpu0 = process.cpuUsage();
  const workerCpu0 = processCpuSeconds(worker.pid);
  const t0 = performance.now();
  const rssMiB: number[] = [];
  const heapMiB: number[] = [];
  const end = t0 + durationS * 1000;
  while (performance.now() < end) {
    await sleep(Math.min(sampleS * 1000, end - performance.now()));
    const memory = process.memoryUsage();
    rssMiB.push(mib(memory.rss));
    heapMiB.push(mib(memory.heapUsed));
    console.log(`[capture] ${label}: t=${Math.round((performance.now() - t0) / 1000)} s rss ${mib(memory.rss)} MiB heap ${mib(memory.heapUsed)} MiB`);
  }
  const wallS = (performance.now() - t0) / 1000;
  const steadyToS = watch?.elapsedS ?? 0;
  const cpu = process.cpuUsage(cpu0);
  const workerCpuS = processCpuSeconds(worker.pid) - workerCpu0;
  loop.disable();
  const sentBytes = replayers.reduce((sum, r) => sum + Object.values(r.counters()).reduce((s, c) => s + (c?.bytesSent ?? 0), 0), 0);
  // Pause (not close) the producers so the consumers stay alive to report what they sent.
  for (const replayer of replayers) await Promise.all([replayer.pause('audio'), replayer.pause('video')]);
  await sleep(500);
  const figures: RunFigures = {
    label,
    peers,
    durationS,
    nodeCpuPct: Math.round(((cpu.user + cpu.system) / 1e6 / wallS) * 1000) / 10,
    workerCpuPct: Math.round((workerCpuS / wallS) * 1000) / 10,
    rssMiB,
    heapMiB,
    loopDelayP99Ms: Math.round(loop.percentile(99) / 1e4) / 100,
    loopDelayMaxMs: Math.round(loop.max / 1e4) / 100,
    ingressMbps: Math.round(((sentBytes * 8) / 1e6 / (wallS + 1)) * 10) / 10,
  };
  if (recorder && room) {
    let consumerPackets = 0;
    for (const consumer of consumers) {
      for (const stat of await consumer.getStats().catch(() => [])) if (stat.type === 'outbound-rtp') consumerPackets += stat.packetCount;
    }
    const sessionDir = join(spoolDir, 'bench', room.sessionId!);
    await recorder.close({ finalise: false });
    watch?.stop();
    stalls?.stop();
    if (watch) {
      Object.assign(figures, {
        socketDrops: watch.totalDrops,
        dropEvents: watch.drops,
        peakQueuedBytes: watch.peakQueuedBytes,
        peakAtS: watch.peakAtS,
        mainStalls: stalls?.stalls ?? [],
        phases: { steadyFromS: Math.round(steadyFromS * 10) / 10, steadyToS: Math.round(steadyToS * 10) / 10 },
      });
    }
    let journalPackets = 0;
    let spoolBytes = 0;
    for (const stream of listSessionStreams(sessionDir)) {
      for (const track of stream.tracks) {
        for (const record of openJournal(track.journal).records()) {
          spoolBytes += record.data.length;
          if (record.kind === JournalRecordKind.Rtp && (record.data[1]! & 0x7f) !== 127) journalPackets++;
        }
      }
    }
    Object.assign(figures, { consumerPackets, journalPackets, lostPackets: consumerPackets - journalPackets, spoolMiB: mib(spoolBytes) });
  }
  for (const replayer of replayers) replayer.close();
  worker.close();
  rmSync(spoolDir, { recursive: true, force: true });
  const udp = udpCountersDelta(udp0, readUdpCounters());
  if (udp) figures.udp = udp;
  return figures;
}

export async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      peers: { type: 'string', default: '100' },
      duration: { type: 'string', default: '60' },
      sample: { type: 'string', default: '10' },
      'skip-baseline': { type: 'boolean', default: false },
    },
  });
  const peers = Number(values.peers);
  const durationS = Number(values.duration);
  const sampleS = Number(values.sample);
  console.log(`[capture] capturing 10 s of synthetic VP8 640x360 + Opus to replay`);
  const capture = await captureSyntheticMedia({ durationSeconds: 10 });
  console.log(`[capture] replaying ${peers} peers at ${capture.bitrateKbps} kbps each for ${durationS} s`);
  const runs: RunFigures[] = [];
  if (!values['skip-baseline']) runs.push(await run('replay only', capture, peers, durationS, sampleS, false));
  runs.push(await run('replay + recorder', capture, peers, durationS, sampleS, true));
  const buffer = await grantedReceiveBuffer(DEFAULT_RECEIVE_BUFFER_BYTES);
  console.log('');
  console.log(`peers: ${peers}, duration: ${durationS} s, per-peer bitrate: ${capture.bitrateKbps} kbps, cores: ${availableParallelism()}`);
  const usable = process.platform === 'linux' ? buffer.grantedBytes / 2 : buffer.grantedBytes;
  console.log(
    `capture socket receive buffer: asked ${mib(DEFAULT_RECEIVE_BUFFER_BYTES)} MiB, granted ${mib(buffer.grantedBytes)} MiB as reported (${mib(usable)} MiB usable)` +
      (buffer.rmemMaxBytes !== undefined ? `, net.core.rmem_max ${mib(buffer.rmemMaxBytes)} MiB` : ''),
  );
  console.log('| run | node CPU | worker CPU | ingress | RSS first → last (max) | heap first → last | loop p99 / max | consumer RTP | journal RTP | lost | socket drops | peak backlog | RcvbufErrors | InErrors |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of runs) {
    console.log(
      `| ${r.label} | ${r.nodeCpuPct} % | ${r.workerCpuPct} % | ${r.ingressMbps} Mbps | ${r.rssMiB[0]} → ${r.rssMiB.at(-1)} (${Math.max(...r.rssMiB)}) MiB | ${r.heapMiB[0]} → ${r.heapMiB.at(-1)} MiB | ${r.loopDelayP99Ms} / ${r.loopDelayMaxMs} ms | ${r.consumerPackets ?? '-'} | ${r.journalPackets ?? '-'} | ${r.lostPackets ?? '-'} | ${r.socketDrops ?? '-'} | ${r.peakQueuedBytes !== undefined ? `${mib(r.peakQueuedBytes)} MiB` : '-'} | ${r.udp?.rcvbufErrors ?? '-'} | ${r.udp?.inErrors ?? '-'} |`,
    );
  }
  for (const r of runs) {
    if (!r.phases) continue;
    const phase = (atS: number) => (atS < r.phases!.steadyFromS ? 'while peers joined' : atS <= r.phases!.steadyToS ? 'steady' : 'after');
    console.log(
      `${r.label}: peers joined by ${r.phases.steadyFromS} s, measured to ${r.phases.steadyToS} s; largest capture backlog ${mib(r.peakQueuedBytes ?? 0)} MiB at ${r.peakAtS} s (${phase(r.peakAtS ?? 0)})`,
    );
    for (const drop of r.dropEvents ?? []) {
      // The replayer's burst after a stall of the main thread is what a drop most often follows.
      const stall = (r.mainStalls ?? []).filter((s) => s.atS <= drop.atS && drop.atS - s.atS < 1 + s.ms / 1000).at(-1);
      const after = stall ? `, ${Math.round((drop.atS - stall.atS) * 1000)} ms after a ${stall.ms} ms stall of the main thread (the replayer's burst)` : '';
      console.log(`  ${drop.drops} dropped at ${drop.atS} s (${phase(drop.atS)}), backlog ${mib(drop.queuedBytes)} MiB${after}`);
    }
    const stallList = (r.mainStalls ?? []).map((s) => `${s.ms} ms at ${s.atS} s`).join(', ');
    console.log(`  main-thread stalls over 100 ms: ${stallList || 'none'}`);
    if ((r.lostPackets ?? 0) > 0 && (r.socketDrops ?? 0) === 0) console.log('  lost packets without a drop at the capture socket: look beyond the socket (journal errors, unrouted SSRCs)');
  }
  if (runs.length === 2) {
    console.log(`recorder cost (node CPU difference): ${Math.round((runs[1]!.nodeCpuPct - runs[0]!.nodeCpuPct) * 10) / 10} % of one core`);
  }
}
