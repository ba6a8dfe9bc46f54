// Shared (plain Node ESM, builtins only) worker-location logic for
// scripts/bootstrap.mjs. src/worker/resolve-worker-bin.ts implements the same
// formula in TypeScript; test/worker-bin.test.ts checks that both agree.
import os from 'node:os';
import path from 'node:path';

/**
 * mediasoup versions the offline worker build (shims + srtp3 compat) was tested with:
 * the union of the ranges of lines.mjs's WORKER_LINES (test/worker-bin.test.ts checks).
 */
export const MEDIASOUP_TESTED_RANGE = '>=3.19.3 <3.20.0 || >=3.27.1 <3.28.0';

/**
 * `${XDG_CACHE_HOME:-~/.cache}/sfu-recorder`: the project's cache (workers, and the Node
 * and mediasoup installs of `npm run test:matrix`), outside any checkout.
 * @param {{ env?: NodeJS.ProcessEnv, homedir?: string }} [opts]
 */
export function projectCacheDir(opts = {}) {
	const env = opts.env ?? process.env;
	const xdg = env.XDG_CACHE_HOME;
	// XDG spec: a relative or empty XDG_CACHE_HOME is ignored.
	const cacheRoot =
		xdg && path.isAbsolute(xdg) ? xdg : path.join(opts.homedir ?? os.homedir(), '.cache');
	return path.join(cacheRoot, 'sfu-recorder');
}

/**
 * `${XDG_CACHE_HOME:-~/.cache}/sfu-recorder/mediasoup-worker/<version>-<platform>-<arch>`
 * @param {string} version installed mediasoup version
 * @param {{ env?: NodeJS.ProcessEnv, platform?: string, arch?: string, homedir?: string }} [opts]
 */
export function workerCacheDir(version, opts = {}) {
	const platform = opts.platform ?? process.platform;
	const arch = opts.arch ?? process.arch;
	return path.join(projectCacheDir(opts), 'mediasoup-worker', `${version}-${platform}-${arch}`);
}

/** @param {string} version @param {Parameters<typeof workerCacheDir>[1]} [opts] */
export function workerCachePath(version, opts) {
	return path.join(workerCacheDir(version, opts), 'mediasoup-worker');
}

/** @param {string} mediasoupDir directory of the installed mediasoup package */
export function mediasoupPrebuiltWorkerPath(mediasoupDir) {
	return path.join(mediasoupDir, 'worker', 'out', 'Release', 'mediasoup-worker');
}

/** @param {string} v */
function parseVersion(v) {
	const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(v.trim());
	return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

/** @param {number[]} a @param {number[]} b */
function compare(a, b) {
	for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
	return 0;
}

/**
 * Minimal range check for ranges of the form '>=X.Y.Z <A.B.C' (space-separated
 * comparators, all must hold), alternatives joined by '||' (one must hold).
 * Prerelease tags are ignored.
 * @param {string} version @param {string} [range]
 */
export function satisfiesRange(version, range = MEDIASOUP_TESTED_RANGE) {
	const v = parseVersion(version);
	if (!v) return false;
	return range.split('||').some((alternative) =>
		alternative
			.trim()
			.split(/\s+/)
			.every((comparator) => {
				const m = /^(>=|<=|>|<|=)?(.+)$/.exec(comparator);
				const bound = m && parseVersion(m[2]);
				if (!m || !bound) throw new Error(`unsupported range comparator: ${comparator}`);
				const c = compare(v, bound);
				switch (m[1] ?? '=') {
					case '>=': return c >= 0;
					case '<=': return c <= 0;
					case '>': return c > 0;
					case '<': return c < 0;
					default: return c === 0;
				}
			}),
	);
}
