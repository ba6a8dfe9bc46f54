import { InvalidConfigError, SfuRecorderError } from '../errors.js';
import type { FinalisedStream, Interval } from '../mux/stream-result.js';
import type { TimelineEvent } from '../timeline/events.js';
import { TimeMap, inIntervals, mergeIntervals } from './time-map.js';
import type {
  AudioSource,
  CompositeLayout,
  CompositeSegment,
  CompositeTile,
  LayoutContext,
  LayoutItem,
  LayoutPlacement,
  Rect,
} from './types.js';

/** What {@link planComposition} needs: the session's timeline and its finalised streams. */
export interface PlanInput {
  events: readonly TimelineEvent[];
  streams: readonly FinalisedStream[];
  layout: CompositeLayout;
  width: number;
  height: number;
  fps: number;
  /** `cut` (default): paused time is left out, as in the individual files; `keep`: it stays. */
  pauses?: 'cut' | 'keep';
  /** Active-speaker changes held for less than this are ignored, so the stage does not flicker. Default 1000. */
  minSpeakerMs?: number;
  /** Longer constant-layout stretches are split, so work spreads over cores. Default 120 000. */
  maxSegmentMs?: number;
}

/** The whole composition: constant-layout segments covering the session, frame-aligned. */
export interface CompositionPlan {
  roomId: string;
  sessionId: string;
  /** Epoch ms of the session start: the `epoch` of the composite's name. */
  sessionStartedAt: number;
  /** Epoch ms of the composite's t = 0: the first media of the session (never before its start). */
  startedAt: number;
  /** Epoch ms of the composite's end: the last media of the session (never after its end). */
  endedAt: number;
  /** Paused intervals left out of the composite (epoch ms). */
  cuts: Interval[];
  width: number;
  height: number;
  fps: number;
  frames: number;
  durationMs: number;
  segments: CompositeSegment[];
}

/**
 * Turns a session timeline and its finalised streams into constant-layout segments.
 * Pure: no I/O, so every layout decision is unit-testable.
 *
 * The layout is re-evaluated at every timeline event (joins, leaves, streams, mutes,
 * active speaker, pauses) and at every video gap edge; boundaries are rounded to the
 * output frame grid, and neighbouring segments with the same tiles and audio are merged.
 */
