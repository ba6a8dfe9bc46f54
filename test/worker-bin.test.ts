import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WORKER_LINES, workerLineOf } from '../scripts/worker-build/lines.mjs';
import * as scriptPaths from '../scripts/worker-build/paths.mjs';
import {
	MEDIASOUP_TESTED_RANGE,
	ensureMediasoupWorkerEnv,
	getInstalledMediasoupVersion,
	mediasoupWorkerCachePath,
	resolveMediasoupWorkerBin,
} from '../src/worker/resolve-worker-bin.js';

describe('mediasoup worker location', () => {
	const saved = { bin: process.env['MEDIASOUP_WORKER_BIN'], xdg: process.env['XDG_CACHE_HOME'] };
	let tmp: string;

	beforeEach(() => {
		tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'worker-bin-'));
		delete process.env['MEDIASOUP_WORKER_BIN'];
		process.env['XDG_CACHE_HOME'] = tmp;
	});
	afterEach(() => {
		for (const [key, value] of [
			['MEDIASOUP_WORKER_BIN', saved.bin],
			['XDG_CACHE_HOME', saved.xdg],
		] as const) {
			if (value === undefined) delete process.env[key];
			else process.env[key] = value;
		}
		fs.rmSync(tmp, { recursive: true, force: true });
	});

	it('uses the same tested range and cache path formula as scripts/bootstrap.mjs', () => {
		expect(MEDIASOUP_TESTED_RANGE).toBe(scriptPaths.MEDIASOUP_TESTED_RANGE);
		for (const opts of [
			{ env: { XDG_CACHE_HOME: '/x/cache' } },
			{ env: {}, homedir: '/home/u' },
			{ env: { XDG_CACHE_HOME: 'relative' }, homedir: '/home/u', platform: 'darwin', arch: 'arm64' },
		]) {
			expect(mediasoupWorkerCachePath('3.19.3', opts)).toBe(scriptPaths.workerCachePath('3.19.3', opts));
		}
		expect(mediasoupWorkerCachePath('3.19.3', { env: {}, homedir: '/home/u', platform: 'linux', arch: 'x64' })).toBe(
			'/home/u/.cache/sfu-recorder/mediasoup-worker/3.19.3-linux-x64/mediasoup-worker',
		);
	});

	it('checks the tested range: the 3.19 and 3.27 lines, nothing between or after', () => {
		expect(scriptPaths.satisfiesRange('3.19.3')).toBe(true);
		expect(scriptPaths.satisfiesRange('3.27.1')).toBe(true);
		for (const untested of ['3.18.9', '3.19.2', '3.20.0', '3.21.0', '3.26.0', '3.27.0', '3.28.0', '4.0.0', 'garbage']) {
			expect(scriptPaths.satisfiesRange(untested), untested).toBe(false);
		}
	});

	it('claims as peer range exactly the lines the offline build knows', () => {
		const pkg = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '..', 'package.json'), 'utf8')) as {
			peerDependencies: Record<string, string>;
		};
		expect(WORKER_LINES.map((l) => l.range).join(' || ')).toBe(MEDIASOUP_TESTED_RANGE);
		expect(pkg.peerDependencies['mediasoup']).toBe(MEDIASOUP_TESTED_RANGE);
		expect(workerLineOf('3.19.3')?.line).toBe('3.19');
		expect(workerLineOf('3.27.1')?.line).toBe('3.27');
		for (const { overlay } of WORKER_LINES) {
			if (overlay) expect(fs.existsSync(path.join(import.meta.dirname, '..', 'scripts', 'worker-build', overlay)), overlay).toBe(true);
		}
	});

	it("loads the mediasoup it reports: node_modules' one, or the one `npm run test:matrix` names", async () => {
		// scripts/mediasoup-line-hook.mjs redirects imports when SFU_RECORDER_MEDIASOUP_DIR is set;
		// a redirect that silently failed would test node_modules' line twice.
		const mediasoup = await import('mediasoup');
		expect(mediasoup.version).toBe(getInstalledMediasoupVersion());
	});

	it('prefers MEDIASOUP_WORKER_BIN and leaves it alone', () => {
		process.env['MEDIASOUP_WORKER_BIN'] = '/custom/mediasoup-worker';
		expect(resolveMediasoupWorkerBin()).toBe('/custom/mediasoup-worker');
		expect(ensureMediasoupWorkerEnv()).toBe('/custom/mediasoup-worker');
		expect(process.env['MEDIASOUP_WORKER_BIN']).toBe('/custom/mediasoup-worker');
	});

	it('finds the cached worker for the installed mediasoup version and exports it', () => {
		const version = getInstalledMediasoupVersion();
		expect(version).toMatch(/^\d+\.\d+\.\d+/);
		// The empty cache in tmp: nothing found (unless mediasoup has its own prebuilt worker).
		const prebuilt = resolveMediasoupWorkerBin();
		if (prebuilt) {
			expect(prebuilt).toMatch(/worker[/\\]out[/\\]Release[/\\]mediasoup-worker$/);
			return;
		}
		expect(ensureMediasoupWorkerEnv()).toBeUndefined();
		expect(process.env['MEDIASOUP_WORKER_BIN']).toBeUndefined();

		const cached = mediasoupWorkerCachePath(version!);
		expect(cached.startsWith(tmp)).toBe(true);
		fs.mkdirSync(path.dirname(cached), { recursive: true });
		fs.writeFileSync(cached, '#!/bin/sh\n', { mode: 0o755 });
		expect(resolveMediasoupWorkerBin()).toBe(cached);
		expect(ensureMediasoupWorkerEnv()).toBe(cached);
		expect(process.env['MEDIASOUP_WORKER_BIN']).toBe(cached);
	});
});
