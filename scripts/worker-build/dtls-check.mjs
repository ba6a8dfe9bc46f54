// A full ICE + DTLS + SRTP exchange through a mediasoup worker, without a browser:
// two WebRtcTransports of the worker talk to each other through a loopback relay that
// plays the ICE-controlling agent for both (one STUN Binding Request with
// USE-CANDIDATE each), so one transport is the DTLS client and the other the DTLS
// server, exactly as with a browser. RTP sent into a PlainTransport is consumed on one
// side, leaves it as SRTP, and must arrive decrypted at a producer on the other side.
// Creating a WebRtcTransport proves nothing about DTLS; this does.
// Plain Node ESM, builtins only (run by scripts/worker-build/smoke.mjs).
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import zlib from 'node:zlib';

const STUN_MAGIC = 0x2112a442;

function stunAttribute(type, value) {
	const padded = Buffer.alloc(4 + value.length + ((4 - (value.length % 4)) % 4));
	padded.writeUInt16BE(type, 0);
	padded.writeUInt16BE(value.length, 2);
	value.copy(padded, 4);
	return padded;
}

/** An ICE connectivity check (RFC 8445) that nominates the pair, signed with the transport's password. */
export function stunBindingRequest(remoteUfrag, remotePassword) {
	const transactionId = crypto.randomBytes(12);
	const header = (length) => {
		const h = Buffer.alloc(20);
		h.writeUInt16BE(0x0001, 0);
		h.writeUInt16BE(length, 2);
		h.writeUInt32BE(STUN_MAGIC, 4);
		transactionId.copy(h, 8);
		return h;
	};
	const priority = Buffer.alloc(4);
	priority.writeUInt32BE(0x6e001eff);
	let body = Buffer.concat([
		stunAttribute(0x0006, Buffer.from(`${remoteUfrag}:check`)), // USERNAME
		stunAttribute(0x0024, priority), // PRIORITY
		stunAttribute(0x802a, crypto.randomBytes(8)), // ICE-CONTROLLING
		stunAttribute(0x0025, Buffer.alloc(0)), // USE-CANDIDATE
	]);
	const integrity = crypto.createHmac('sha1', remotePassword).update(Buffer.concat([header(body.length + 24), body])).digest();
	body = Buffer.concat([body, stunAttribute(0x0008, integrity)]); // MESSAGE-INTEGRITY
	const fingerprint = Buffer.alloc(4);
	fingerprint.writeUInt32BE((zlib.crc32(Buffer.concat([header(body.length + 8), body])) ^ 0x5354554e) >>> 0);
	body = Buffer.concat([body, stunAttribute(0x8028, fingerprint)]); // FINGERPRINT
	return Buffer.concat([header(body.length), body]);
}

const isStun = (packet) => packet.length >= 20 && packet[0] < 2 && packet.readUInt32BE(4) === STUN_MAGIC;

function opusRtp(seq, timestamp, ssrc) {
	const packet = Buffer.alloc(12 + 3);
	packet[0] = 0x80;
	packet[1] = 100;
	packet.writeUInt16BE(seq & 0xffff, 2);
	packet.writeUInt32BE(timestamp >>> 0, 4);
	packet.writeUInt32BE(ssrc, 8);
	packet.set([0xf8, 0xff, 0xfe], 12); // an Opus DTX frame
	return packet;
}

function sha256(transport) {
	return transport.dtlsParameters.fingerprints.find((f) => f.algorithm === 'sha-256');
}

/**
 * Runs the exchange on `router` (which must have Opus with payload type 100 free).
 * Resolves a one-line summary; rejects with what failed (the DTLS state, or no SRTP).
 */
