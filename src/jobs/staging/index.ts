/**
 * Job staging: the store a job's files travel through between the SFU host and the workers
 * (which share no file system with it), as a directory or an S3 bucket.
 */
export {
  assertStagingKey,
  MAX_STAGING_KEY_BYTES,
  StagingError,
  type StagingDescriptor,
  type StagingStore,
} from './staging-store.js';
export { DirectoryStaging } from './directory-staging.js';
export { S3Staging, type S3StagingOptions, type StagingCredentials } from './s3-staging.js';
export {
  openStaging,
  stagingFromConfig,
  validateStagingConfig,
  type DirectoryStagingConfig,
  type DirectoryStagingConfigInput,
  type StagingConfig,
  type StagingConfigInput,
} from './open-staging.js';
