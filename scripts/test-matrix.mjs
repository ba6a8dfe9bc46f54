#!/usr/bin/env node
// `npm run test:matrix`: the README's test command again on the other tested lines
// (mediasoup × Node), without touching node_modules. For each leg it installs, once,
// into the project cache (${XDG_CACHE_HOME:-~/.cache}/sfu-recorder/):
//   node/<major>/            Node from the npm registry's `node@<major>` package
//   mediasoup/<version>/     `mediasoup@<version>` with --ignore-scripts (no download attempts)
// then makes its worker available (scripts/bootstrap.mjs --mediasoup-dir: mediasoup's
// prebuilt worker, or the cached offline build) and runs `npm test` with that Node first
// in PATH, every `import 'mediasoup'` sent to that mediasoup (scripts/mediasoup-line-hook.mjs)
// and MEDIASOUP_WORKER_BIN set to its worker. Builtins only.
//
// Usage: node scripts/test-matrix.mjs [--node 22,24] [--mediasoup 3.27.1] [-- <command...>]
//   default: every leg of MATRIX; a command after `--` replaces `npm test`
//   (e.g. `-- npx vitest run test/recorder/individual.test.ts`).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { projectCacheDir, workerCachePath, mediasoupPrebuiltWorkerPath } from './worker-build/paths.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The legs beyond the default one (the Node running `npm test` + node_modules' mediasoup).
 * mediasoup is pinned to the exact version tested; the README's matrix says the same.
 */
export const MATRIX = [
	{ mediasoup: '3.27.1', node: '22' },
	{ mediasoup: '3.27.1', node: '24' },
];

const log = (...msg) => console.log('[test:matrix]', ...msg);
const fail = (msg) => {
	console.error(`[test:matrix] ERROR: ${msg}`);
	process.exit(1);
};

function parseArgs(argv) {
	const dash = argv.indexOf('--');
	const command = dash >= 0 ? argv.slice(dash + 1) : ['npm', 'test'];
	const own = dash >= 0 ? argv.slice(0, dash) : argv;
	const pick = (name) => {
		const at = own.indexOf(name);
		return at >= 0 ? own[at + 1]?.split(',').filter(Boolean) : undefined;
	};
	const nodes = pick('--node');
	const versions = pick('--mediasoup');
	const legs = MATRIX.filter((l) => (!nodes || nodes.includes(l.node)) && (!versions || versions.includes(l.mediasoup)));
	if (!legs.length) fail(`no leg of the matrix matches ${own.join(' ')} (legs: ${MATRIX.map((l) => `mediasoup ${l.mediasoup} on Node ${l.node}`).join(', ')})`);
	if (!command.length) fail('nothing to run after --');
	return { legs, command };
}

function run(cmd, args, opts = {}) {
	const res = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
	if (res.error) fail(`${cmd} failed to start: ${res.error.message}`);
	return res.status ?? 1;
}

/** npm install <spec> into <dir> (its own package.json), once; `marker` tells it is done. */
function installOnce(dir, spec, marker, extraArgs, env) {
	if (fs.existsSync(marker)) return;
	log(`installing ${spec} into ${dir}`);
	fs.mkdirSync(dir, { recursive: true });
	if (!fs.existsSync(path.join(dir, 'package.json'))) {
		fs.writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify({ name: 'sfu-recorder-matrix', private: true }, null, 2)}\n`);
	}
	const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
	if (run(npm, ['install', '--no-audit', '--no-fund', '--no-save', ...extraArgs, spec], { cwd: dir, env }) !== 0 || !fs.existsSync(marker)) {
		fail(`npm install ${spec} failed in ${dir}`);
	}
}

function nodeFor(major) {
	const dir = path.join(projectCacheDir(), 'node', major);
	const bin = path.join(dir, 'node_modules', 'node', 'bin', 'node');
	installOnce(dir, `node@${major}`, bin, [], process.env);
	const version = spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout?.trim();
	if (!version?.startsWith(`v${major}.`)) fail(`${bin} is not Node ${major} (${version ?? 'does not run'})`);
	return { bin, version };
}

function mediasoupFor(version, nodeBinDir) {
	const dir = path.join(projectCacheDir(), 'mediasoup', version);
	const pkgDir = path.join(dir, 'node_modules', 'mediasoup');
	// --ignore-scripts: mediasoup's postinstall would download or build a worker; the bootstrap does that.
	installOnce(dir, `mediasoup@${version}`, path.join(pkgDir, 'package.json'), ['--ignore-scripts'], {
		...process.env,
		PATH: `${nodeBinDir}${path.delimiter}${process.env.PATH ?? ''}`,
	});
	const installed = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).version;
	if (installed !== version) fail(`${pkgDir} holds mediasoup ${installed}, not ${version}`);
	return pkgDir;
}

function main() {
	const { legs, command } = parseArgs(process.argv.slice(2));
	const results = [];
	for (const leg of legs) {
		const started = Date.now();
		const node = nodeFor(leg.node);
		const nodeBinDir = path.dirname(node.bin);
		const mediasoupDir = mediasoupFor(leg.mediasoup, nodeBinDir);
		const env = {
			...process.env,
			PATH: `${nodeBinDir}${path.delimiter}${process.env.PATH ?? ''}`,
			SFU_RECORDER_MEDIASOUP_DIR: mediasoupDir,
		};
		// A MEDIASOUP_WORKER_BIN of the caller's is a worker for node_modules' mediasoup, not this one.
		delete env.MEDIASOUP_WORKER_BIN;
		log(`mediasoup ${leg.mediasoup} on Node ${node.version}: worker`);
		if (run(node.bin, [path.join(ROOT, 'scripts', 'bootstrap.mjs'), '--mediasoup-dir', mediasoupDir, '--no-browser'], { cwd: ROOT, env }) !== 0) {
			fail(`no worker for mediasoup ${leg.mediasoup} (see the bootstrap's output above)`);
		}
		const prebuilt = mediasoupPrebuiltWorkerPath(mediasoupDir);
		const workerBin = fs.existsSync(prebuilt) ? prebuilt : workerCachePath(leg.mediasoup);
		const hook = path.join(ROOT, 'scripts', 'mediasoup-line-hook.mjs');
		env.MEDIASOUP_WORKER_BIN = workerBin;
		env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import=${pathToFileURL(hook).href}`.trim();
		log(`mediasoup ${leg.mediasoup} on Node ${node.version}: ${command.join(' ')} (worker ${workerBin})`);
		const status = run(command[0], command.slice(1), { cwd: ROOT, env });
		const seconds = Math.round((Date.now() - started) / 1000);
		results.push({ ...leg, nodeVersion: node.version, status, seconds });
		log(`mediasoup ${leg.mediasoup} on Node ${node.version}: ${status === 0 ? 'passed' : `FAILED (exit ${status})`} in ${seconds}s`);
		if (status !== 0) break;
	}
	for (const r of results) log(`${r.status === 0 ? 'ok  ' : 'FAIL'} mediasoup ${r.mediasoup} on Node ${r.nodeVersion} (${r.seconds}s)`);
	process.exitCode = results.every((r) => r.status === 0) && results.length === legs.length ? 0 : 1;
}

main();
