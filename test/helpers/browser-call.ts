import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { types as ms } from 'mediasoup';
import { SfuRecorder, type RecordingFinalisedInfo, type RecordingStoredEvent } from '../../src/index.js';
import { JournalRecordKind, openJournal } from '../../src/capture/journal.js';
import { listSessionStreams, type FinalisedStream } from '../../src/mux/index.js';
import { sessionPaths } from '../../src/spool/layout.js';
import { BrowserPeer, defaultChromiumPath, SYNTHETIC_ROUTER_CODECS, type BrowserPeerOptions } from '../../src/testing/index.js';
import { decodeErrors, probeFile } from './mux-probe.js';
import { pictureFaults, pictureTimeline, recorderAvOffsetMs } from './browser-measure.js';
import { capturedPresence, sleep, tempDir } from './recorder-fixtures.js';

/** Whether the browser suite can run here; on CI a missing Chromium is a failure, not a skip. */
export function chromiumAvailable(): boolean {
  const available = existsSync(defaultChromiumPath());
  if (!available && process.env.CI) throw new Error(`no Chromium at ${defaultChromiumPath()}: npm run bootstrap installs it`);
  return available;
}

/** One recorded file of a browser call, with what the checks need. */
export interface BrowserRecording {
  info: RecordingFinalisedInfo;
  /** The stored mp4. */
  file: string;
  stream: FinalisedStream;
  sessionDir: string;
}

/** A recorder shared by the browser scenarios: each scenario is a room of its own. */
export class BrowserCallLab {
  readonly worker: ms.Worker;
  readonly recorder: SfuRecorder;
  readonly finalised: RecordingFinalisedInfo[] = [];
  readonly stored: RecordingStoredEvent[] = [];
  readonly errors: Error[] = [];

  private constructor(worker: ms.Worker, recorder: SfuRecorder) {
    this.worker = worker;
    this.recorder = recorder;
    recorder.on('recordingfinalised', (info) => this.finalised.push(info));
    recorder.on('recordingstored', (event) => this.stored.push(event));
    recorder.on('error', (error) => this.errors.push(error));
  }

  static async start(worker: ms.Worker): Promise<BrowserCallLab> {
    const recorder = await SfuRecorder.create({
      spoolDir: tempDir('browser-spool'),
      defaultStorage: { root: tempDir('browser-storage'), baseUrl: 'http://127.0.0.1:9/recordings' },
      gracePeriodMs: 60_000,
      recoverOnStart: false,
      individualOptions: { x264Preset: 'ultrafast' },
    });
    return new BrowserCallLab(worker, recorder);
  }

  /**
   * Runs one call in a fresh room: `scenario` launches peers with `join` and drives
   * them; afterwards the room is stopped, every peer closed, and the room's
   * recordings are returned once stored.
   */
  async record(
    roomId: string,
    scenario: (call: { router: ms.Router; join: (options: Omit<BrowserPeerOptions, 'router'>) => Promise<BrowserPeer> }) => Promise<void>,
    recording: { composite?: boolean } = { composite: false },
  ): Promise<{ recordings: BrowserRecording[]; composite?: string; sessionDir: string }> {
    const router = await this.worker.createRouter({ mediaCodecs: [...SYNTHETIC_ROUTER_CODECS] });
    const room = await this.recorder.enableRoom({ roomId, router, recording });
    const peers: BrowserPeer[] = [];
    let sessionDir = '';
    try {
      await scenario({
        router,
        join: async (options) => {
          const peer = await BrowserPeer.launch({ ...options, router });
          peers.push(peer);
          return peer;
        },
      });
      sessionDir = join(this.recorder.spoolDir, roomId, room.sessionId!);
      await room.stop();
    } finally {
      for (const peer of peers) await peer.close();
    }
    await this.recorder.whenIdle();
    router.close();
    const recordings = this.finalised
      .filter((info) => info.roomId === roomId && info.recordingType === 'individual')
      .map((info) => {
        const stored = this.stored.find((event) => event.metadata.roomId === roomId && event.metadata.streamId === info.streamId);
        if (!stored) throw new Error(`recording of ${info.streamId} in ${roomId} was not stored`);
        const stream = JSON.parse(readFileSync(sessionPaths.streamResult(sessionDir, info.peerId!, info.streamId!), 'utf8')) as FinalisedStream;
        return { info, file: stored.location, stream, sessionDir };
      });
    const composite = this.stored.find((event) => event.metadata.roomId === roomId && event.metadata.recordingType === 'composite')?.location;
    return { recordings, ...(composite ? { composite } : {}), sessionDir };
  }

