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
 * A stream's wall-clock presence measured independently of finalisation: the
 * first and last RTP packet that reached its journals (epoch ms).
 */
export function capturedPresence(sessionDir: string, streamId: string): { from: number; to: number; firstVideo?: number } {
  const stream = listSessionStreams(sessionDir).find((s) => s.streamId === streamId);
  if (!stream) throw new Error(`no stream ${streamId} in ${sessionDir}`);
  let from = Infinity;
  let to = -Infinity;
  let firstVideo: number | undefined;
  for (const track of stream.tracks) {
    const journal = openJournal(track.journal);
    for (const record of journal.records()) {
      if (record.kind !== JournalRecordKind.Rtp || record.data[1]! % 128 === 127) continue;
      const at = record.arrivalMono + journal.header.monoToEpochMs;
      from = Math.min(from, at);
      to = Math.max(to, at);
      if (journal.header.kind === 'video') firstVideo = Math.min(firstVideo ?? Infinity, at);
    }
  }
  return { from, to, ...(firstVideo !== undefined ? { firstVideo } : {}) };
}
