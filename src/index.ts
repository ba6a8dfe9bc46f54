/**
 * sfu-recorder: records calls on a mediasoup SFU.
 *
 * Create an {@link SfuRecorder}, enable recording per room with
 * {@link SfuRecorder.enableRoom}, and listen for `recordingstored`: one mp4 per peer
 * stream and one composite of the whole session, stored in S3 or in the default
 * local storage with signed URLs, each announced by an event and a signed webhook.
 *
 * @packageDocumentation
 */

// Recorder
export {
  SfuRecorder,
  type SfuRecorderOptions,
  type SfuRecorderEvents,
  type SfuRecorderObserverEvents,
  type SpoolFullInfo,
  type SpoolAvailableInfo,
  type EnableRoomOptions,
  type JobsOptions,
  type SessionStatus,
} from './recorder/sfu-recorder.js';
export { RoomRecorder, type RoomRecorderEvents, type RoomRecorderObserverEvents } from './recorder/room-recorder.js';
export type { JobStatus, SessionJobsStatus } from './recorder/session-status.js';
export type { JobRunner, JobRunOptions } from './jobs/runner.js';
export type {
  RecordingJob,
  RecordingJobKind,
  JobCommon,
  FinaliseStreamJob,
  RenderSegmentJob,
  JoinCompositeJob,
  JobResult,
  JobProgress,
} from './jobs/types.js';
export { executeJob, describeJob, type ExecuteContext } from './jobs/execute.js';
export { InProcessJobRunner, type InProcessJobRunnerOptions } from './jobs/in-process.js';
export { BullMqJobRunner, type BullMqJobRunnerOptions } from './jobs/bullmq-runner.js';
export { RecordingJobWorker, type RecordingJobWorkerOptions, type RecordingJobWorkerEvents } from './jobs/worker.js';
export { QUEUE_NAME, stagingKey, stagingSessionPrefix, type QueuedJobData } from './jobs/queue-contract.js';
export {
  DirectoryStaging,
  S3Staging,
  StagingError,
  openStaging,
  stagingFromConfig,
  validateStagingConfig,
  type StagingStore,
  type StagingDescriptor,
  type StagingConfig,
  type S3StagingOptions,
  type StagingCredentials,
} from './jobs/staging/index.js';
export { EnhancedEventEmitter } from './enhanced-events.js';
export { identifyFromAppData, type IdentifyProducer, type ProducerIdentity } from './recorder/identity.js';
export type { FinaliseOptions } from './recorder/session-finaliser.js';
export type {
  StreamRef,
  SessionStartedInfo,
  SessionEndedInfo,
  SessionEmptyInfo,
  SessionFinalisedInfo,
  RecordingFinalisedInfo,
  RecorderErrorContext,
} from './recorder/events.js';
export { UnsupportedCodecError, RECORDABLE_MIME_TYPES } from './capture/codecs.js';
export type { RecordableMimeType } from './codecs/registry.js';

// Errors
export { SfuRecorderError, InvalidConfigError, type SfuRecorderErrorCode } from './errors.js';
export { MAX_ID_BYTES } from './config/ids.js';
export { FfmpegError, type FfmpegFailure } from './ffmpeg/run.js';

// Configuration
export {
  validateRoomRecordingConfig,
  validateUploadConfig,
  validateWebhookConfig,
  DEFAULT_S3_REGION,
  type RoomRecordingConfig,
  type RoomRecordingConfigInput,
  type UploadConfig,
  type UploadConfigInput,
  type S3UploadConfig,
  type S3UploadConfigInput,
  type S3UploadOptionsInput,
  type UploadCredentialsInput,
  type WebhookConfig,
  type WebhookConfigInput,
  type RetentionConfig,
  type RetentionConfigInput,
  type UploadCredentials,
} from './config/room-config.js';
export { Secret } from './config/secret.js';
export { redact } from './config/redact.js';
export type { Logger } from './config/logger.js';

// Storage
export { recordingKey, formatStartDate, type RecordingKeyParts } from './storage/key-layout.js';
export {
  UploadError,
  isRetryableUploadError,
  MP4_CONTENT_TYPE,
  type UploadDestination,
  type UploadRequest,
  type UploadResult,
  type RecordingMetadata,
} from './storage/upload-destination.js';
export { S3Destination, PRESIGNED_URL_TTL_SECONDS, type S3DestinationOptions } from './storage/s3-destination.js';
export {
  LocalStorage,
  LocalStorageServer,
  createSignedUrlHandler,
  SIGNED_URL_TTL_MS,
  MAX_SIGNED_URL_TTL_MS,
  MIN_SIGNING_SECRET_BYTES,
  type LocalStorageOptions,
  type SignedUrl,
  type SignedUrlHandlerOptions,
} from './storage/local-storage.js';
export { createUploadDestination } from './storage/destinations.js';
export { DEFAULT_UPLOAD_RETRY, DEFAULT_WEBHOOK_RETRY, type RetryPolicy } from './storage/retry.js';

// Delivery
export {
  RecordingDelivery,
  type RecordingDeliveryOptions,
  type RecordingDeliveryEvents,
  type DeliveryItem,
  type RecordingStoredEvent,
  type RecordingFailedEvent,
  type WebhookSubject,
  type WebhookDeliveredEvent,
  type WebhookFailedEvent,
} from './notify/delivery.js';
export type { RecordingWebhookPayload, RecordingWebhookData, RecordingEventType } from './notify/payload.js';

// Finalisation steps, usable on their own (re-run a session's files from its spool)
export { finaliseStream, listSessionStreams, type FinaliseStreamParams, type FinaliseStreamResult, type MuxReport, type MuxOptions, type DroppedMedia } from './mux/index.js';
export type { FinalisedStream, Interval } from './mux/stream-result.js';
export {
  Compositor,
  composeSession,
  CompositeSourceError,
  gridLayout,
  presentationLayout,
  speakerLayout,
  type CompositeOptions,
  type ComposeRunOptions,
  type CompositeProgress,
  type CompositeResult,
  type CompositorEvents,
  type CompositeLayout,
  type LayoutContext,
  type LayoutItem,
  type LayoutName,
  type LayoutPlacement,
  type Rect,
} from './compose/index.js';

// Session files
export type { TimelineEvent, TimelineEventType, StreamSource, TrackKind, SessionEndReason } from './timeline/events.js';
export { readTimeline, type TimelineContents } from './timeline/timeline-file.js';
export { sessionPaths, type SessionManifest } from './spool/layout.js';
export { resolveFfmpegBinaries, type FfmpegBinaries } from './ffmpeg/binaries.js';
