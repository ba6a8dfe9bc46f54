// What a new user does: `npm pack` this project, install the tarball next to mediasoup in
// a fresh project (no --force, no --legacy-peer-deps: the peer range must accept the
// mediasoup line under test), and record a two-peer call into mp4s with the installed
// package. Run by `npm test` on the default line, and by `npm run test:matrix` on
// mediasoup 3.27 with Node 22 and 24.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getInstalledMediasoupVersion, resolveMediasoupWorkerBin } from '../../src/worker/resolve-worker-bin.js';
import { decodeErrors, probeFile } from '../helpers/mux-probe.js';
import { tempDir } from '../helpers/recorder-fixtures.js';

const ROOT = resolve(import.meta.dirname, '..', '..');

/** The scratch project's script: only the installed packages, as a user would write it. */
const RECORD_CALL = `
import { createWorker, version } from 'mediasoup';
import { SfuRecorder } from 'sfu-recorder';
import { SyntheticPeer, SYNTHETIC_ROUTER_CODECS } from 'sfu-recorder/testing';

const [spoolDir, storageRoot] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const worker = await createWorker({ logLevel: 'warn' });
const router = await worker.createRouter({ mediaCodecs: [...SYNTHETIC_ROUTER_CODECS] });
const recorder = await SfuRecorder.create({
  spoolDir,
  defaultStorage: { root: storageRoot, baseUrl: 'http://127.0.0.1:9/recordings' },
  recoverOnStart: false,
  individualOptions: { x264Preset: 'ultrafast' },
});
const stored = [];
const errors = [];
recorder.on('recordingstored', (e) => stored.push({ type: e.metadata.recordingType, location: e.location, durationMs: e.metadata.durationMs }));
recorder.on('error', (error) => errors.push(error.code + ': ' + error.message));
const room = await recorder.enableRoom({ roomId: 'packed', router });
const video = { width: 320, height: 180, fps: 30, bitrateKbps: 300 };
const alice = await SyntheticPeer.create(router, { peerId: 'alice', video: { codec: 'VP8', ...video } });
const bob = await SyntheticPeer.create(router, { peerId: 'bob', video: { codec: 'H264', ...video } });
await sleep(6000);
await room.stop();
alice.close();
bob.close();
await recorder.whenIdle();
await recorder.close();
worker.close();
console.log(JSON.stringify({ mediasoup: version, node: process.version, stored, errors }));
`;

interface CallReport {
  mediasoup: string;
  node: string;
  stored: Array<{ type: string; location: string; durationMs: number }>;
  errors: string[];
}

describe('the packed package in a fresh project', () => {
  const mediasoupVersion = getInstalledMediasoupVersion()!;
  const workerBin = resolveMediasoupWorkerBin()!;
  let project = '';
  let report: CallReport;

  beforeAll(() => {
    expect(mediasoupVersion).toMatch(/^\d+\.\d+\.\d+$/);
    expect(workerBin).toBeTruthy();
    project = tempDir('packed-project');
    const packDir = join(project, 'pack');
    mkdirSync(packDir);
    // prepack builds dist/ first, so the tarball is always today's sources.
    execFileSync('npm', ['pack', '--pack-destination', packDir], { cwd: ROOT, stdio: 'pipe' });
    const tarball = readdirSync(packDir).find((f) => f.endsWith('.tgz'));
    expect(tarball).toBeTruthy();
    const app = join(project, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'packed-app', private: true, type: 'module' }));
    writeFileSync(join(app, 'record-call.mjs'), RECORD_CALL);
    // A normal install (scripts run); MEDIASOUP_WORKER_BIN makes mediasoup's postinstall skip
    // its worker download, which cannot work without GitHub.
    const env: NodeJS.ProcessEnv = { ...process.env, MEDIASOUP_WORKER_BIN: workerBin };
    delete env['NODE_OPTIONS']; // the app loads its own mediasoup, not the matrix's redirect
    execFileSync('npm', ['install', '--no-audit', '--no-fund', join(packDir, tarball!), `mediasoup@${mediasoupVersion}`], { cwd: app, env, stdio: 'pipe' });
    const spoolDir = join(project, 'spool');
    const storageRoot = join(project, 'storage');
    const out = execFileSync(process.execPath, ['record-call.mjs', spoolDir, storageRoot], { cwd: app, env, encoding: 'utf8' });
    report = JSON.parse(out.trim().split('\n').pop()!) as CallReport;
  }, 600_000);

  afterAll(() => {
    if (project) rmSync(project, { recursive: true, force: true });
  });

  it('installs next to the mediasoup under test, which the app then runs', () => {
    expect(report.mediasoup).toBe(mediasoupVersion);
    expect(report.node).toBe(process.version);
    expect(report.errors).toEqual([]);
  });

  it('records each peer into an mp4 with audio and video, and a composite of the call', async () => {
    const individual = report.stored.filter((s) => s.type === 'individual');
    const composite = report.stored.filter((s) => s.type === 'composite');
    expect(individual).toHaveLength(2);
    expect(composite).toHaveLength(1);
    for (const file of [...individual, ...composite]) {
      const probed = await probeFile(file.location);
      expect(probed.streams.map((s) => s.codec_type).sort()).toEqual(['audio', 'video']);
      // 6 s of call; the first keyframe and the session's end trim a little.
      expect(probed.durationS).toBeGreaterThan(4.5);
      expect(probed.durationS).toBeLessThan(7.5);
      expect(await decodeErrors(file.location)).toBe('');
    }
  });
});