export function planComposition(input: PlanInput): CompositionPlan {
  const { width, height, fps } = input;
  const events = [...input.events].sort((a, b) => a.at - b.at);
  if (!(fps > 0) || !Number.isFinite(fps)) throw new SfuRecorderError('ERR_INVALID_ARGUMENT', `fps must be a positive number, got ${fps}`);
  if (!(width >= 2 && height >= 2)) throw new SfuRecorderError('ERR_INVALID_ARGUMENT', `size must be at least 2x2, got ${width}x${height}`);
  const started = events.find((e) => e.type === 'session-started');
  const streams = [...input.streams].sort((a, b) => a.startedAt - b.startedAt);
  const sessionStart = started?.at ?? Math.min(...events.map((e) => e.at), ...streams.map((s) => s.startedAt));
  if (!Number.isFinite(sessionStart)) {
    throw new SfuRecorderError('ERR_COMPOSE_EMPTY', 'cannot plan a composition: the timeline is empty and there are no streams');
  }
  const ended = events.find((e) => e.type === 'session-ended');
  const sessionEnd =
    ended?.at ?? Math.max(sessionStart, ...streams.map((s) => s.endedAt), ...events.map((e) => e.at));
  // A session opens before its first media arrives and closes after its last (transport
  // close, grace period, stop): that time would only show an empty canvas.
  const media = mediaSpan(events, streams);
  const start = Math.max(sessionStart, media?.from ?? sessionStart);
  const end = Math.min(sessionEnd, media?.to ?? sessionEnd);
  const cuts = input.pauses === 'keep' ? [] : pausedIntervals(events, end);
  const time = new TimeMap(start, end, cuts);
  const frameMs = 1000 / fps;
  const frames = Math.round(time.durationMs / frameMs);
  const toFrame = (wall: number) => Math.min(frames, Math.max(0, Math.round(time.toOutput(wall) / frameMs)));

  const speakerChanges = debounceSpeakers(events, input.minSpeakerMs ?? 1000);
  const changeEvents = events.filter((e) => e.type !== 'active-speaker');

  // Boundaries: every event, every stream's media span and video gap, every cut edge.
  const boundaries = new Set<number>([0, frames]);
  const hard = new Set<number>([0, frames]);
  for (const e of changeEvents) boundaries.add(toFrame(e.at));
  for (const e of speakerChanges) boundaries.add(toFrame(e.at));
  for (const s of streams) {
    boundaries.add(toFrame(s.startedAt));
    boundaries.add(toFrame(s.endedAt));
    for (const gap of s.video?.gaps ?? []) {
      boundaries.add(toFrame(gap.from));
      boundaries.add(toFrame(gap.to));
    }
  }
  for (const cut of time.cuts) {
    boundaries.add(toFrame(cut.from));
    hard.add(toFrame(cut.from));
  }
  const sorted = [...boundaries].filter((f) => f >= 0 && f <= frames).sort((a, b) => a - b);

  const state = new SessionState(events, streams, speakerChanges);
  const raw: Array<{ startFrame: number; endFrame: number; tiles: CompositeTile[]; audio: AudioSource[]; key: string }> = [];
  for (let i = 0; i + 1 < sorted.length; i++) {
    const startFrame = sorted[i]!;
    const endFrame = sorted[i + 1]!;
    const midWall = time.toWall(((startFrame + endFrame) / 2) * frameMs);
    state.advanceTo(midWall);
    const context = state.layoutContext(width, height, midWall);
    const tiles = toTiles(runLayout(input.layout, context, midWall), width, height);
    const audio = state.audioSources(midWall);
    const key = JSON.stringify([tiles, audio]);
    const last = raw.at(-1);
    if (last && last.key === key && !hard.has(startFrame)) last.endFrame = endFrame;
    else raw.push({ startFrame, endFrame, tiles, audio, key });
  }

  const maxFrames = Math.max(1, Math.round((input.maxSegmentMs ?? 120_000) / frameMs));
  const segments: CompositeSegment[] = [];
  for (const r of raw) {
    const pieces = Math.ceil((r.endFrame - r.startFrame) / maxFrames);
    for (let p = 0; p < pieces; p++) {
      const startFrame = r.startFrame + Math.round(((r.endFrame - r.startFrame) * p) / pieces);
      const endFrame = r.startFrame + Math.round(((r.endFrame - r.startFrame) * (p + 1)) / pieces);
      segments.push({
        index: segments.length,
        from: (startFrame * 1000) / fps,
        to: (endFrame * 1000) / fps,
        startFrame,
        endFrame,
        wallFrom: time.toWall((startFrame * 1000) / fps),
        tiles: r.tiles,
        audioSources: r.audio,
      });
    }
  }

  const sessionId = started?.type === 'session-started' ? started.sessionId : (streams[0]?.sessionId ?? 'unknown');
  const roomId = started?.type === 'session-started' ? started.roomId : (streams[0]?.roomId ?? 'unknown');
  return {
    roomId,
    sessionId,
    sessionStartedAt: sessionStart,
    startedAt: start,
    endedAt: end,
    cuts: [...time.cuts],
    width,
    height,
    fps,
    frames,
    durationMs: (frames * 1000) / fps,
    segments,
  };
}

/**
 * From the first media of any stream to the last, as the composite shows it: a stream
 * counts until its file ends or the timeline ends it, whichever comes first.
 */
function mediaSpan(events: readonly TimelineEvent[], streams: readonly FinalisedStream[]): Interval | undefined {
  const endedInTimeline = new Map<string, number>();
  for (const e of events) if (e.type === 'stream-ended' && !endedInTimeline.has(e.streamId)) endedInTimeline.set(e.streamId, e.at);
  const spans = streams
    .map((s) => ({ from: s.startedAt, to: Math.min(s.endedAt, endedInTimeline.get(s.streamId) ?? s.endedAt) }))
    .filter((span) => span.to > span.from);
  if (spans.length === 0) return undefined;
  return { from: Math.min(...spans.map((s) => s.from)), to: Math.max(...spans.map((s) => s.to)) };
}

