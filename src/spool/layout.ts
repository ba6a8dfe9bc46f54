import { join } from 'node:path';

/**
 * Where a session lives in the spool directory. Every step reads and writes through
 * these functions, so the on-disk layout is defined in exactly one place:
 *
 * ```
 * <spool>/<roomId>/<sessionId>/
 *   session.json                       SessionManifest
 *   timeline.jsonl                     TimelineEvent per line
 *   tracks/<trackId>.rtpj              capture journals
 *   streams/<peerId>/<streamId>/       finalised stream: <streamId>.mp4 + stream.json
 *   composite/                         Rec-<sessionId>-<epoch>.mp4 + composite.json
 * ```
 *
 * Ids are validated with `assertSafeId` before they get here.
 */
export const sessionPaths = {
  dir: (spoolDir: string, roomId: string, sessionId: string) => join(spoolDir, roomId, sessionId),
  manifest: (sessionDir: string) => join(sessionDir, 'session.json'),
  timeline: (sessionDir: string) => join(sessionDir, 'timeline.jsonl'),
  tracksDir: (sessionDir: string) => join(sessionDir, 'tracks'),
  /** Relative to the session dir; this is what `track-added.journal` holds. */
  journalRelative: (trackId: string) => join('tracks', `${trackId}.rtpj`),
  streamDir: (sessionDir: string, peerId: string, streamId: string) => join(sessionDir, 'streams', peerId, streamId),
  streamFile: (sessionDir: string, peerId: string, streamId: string) =>
    join(sessionDir, 'streams', peerId, streamId, `${streamId}.mp4`),
  streamResult: (sessionDir: string, peerId: string, streamId: string) =>
    join(sessionDir, 'streams', peerId, streamId, 'stream.json'),
  compositeDir: (sessionDir: string) => join(sessionDir, 'composite'),
  compositeFileName: (sessionId: string, startedAt: number) => `Rec-${sessionId}-${Math.round(startedAt)}.mp4`,
  compositeResult: (sessionDir: string) => join(sessionDir, 'composite', 'composite.json'),
} as const;

/** `session.json`: written when a session starts, updated when its state changes. */
export interface SessionManifest {
  version: 1;
  roomId: string;
  sessionId: string;
  /** Epoch ms of the session start (the `epoch` of the composite file name). */
  startedAt: number;
  /** `recording` while the call runs; `ended` once the timeline is closed; `finalised` when every output exists. */
  state: 'recording' | 'ended' | 'finalised';
  /** The room options, without credentials. */
  options: Record<string, unknown>;
  /**
   * What finalisation did with each output so far (`individual:<peerId>/<streamId>`,
   * `composite`): a restart finalises and delivers only what is missing, so nothing is
   * stored or announced twice.
   */
  outputs?: Record<string, SessionOutputRecord>;
  /** Finalisation runs that ended with an output failing (not counting a full disk or a shutdown). */
  failedAttempts?: number;
}

/** What finalisation did with one output of a session. */
export interface SessionOutputRecord {
  /**
   * `delivered`: handed to storage (the delivery outbox owns it from there); `skipped`:
   * nothing to store (no media, or individual recording off); `failed`: given up after
   * every attempt failed.
   */
  state: 'delivered' | 'skipped' | 'failed';
  /** The storage key, once delivered. */
  key?: string;
  /** Why it was skipped. */
  reason?: string;
  /** Why it failed. */
  error?: { code: string; message: string };
}

/**
 * The delivery outbox: uploads and webhooks waiting to be done, one JSON file per entry,
 * so a restart resumes them. `.outbox` cannot clash with a session directory unless a
 * room id is literally `.outbox`.
 */
export const outboxPaths = {
  dir: (spoolDir: string) => join(spoolDir, '.outbox'),
  uploads: (spoolDir: string) => join(spoolDir, '.outbox', 'uploads'),
  webhooks: (spoolDir: string) => join(spoolDir, '.outbox', 'webhooks'),
} as const;
