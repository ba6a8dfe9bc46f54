import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CaptureThread, isReceiveBufferCapped } from '../../src/capture/capture-socket.js';
import { JournalRecordKind, openJournal, type JournalHeader } from '../../src/capture/journal.js';

function rtp(ssrc: number, seq: number): Buffer {
  const packet = Buffer.alloc(112, seq & 0xff);
  packet[0] = 0x80;
  packet[1] = 96;
  packet.writeUInt16BE(seq, 2);
  packet.writeUInt32BE(seq * 3000, 4);
  packet.writeUInt32BE(ssrc, 8);
  return packet;
}

function senderReport(ssrc: number): Buffer {
  const sr = Buffer.alloc(28);
  sr[0] = 0x80;
  sr[1] = 200;
  sr.writeUInt16BE(6, 2);
  sr.writeUInt32BE(ssrc, 4);
  return sr;
}

const header = (ssrc: number): JournalHeader => ({
  version: 1,
  trackId: `t${ssrc}`,
  peerId: 'p',
  streamId: 's',
  producerId: 'prod',
  kind: 'video',
  mimeType: 'video/VP8',
  clockRate: 90000,
  payloadType: 96,
  ssrc,
  monoToEpochMs: 0,
  createdAt: 0,
});

describe('capture thread', () => {
  const thread = CaptureThread.start({ flushIntervalMs: 20 });
  afterAll(() => thread.close());

  it('journals each SSRC on its own thread, splits compound RTCP, and counts strays', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'capture-'));
    const socket = await thread.openSocket();
    expect(socket.receiveBufferBytes).toBeGreaterThan(200_000);
    const journal = await socket.openJournal(join(dir, 'a.rtpj'), header(1111));
    const sender = createSocket('udp4');
    const send = (packet: Buffer) =>
      new Promise<void>((resolve) => sender.send(packet, socket.address.port, socket.address.ip, () => resolve()));
    for (let seq = 0; seq < 200; seq++) {
      await send(rtp(1111, seq));
      await send(rtp(2222, seq));
    }
    // mediasoup packs several consumers' reports into one compound packet.
    await send(Buffer.concat([senderReport(2222), senderReport(1111)]));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const stats = await socket.stats();
    await journal.close();
    await socket.close();
    sender.close();

    const records = [...openJournal(join(dir, 'a.rtpj')).records()];
    expect(records.filter((r) => r.kind === JournalRecordKind.Rtp).map((r) => r.data.readUInt16BE(2))).toEqual(
      Array.from({ length: 200 }, (_, i) => i),
    );
    const reports = records.filter((r) => r.kind === JournalRecordKind.Rtcp);
    expect(reports.map((r) => r.data.readUInt32BE(4))).toEqual([1111]);
    expect(stats.received).toBe(401);
    expect(stats.unrouted).toBe(201);
    expect(journal.error).toBeUndefined();
  });

  it('refuses to overwrite an existing journal, with the error from the capture thread', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'capture-'));
    const socket = await thread.openSocket();
    const first = await socket.openJournal(join(dir, 'b.rtpj'), header(3333));
    await expect(socket.openJournal(join(dir, 'b.rtpj'), header(4444))).rejects.toThrow(/EEXIST/);
    await first.close();
    await socket.close();
  });

  it.runIf(process.platform === 'linux')('says when the kernel granted a smaller receive buffer than asked for, once per capture thread', async () => {
    const own = CaptureThread.start();
    const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => {
      if ((warning as Error & { code?: string }).code === 'SFU_RECORDER_RECEIVE_BUFFER') warnings.push(warning);
    };
    process.on('warning', onWarning);
    try {
      const small = await own.openSocket({ receiveBufferBytes: 64 * 1024 });
      const capped = await own.openSocket({ receiveBufferBytes: 2 * rmemMax });
      const again = await own.openSocket({ receiveBufferBytes: 2 * rmemMax });
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
      expect(small.receiveBufferCapped).toBe(false);
      expect(capped.receiveBufferRequestedBytes).toBe(2 * rmemMax);
      // Linux reports twice what it allows: the cap, doubled.
      expect(capped.receiveBufferBytes).toBe(2 * rmemMax);
      expect(capped.receiveBufferCapped).toBe(true);
      expect(again.receiveBufferCapped).toBe(true);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.message).toContain(`granted ${Math.round((rmemMax / 1048576) * 10) / 10} MiB`);
      expect(warnings[0]!.message).toContain(`sysctl -w net.core.rmem_max=${2 * rmemMax}`);
      await Promise.all([small.close(), capped.close(), again.close()]);
    } finally {
      process.off('warning', onWarning);
      await own.close();
    }
  });

  it('reports the capture thread\'s longest stall and garbage-collection pause with the socket counters', async () => {
    const socket = await thread.openSocket();
    const stats = await socket.stats();
    await socket.close();
    expect(stats).toEqual({ received: 0, unrouted: 0, longestStallMs: expect.any(Number), longestGcPauseMs: expect.any(Number) });
    expect(stats.longestStallMs).toBeGreaterThanOrEqual(0);
    expect(stats.longestGcPauseMs).toBeGreaterThanOrEqual(0);
  });
});

describe('isReceiveBufferCapped', () => {
  it('expects Linux to report twice the request, other systems the request', () => {
    const request = 8 * 1024 * 1024;
    expect(isReceiveBufferCapped(request, 2 * request, 'linux')).toBe(false);
    expect(isReceiveBufferCapped(request, request, 'linux')).toBe(true); // rmem_max = 4 MiB: half the request
    expect(isReceiveBufferCapped(request, 425_984, 'linux')).toBe(true); // the 208 KiB default
    expect(isReceiveBufferCapped(request, request, 'darwin')).toBe(false);
    expect(isReceiveBufferCapped(request, request / 2, 'darwin')).toBe(true);
  });
});