export async function checkDtls(worker, router, timeoutMs = 10_000) {
	const listenInfos = [{ protocol: 'udp', ip: '127.0.0.1' }];
	const client = await router.createWebRtcTransport({ listenInfos, enableTcp: false });
	const server = await router.createWebRtcTransport({ listenInfos, enableTcp: false });
	const plain = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: false, comedia: true });
	const sockets = [];
	let died;
	const onDied = (error) => (died = error);
	worker.on('died', onDied);
	try {
		// `role` is the remote's: the client transport talks to a DTLS server and vice versa.
		await client.connect({ dtlsParameters: { role: 'server', fingerprints: [sha256(server)] } });
		await server.connect({ dtlsParameters: { role: 'client', fingerprints: [sha256(client)] } });
		const connected = (transport) =>
			new Promise((resolve, reject) => {
				transport.on('dtlsstatechange', (state) => {
					if (state === 'connected') resolve();
					if (state === 'failed' || state === 'closed') reject(new Error(`DTLS ${state}`));
				});
			});
		const handshakes = Promise.all([connected(client), connected(server)]);

		// The relay: one socket faces each transport and forwards everything but STUN to the other.
		const bind = () =>
			new Promise((resolve) => {
				const socket = dgram.createSocket('udp4');
				socket.on('error', () => undefined);
				sockets.push(socket);
				socket.bind(0, '127.0.0.1', () => resolve(socket));
			});
		const toClient = await bind();
		const toServer = await bind();
		const address = (transport) => ({ port: transport.iceCandidates[0].port, ip: transport.iceCandidates[0].address ?? transport.iceCandidates[0].ip });
		const relay = (from, to, target) =>
			from.on('message', (packet) => {
				if (!isStun(packet)) to.send(packet, target.port, target.ip);
			});
		relay(toClient, toServer, address(server));
		relay(toServer, toClient, address(client));
		for (const [socket, transport] of [
			[toClient, client],
			[toServer, server],
		]) {
			socket.send(stunBindingRequest(transport.iceParameters.usernameFragment, transport.iceParameters.password), address(transport).port, address(transport).ip);
		}

		let timer;
		const timeout = new Promise((_, reject) => {
			timer = setTimeout(() => reject(new Error(`DTLS not connected after ${timeoutMs} ms (client ${client.dtlsState}, server ${server.dtlsState})`)), timeoutMs);
		});
		try {
			await Promise.race([handshakes, timeout]);
		} catch (error) {
			throw died ? new Error(`the worker died during the DTLS handshake (${died.message})`) : error;
		} finally {
			clearTimeout(timer);
		}

		// SRTP: RTP into the plain transport, consumed on the server transport, produced on the client one.
		const codec = router.rtpCapabilities.codecs.find((c) => c.mimeType.toLowerCase() === 'audio/opus');
		const source = await plain.produce({
			kind: 'audio',
			rtpParameters: { codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 }], encodings: [{ ssrc: 1111 }] },
		});
		const consumer = await server.consume({ producerId: source.id, rtpCapabilities: router.rtpCapabilities });
		const sink = await client.produce({
			kind: 'audio',
			rtpParameters: {
				codecs: [{ mimeType: codec.mimeType, payloadType: consumer.rtpParameters.codecs[0].payloadType, clockRate: 48000, channels: 2 }],
				encodings: [{ ssrc: consumer.rtpParameters.encodings[0].ssrc }],
			},
		});
		const sender = await bind();
		for (let i = 0; i < 50; i++) {
			sender.send(opusRtp(i, i * 960, 1111), plain.tuple.localPort, '127.0.0.1');
			await new Promise((resolve) => setTimeout(resolve, 20));
		}
		const received = (await sink.getStats()).reduce((sum, stat) => sum + (stat.packetCount ?? 0), 0);
		if (received === 0) throw new Error(`DTLS connected but no SRTP arrived (${(await consumer.getStats())[0]?.packetCount ?? 0} packets sent)`);
		return `dtls ${client.dtlsState}/${server.dtlsState} srtp ${received} packets`;
	} finally {
		worker.off('died', onDied);
		for (const socket of sockets) socket.close();
		for (const transport of [client, server, plain]) transport.close();
	}
}
