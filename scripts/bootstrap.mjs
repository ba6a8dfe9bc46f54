#!/usr/bin/env node
// sfu-recorder project set-up: system packages, node_modules, mediasoup worker.
//
// Runs before `npm ci`, so it uses Node builtins only. Idempotent and
// non-interactive. mediasoup's postinstall downloads a prebuilt worker from
// GitHub or builds one with meson + subprojects downloaded from the internet;
// neither works offline, so node_modules is installed with --ignore-scripts and
// the worker is built here against Debian's system libraries (meson shims in
// scripts/worker-build/shims, libsrtp3 -> libsrtp2 compat header) and cached
// outside node_modules, keyed by mediasoup version/platform/arch.
//
// Usage: node scripts/bootstrap.mjs [--skip-npm] [--force-npm] [--no-browser]
//                                   [--rebuild] [--keep-build] [--mediasoup-dir DIR]
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
	MEDIASOUP_TESTED_RANGE,
	mediasoupPrebuiltWorkerPath,
	satisfiesRange,
	workerCacheDir,
	workerCachePath,
} from './worker-build/paths.mjs';
import { applyWorkerPatches } from './worker-build/patches.mjs';
import { workerLineOf } from './worker-build/lines.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const SHIMS_DIR = path.join(HERE, 'worker-build', 'shims');

export { MEDIASOUP_TESTED_RANGE };

/** Debian packages needed to build the worker offline. */
export const BUILD_PACKAGES = [
	'build-essential',
	'pkg-config',
	'meson',
	'ninja-build',
	'libuv1-dev',
	'libssl-dev',
	'libsrtp2-dev',
	'libusrsctp-dev',
	'libabsl-dev',
	'flatbuffers-compiler',
	'libflatbuffers-dev',
];
/** Debian packages needed by the browser tests. */
export const BROWSER_PACKAGES = ['chromium'];
/**
 * Debian packages needed by the job-runner tests: a real Redis for BullMQ (the tests start
 * their own redis-server on free ports; a system one the package may start on 6379 is unused)
 * and iproute2 for `ip netns`.
 */
export const JOB_PACKAGES = ['redis-server', 'iproute2'];
/** The command each JOB_PACKAGES entry provides: the package is only wanted when it is missing. */
const JOB_COMMANDS = { 'redis-server': 'redis-server', iproute2: 'ip' };

/** Wraps in mediasoup's worker/subprojects that need no shim (unused on Linux / disabled). */
const WRAPS_WITHOUT_SHIM = new Set(['liburing', 'wingetopt']);

/** Shared-library soname (regex) -> Debian bookworm runtime package, for `ldd` "not found" lines. */
const SONAME_PACKAGES = [
	[/^libuv\.so\.1$/, 'libuv1'],
	[/^libsrtp2\.so\.1$/, 'libsrtp2-1'],
	[/^libusrsctp\.so\.2$/, 'libusrsctp2'],
	[/^lib(ssl|crypto)\.so\.3$/, 'libssl3'],
	[/^libflatbuffers\.so\.2/, 'libflatbuffers2'],
	[/^libabsl_.*\.so\.(\d+)$/, (m) => `libabsl${m[1]}`],
	[/^libstdc\+\+\.so\.6$/, 'libstdc++6'],
	[/^libgcc_s\.so\.1$/, 'libgcc-s1'],
	[/^lib(nss3|nssutil3|smime3|ssl3)\.so$/, 'libnss3'],
	[/^lib(nspr4|plc4|plds4)\.so$/, 'libnspr4'],
];

