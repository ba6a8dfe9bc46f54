// The mediasoup lines the offline worker build knows (plain Node ESM, builtins only).
// A line's workers are cached per exact version (paths.mjs), so workers of several
// lines live side by side; each line has its own build recipe number, so changing
// one line's shims rebuilds only that line's workers. See docs/worker-build.md.
import { satisfiesRange } from './paths.mjs';

/**
 * @typedef {object} WorkerLine
 * @property {string} line      minor line, e.g. '3.27'
 * @property {string} range     versions of the line the build was tested with
 * @property {number} recipe    bump when this line's shims, patches or options change
 *                              in a way that makes its cached workers wrong
 * @property {string} [overlay] directory beside shims/ whose <wrap>/ files are laid
 *                              over shims/<wrap>/ for this line
 */

/** @type {readonly WorkerLine[]} */
export const WORKER_LINES = Object.freeze([
	// recipe 2: the DTLS BIO fix (patches.mjs). Kept as it was: its cached workers stay valid.
	{ line: '3.19', range: '>=3.19.3 <3.20.0', recipe: 2 },
	// libsrtp 3's opaque policy API (shims-3.27/libsrtp3) and the unordered_dense headers.
	{ line: '3.27', range: '>=3.27.1 <3.28.0', recipe: 1, overlay: 'shims-3.27' },
]);

/** @param {string} version @returns {WorkerLine | undefined} */
export function workerLineOf(version) {
	return WORKER_LINES.find((l) => satisfiesRange(version, l.range));
}
