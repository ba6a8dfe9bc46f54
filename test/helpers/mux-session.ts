import { mkdirSync, mkdtempSync, truncateSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JournalRecordKind, JournalWriter, monotonicMs, type JournalHeader } from '../../src/capture/journal.js';
import { sessionPaths } from '../../src/spool/layout.js';
import type { TimelineEvent } from '../../src/timeline/events.js';
import { TimelineWriter } from '../../src/timeline/timeline-file.js';
import { seededRandom } from '../../src/testing/seeded-random.js';
import type { CapturedRtpStream } from './mux-rtp-source.js';

/** A journal record to write: RTP or RTCP bytes with an arrival time. */
export interface JournalEntry {
  kind: 'rtp' | 'rtcp';
  data: Buffer;
  arrivalMono: number;
}

export { seededRandom };

/** How {@link synthesiseArrivals} turns a capture into what a recorder would have received. */
export interface ArrivalModel {
  /** Monotonic ms at which media time 0 was captured. */
  originMono: number;
  /** Constant network + pipeline delay (default 3 ms). */
  delayMs?: number;
  /** Uniform extra delay 0..jitterMs per frame (default 2 ms). */
  jitterMs?: number;
  /** Extra delay of the frame at this media time (ms since the stream's first RTP timestamp), e.g. a lasting step of the path's delay. */
  extraDelayMs?: (mediaMs: number) => number;
  seed?: number;
  /** Drop packets whose media time (ms since the stream's first RTP timestamp) is in one of these ranges. */
  dropMediaMs?: Array<[number, number]>;
  /** Probability of losing each packet. */
  lossRate?: number;
  /** Probability of a packet arriving after the next few ones. */
  reorderRate?: number;
  /** Probability of a packet arriving twice. */
  duplicateRate?: number;
  /** Emit mediasoup-style sender reports every this many ms (none when undefined). */
  senderReportIntervalMs?: number;
  /** Error added to each sender report's NTP time, by ms since the first packet (a report that maps media late when positive). */
  senderReportErrorMs?: (sinceFirstMs: number) => number;
  /** Add this many ms to every RTP timestamp's media time (shifts the stream in time). */
  shiftMs?: number;
  /** Rewrite sequence numbers to start here (e.g. just below 65536, to cross the wrap-around). */
  sequenceStart?: number;
  /** Rewrite RTP timestamps to start here (e.g. just below 2^32). */
  timestampStart?: number;
}

/**
 * Assigns synthetic arrival times from RTP timestamps (media time + delay + jitter),
 * injects faults, and adds sender reports the way mediasoup writes them: NTP = the
 * worker's monotonic ms, RTP = highest timestamp sent + elapsed time since it was sent.
 */
export function synthesiseArrivals(stream: CapturedRtpStream, model: ArrivalModel): JournalEntry[] {
  const random = seededRandom(model.seed ?? 1);
  const delay = model.delayMs ?? 3;
  const jitter = model.jitterMs ?? 2;
  const firstTs = stream.packets[0]!.data.readUInt32BE(4);
  const entries: JournalEntry[] = [];
  let frameTs: number | undefined;
  let frameJitter = 0;
  let indexInFrame = 0;
  const firstSeq = stream.packets[0]!.data.readUInt16BE(2);
  for (const original of stream.packets) {
    let data = original.data;
    const ts = data.readUInt32BE(4);
    if (model.sequenceStart !== undefined || model.timestampStart !== undefined) {
      data = Buffer.from(data);
      if (model.sequenceStart !== undefined) data.writeUInt16BE((model.sequenceStart + data.readUInt16BE(2) - firstSeq) & 0xffff, 2);
      if (model.timestampStart !== undefined) data.writeUInt32BE((model.timestampStart + ts - firstTs) >>> 0, 4);
    }
    const mediaMs = (((ts - firstTs) >>> 0) * 1000) / stream.clockRate + (model.shiftMs ?? 0);
    if (ts !== frameTs) {
      frameTs = ts;
      frameJitter = random() * jitter + (model.extraDelayMs?.(mediaMs) ?? 0);
      indexInFrame = 0;
    }
    const arrival = model.originMono + mediaMs + delay + frameJitter + indexInFrame++ * 0.05;
    if (model.dropMediaMs?.some(([from, to]) => mediaMs >= from && mediaMs < to)) continue;
    if (model.lossRate && random() < model.lossRate) continue;
    let at = arrival;
    if (model.reorderRate && random() < model.reorderRate) at += 1 + random() * 20;
    entries.push({ kind: 'rtp', data, arrivalMono: at });
    if (model.duplicateRate && random() < model.duplicateRate) entries.push({ kind: 'rtp', data, arrivalMono: at + 5 });
  }
  entries.sort((a, b) => a.arrivalMono - b.arrivalMono);
  if (model.senderReportIntervalMs) addSenderReports(entries, stream, model.senderReportIntervalMs, model.senderReportErrorMs);
  return entries;
}

