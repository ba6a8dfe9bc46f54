/**
 * The session timeline: everything that happened in a recorded room session, in order,
 * with wall-clock times. It is written as JSON lines (`timeline.jsonl`) while the call
 * runs and read back by finalisation and composition, so it is the contract between
 * capture and everything after it.
 *
 * All `at` values are epoch milliseconds (fractional) on the recorder's wall clock.
 */

/** What a stream carries: camera + microphone, or a screen share (+ its audio). */
export type StreamSource = 'camera' | 'screen';

/** The media kind of one track. */
export type TrackKind = 'audio' | 'video';

interface EventBase {
  /** Epoch milliseconds. */
  at: number;
}

/** The first event of every timeline. */
export interface SessionStartedEvent extends EventBase {
  type: 'session-started';
  roomId: string;
  sessionId: string;
}

/** A peer's first recorded media, or an explicit `addPeer()`. */
export interface PeerJoinedEvent extends EventBase {
  type: 'peer-joined';
  peerId: string;
  /** Shown on the peer's tile when it has no video. */
  displayName?: string;
}

export interface PeerLeftEvent extends EventBase {
  type: 'peer-left';
  peerId: string;
}

/**
 * A stream recording instance starts. `streamId` is unique within the session: a peer
 * that leaves and comes back gets a new one, so it gets a new file.
 */
export interface StreamStartedEvent extends EventBase {
  type: 'stream-started';
  peerId: string;
  streamId: string;
  source: StreamSource;
}

export interface StreamEndedEvent extends EventBase {
  type: 'stream-ended';
  peerId: string;
  streamId: string;
}

/** A producer is being tapped; its packets go to `journal` (relative to the session dir). */
export interface TrackAddedEvent extends EventBase {
  type: 'track-added';
  peerId: string;
  streamId: string;
  trackId: string;
  kind: TrackKind;
  /** e.g. `audio/opus`, `video/VP8`, `video/VP9`, `video/H264`. */
  mimeType: string;
  producerId: string;
  journal: string;
}

export interface TrackRemovedEvent extends EventBase {
  type: 'track-removed';
  trackId: string;
}

/** The producer was paused (mute / camera off): no media is expected until unmuted. */
export interface TrackMutedEvent extends EventBase {
  type: 'track-muted';
  trackId: string;
}

export interface TrackUnmutedEvent extends EventBase {
  type: 'track-unmuted';
  trackId: string;
}

/** The application paused the room's recording (`recorder.pauseRoom()`). */
export interface RecordingPausedEvent extends EventBase {
  type: 'recording-paused';
}

export interface RecordingResumedEvent extends EventBase {
  type: 'recording-resumed';
}

/** Dominant speaker changed (from mediasoup's ActiveSpeakerObserver). */
export interface ActiveSpeakerEvent extends EventBase {
  type: 'active-speaker';
  peerId: string;
}

/** The last event of a complete timeline. A timeline without it was cut short by a crash. */
export interface SessionEndedEvent extends EventBase {
  type: 'session-ended';
  reason: SessionEndReason;
}

/**
 * A capture fault, noted when it happened: a track's journal failed (`journal-failed`,
 * the track ends there), the spool's disk filled (`spool-full`: packets wait in memory,
 * beyond a bound they are lost) or has space again (`spool-resumed`, with what was lost).
 * Finalisation needs none of it; it explains a gap in a file.
 */
export interface CaptureFaultEvent extends EventBase {
  type: 'capture-fault';
  fault: 'journal-failed' | 'spool-full' | 'spool-resumed';
  trackId?: string;
  message?: string;
  droppedPackets?: number;
}

/**
 * Why a session ended. `recovered` marks a session finished by `recover()` after a crash;
 * `capture-failed` one whose capture thread died (it is finalised with what it captured).
 */
export type SessionEndReason = 'empty' | 'stopped' | 'router-closed' | 'recorder-closed' | 'recovered' | 'capture-failed';

export type TimelineEvent =
  | SessionStartedEvent
  | PeerJoinedEvent
  | PeerLeftEvent
  | StreamStartedEvent
  | StreamEndedEvent
  | TrackAddedEvent
  | TrackRemovedEvent
  | TrackMutedEvent
  | TrackUnmutedEvent
  | RecordingPausedEvent
  | RecordingResumedEvent
  | ActiveSpeakerEvent
  | CaptureFaultEvent
  | SessionEndedEvent;

export type TimelineEventType = TimelineEvent['type'];
