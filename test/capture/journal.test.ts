import { mkdtempSync, truncateSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JournalRecordKind, JournalWriter, openJournal, type JournalHeader } from '../../src/capture/journal.js';
import { isRtcp, rtpSsrc, splitRtcp } from '../../src/capture/rtp-demux.js';

const header: JournalHeader = {
  version: 1,
  trackId: 't1',
  peerId: 'p1',
  streamId: 's1',
  producerId: 'prod',
  kind: 'audio',
  mimeType: 'audio/opus',
  clockRate: 48000,
  channels: 2,
  payloadType: 100,
  ssrc: 1234,
  monoToEpochMs: 1_700_000_000_000,
  createdAt: 1_700_000_000_000,
};

function rtp(seq: number, size = 100): Buffer {
  const packet = Buffer.alloc(12 + size, seq & 0xff);
  packet[0] = 0x80;
  packet[1] = 100;
  packet.writeUInt16BE(seq, 2);
  packet.writeUInt32BE(seq * 960, 4);
  packet.writeUInt32BE(1234, 8);
  return packet;
}

describe('capture journal', () => {
  it('round-trips packets with their arrival times and kinds', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'journal-')), 't.rtpj');
    const writer = new JournalWriter(path, header);
    for (let i = 0; i < 1000; i++) writer.append(i % 10 === 0 ? JournalRecordKind.Rtcp : JournalRecordKind.Rtp, rtp(i), 1000 + i);
    await writer.close();
    const journal = openJournal(path);
    expect(journal.header).toEqual(header);
    const records = [...journal.records()];
    expect(records).toHaveLength(1000);
    expect(records[999]!.arrivalMono).toBe(1999);
    expect(records[10]!.kind).toBe(JournalRecordKind.Rtcp);
    expect(records[11]!.data.equals(rtp(11))).toBe(true);
  });

  it('opens without blocking (JournalWriter.create), refusing a journal that exists', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'journal-')), 't.rtpj');
    const writer = await JournalWriter.create(path, header);
    for (let i = 0; i < 100; i++) writer.append(JournalRecordKind.Rtp, rtp(i), 500 + i);
    await expect(JournalWriter.create(path, header)).rejects.toThrow(/EEXIST/);
    await writer.close();
    const records = [...openJournal(path).records()];
    expect(records.map((r) => r.data.readUInt16BE(2))).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(records[99]!.arrivalMono).toBe(599);
  });

  it('stops cleanly at a torn last record, as after kill -9', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'journal-')), 't.rtpj');
    const writer = new JournalWriter(path, header);
    for (let i = 0; i < 50; i++) writer.append(JournalRecordKind.Rtp, rtp(i, 500), i);
    await writer.close();
    truncateSync(path, statSync(path).size - 200);
    const records = [...openJournal(path).records()];
    expect(records).toHaveLength(49);
    expect(records[48]!.data.readUInt16BE(2)).toBe(48);
  });

  it('writes within the flush interval, before close (what survives a crash)', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'journal-')), 't.rtpj');
    const writer = new JournalWriter(path, header, { flushIntervalMs: 50 });
    writer.append(JournalRecordKind.Rtp, rtp(1), 1);
    await new Promise((r) => setTimeout(r, 200));
    expect([...openJournal(path).records()]).toHaveLength(1);
    await writer.close();
  });

  it('refuses a file that is not a journal, naming it', () => {
    expect(() => openJournal(new URL(import.meta.url).pathname)).toThrow(/is not a readable capture journal/);
  });
});

describe('rtp demux', () => {
  it('tells RTCP from RTP and splits a compound packet by sender SSRC', () => {
    const sr = (ssrc: number): Buffer => {
      const b = Buffer.alloc(28);
      b[0] = 0x80;
      b[1] = 200;
      b.writeUInt16BE(28 / 4 - 1, 2);
      b.writeUInt32BE(ssrc, 4);
      return b;
    };
    const rr = Buffer.alloc(8);
    rr[0] = 0x80;
    rr[1] = 201;
    rr.writeUInt16BE(1, 2);
    const compound = Buffer.concat([sr(1), rr, sr(2)]);
    expect(isRtcp(compound)).toBe(true);
    expect(isRtcp(rtp(1))).toBe(false);
    expect(rtpSsrc(rtp(1))).toBe(1234);
    expect(splitRtcp(compound).map((p) => p.ssrc)).toEqual([1, 2]);
    expect(splitRtcp(compound.subarray(0, 30)).map((p) => p.ssrc)).toEqual([1]);
  });
});