function addSenderReports(
  entries: JournalEntry[],
  stream: CapturedRtpStream,
  intervalMs: number,
  errorMs: (sinceFirstMs: number) => number = () => 0,
): void {
  const rtp = entries.filter((e) => e.kind === 'rtp');
  if (rtp.length === 0) return;
  const reports: JournalEntry[] = [];
  let maxTs: number | undefined;
  let maxTsMs = 0;
  let index = 0;
  const start = rtp[0]!.arrivalMono;
  const end = rtp[rtp.length - 1]!.arrivalMono;
  for (let now = start + intervalMs / 2; now <= end; now += intervalMs) {
    while (index < rtp.length && rtp[index]!.arrivalMono <= now) {
      const ts = rtp[index]!.data.readUInt32BE(4);
      if (maxTs === undefined || ((ts - maxTs) | 0) > 0) {
        maxTs = ts;
        maxTsMs = rtp[index]!.arrivalMono;
      }
      index++;
    }
    if (maxTs === undefined) continue;
    const rtpTs = (maxTs + Math.floor(((now - maxTsMs) * stream.clockRate) / 1000)) >>> 0;
    reports.push({ kind: 'rtcp', data: senderReport(stream.ssrc, now + errorMs(now - start), rtpTs), arrivalMono: now + 0.1 });
  }
  entries.push(...reports);
  entries.sort((a, b) => a.arrivalMono - b.arrivalMono);
}

/** An RTCP SR as mediasoup writes it: NTP seconds/fraction of monotonic ms, no 1900 epoch. */
export function senderReport(ssrc: number, nowMs: number, rtpTimestamp: number): Buffer {
  const sr = Buffer.alloc(28);
  sr[0] = 0x80;
  sr[1] = 200;
  sr.writeUInt16BE(6, 2);
  sr.writeUInt32BE(ssrc, 4);
  const ms = Math.floor(nowMs);
  sr.writeUInt32BE(Math.floor(ms / 1000), 8);
  sr.writeUInt32BE(Math.floor(((ms % 1000) / 1000) * 0x1_0000_0000), 12);
  sr.writeUInt32BE(rtpTimestamp, 16);
  return sr;
}

/** Writes a journal with {@link JournalWriter}, entries in arrival order. */
export async function writeJournal(path: string, header: JournalHeader, entries: readonly JournalEntry[]): Promise<void> {
  const writer = new JournalWriter(path, header);
  for (const entry of entries) {
    writer.append(entry.kind === 'rtp' ? JournalRecordKind.Rtp : JournalRecordKind.Rtcp, entry.data, entry.arrivalMono);
  }
  await writer.close();
}

/** Cuts the last `bytes` off a file: a record torn by a crash. */
export function tearTail(path: string, bytes: number): void {
  truncateSync(path, statSync(path).size - bytes);
}

/** A track to put in a test session. */
export interface TestTrack {
  trackId: string;
  stream: CapturedRtpStream;
  entries: JournalEntry[];
  /** Epoch ms of track-added (default: first arrival). */
  addedAt?: number;
  removedAt?: number;
  /** Epoch-ms mute intervals. */
  muted?: Array<[number, number]>;
}

/** A test session on disk with one stream. */
export interface TestSession {
  sessionDir: string;
  roomId: string;
  sessionId: string;
  peerId: string;
  streamId: string;
  /** Epoch ms = monotonic ms + this. */
  monoToEpochMs: number;
}

/** Clock offset shared by a test's journals and timeline. */
export function testClock(): { originMono: number; monoToEpochMs: number } {
  const originMono = monotonicMs();
  return { originMono, monoToEpochMs: Date.now() - originMono };
}

/**
 * Writes a session directory: journals for the tracks and a timeline with
 * session-started, stream-started, track-added/removed, mutes, `extraEvents`, and
 * (unless `crashed`) stream-ended and session-ended.
 */
