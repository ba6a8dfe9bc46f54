import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { JournalRecordKind, openJournal, type JournalHeader } from '../capture/journal.js';
import { CODECS, codecNamed, findCodec, type CodecName } from '../codecs/registry.js';
import { SfuRecorderError } from '../errors.js';
import { ArrivalAnchorCollector, TrackClock, type ClockAnchor } from './clock.js';
import { createDepacketiser, type AssemblerStats, type EncodedFrame } from './depacketiser.js';
import { SequenceReorderer, type ReorderOptions } from './reorder.js';
import { parseRtp, type RtpPacket } from './rtp.js';

/** mediasoup's probation packets (bandwidth probing) use this payload type. */
export const PROBATION_PAYLOAD_TYPE = 127;

/** The codecs finalisation can read: the codec registry's names. */
export type SourceCodec = CodecName;

/** Maps a journal mime type to a registered codec, or throws naming the codec. */
export function sourceCodecOf(mimeType: string): SourceCodec {
  const codec = findCodec(mimeType);
  if (!codec) {
    throw new SfuRecorderError('ERR_UNSUPPORTED_CODEC', `cannot finalise ${mimeType}: supported codecs are ${CODECS.map((c) => c.name).join(', ')}`);
  }
  return codec.name as SourceCodec;
}

/** What a first pass over a journal found. */
export interface TrackScan {
  path: string;
  header: JournalHeader;
  codec: SourceCodec;
  /** Clock anchors: the lower envelope of the arrival times (see {@link ArrivalAnchorCollector}). */
  anchors: ClockAnchor[];
  /**
   * Where the anchors come from: always the arrivals. mediasoup's sender reports are
   * extrapolated from the last packet its worker received, so each is one arrival sample
   * with whatever delay that packet met; they are not used for the mapping.
   */
  clockSource: 'arrival';
  /** RTP packets of the track's payload type and SSRC. */
  mediaPackets: number;
  firstArrivalMono: number | undefined;
  lastArrivalMono: number | undefined;
}

/**
 * First pass: reads a journal's arrival statistics and clock anchors, so that the
 * second pass can map every packet.
 */
export async function scanTrack(path: string, signal?: AbortSignal): Promise<TrackScan> {
  const journal = openJournal(path);
  const { header } = journal;
  const codec = sourceCodecOf(header.mimeType);
  const arrivals = new ArrivalAnchorCollector(header.clockRate);
  let mediaPackets = 0;
  let firstArrivalMono: number | undefined;
  let lastArrivalMono: number | undefined;
  let count = 0;
  for (const record of journal.records()) {
    if (++count % 20_000 === 0) {
      signal?.throwIfAborted();
      await yieldToEventLoop();
    }
    if (record.kind !== JournalRecordKind.Rtp) continue;
    const packet = parseRtp(record.data);
    if (!packet || !isTrackMedia(packet, header)) continue;
    mediaPackets++;
    firstArrivalMono ??= record.arrivalMono;
    lastArrivalMono = record.arrivalMono;
    arrivals.add(packet.timestamp, record.arrivalMono);
  }
  return {
    path,
    header,
    codec,
    anchors: arrivals.finish(),
    clockSource: 'arrival',
    mediaPackets,
    firstArrivalMono,
    lastArrivalMono,
  };
}

function isTrackMedia(packet: RtpPacket, header: JournalHeader): boolean {
  if (packet.payloadType === PROBATION_PAYLOAD_TYPE || packet.payloadType !== header.payloadType) return false;
  return header.ssrc === 0 || packet.ssrc === header.ssrc;
}

/** A frame placed on the recorder's wall clock. */
export interface TimedFrame extends EncodedFrame {
  /** Epoch ms of the frame's RTP timestamp. */
  wallMs: number;
  /** Epoch ms at which this frame's media ends (Opus: its duration; video: its timestamp). */
  endWallMs: number;
}

/** Per-track counters reported after the second pass. */
export interface TrackReadStats extends AssemblerStats {
  duplicates: number;
  latePackets: number;
  /** Frames whose RTP timestamp had jumped and were placed by arrival time. */
  skewedFrames: number;
  /** Epoch ms of the first and last media (any packet, decodable or not). */
  firstMediaWallMs: number | undefined;
  lastMediaWallMs: number | undefined;
}

