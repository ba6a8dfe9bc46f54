import { isAbsolute, join } from 'node:path';
import type { StreamSource, TimelineEvent, TrackKind } from '../timeline/events.js';
import type { Interval } from './stream-result.js';

/** One tapped track of a stream, as the timeline describes it. */
export interface TimelineTrack {
  trackId: string;
  kind: TrackKind;
  mimeType: string;
  producerId: string;
  /** Absolute path of the capture journal. */
  journal: string;
  addedAt: number;
  removedAt: number | undefined;
  /** Producer paused (mute / camera off); the last one may be open (`to` = Infinity). */
  muted: Interval[];
}

/** A peer stream as the timeline describes it. */
export interface TimelineStream {
  peerId: string;
  streamId: string;
  source: StreamSource;
  displayName: string | undefined;
  startedAt: number;
  /** Undefined when the timeline was cut short (crash): the media decide the end. */
  endedAt: number | undefined;
  tracks: TimelineTrack[];
}

/**
 * Lists the streams of a session from its timeline, in start order, with their
 * tracks, mutes and journal paths (resolved against `sessionDir`).
 */
export function listTimelineStreams(events: readonly TimelineEvent[], sessionDir: string): TimelineStream[] {
  const streams = new Map<string, TimelineStream>();
  const tracks = new Map<string, TimelineTrack>();
  const displayNames = new Map<string, string>();
  for (const event of events) {
    switch (event.type) {
      case 'peer-joined':
        if (event.displayName !== undefined) displayNames.set(event.peerId, event.displayName);
        break;
      case 'stream-started':
        streams.set(event.streamId, {
          peerId: event.peerId,
          streamId: event.streamId,
          source: event.source,
          displayName: displayNames.get(event.peerId),
          startedAt: event.at,
          endedAt: undefined,
          tracks: [],
        });
        break;
      case 'stream-ended': {
        const stream = streams.get(event.streamId);
        if (stream) stream.endedAt = event.at;
        break;
      }
      case 'track-added': {
        let stream = streams.get(event.streamId);
        if (!stream) {
          // A torn timeline can lose stream-started; the track still says whose it is.
          stream = {
            peerId: event.peerId,
            streamId: event.streamId,
            source: 'camera',
            displayName: displayNames.get(event.peerId),
            startedAt: event.at,
            endedAt: undefined,
            tracks: [],
          };
          streams.set(event.streamId, stream);
        }
        const track: TimelineTrack = {
          trackId: event.trackId,
          kind: event.kind,
          mimeType: event.mimeType,
          producerId: event.producerId,
          journal: isAbsolute(event.journal) ? event.journal : join(sessionDir, event.journal),
          addedAt: event.at,
          removedAt: undefined,
          muted: [],
        };
        tracks.set(event.trackId, track);
        stream.tracks.push(track);
        break;
      }
      case 'track-removed': {
        const track = tracks.get(event.trackId);
        if (track) {
          track.removedAt = event.at;
          closeOpenMute(track, event.at);
        }
        break;
      }
      case 'track-muted': {
        const track = tracks.get(event.trackId);
        if (track && !hasOpenMute(track)) track.muted.push({ from: event.at, to: Number.POSITIVE_INFINITY });
        break;
      }
      case 'track-unmuted': {
        const track = tracks.get(event.trackId);
        if (track) closeOpenMute(track, event.at);
        break;
      }
      default:
        break;
    }
  }
  return [...streams.values()].sort((a, b) => a.startedAt - b.startedAt);
}

/**
 * The intervals during which the room's recording was paused. A pause without a
 * resume (the session ended, or crashed, while paused) runs to infinity.
 */
export function recordingPauses(events: readonly TimelineEvent[]): Interval[] {
  const pauses: Interval[] = [];
  let open: number | undefined;
  for (const event of events) {
    if (event.type === 'recording-paused' && open === undefined) open = event.at;
    else if (event.type === 'recording-resumed' && open !== undefined) {
      if (event.at > open) pauses.push({ from: open, to: event.at });
      open = undefined;
    }
  }
  if (open !== undefined) pauses.push({ from: open, to: Number.POSITIVE_INFINITY });
  return pauses;
}

function hasOpenMute(track: TimelineTrack): boolean {
  return track.muted.length > 0 && track.muted[track.muted.length - 1]!.to === Number.POSITIVE_INFINITY;
}

function closeOpenMute(track: TimelineTrack, at: number): void {
  if (hasOpenMute(track)) track.muted[track.muted.length - 1]!.to = at;
}