export async function writeTestSession(options: {
  monoToEpochMs: number;
  tracks: TestTrack[];
  extraEvents?: TimelineEvent[];
  crashed?: boolean;
  peerId?: string;
  streamId?: string;
}): Promise<TestSession> {
  const root = mkdtempSync(join(process.env.SFU_TEST_TMP ?? tmpdir(), 'mux-'));
  const roomId = 'room1';
  const sessionId = 'sess1';
  const peerId = options.peerId ?? 'peer1';
  const streamId = options.streamId ?? 'cam1';
  const sessionDir = sessionPaths.dir(root, roomId, sessionId);
  mkdirSync(sessionPaths.tracksDir(sessionDir), { recursive: true });
  const epoch = (mono: number) => mono + options.monoToEpochMs;
  const events: TimelineEvent[] = [];
  const arrivals = options.tracks.flatMap((t) => t.entries.map((e) => e.arrivalMono));
  const now = monotonicMs();
  const first = epoch(arrivals.length > 0 ? Math.min(...arrivals) : now);
  const last = epoch(arrivals.length > 0 ? Math.max(...arrivals) : now);
  events.push({ type: 'session-started', at: first - 50, roomId, sessionId });
  events.push({ type: 'peer-joined', at: first - 40, peerId, displayName: 'Test Peer' });
  events.push({ type: 'stream-started', at: first - 30, peerId, streamId, source: 'camera' });
  for (const track of options.tracks) {
    const journal = sessionPaths.journalRelative(track.trackId);
    const header: JournalHeader = {
      version: 1,
      trackId: track.trackId,
      peerId,
      streamId,
      producerId: `producer-${track.trackId}`,
      kind: track.stream.kind,
      mimeType: track.stream.mimeType,
      clockRate: track.stream.clockRate,
      ...(track.stream.kind === 'audio' ? { channels: 2 } : {}),
      payloadType: track.stream.payloadType,
      ssrc: track.stream.ssrc,
      monoToEpochMs: options.monoToEpochMs,
      createdAt: first,
    };
    await writeJournal(join(sessionDir, journal), header, track.entries);
    const firstArrival = track.entries.length > 0 ? epoch(track.entries[0]!.arrivalMono) : first;
    events.push({
      type: 'track-added',
      at: track.addedAt ?? firstArrival - 20,
      peerId,
      streamId,
      trackId: track.trackId,
      kind: track.stream.kind,
      mimeType: track.stream.mimeType,
      producerId: header.producerId,
      journal,
    });
    for (const [from, to] of track.muted ?? []) {
      events.push({ type: 'track-muted', at: from, trackId: track.trackId });
      events.push({ type: 'track-unmuted', at: to, trackId: track.trackId });
    }
    if (track.removedAt !== undefined) events.push({ type: 'track-removed', at: track.removedAt, trackId: track.trackId });
  }
  events.push(...(options.extraEvents ?? []));
  if (!options.crashed) {
    events.push({ type: 'stream-ended', at: last + 30, peerId, streamId });
    events.push({ type: 'session-ended', at: last + 50, reason: 'stopped' });
  }
  events.sort((a, b) => a.at - b.at);
  const writer = new TimelineWriter(sessionPaths.timeline(sessionDir));
  for (const event of events) writer.append(event);
  writer.close();
  return { sessionDir, roomId, sessionId, peerId, streamId, monoToEpochMs: options.monoToEpochMs };
}

/**
 * Appends `b` to `a` as if the sender had kept going: `b`'s sequence numbers and
 * timestamps continue `a`'s (one frame interval after its last frame). Used for a
 * mid-stream resolution change.
 */
export function spliceStreams(a: CapturedRtpStream, b: CapturedRtpStream, frameTicks = 3000): CapturedRtpStream {
  const lastA = a.packets[a.packets.length - 1]!.data;
  const firstB = b.packets[0]!.data;
  const seqDelta = lastA.readUInt16BE(2) + 1 - firstB.readUInt16BE(2);
  const tsDelta = lastA.readUInt32BE(4) + frameTicks - firstB.readUInt32BE(4);
  const rewritten = b.packets.map(({ data, arrivalMono }) => {
    const copy = Buffer.from(data);
    copy.writeUInt16BE((copy.readUInt16BE(2) + seqDelta) & 0xffff, 2);
    copy.writeUInt32BE((copy.readUInt32BE(4) + tsDelta) >>> 0, 4);
    copy.writeUInt32BE(a.ssrc, 8);
    return { data: copy, arrivalMono };
  });
  return { ...a, packets: [...a.packets, ...rewritten] };
}
