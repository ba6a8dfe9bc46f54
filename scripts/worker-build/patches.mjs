// Source fixes applied to the copy of mediasoup's worker that the offline build
// compiles (node_modules is never touched). Each one names the fault it fixes; see
// docs/worker-build.md. A change here that makes cached workers wrong bumps the
// recipe of every line it touches (lines.mjs). Plain Node ESM, builtins only (runs
// from scripts/bootstrap.mjs).
import fs from 'node:fs';
import path from 'node:path';

/**
 * mediasoup's BIO callback on the DTLS write BIO answers 1 for every post-operation
 * call except a bare BIO_CB_RETURN, so for BIO_ctrl(BIO_CTRL_GET_KTLS_SEND) it turns
 * the memory BIO's 0 into 1. With mediasoup's bundled OpenSSL (built without kTLS)
 * the query is compiled out; Debian's OpenSSL is built with kTLS, believes the kernel
 * sends, allocates no record write buffer and writes the first DTLS record through a
 * NULL pointer (SIGSEGV in libssl on the first handshake). A callback must return the
 * operation's result for every BIO_CB_RETURN call.
 */
const PATCHES = [
	{
		file: path.join('src', 'RTC', 'DtlsTransport.cpp'),
		broken: '(operationType == BIO_CB_RETURN) ? static_cast<long>(ret) : 1',
		fixed: '(operationType & BIO_CB_RETURN) ? static_cast<long>(ret) : 1',
		why: 'BIO callback must pass BIO_CB_RETURN results through (DTLS crash with a kTLS-enabled OpenSSL)',
	},
];

/**
 * Applies every patch to the worker tree at `workerDir`. A source that has neither
 * the broken nor the fixed text is a mediasoup version the recipe does not know:
 * that is an error, not something to skip silently.
 * @param {string} workerDir @param {(line: string) => void} logLine
 */
export function applyWorkerPatches(workerDir, logLine) {
	for (const patch of PATCHES) {
		const file = path.join(workerDir, patch.file);
		const source = fs.readFileSync(file, 'utf8');
		if (source.includes(patch.fixed)) {
			logLine(`patch not needed (already fixed upstream): ${patch.file}: ${patch.why}`);
			continue;
		}
		if (!source.includes(patch.broken)) {
			throw new Error(`cannot apply worker patch to ${patch.file} (${patch.why}): neither the known faulty line nor its fix was found; update scripts/worker-build/patches.mjs for this mediasoup version`);
		}
		fs.writeFileSync(file, source.replace(patch.broken, patch.fixed));
		logLine(`patched ${patch.file}: ${patch.why}`);
	}
}
