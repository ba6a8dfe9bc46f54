import type { StreamSource } from '../timeline/events.js';

/** A rectangle on the output canvas, in pixels. Built-in layouts keep every edge even (yuv420p). */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * Something a layout can place: a peer's camera (or its name when it has no video) or a
 * screen share.
 */
export interface LayoutItem {
  peerId: string;
  /** The stream shown; absent for a peer that has no live stream (name tile). */
  streamId?: string;
  source: StreamSource;
  /** False when the camera is off, not yet started or muted: the tile shows {@link label}. */
  hasVideo: boolean;
  /** Display name, or the peer id when the peer gave none. */
  label: string;
  /** Source video size, when known; layouts may use it to pick tile shapes. */
  videoWidth?: number;
  videoHeight?: number;
}

/** What a layout is asked to arrange at one moment of the session. */
export interface LayoutContext {
  width: number;
  height: number;
  /** Present peers (camera or name tile), in join order. */
  cameras: LayoutItem[];
  /** Live screen shares with video, most recent first. */
  screenShares: LayoutItem[];
  /** The active speaker when known (mediasoup ActiveSpeakerObserver), if present. */
  activeSpeakerId?: string;
}

/** One item placed on the canvas. Items a layout leaves out are not shown. */
export interface LayoutPlacement {
  item: LayoutItem;
  rect: Rect;
}

/**
 * A layout: a pure function from what is on stage to where each tile goes. Called
 * once per segment (whenever anything it receives may have changed); it must be
 * deterministic, because equal results are merged into one segment.
 */
export type CompositeLayout = (context: LayoutContext) => LayoutPlacement[];

/** The built-in layouts. `grid` and `speaker` switch to `presentation` while a screen is shared. */
export type LayoutName = 'grid' | 'speaker' | 'presentation';

/** One tile of a planned segment. */
export interface CompositeTile {
  peerId: string;
  streamId?: string;
  source: StreamSource;
  /** `video`: the stream's video scaled to fit `rect`; `name`: a solid tile with the label. */
  kind: 'video' | 'name';
  label: string;
  rect: Rect;
}

/** A stream whose audio is mixed into a segment. */
export interface AudioSource {
  peerId: string;
  streamId: string;
}

/**
 * A stretch of the composite where the layout does not change. Times are composite
 * (output) milliseconds, on the frame grid: `from = startFrame * 1000 / fps`.
 */
export interface CompositeSegment {
  index: number;
  from: number;
  to: number;
  startFrame: number;
  endFrame: number;
  /** Epoch ms on the session's wall clock where this segment starts (after any cut). */
  wallFrom: number;
  tiles: CompositeTile[];
  audioSources: AudioSource[];
}