  async close(): Promise<void> {
    await this.recorder.close();
  }
}

/** What {@link measureRecording} found in one file. */
export interface RecordingFigures {
  durationMs: number;
  presenceMs: number;
  /** The file's first and last media (epoch) against the first and last packet's arrival, ms. */
  startSkewMs: number;
  endSkewMs: number;
  /** From the stream's first video packet to the first non-black frame. */
  firstPictureMs: number;
  /** Black stretches outside the reported gaps, seconds of the file. */
  unexpectedBlack: Array<[number, number]>;
  frozen: Array<[number, number]>;
  decodeErrors: string;
  streams: string[];
}

/** Probes one browser recording the way the bar says: streams, duration, first picture, black and frozen stretches. */
export async function measureRecording(recording: BrowserRecording, fps = 30): Promise<RecordingFigures> {
  const { file, stream, sessionDir, info } = recording;
  const probe = await probeFile(file);
  const presence = capturedPresence(sessionDir, info.streamId!);
  const frames = await pictureTimeline(file, fps);
  const faults = pictureFaults(frames);
  const toFile = (wall: number) => (wall - stream.startedAt) / 1000;
  // Black is expected inside the gaps finalisation reported (camera off, track replaced),
  // give or take a frame at each edge.
  // No picture is owed where no video arrived at all (a reconnect): a held frame is right there.
  const holes = [...(stream.video?.gaps ?? []), ...videoArrivalHoles(sessionDir, info.streamId!)];
  const gaps = holes.map((gap) => [toFile(gap.from) - 0.05, toFile(gap.to) + 0.05] as const);
  const videoStart = (presence.firstVideo! - stream.startedAt) / 1000;
  const unexpectedBlack = faults.black.filter(([from, to]) => !gaps.some(([gFrom, gTo]) => from >= gFrom && to <= gTo) && to > videoStart + 0.3);
  const firstPicture = frames.find((frame) => frame.luma >= 30);
  return {
    durationMs: probe.durationS * 1000,
    presenceMs: presence.to - presence.from,
    startSkewMs: stream.startedAt - presence.from,
    endSkewMs: stream.endedAt - presence.to,
    firstPictureMs: firstPicture ? (firstPicture.t - videoStart) * 1000 : Number.POSITIVE_INFINITY,
    unexpectedBlack,
    frozen: faults.frozen.filter(([from, to]) => !gaps.some(([gFrom, gTo]) => from < gTo && to > gFrom)),
    decodeErrors: await decodeErrors(file),
    streams: probe.streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort(),
  };
}

/** Stretches (epoch ms) longer than `minMs` in which no video packet of the stream reached its journals. */
export function videoArrivalHoles(sessionDir: string, streamId: string, minMs = 250): Array<{ from: number; to: number }> {
  const stream = listSessionStreams(sessionDir).find((s) => s.streamId === streamId);
  const arrivals: number[] = [];
  for (const track of stream?.tracks ?? []) {
    if (track.kind !== 'video') continue;
    const journal = openJournal(track.journal);
    for (const record of journal.records()) {
      if (record.kind === JournalRecordKind.Rtp && record.data[1]! % 128 !== 127) arrivals.push(record.arrivalMono + journal.header.monoToEpochMs);
    }
  }
  arrivals.sort((a, b) => a - b);
  const holes: Array<{ from: number; to: number }> = [];
  for (let i = 1; i < arrivals.length; i++) if (arrivals[i]! - arrivals[i - 1]! > minMs) holes.push({ from: arrivals[i - 1]!, to: arrivals[i]! });
  return holes;
}

/** Video packets of the stream that never reached the recorder (sequence-number holes in its journals). */
export function lostVideoPackets(sessionDir: string, streamId: string): number {
  const stream = listSessionStreams(sessionDir).find((s) => s.streamId === streamId);
  let lost = 0;
  for (const track of stream?.tracks ?? []) {
    if (track.kind !== 'video') continue;
    const seen = new Set<number>();
    for (const record of openJournal(track.journal).records()) {
      if (record.kind === JournalRecordKind.Rtp && record.data[1]! % 128 !== 127) seen.add(record.data.readUInt16BE(2));
    }
    // Sequence numbers here stay far from the 16-bit wrap within a test call.
    const sorted = [...seen].sort((a, b) => a - b);
    for (let i = 1; i < sorted.length; i++) if (sorted[i]! - sorted[i - 1]! < 1000) lost += sorted[i]! - sorted[i - 1]! - 1;
  }
  return lost;
}

export { recorderAvOffsetMs, sleep };
