export { finaliseStream, listSessionStreams } from './finalise.js';
export type { DroppedMedia, FinaliseStreamParams, FinaliseStreamResult, MuxReport, TrackDiagnostics } from './finalise.js';
export { resolveMuxOptions, type MuxOptions, type ResolvedMuxOptions } from './options.js';
export { listTimelineStreams, recordingPauses, type TimelineStream, type TimelineTrack } from './streams.js';
export type { FinalisedStream, Interval } from './stream-result.js';
