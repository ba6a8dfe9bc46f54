// Smoke test for a mediasoup worker binary (run by scripts/bootstrap.mjs):
//   MEDIASOUP_WORKER_BIN=/path/to/mediasoup-worker node scripts/worker-build/smoke.mjs
// Starts a worker, creates a router with opus + VP8 + H264, a plain RTP
// transport and an SRTP plain transport (exercises the libsrtp compat layer),
// completes a real ICE + DTLS + SRTP exchange between two WebRtcTransports
// (dtls-check.mjs), then prints one "ok ..." line. Exits non-zero on failure.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkDtls } from './dtls-check.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(path.join(root, 'package.json'));

const timer = setTimeout(() => {
	console.error('smoke test timed out');
	process.exit(1);
}, 20_000);

try {
	// The bootstrap names the mediasoup it builds for (--mediasoup-dir: another line than node_modules').
	const mediasoupDir = process.env.SFU_RECORDER_MEDIASOUP_DIR;
	const entry = mediasoupDir ? createRequire(path.join(path.resolve(mediasoupDir), 'package.json')).resolve('.') : require.resolve('mediasoup');
	const mediasoup = await import(entry);
	const { createWorker, version } = mediasoup.default ?? mediasoup;
	const worker = await createWorker({ logLevel: 'warn' });
	worker.on('died', () => undefined); // reported by checkDtls
	try {
		const router = await worker.createRouter({
			mediaCodecs: [
				{ kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
				{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
				{
					kind: 'video',
					mimeType: 'video/H264',
					clockRate: 90000,
					parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 },
				},
			],
		});
		const plain = await router.createPlainTransport({ listenIp: { ip: '127.0.0.1' }, rtcpMux: false, comedia: true });
		const srtp = await router.createPlainTransport({
			listenIp: { ip: '127.0.0.1' },
			enableSrtp: true,
			srtpCryptoSuite: 'AEAD_AES_256_GCM',
		});
		let dtls;
		try {
			dtls = await checkDtls(worker, router);
		} catch (err) {
			throw new Error(`this worker cannot complete a DTLS handshake, so no browser can connect to it: ${err.message}`, { cause: err });
		}
		const codecs = router.rtpCapabilities.codecs
			.map((c) => c.mimeType)
			.filter((m) => !m.endsWith('/rtx'))
			.join(',');
		console.log(
			`ok mediasoup ${version} pid ${worker.pid} codecs ${codecs} plain rtp ${plain.tuple.localPort}/rtcp ${plain.rtcpTuple?.localPort} srtp ${srtp.srtpParameters?.cryptoSuite} ${dtls}`,
		);
	} finally {
		worker.close();
	}
	clearTimeout(timer);
} catch (err) {
	console.error(err instanceof Error ? err.message : err);
	process.exit(1);
}
