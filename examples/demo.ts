/**
 * The demo: a short meeting of synthetic peers on a real mediasoup router, recorded
 * with sfu-recorder into the default storage (a local directory with signed URLs).
 *
 *   npm run demo -- [--out DIR] [--duration SECONDS] [--peers N] [--json] [--serve] [--workers N]
 *
 * One peer joins late, one leaves early, one mutes for a while; every peer's video
 * flashes white and its audio beeps at the same instants, once a second, so A/V
 * sync can be checked in any file it produces.
 *
 * With `--workers N` the meeting is finalised through BullMQ: a Redis of its own and N
 * `sfu-recorder worker` processes, and the demo prints which worker did which job.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { RecordingStoredEvent } from '../src/index.js';
import type { SyntheticPeer as SyntheticPeerInstance } from '../src/testing/index.js';
import { ensureMediasoupWorkerEnv } from '../src/worker/resolve-worker-bin.js';
import { startDemoWorkers, startLocalRedis } from './demo-workers.js';

interface DemoArgs {
  out: string;
  durationS: number;
  peers: number;
  json: boolean;
  serve: boolean;
  workers: number;
}

function parseDemoArgs(): DemoArgs {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: 'recordings' },
      duration: { type: 'string', default: '20' },
      peers: { type: 'string', default: '3' },
      json: { type: 'boolean', default: false },
      serve: { type: 'boolean', default: false },
      workers: { type: 'string', default: '0' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log('usage: npm run demo -- [--out DIR] [--duration SECONDS] [--peers N] [--json] [--serve] [--workers N]');
    process.exit(0);
  }
  const durationS = Number(values.duration);
  const peers = Number(values.peers);
  if (!Number.isFinite(durationS) || durationS < 6) fail(`--duration must be a number of seconds >= 6 (got ${values.duration})`);
  if (!Number.isInteger(peers) || peers < 1 || peers > 9) fail(`--peers must be an integer from 1 to 9 (got ${values.peers})`);
  const workers = Number(values.workers);
  if (!Number.isInteger(workers) || workers < 0 || workers > 16) fail(`--workers must be an integer from 0 to 16 (got ${values.workers})`);
  return { out: resolve(values.out), durationS, peers, json: values.json, serve: values.serve, workers };
}

function fail(message: string): never {
  console.error(`demo: ${message}`);
  process.exit(2);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (line: string): void => console.log(`[demo] ${line}`);

async function main(): Promise<void> {
  const args = parseDemoArgs();
  // mediasoup reads MEDIASOUP_WORKER_BIN when it is first imported.
  if (!ensureMediasoupWorkerEnv()) {
    fail('no mediasoup worker found: run `npm run bootstrap` first');
  }
  const mediasoup = await import('mediasoup');
  const { SfuRecorder } = await import('../src/index.js');
  const { SyntheticPeer, SYNTHETIC_ROUTER_CODECS } = await import('../src/testing/index.js');

  const worker = await mediasoup.createWorker({ logLevel: 'warn' });
  const router = await worker.createRouter({ mediaCodecs: [...SYNTHETIC_ROUTER_CODECS] });
  const spoolDir = mkdtempSync(join(tmpdir(), 'sfu-recorder-demo-spool-'));
  // --workers: the same meeting through Redis and worker processes instead of this one.
  const redis = args.workers > 0 ? await startLocalRedis() : undefined;
  const jobWorkers = redis ? startDemoWorkers(args.workers, redis.url, (line) => log(line)) : undefined;
  if (redis) log(`${args.workers} worker processes taking jobs from ${redis.url}`);
  const recorder = await SfuRecorder.create({
    spoolDir,
    defaultStorage: { root: args.out },
    gracePeriodMs: 1000,
    ...(redis ? { jobs: { redis: redis.url } } : {}),
  });
  const server = await recorder.defaultStorage.listen({ port: 0, host: '127.0.0.1' });

  const stored: RecordingStoredEvent[] = [];
  recorder.on('sessionstarted', (s) => log(`session ${s.sessionId} started`));
  recorder.on('streamstarted', (s) => log(`recording ${s.peerId} (${s.source} stream ${s.streamId})`));
  recorder.on('sessionended', (s) => log(`session ended (${s.reason}): finalising ${s.streams.length} streams + composite`));
  recorder.on('recordingfinalised', (r) => log(`finalised ${r.recordingType} ${r.peerId ?? ''} ${(r.durationMs / 1000).toFixed(2)} s`));
  recorder.on('recordingstored', (event) => stored.push(event));
  recorder.on('recordingfailed', (event) => log(`FAILED to store ${event.key}: ${event.error.message}`));
  recorder.on('error', (error, context) => log(`error ${JSON.stringify(context)}: ${error.message}`));
  const jobTable: string[] = [];
  recorder.on('sessionfinalised', (info) => {
    const status = recorder.sessionStatus(info.sessionId);
    for (const job of status?.jobs ?? []) {
      const what = job.kind === 'finalise-stream' ? `${job.peerId}/${job.streamId}` : job.kind === 'render-segment' ? `segment ${job.segment}` : 'all segments';
      const seconds = job.finishedAt && job.startedAt ? `${((job.finishedAt - job.startedAt) / 1000).toFixed(1)} s` : '';
      jobTable.push(`  ${job.kind.padEnd(16)} ${what.padEnd(28)} ${(job.worker ?? '-').padEnd(12)} ${job.state.padEnd(6)} ${seconds}`);
    }
  });

  const room = await recorder.enableRoom({ roomId: 'demo-room', router });
  const codecs = ['VP8', 'H264', 'VP9'] as const;
  const ms = args.durationS * 1000;
  const video = (i: number) => ({ codec: codecs[i % codecs.length]!, width: 640, height: 360, bitrateKbps: 600 });
  const start = Date.now();
  const at = async (fraction: number): Promise<void> => sleep(Math.max(0, start + fraction * ms - Date.now()));

  // Peer 1 is there throughout and mutes its microphone for a while; peer 2 (when
  // there are 2+) joins late; peer 3 leaves early; any others stay throughout.
  const peers = new Map<number, SyntheticPeerInstance>();
  const joinMeeting = async (i: number): Promise<void> => {
    const peerId = `peer-${i + 1}`;
    peers.set(i, await SyntheticPeer.create(router, { peerId, displayName: `Peer ${i + 1}`, video: video(i) }));
    log(`${peerId} joined (${codecs[i % codecs.length]} + Opus)`);
  };
  for (let i = 0; i < args.peers; i++) if (i !== 1) await joinMeeting(i);
  await at(0.15);
  await peers.get(0)!.pause('audio');
  log('peer-1 muted its microphone');
  if (args.peers > 1) {
    await at(0.25);
    await joinMeeting(1);
  }
  await at(0.4);
  await peers.get(0)!.resume('audio');
  log('peer-1 unmuted');
  if (args.peers > 2) {
    await at(0.7);
    peers.get(2)!.close();
    peers.delete(2);
    log('peer-3 left');
  }
  await at(1);
  for (const peer of peers.values()) peer.close();
  log('meeting over');
  await room.stop();
  await recorder.whenIdle();

  const report = {
    room: 'demo-room',
    storageRoot: args.out,
    recordings: stored.map((event) => ({
      type: event.metadata.recordingType,
      peerId: event.metadata.peerId ?? null,
      streamId: event.metadata.streamId ?? null,
      key: event.key,
      file: event.location,
      durationMs: event.metadata.durationMs,
      sizeBytes: event.sizeBytes,
      codecs: event.metadata.codecs,
      url: event.url ?? null,
      urlExpiresAt: event.urlExpiresAt ? new Date(event.urlExpiresAt).toISOString() : null,
    })),
  };
  console.log('');
  console.log(`Jobs (${recorder.jobRunner} runner): kind, what, worker, state, time`);
  for (const line of jobTable) console.log(line);
  console.log('');
  console.log(`Recordings in ${args.out}:`);
  for (const r of report.recordings) {
    console.log(`  ${r.type.padEnd(10)} ${(r.peerId ?? 'all peers').padEnd(9)} ${(r.durationMs / 1000).toFixed(2).padStart(6)} s ${String(Math.round(r.sizeBytes / 1024)).padStart(6)} KiB`);
    console.log(`    key: ${r.key}`);
    console.log(`    url: ${r.url} (expires ${r.urlExpiresAt})`);
  }
  if (args.json) {
    writeFileSync(join(args.out, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
    console.log(`report: ${join(args.out, 'report.json')}`);
  }
  if (report.recordings.length === 0) {
    console.error('demo: no recording was stored');
    process.exitCode = 1;
  }
  if (args.serve) {
    console.log(`serving the signed URLs at ${server.url} until Ctrl-C`);
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  } else {
    console.log('(the URLs are served while the demo runs; pass --serve to keep serving them)');
  }
  await server.close();
  await recorder.close();
  await jobWorkers?.stop();
  await redis?.stop();
  worker.close();
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