const argv = process.argv.slice(2);
// --mediasoup-dir DIR: make a worker available for the mediasoup installed at DIR (another
// line than node_modules' one, e.g. for `npm run test:matrix`); node_modules is not touched.
const mediasoupDirArg = argv.indexOf('--mediasoup-dir');
const MEDIASOUP_DIR_OPTION = mediasoupDirArg >= 0 ? argv.splice(mediasoupDirArg, 2)[1] : undefined;
const flags = new Set(argv);
const KNOWN_FLAGS = ['--skip-npm', '--force-npm', '--no-browser', '--with-browser', '--rebuild', '--keep-build', '--help', '-h'];
const MEDIASOUP_DIR = MEDIASOUP_DIR_OPTION ? path.resolve(MEDIASOUP_DIR_OPTION) : path.join(ROOT, 'node_modules', 'mediasoup');

const t0 = Date.now();
const log = (...msg) => console.log('[bootstrap]', ...msg);
const warn = (...msg) => console.warn('[bootstrap] WARNING:', ...msg);
class BootstrapError extends Error {}
const fail = (msg) => {
	throw new BootstrapError(msg);
};
const secs = (ms) => `${(ms / 1000).toFixed(1)}s`;

function usage() {
	console.log(`Usage: node scripts/bootstrap.mjs [options]

Installs missing Debian packages (chromium, redis-server, iproute2, and what an
offline worker build needs), runs \`npm ci --ignore-scripts\` and makes a
mediasoup worker available (env MEDIASOUP_WORKER_BIN, mediasoup's prebuilt
worker, or a worker built offline and cached under
\${XDG_CACHE_HOME:-~/.cache}/sfu-recorder/mediasoup-worker/).

  --skip-npm      do not run npm ci / npm install
  --force-npm     run npm ci even when node_modules matches package-lock.json
  --no-browser    do not install Debian's chromium (the browser tests then skip)
  --rebuild       rebuild the cached worker even if it exists
  --keep-build    keep the temporary build directory after the build
  --mediasoup-dir DIR
                  the worker for the mediasoup package at DIR instead of
                  node_modules/mediasoup (implies --skip-npm)
`);
}

// ---------------------------------------------------------------------------
// helpers

function isExecutableFile(p) {
	try {
		if (!fs.statSync(p).isFile()) return false;
		fs.accessSync(p, fs.constants.X_OK);
		return true;
	} catch {
		return false;
	}
}

