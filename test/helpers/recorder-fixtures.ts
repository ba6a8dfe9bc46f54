import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as mediasoup from 'mediasoup';
import type { types as ms } from 'mediasoup';
import { openJournal, JournalRecordKind } from '../../src/capture/journal.js';
import { listSessionStreams } from '../../src/mux/index.js';
import { SYNTHETIC_ROUTER_CODECS } from '../../src/testing/index.js';

/** A real mediasoup worker and a router with the synthetic peers' codecs. */
export async function startRouter(): Promise<{ worker: ms.Worker; router: ms.Router }> {
  const worker = await mediasoup.createWorker({ logLevel: 'warn' });
  const router = await worker.createRouter({ mediaCodecs: [...SYNTHETIC_ROUTER_CODECS] });
  return { worker, router };
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `${prefix}-`));
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A stream's wall-clock presence measured independently of finalisation, from its
 * journals: from its first media to its last (epoch ms). Each end is the media time of
 * the track's first (last) packet, placed on the wall clock by the least delayed packet of
 * that track's first (last) two seconds: a first or last packet held up on the way (a
 * synthetic peer's encoder starting, a busy host) would otherwise move the presence by
 * its delay, which is no part of the stream.
 */
export function capturedPresence(sessionDir: string, streamId: string): { from: number; to: number; firstVideo?: number } {
  const stream = listSessionStreams(sessionDir).find((s) => s.streamId === streamId);
  if (!stream) throw new Error(`no stream ${streamId} in ${sessionDir}`);
  let from = Infinity;
  let to = -Infinity;
  let firstVideo: number | undefined;
  for (const track of stream.tracks) {
    const journal = openJournal(track.journal);
    const { clockRate, monoToEpochMs } = journal.header;
    // Arrival and media time (ms since the first packet, modulo 2^32 ticks) of every packet.
    const packets: Array<{ at: number; mediaMs: number }> = [];
    let firstTs: number | undefined;
    for (const record of journal.records()) {
      if (record.kind !== JournalRecordKind.Rtp || record.data[1]! % 128 === 127) continue;
      const ts = record.data.readUInt32BE(4);
      firstTs ??= ts;
      packets.push({ at: record.arrivalMono + monoToEpochMs, mediaMs: ((((ts - firstTs) | 0) * 1000) / clockRate) });
    }
    if (packets.length === 0) continue;
    const first = packets[0]!;
    const last = packets[packets.length - 1]!;
    // The least delay among a window's packets, leaving out any whose media time is far off
    // the window's median (a timestamp jump is not a delay).
    const least = (inWindow: (p: { at: number }) => boolean) => {
      const offsets = packets.filter(inWindow).map((p) => p.at - p.mediaMs).sort((x, y) => x - y);
      const median = offsets[Math.floor(offsets.length / 2)]!;
      return Math.min(...offsets.filter((o) => Math.abs(o - median) <= 1000));
    };
    // Two seconds, as the recorder's own lower envelope at a track's ends: a narrower window
    // reads a start-up or wind-down burst of delay as media time.
    const start = least((p) => p.at < first.at + 2000) + first.mediaMs;
    const end = least((p) => p.at > last.at - 2000) + last.mediaMs;
    from = Math.min(from, start);
    to = Math.max(to, end);
    if (journal.header.kind === 'video') firstVideo = Math.min(firstVideo ?? Infinity, start);
  }
  return { from, to, ...(firstVideo !== undefined ? { firstVideo } : {}) };
}

/**
 * Waits until `streamId` has at least `ms` of media in its journals: tests make a fault
 * happen after that much was captured, rather than after a fixed sleep that a busy host
 * (a slow ffmpeg start) makes too short.
 */
export async function untilCaptured(sessionDir: () => string | undefined, streamId: string, ms: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const dir = sessionDir();
    let span = 0;
    if (dir) {
      try {
        const presence = capturedPresence(dir, streamId);
        span = presence.to - presence.from;
      } catch {
        // Not in the timeline yet.
      }
    }
    if (span >= ms) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${ms} ms of ${streamId} to be captured (have ${Math.max(0, span)} ms)`);
    await sleep(50);
  }
}
