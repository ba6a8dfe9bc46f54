import type { StreamSource } from '../timeline/events.js';

/** A wall-clock interval, epoch milliseconds, `from` inclusive, `to` exclusive. */
export interface Interval {
  from: number;
  to: number;
}

/**
 * What finalising one peer stream produced: `stream.json` next to the mp4 in the
 * session's `streams/<peerId>/<streamId>/` directory. Composition and storage read
 * this, never the capture journals.
 */
export interface FinalisedStream {
  version: 1;
  roomId: string;
  sessionId: string;
  peerId: string;
  streamId: string;
  source: StreamSource;
  displayName?: string;
  /** Absolute path of the mp4. */
  file: string;
  /** Epoch ms of the file's t = 0 (the stream's first media). */
  startedAt: number;
  /** Epoch ms of the file's end (the stream's last media). */
  endedAt: number;
  durationMs: number;
  sizeBytes: number;
  video?: {
    codec: string;
    sourceCodecs: string[];
    width: number;
    height: number;
    fps: number;
    /** True when the source H.264 was copied, not re-encoded. */
    copied: boolean;
    /**
     * Epoch-ms intervals inside [startedAt, endedAt) where the stream had no video
     * (camera off, not yet started, producer closed); filled with black or the held frame.
     */
    gaps: Interval[];
  };
  audio?: {
    codec: string;
    sourceCodecs: string[];
    sampleRate: number;
    channels: number;
    /** Epoch-ms intervals with no audio (muted, not yet started); filled with silence. */
    gaps: Interval[];
  };
  /** Recording pauses cut out of the file (epoch ms); empty when pauses are kept as black/silence. */
  cuts: Interval[];
  /**
   * Kinds of media the stream's tracks held but the file was made without, and why (the
   * reason names the stream, peer and tracks). Empty when nothing was dropped; absent only
   * in `stream.json` files written before it existed.
   */
  dropped?: Array<{ kind: 'audio' | 'video'; reason: string }>;
}