function hasCommand(cmd) {
	return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** hasCommand, also looking in the sbin directories a non-root PATH may lack (ip lives in /usr/sbin). */
function hasSystemCommand(cmd) {
	return hasCommand(cmd) || ['/usr/sbin', '/sbin'].some((dir) => isExecutableFile(path.join(dir, cmd)));
}

function run(cmd, args, opts = {}) {
	const res = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
	if (res.error) fail(`${cmd} failed to start: ${res.error.message}`);
	return res.status ?? 1;
}

function readJson(p) {
	return JSON.parse(fs.readFileSync(p, 'utf8'));
}

// ---------------------------------------------------------------------------
// Debian packages

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasDpkg = process.platform === 'linux' && hasCommand('dpkg-query');
let aptUpdated = false;

/** @returns {string[]} the packages of `pkgs` that are not installed */
function missingPackages(pkgs) {
	if (!pkgs.length) return [];
	const res = spawnSync('dpkg-query', ['-W', '-f=${Package}\t${db:Status-Abbrev}\n', ...pkgs], {
		encoding: 'utf8',
	});
	const installed = new Set();
	for (const line of (res.stdout ?? '').split('\n')) {
		const [name, status] = line.split('\t');
		if (name && status?.startsWith('ii')) installed.add(name.split(':')[0]);
	}
	return pkgs.filter((p) => !installed.has(p.split(':')[0]));
}

function ensurePackages(pkgs, why) {
	if (!hasDpkg) {
		if (pkgs.length) warn(`not a Debian system (no dpkg-query); make sure these are installed (${why}): ${pkgs.join(' ')}`);
		return;
	}
	const missing = missingPackages([...new Set(pkgs)]);
	if (!missing.length) return;
	const manual = `sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y ${missing.join(' ')}`;
	let prefix = [];
	if (!isRoot) {
		if (hasCommand('sudo') && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0) {
			prefix = ['sudo', '-n', 'env'];
		} else {
			fail(`missing Debian packages (${why}): ${missing.join(' ')}\n  not root and no passwordless sudo; install them with:\n    ${manual}`);
		}
	}
	if (!hasCommand('apt-get')) fail(`missing Debian packages (${why}): ${missing.join(' ')}, and apt-get is not available.`);
	log(`installing Debian packages (${why}): ${missing.join(' ')}`);
	const aptEnv = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
	const apt = (args) => {
		const [cmd, ...rest] = [...prefix, ...(prefix.length ? ['DEBIAN_FRONTEND=noninteractive'] : []), 'apt-get', ...args];
		return run(cmd, rest, { env: aptEnv });
	};
	if (!aptUpdated) {
		if (apt(['update']) !== 0) fail(`apt-get update failed; install the packages manually:\n    ${manual}`);
		aptUpdated = true;
	}
	if (apt(['install', '-y', ...missing]) !== 0) {
		fail(`apt-get install failed for: ${missing.join(' ')}\n  install them manually:\n    ${manual}`);
	}
	const still = missingPackages(missing);
	if (still.length) fail(`packages still missing after apt-get install: ${still.join(' ')}`);
}

/** JOB_PACKAGES whose command is missing (REDIS_SERVER_BIN, when set, stands in for redis-server). */
function jobPackagesNeeded() {
	return JOB_PACKAGES.filter((pkg) => {
		if (pkg === 'redis-server' && process.env.REDIS_SERVER_BIN) {
			if (!isExecutableFile(process.env.REDIS_SERVER_BIN)) fail(`REDIS_SERVER_BIN=${process.env.REDIS_SERVER_BIN} is not an executable file; fix or unset it`);
			return false;
		}
		return !hasSystemCommand(JOB_COMMANDS[pkg]);
	});
}

/** @returns {string[]} sonames `ldd` reports as "not found" */
function lddMissing(bin) {
	const res = spawnSync('ldd', [bin], { encoding: 'utf8' });
	if (res.error || res.status !== 0) return [];
	return [...res.stdout.matchAll(/^\s*(\S+)\s+=>\s+not found/gm)].map((m) => m[1]);
}

/** @returns {string[]} resolved shared-library paths of `bin` */
function lddPaths(bin) {
	const res = spawnSync('ldd', [bin], { encoding: 'utf8' });
	if (res.error || res.status !== 0) return [];
	return [...res.stdout.matchAll(/=>\s+(\/\S+)\s+\(/g)].map((m) => m[1]);
}

/** Debian packages owning the shared libraries `bin` links to (recorded next to a cached build). */
function runtimePackagesOf(bin) {
	if (!hasDpkg) return [];
	const pkgs = new Set();
	for (const lib of lddPaths(bin)) {
		const candidates = [lib, fs.realpathSync(lib)];
		for (const c of [...candidates]) {
			if (c.startsWith('/usr/')) candidates.push(c.slice(4));
			else candidates.push(`/usr${c}`);
		}
		for (const c of candidates) {
			const res = spawnSync('dpkg-query', ['-S', c], { encoding: 'utf8' });
			const m = res.status === 0 && /^([^:,\s]+)(?::[^:\s]+)?(?:,[^:]*)?:\s/.exec(res.stdout);
			if (m) {
				pkgs.add(m[1]);
				break;
			}
		}
	}
	return [...pkgs].sort();
}

/** Makes sure the shared libraries a worker binary needs are present. */
function ensureRuntimeLibs(bin, recordedPackagesFile) {
	if (process.platform !== 'linux' || !hasCommand('ldd')) return;
	if (recordedPackagesFile && fs.existsSync(recordedPackagesFile)) {
		const recorded = fs.readFileSync(recordedPackagesFile, 'utf8').split('\n').map((s) => s.trim()).filter(Boolean);
		ensurePackages(recorded, 'worker runtime libraries');
	}
	let missing = lddMissing(bin);
	if (!missing.length) return;
	const pkgs = new Set();
	const unknown = [];
	for (const soname of missing) {
		const hit = SONAME_PACKAGES.map(([re, pkg]) => [re.exec(soname), pkg]).find(([m]) => m);
		if (hit) pkgs.add(typeof hit[1] === 'function' ? hit[1](hit[0]) : hit[1]);
		else unknown.push(soname);
	}
	if (unknown.length) {
		fail(`the worker ${bin} needs shared libraries that are missing: ${missing.join(' ')}\n  (no known Debian package for: ${unknown.join(' ')}); install them or rerun with --rebuild`);
	}
	ensurePackages([...pkgs], 'worker runtime libraries');
	missing = lddMissing(bin);
	if (missing.length) fail(`worker ${bin} still misses shared libraries: ${missing.join(' ')}`);
}

// ---------------------------------------------------------------------------
// npm

/** true when node_modules/.package-lock.json (npm's record of what is installed) matches package-lock.json */
function nodeModulesUpToDate() {
	const lockPath = path.join(ROOT, 'package-lock.json');
	const hiddenPath = path.join(ROOT, 'node_modules', '.package-lock.json');
	if (!fs.existsSync(lockPath) || !fs.existsSync(hiddenPath)) return false;
	try {
		const lock = readJson(lockPath).packages ?? {};
		const hidden = readJson(hiddenPath).packages ?? {};
		for (const [key, entry] of Object.entries(lock)) {
			if (!key.startsWith('node_modules/')) continue;
			const have = hidden[key];
			if (!have) {
				if (entry.optional || entry.devOptional || entry.peer) continue; // e.g. other-platform binaries
				return false;
			}
			if (have.version !== entry.version || !fs.existsSync(path.join(ROOT, key))) return false;
		}
		return true;
	} catch {
		return false;
	}
}

function npmInstall() {
	const hasLock = fs.existsSync(path.join(ROOT, 'package-lock.json'));
	if (hasLock && !flags.has('--force-npm') && nodeModulesUpToDate()) {
		log('node_modules matches package-lock.json, skipping npm ci (--force-npm to run it anyway)');
		return;
	}
	const args = [hasLock ? 'ci' : 'install', '--ignore-scripts', '--no-audit', '--no-fund'];
	log(`npm ${args.join(' ')}`);
	const t = Date.now();
	const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
	if (run(npm, args, { cwd: ROOT }) !== 0) {
		if (!hasLock) fail('npm install failed');
		// npm 11 can refuse its own lock file ("Missing: @rollup/rollup-<platform> from lock
		// file": optional packages of other platforms left out). `npm install` still installs
		// the locked versions and only adds what is missing.
		log('npm ci refused the lock file; installing the locked versions with npm install');
		const fallback = ['install', '--ignore-scripts', '--no-audit', '--no-fund'];
		if (run(npm, fallback, { cwd: ROOT }) !== 0) fail('npm install failed');
	}
	log(`npm ${args[0]} done in ${secs(Date.now() - t)}`);
}

/** --ignore-scripts skips the ffmpeg/ffprobe installers' `chmod u+x` postinstall; do it here. */
function fixFfmpegBinaries() {
	const target = `${process.platform}-${process.arch}`;
	const exe = process.platform === 'win32' ? '.exe' : '';
	for (const [scope, name] of [
		['@ffmpeg-installer', 'ffmpeg'],
		['@ffprobe-installer', 'ffprobe'],
	]) {
		const candidates = [
			path.join(ROOT, 'node_modules', scope, target, name + exe),
			path.join(ROOT, 'node_modules', scope, name, 'node_modules', scope, target, name + exe),
		];
		for (const bin of candidates) {
			if (!fs.existsSync(bin) || process.platform === 'win32') continue;
			const mode = fs.statSync(bin).mode;
			if ((mode & 0o100) === 0) {
				fs.chmodSync(bin, mode | 0o100);
				log(`chmod u+x ${path.relative(ROOT, bin)}`);
			}
		}
	}
}

// ---------------------------------------------------------------------------
// worker build

function mesonVersion() {
	const res = spawnSync('meson', ['--version'], { encoding: 'utf8' });
	return res.status === 0 ? res.stdout.trim() : undefined;
}

function versionLess(a, b) {
	const pa = a.split('.').map(Number);
	const pb = b.split('.').map(Number);
	for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
		const x = pa[i] ?? 0;
		const y = pb[i] ?? 0;
		if (x !== y) return x < y;
	}
	return false;
}

/** Removes build-<pid>-* directories of bootstraps that are no longer running. */
function cleanStaleBuildDirs(cacheDir) {
	for (const name of fs.readdirSync(cacheDir)) {
		const m = /^build-(\d+)-/.exec(name);
		if (!m) continue;
		const pid = Number(m[1]);
		let alive;
		try {
			process.kill(pid, 0); // throws when no such process
			alive = pid !== process.pid; // our own pid here means a reused pid: stale
		} catch {
			alive = false;
		}
		if (!alive) fs.rmSync(path.join(cacheDir, name), { recursive: true, force: true });
	}
}

/** Writes shims for every subprojects/*.wrap into the copied worker tree (the line's overlay on top). */
function writeShims(workerDir, workerLine, logLine) {
	const subprojects = path.join(workerDir, 'subprojects');
	for (const file of fs.readdirSync(subprojects).filter((f) => f.endsWith('.wrap')).sort()) {
		const wrap = file.slice(0, -'.wrap'.length);
		const dirMatch = /^\s*directory\s*=\s*(.+?)\s*$/m.exec(fs.readFileSync(path.join(subprojects, file), 'utf8'));
		const shimSrc = path.join(SHIMS_DIR, wrap);
		if (!fs.existsSync(shimSrc)) {
			if (!WRAPS_WITHOUT_SHIM.has(wrap)) {
				warn(`no shim for subprojects/${file}; meson would need to download it`);
			}
			continue;
		}
		if (!dirMatch) fail(`subprojects/${file} has no 'directory =' line`);
		const dest = path.join(subprojects, dirMatch[1]);
		fs.rmSync(dest, { recursive: true, force: true });
		fs.cpSync(shimSrc, dest, { recursive: true });
		fs.copyFileSync(path.join(SHIMS_DIR, 'shim.c'), path.join(dest, 'shim.c'));
		logLine(`shim: subprojects/${dirMatch[1]} <- scripts/worker-build/shims/${wrap}`);
		const overlaySrc = workerLine.overlay && path.join(HERE, 'worker-build', workerLine.overlay, wrap);
		if (overlaySrc && fs.existsSync(overlaySrc)) {
			fs.cpSync(overlaySrc, dest, { recursive: true });
			logLine(`shim: subprojects/${dirMatch[1]} <- scripts/worker-build/${workerLine.overlay}/${wrap} (laid over)`);
		}
	}
}

/** Runs a command, appending its output to the log; resolves to the exit code. */
function runLogged(cmd, args, cwd, logFd, onLine) {
	fs.writeSync(logFd, `\n$ ${cmd} ${args.join(' ')}\n`);
	return new Promise((resolve) => {
		const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
		let pending = '';
		const onData = (chunk) => {
			fs.writeSync(logFd, chunk);
			if (!onLine) return;
			pending += chunk.toString('utf8');
			const lines = pending.split('\n');
			pending = lines.pop() ?? '';
			for (const l of lines) onLine(l);
		};
		child.stdout.on('data', onData);
		child.stderr.on('data', onData);
		child.on('error', (err) => {
			fs.writeSync(logFd, `\n${cmd} failed to start: ${err.message}\n`);
			resolve(127);
		});
		child.on('close', (code, signal) => {
			if (signal) fs.writeSync(logFd, `\n(killed by ${signal})\n`);
			resolve(code ?? 1);
		});
	});
}

function tail(file, n) {
	try {
		return fs.readFileSync(file, 'utf8').split('\n').slice(-n).join('\n');
	} catch {
		return '(no log)';
	}
}

async function buildWorker(version, workerLine) {
	if (process.platform !== 'linux') {
		fail(`no mediasoup worker found and the offline build only supports Linux; set MEDIASOUP_WORKER_BIN or run mediasoup's own postinstall (npm rebuild mediasoup)`);
	}
	const cacheDir = workerCacheDir(version);
	const finalBin = workerCachePath(version);
	fs.mkdirSync(cacheDir, { recursive: true });
	cleanStaleBuildDirs(cacheDir);

	const logPath = path.join(cacheDir, 'build.log');
	const buildRoot = path.join(cacheDir, `build-${process.pid}-${Date.now()}`);
	const workerDir = path.join(buildRoot, 'worker');
	const logFd = fs.openSync(logPath, 'w');
	const logLine = (s) => fs.writeSync(logFd, `${s}\n`);
	const t = Date.now();
	let logClosed = false;
	try {
		log(`building mediasoup-worker ${version} offline (takes a few minutes; log: ${logPath})`);
		logLine(`sfu-recorder bootstrap: offline build of mediasoup-worker ${version} (${new Date().toISOString()})`);

		fs.cpSync(path.join(MEDIASOUP_DIR, 'worker'), workerDir, {
			recursive: true,
			filter: (src) => {
				const rel = path.relative(path.join(MEDIASOUP_DIR, 'worker'), src);
				return rel !== 'out' && rel !== path.join('subprojects', 'packagecache');
			},
		});
		writeShims(workerDir, workerLine, logLine);
		try {
			applyWorkerPatches(workerDir, logLine);
		} catch (err) {
			fail(err.message);
		}

		// Debian bookworm has meson 1.0.1; 3.19's meson.build asks for >= 1.1.0
		// without needing 1.1 features. Relax the requirement to what is installed.
		const mesonBuild = path.join(workerDir, 'meson.build');
		const installedMeson = mesonVersion();
		if (!installedMeson) fail('meson is not installed');
		const src = fs.readFileSync(mesonBuild, 'utf8');
		const req = /meson_version\s*:\s*'>=\s*([\d.]+)'/.exec(src);
		if (req && versionLess(installedMeson, req[1])) {
			fs.writeFileSync(mesonBuild, src.replace(req[0], `meson_version: '>= ${installedMeson}'`));
			logLine(`relaxed meson_version '>= ${req[1]}' to '>= ${installedMeson}'`);
		}

		const options = ['--wrap-mode=nodownload', '--buildtype', 'release', '-Db_ndebug=true'];
		// Debian's liburing 2.3 lacks functions 3.19 uses (it is only a send optimisation).
		if (fs.readFileSync(path.join(workerDir, 'meson_options.txt'), 'utf8').includes('ms_disable_liburing')) {
			options.push('-Dms_disable_liburing=true');
		}
		const builddir = path.join('out', 'Release');

		log('meson setup');
		if ((await runLogged('meson', ['setup', ...options, builddir], workerDir, logFd)) !== 0) fail('meson setup failed');
		log('generating flatbuffers headers');
		if ((await runLogged('meson', ['compile', '-C', builddir, 'flatbuffers-generator'], workerDir, logFd)) !== 0) {
			fail('flatbuffers generation failed');
		}
		log(`compiling (ninja, ${os.availableParallelism?.() ?? os.cpus().length} cores)`);
		let lastReport = Date.now();
		const onLine = (line) => {
			const m = /^\[(\d+)\/(\d+)\]/.exec(line);
			if (m && Date.now() - lastReport > 30_000) {
				lastReport = Date.now();
				log(`  ${m[1]}/${m[2]} (${secs(Date.now() - t)})`);
			}
		};
		if ((await runLogged('ninja', ['-C', builddir, 'mediasoup-worker'], workerDir, logFd, onLine)) !== 0) {
			fail('ninja build failed');
		}

		// Strip into a temp file next to the final path, then rename (atomic).
		const built = path.join(workerDir, builddir, 'mediasoup-worker');
		const tmpBin = `${finalBin}.tmp-${process.pid}`;
		if ((await runLogged('strip', ['-o', tmpBin, built], workerDir, logFd)) !== 0) {
			warn('strip failed, caching the unstripped binary');
			fs.copyFileSync(built, tmpBin);
		}
		fs.chmodSync(tmpBin, 0o755);
		fs.renameSync(tmpBin, finalBin);

		const runtimePkgs = runtimePackagesOf(finalBin);
		fs.writeFileSync(path.join(cacheDir, 'runtime-packages.txt'), runtimePkgs.map((p) => `${p}\n`).join(''));
		fs.writeFileSync(
			path.join(cacheDir, 'build-info.json'),
			`${JSON.stringify(
				{
					mediasoupVersion: version,
					line: workerLine.line,
					recipe: workerLine.recipe,
					builtAt: new Date().toISOString(),
					buildSeconds: Math.round((Date.now() - t) / 1000),
					meson: installedMeson,
					runtimePackages: runtimePkgs,
				},
				null,
				2,
			)}\n`,
		);
		logLine(`\nbuilt ${finalBin} in ${secs(Date.now() - t)}`);
		log(`built and cached ${finalBin} in ${secs(Date.now() - t)} (${(fs.statSync(finalBin).size / 1e6).toFixed(1)} MB)`);
		return finalBin;
	} catch (err) {
		if (err instanceof BootstrapError) {
			logLine(`\nERROR: ${err.message}`);
			fs.closeSync(logFd);
			logClosed = true;
			console.error(`[bootstrap] ---- last 40 lines of ${logPath} ----\n${tail(logPath, 40)}\n[bootstrap] ---- end of log ----`);
			fail(`${err.message}; full log: ${logPath}`);
		}
		throw err;
	} finally {
		if (!logClosed) fs.closeSync(logFd);
		if (flags.has('--keep-build')) log(`build directory kept: ${buildRoot}`);
		else fs.rmSync(buildRoot, { recursive: true, force: true });
	}
}

/** The build recipe a cached worker was made with (undefined: before recipes were recorded). */
function cachedRecipe(version) {
	try {
		return readJson(path.join(workerCacheDir(version), 'build-info.json')).recipe;
	} catch {
		return undefined;
	}
}

/** Starts a real worker through mediasoup (router with opus/VP8/H264 + plain transports). */
function verifyWorker(bin) {
	const res = spawnSync(process.execPath, [path.join(HERE, 'worker-build', 'smoke.mjs')], {
		cwd: ROOT,
		env: { ...process.env, MEDIASOUP_WORKER_BIN: bin, SFU_RECORDER_MEDIASOUP_DIR: MEDIASOUP_DIR },
		encoding: 'utf8',
		timeout: 30_000,
	});
	if (res.status !== 0 || !/^ok /m.test(res.stdout ?? '')) {
		fail(`worker check failed for ${bin}:\n${(res.stderr || res.stdout || res.error?.message || '').trim()}`);
	}
	return res.stdout.trim();
}

// ---------------------------------------------------------------------------

async function main() {
	if (flags.has('--help') || flags.has('-h')) return usage();
	const unknown = argv.filter((a) => !KNOWN_FLAGS.includes(a));
	if (unknown.length) fail(`unknown option(s): ${unknown.join(' ')} (see --help)`);

	// node_modules first: it needs no system packages (--ignore-scripts builds
	// nothing), and the installed mediasoup version decides what else is needed.
	if (MEDIASOUP_DIR_OPTION) log(`--mediasoup-dir ${MEDIASOUP_DIR}: not touching node_modules`);
	else if (flags.has('--skip-npm')) log('--skip-npm: not touching node_modules');
	else npmInstall();
	fixFfmpegBinaries();

	const pkgJson = path.join(MEDIASOUP_DIR, 'package.json');
	if (!fs.existsSync(pkgJson)) fail(`mediasoup is not installed (${pkgJson} missing); run without --skip-npm`);
	const version = readJson(pkgJson).version;
	const workerLine = workerLineOf(version);
	if (!workerLine || !satisfiesRange(version, MEDIASOUP_TESTED_RANGE)) {
		fail(`installed mediasoup ${version} is outside the range the offline worker build was tested with (${MEDIASOUP_TESTED_RANGE}); pin mediasoup to that range or add its line to scripts/worker-build/lines.mjs (shims, srtp3 compat) and MEDIASOUP_TESTED_RANGE`);
	}
	log(`mediasoup ${version} (line ${workerLine.line}, tested range ${MEDIASOUP_TESTED_RANGE})`);

	// The test suite drives real browsers; --with-browser is the default now and kept for old scripts.
	const browserPkgs = flags.has('--no-browser') ? [] : BROWSER_PACKAGES;
	const jobPkgs = jobPackagesNeeded();
	const envBin = process.env.MEDIASOUP_WORKER_BIN;
	const prebuilt = mediasoupPrebuiltWorkerPath(MEDIASOUP_DIR);
	const cached = workerCachePath(version);
	const runtimeList = path.join(workerCacheDir(version), 'runtime-packages.txt');

	let bin;
	let source;
	if (envBin) {
		if (!isExecutableFile(envBin)) fail(`MEDIASOUP_WORKER_BIN=${envBin} is not an executable file; fix or unset it`);
		[bin, source] = [envBin, 'MEDIASOUP_WORKER_BIN'];
	} else if (isExecutableFile(prebuilt)) {
		[bin, source] = [prebuilt, "mediasoup's prebuilt worker"];
	} else if (!flags.has('--rebuild') && isExecutableFile(cached)) {
		const recipe = cachedRecipe(version);
		if (recipe === workerLine.recipe) [bin, source] = [cached, 'cached worker'];
		else log(`cached worker was built by build recipe ${recipe ?? 'unknown'}, line ${workerLine.line} is at recipe ${workerLine.recipe}: rebuilding it`);
	}

	if (bin) {
		ensurePackages([...browserPkgs, ...jobPkgs], 'browser + job-runner tests');
		ensureRuntimeLibs(bin, source === 'cached worker' ? runtimeList : undefined);
		log(`using ${source}: ${bin}`);
	} else {
		ensurePackages([...BUILD_PACKAGES, ...browserPkgs, ...jobPkgs], 'worker build + browser + job-runner tests');
		bin = await buildWorker(version, workerLine);
		source = 'cached worker';
	}

	try {
		log(`worker check: ${verifyWorker(bin)}`);
	} catch (err) {
		if (source === 'cached worker' && err instanceof BootstrapError) {
			fail(`${err.message}\n  the cached worker may be stale; rerun with --rebuild`);
		}
		throw err;
	}
	if (source === 'cached worker') {
		log('tests/app pick the worker up via ensureMediasoupWorkerEnv() (src/worker/resolve-worker-bin.ts), or:');
		log(`  export MEDIASOUP_WORKER_BIN=${bin}`);
	}
	log(`done in ${secs(Date.now() - t0)}`);
}

main().catch((err) => {
	if (err instanceof BootstrapError) {
		console.error(`[bootstrap] ERROR: ${err.message}`);
	} else {
		console.error('[bootstrap] unexpected error:', err);
	}
	process.exitCode = 1;
});