/** Options of {@link readTrackFrames}. */
export interface ReadTrackOptions {
  reorder?: ReorderOptions;
  signal?: AbortSignal;
  /** Media at these wall-clock times does not count as presence (recording paused). */
  isExcluded?: (wallMs: number) => boolean;
}

/**
 * Second pass: streams a journal's frames in order, each with its wall-clock time.
 * Packets are reordered, de-duplicated and depacketised; incomplete video frames and
 * everything up to the next keyframe after a loss are dropped. `stats` is filled in
 * as the generator runs.
 */
export async function* readTrackFrames(
  scan: TrackScan,
  stats: TrackReadStats,
  options: ReadTrackOptions = {},
): AsyncGenerator<TimedFrame> {
  const { header } = scan;
  const clock = new TrackClock(header.clockRate, scan.anchors);
  const reorderer = new SequenceReorderer<RtpPacket>(options.reorder);
  const depacketiser = createDepacketiser(codecNamed(scan.codec));
  const epochOffset = header.monoToEpochMs;
  // The latest mapping seen, to date packets that never make it into a frame.
  let lastMapped: { rtpTimestamp: number; mono: number } | undefined;

  const toFrames = (packet: RtpPacket, extendedSeq: number, arrivalMono: number): EncodedFrame[] =>
    depacketiser.push(packet, extendedSeq, arrivalMono);

  function* emit(released: Iterable<{ extendedSeq: number; arrivalMono: number; item: RtpPacket }>): Generator<TimedFrame> {
    for (const { extendedSeq, arrivalMono, item } of released) {
      // Every media packet counts for the stream's presence, decodable or not.
      const mono = clock.toMono(item.timestamp, arrivalMono);
      lastMapped = { rtpTimestamp: item.timestamp, mono };
      const wall = mono + epochOffset;
      if (options.isExcluded?.(wall)) {
        for (const frame of toFrames(item, extendedSeq, arrivalMono)) yield timed(frame, false);
        continue;
      }
      stats.firstMediaWallMs = Math.min(stats.firstMediaWallMs ?? wall, wall);
      stats.lastMediaWallMs = Math.max(stats.lastMediaWallMs ?? wall, wall);
      for (const frame of toFrames(item, extendedSeq, arrivalMono)) yield timed(frame);
    }
  }

  function timed(frame: EncodedFrame, present = true): TimedFrame {
    const mono =
      lastMapped && lastMapped.rtpTimestamp === frame.rtpTimestamp ? lastMapped.mono : clock.toMono(frame.rtpTimestamp, frame.arrivalMono);
    const wallMs = mono + epochOffset;
    const endWallMs = frame.durationSamples !== undefined ? wallMs + frame.durationSamples / 48 : wallMs;
    if (present && frame.durationSamples !== undefined) stats.lastMediaWallMs = Math.max(stats.lastMediaWallMs ?? endWallMs, endWallMs);
    return { ...frame, wallMs, endWallMs };
  }

  let count = 0;
  for (const record of openJournal(scan.path).records()) {
    if (++count % 5_000 === 0) {
      options.signal?.throwIfAborted();
      await yieldToEventLoop();
    }
    if (record.kind !== JournalRecordKind.Rtp) continue;
    const packet = parseRtp(record.data);
    if (!packet || !isTrackMedia(packet, header)) continue;
    // The journal's buffer is reused by the reader: keep a private copy of what is held.
    const owned = { ...packet, payload: Buffer.from(packet.payload) };
    yield* emit(reorderer.push(packet.sequenceNumber, record.arrivalMono, owned));
  }
  yield* emit(reorderer.flush());
  for (const frame of depacketiser.flush()) yield timed(frame);

  stats.duplicates += reorderer.duplicates;
  stats.latePackets += reorderer.late;
  stats.skewedFrames += clock.skewedFrames;
  stats.frames += depacketiser.stats.frames;
  stats.incompleteFrames += depacketiser.stats.incompleteFrames;
  stats.framesAwaitingKeyframe += depacketiser.stats.framesAwaitingKeyframe;
}

/** Fresh counters for {@link readTrackFrames}. */
export function emptyTrackStats(): TrackReadStats {
  return {
    frames: 0,
    incompleteFrames: 0,
    framesAwaitingKeyframe: 0,
    duplicates: 0,
    latePackets: 0,
    skewedFrames: 0,
    firstMediaWallMs: undefined,
    lastMediaWallMs: undefined,
  };
}