/** Paused intervals from `recording-paused` / `recording-resumed` (an open pause runs to the end). */
function pausedIntervals(events: readonly TimelineEvent[], end: number): Interval[] {
  const cuts: Interval[] = [];
  let pausedAt: number | undefined;
  for (const e of events) {
    if (e.type === 'recording-paused' && pausedAt === undefined) pausedAt = e.at;
    else if (e.type === 'recording-resumed' && pausedAt !== undefined) {
      cuts.push({ from: pausedAt, to: e.at });
      pausedAt = undefined;
    }
  }
  if (pausedAt !== undefined) cuts.push({ from: pausedAt, to: end });
  return mergeIntervals(cuts);
}

/** Active-speaker events that held for at least `minMs` (the last one always holds). */
function debounceSpeakers(events: readonly TimelineEvent[], minMs: number): Array<{ at: number; peerId: string }> {
  const changes = events.flatMap((e) => (e.type === 'active-speaker' ? [{ at: e.at, peerId: e.peerId }] : []));
  return changes.filter((c, i) => {
    const next = changes[i + 1];
    return next === undefined || next.at - c.at >= minMs;
  });
}

/**
 * Calls the layout: a custom one is the host's code, so what it throws or returns is checked
 * here rather than surfacing later as a bare TypeError or a broken filtergraph.
 */
function runLayout(layout: CompositeLayout, context: LayoutContext, wall: number): LayoutPlacement[] {
  let placements: unknown;
  try {
    placements = layout(context);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new SfuRecorderError('ERR_COMPOSE_FAILED', `the composite layout threw at ${new Date(wall).toISOString()}: ${message}`, { cause: error });
  }
  const isPlacement = (p: unknown) =>
    typeof p === 'object' && p !== null && typeof (p as LayoutPlacement).item === 'object' && (p as LayoutPlacement).item !== null &&
    typeof (p as LayoutPlacement).rect === 'object' && (p as LayoutPlacement).rect !== null;
  if (!Array.isArray(placements) || !placements.every(isPlacement)) {
    throw new InvalidConfigError('layout', 'the composite layout must return an array of { item, rect } placements');
  }
  return placements as LayoutPlacement[];
}

/** Clamps layout rectangles to the canvas and turns placements into tiles. */
function toTiles(placements: readonly LayoutPlacement[], width: number, height: number): CompositeTile[] {
  const tiles: CompositeTile[] = [];
  for (const { item, rect } of placements) {
    const clamped = clampRect(rect, width, height);
    if (!clamped) continue;
    tiles.push({
      peerId: item.peerId,
      ...(item.streamId !== undefined ? { streamId: item.streamId } : {}),
      source: item.source,
      kind: item.hasVideo && item.streamId !== undefined ? 'video' : 'name',
      label: item.label,
      rect: clamped,
    });
  }
  return tiles;
}

function clampRect(rect: Rect, width: number, height: number): Rect | undefined {
  const evenDown = (v: number) => Math.floor(v / 2) * 2;
  const x = Math.max(0, evenDown(rect.x));
  const y = Math.max(0, evenDown(rect.y));
  const x1 = Math.min(width, evenDown(rect.x + rect.width));
  const y1 = Math.min(height, evenDown(rect.y + rect.height));
  if (!(x1 - x >= 2 && y1 - y >= 2)) return undefined;
  return { x, y, width: x1 - x, height: y1 - y };
}

/**
 * The session's state, replayed forward through the timeline: who is present, which
 * streams are live, which video tracks are muted, who speaks. Only moves forward.
 */
class SessionState {
  readonly #events: readonly TimelineEvent[];
  readonly #streams: readonly FinalisedStream[];
  readonly #speakers: ReadonlyArray<{ at: number; peerId: string }>;
  #next = 0;
  #nextSpeaker = 0;
  #joins = 0;
  /** Present peers -> join order. */
  readonly #peers = new Map<string, number>();
  readonly #names = new Map<string, string>();
  readonly #endedStreams = new Set<string>();
  /** trackId -> streamId for video tracks. */
  readonly #videoTracks = new Map<string, string>();
  /** streamIds whose video track is muted or removed. */
  readonly #videoOff = new Set<string>();
  #speaker: string | undefined;

