/**
 * Locates the mediasoup worker binary.
 *
 * mediasoup's npm postinstall cannot fetch or build a worker offline, so
 * `npm run bootstrap` (scripts/bootstrap.mjs) builds one against system
 * libraries and caches it outside node_modules. mediasoup reads
 * MEDIASOUP_WORKER_BIN once, when its module is first imported, so call
 * {@link ensureMediasoupWorkerEnv} before anything imports mediasoup.
 *
 * The cache-path formula and tested range mirror scripts/worker-build/paths.mjs
 * (bootstrap.mjs runs before any TypeScript tooling exists);
 * test/worker-bin.test.ts asserts that the two agree.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

/** mediasoup versions the offline worker build was tested with (one range per line, joined by `||`). */
export const MEDIASOUP_TESTED_RANGE = '>=3.19.3 <3.20.0 || >=3.27.1 <3.28.0';

export interface WorkerCacheOptions {
	env?: NodeJS.ProcessEnv;
	platform?: string;
	arch?: string;
	homedir?: string;
}

/** `${XDG_CACHE_HOME:-~/.cache}/sfu-recorder/mediasoup-worker/<version>-<platform>-<arch>/mediasoup-worker` */
export function mediasoupWorkerCachePath(version: string, opts: WorkerCacheOptions = {}): string {
	const env = opts.env ?? process.env;
	const xdg = env['XDG_CACHE_HOME'];
	// XDG spec: a relative or empty XDG_CACHE_HOME is ignored.
	const cacheRoot = xdg && path.isAbsolute(xdg) ? xdg : path.join(opts.homedir ?? os.homedir(), '.cache');
	const key = `${version}-${opts.platform ?? process.platform}-${opts.arch ?? process.arch}`;
	return path.join(cacheRoot, 'sfu-recorder', 'mediasoup-worker', key, 'mediasoup-worker');
}

function isExecutableFile(p: string): boolean {
	try {
		if (!fs.statSync(p).isFile()) return false;
		fs.accessSync(p, fs.constants.X_OK);
		return true;
	} catch {
		return false;
	}
}

/**
 * Directory of the mediasoup package that `import('mediasoup')` would load, if installed.
 * `SFU_RECORDER_MEDIASOUP_DIR` names it when `npm run test:matrix` runs the project
 * against another mediasoup line (scripts/mediasoup-line-hook.mjs redirects the imports).
 */
export function findMediasoupDir(): string | undefined {
	const override = process.env['SFU_RECORDER_MEDIASOUP_DIR'];
	if (override) return path.resolve(override);
	const bases: string[] = [];
	try {
		bases.push(import.meta.url);
	} catch {
		// not an ES module build
	}
	bases.push(path.join(process.cwd(), 'noop.js'));
	for (const base of bases) {
		try {
			// mediasoup's "exports" hides package.json; resolve the entry point
			// (<dir>/node/lib/index.js) instead.
			const entry = createRequire(base).resolve('mediasoup');
			return path.resolve(path.dirname(entry), '..', '..');
		} catch {
			// try the next base
		}
	}
	return undefined;
}

/** Installed mediasoup version, or undefined when mediasoup is not installed. */
export function getInstalledMediasoupVersion(mediasoupDir = findMediasoupDir()): string | undefined {
	if (!mediasoupDir) return undefined;
	try {
		const pkg = JSON.parse(fs.readFileSync(path.join(mediasoupDir, 'package.json'), 'utf8')) as { version?: unknown };
		return typeof pkg.version === 'string' ? pkg.version : undefined;
	} catch {
		return undefined;
	}
}

/**
 * Worker binary mediasoup should use: MEDIASOUP_WORKER_BIN when set (mediasoup
 * honours it unconditionally), else mediasoup's own prebuilt worker, else the
 * bootstrap cache for the installed mediasoup version. undefined if none exists.
 */
export function resolveMediasoupWorkerBin(): string | undefined {
	const fromEnv = process.env['MEDIASOUP_WORKER_BIN'];
	if (fromEnv) return fromEnv;
	const dir = findMediasoupDir();
	if (!dir) return undefined;
	const prebuilt = path.join(dir, 'worker', 'out', 'Release', 'mediasoup-worker');
	if (isExecutableFile(prebuilt)) return prebuilt;
	const version = getInstalledMediasoupVersion(dir);
	if (!version) return undefined;
	const cached = mediasoupWorkerCachePath(version);
	return isExecutableFile(cached) ? cached : undefined;
}

/**
 * Sets MEDIASOUP_WORKER_BIN when it is unset and a worker was found (the
 * bootstrap cache; for mediasoup's own prebuilt worker it is redundant but
 * harmless). Must run before mediasoup is first imported: mediasoup reads the
 * variable at import time. Returns the worker mediasoup will use, if any.
 */
export function ensureMediasoupWorkerEnv(): string | undefined {
	const bin = resolveMediasoupWorkerBin();
	if (bin && !process.env['MEDIASOUP_WORKER_BIN']) process.env['MEDIASOUP_WORKER_BIN'] = bin;
	return bin;
}