  constructor(
    events: readonly TimelineEvent[],
    streams: readonly FinalisedStream[],
    speakers: ReadonlyArray<{ at: number; peerId: string }>,
  ) {
    this.#events = events;
    this.#streams = streams;
    this.#speakers = speakers;
    for (const s of streams) if (s.displayName) this.#names.set(s.peerId, s.displayName);
  }

  advanceTo(wall: number): void {
    while (this.#next < this.#events.length && this.#events[this.#next]!.at <= wall) this.#apply(this.#events[this.#next++]!);
    while (this.#nextSpeaker < this.#speakers.length && this.#speakers[this.#nextSpeaker]!.at <= wall) {
      this.#speaker = this.#speakers[this.#nextSpeaker++]!.peerId;
    }
  }

  #apply(e: TimelineEvent): void {
    switch (e.type) {
      case 'peer-joined':
        if (e.displayName) this.#names.set(e.peerId, e.displayName);
        if (!this.#peers.has(e.peerId)) this.#peers.set(e.peerId, this.#joins++);
        break;
      case 'peer-left':
        this.#peers.delete(e.peerId);
        break;
      case 'stream-ended':
        this.#endedStreams.add(e.streamId);
        break;
      case 'track-added':
        if (e.kind === 'video') this.#videoTracks.set(e.trackId, e.streamId);
        break;
      case 'track-muted':
      case 'track-removed': {
        const streamId = this.#videoTracks.get(e.trackId);
        if (streamId !== undefined) this.#videoOff.add(streamId);
        break;
      }
      case 'track-unmuted': {
        const streamId = this.#videoTracks.get(e.trackId);
        if (streamId !== undefined) this.#videoOff.delete(streamId);
        break;
      }
      default:
        break;
    }
  }

  /** Streams whose file covers `wall` and that have not ended in the timeline. */
  #live(wall: number): FinalisedStream[] {
    return this.#streams.filter((s) => wall >= s.startedAt && wall < s.endedAt && !this.#endedStreams.has(s.streamId));
  }

  #hasVideo(s: FinalisedStream, wall: number): boolean {
    return s.video !== undefined && !inIntervals(s.video.gaps, wall) && !this.#videoOff.has(s.streamId);
  }

  #item(peerId: string, s: FinalisedStream | undefined, source: 'camera' | 'screen', wall: number): LayoutItem {
    const name = this.#names.get(peerId) ?? peerId;
    const item: LayoutItem = {
      peerId,
      source,
      hasVideo: s !== undefined && this.#hasVideo(s, wall),
      label: source === 'screen' ? `${name} (screen)` : name,
    };
    if (s) {
      item.streamId = s.streamId;
      if (s.video) {
        item.videoWidth = s.video.width;
        item.videoHeight = s.video.height;
      }
    }
    return item;
  }

  layoutContext(width: number, height: number, wall: number): LayoutContext {
    const live = this.#live(wall);
    // A peer with live media is on stage even if its join was not recorded (torn timeline).
    for (const s of live) if (!this.#peers.has(s.peerId)) this.#peers.set(s.peerId, this.#joins++);
    const peers = [...this.#peers.entries()].sort((a, b) => a[1] - b[1]).map(([id]) => id);
    const cameras = peers.map((peerId) => {
      // The most recently started live camera stream (a reconnect gets a new stream).
      const stream = live.filter((s) => s.peerId === peerId && s.source === 'camera').at(-1);
      return this.#item(peerId, stream, 'camera', wall);
    });
    const screenShares = live
      .filter((s) => s.source === 'screen' && this.#hasVideo(s, wall))
      .reverse()
      .map((s) => this.#item(s.peerId, s, 'screen', wall));
    const context: LayoutContext = { width, height, cameras, screenShares };
    if (this.#speaker !== undefined && this.#peers.has(this.#speaker)) context.activeSpeakerId = this.#speaker;
    return context;
  }

  audioSources(wall: number): AudioSource[] {
    return this.#live(wall)
      .filter((s) => s.audio !== undefined)
      .map((s) => ({ peerId: s.peerId, streamId: s.streamId }));
  }
}
