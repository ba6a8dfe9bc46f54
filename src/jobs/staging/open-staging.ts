import { isAbsolute, normalize } from 'node:path';
import { normaliseKeyPrefix } from '../../config/key-prefix.js';
import {
  assertBucketName,
  validateS3UploadConfig,
  type S3UploadConfig,
  type S3UploadConfigInput,
} from '../../config/room-config.js';
import { describeValue, expectObject, nonEmptyString, optionalBoolean, parseHttpUrl } from '../../config/validate.js';
import { InvalidConfigError } from '../../errors.js';
import { DirectoryStaging } from './directory-staging.js';
import { S3Staging, type StagingCredentials } from './s3-staging.js';
import type { StagingDescriptor, StagingStore } from './staging-store.js';

/** `jobs.staging` of type `directory`, as written by the user. */
export interface DirectoryStagingConfigInput {
  type: 'directory';
  /** Absolute path of a directory that exists, mounted at the same path on the host and every worker. */
  path: string;
}

/**
 * `jobs.staging`, as written by the user: a shared directory, or an S3 bucket written like a
 * room's `upload` (`location` is the bucket; `credentials` absent: the default AWS chain).
 */
export type StagingConfigInput = DirectoryStagingConfigInput | S3UploadConfigInput;

/** A validated `jobs.staging` of type `directory`. */
export interface DirectoryStagingConfig {
  type: 'directory';
  /** Absolute and normalised. */
  path: string;
}

/** A validated `jobs.staging`: safe to log and stringify (credentials print as `[redacted]`). */
export type StagingConfig = DirectoryStagingConfig | S3UploadConfig;

/**
 * Checks the recorder option `jobs.staging` (or whatever `field` names) and returns it
 * normalised: for S3 the same checks and defaults as a room's `upload` (region `ap-south-1`,
 * `forcePathStyle` true with an `endpoint`, credentials wrapped so they never print).
 *
 * @throws {InvalidConfigError} naming the first field at fault, what was expected and the
 *   value (never a credential's), e.g. `jobs.staging.options.region must be a region name
 *   such as "ap-south-1" (got "Mumbai")`; an unknown field is refused by name.
 */
export function validateStagingConfig(input: unknown, field: string): StagingConfig {
  // Looked at before the fields are: which fields are known depends on it.
  const type = input !== null && typeof input === 'object' && !Array.isArray(input) ? (input as { type?: unknown }).type : undefined;
  if (type === 's3') return validateS3UploadConfig(input, field);
  // The object may hold credentials: a wrong value is described by its type only.
  const obj = expectObject(field, input, type === 'directory' ? ['type', 'path'] : ['type', 'path', 'location', 'prefix', 'options', 'credentials'], {
    secret: true,
  });
  if (obj.type === undefined) {
    throw new InvalidConfigError(`${field}.type`, `${field}.type is required ("directory" or "s3")`);
  }
  if (type !== 'directory') {
    throw new InvalidConfigError(`${field}.type`, `${field}.type ${describeValue(obj.type)} is not supported ("directory" or "s3")`);
  }
  const path = nonEmptyString(`${field}.path`, obj.path);
  if (!isAbsolute(path)) {
    // Workers resolve it on their own machines, from their own working directories.
    throw new InvalidConfigError(`${field}.path`, `${field}.path must be an absolute path, the same on the host and every worker (got ${describeValue(path)})`);
  }
  return { type: 'directory', path: normalize(path).replace(/(.)\/+$/, '$1') };
}

/** The staging store a validated `jobs.staging` describes (see {@link validateStagingConfig}). */
export function stagingFromConfig(config: StagingConfig): StagingStore {
  if (config.type === 'directory') return new DirectoryStaging(config.path);
  return new S3Staging({
    bucket: config.location,
    ...(config.prefix !== undefined ? { prefix: config.prefix } : {}),
    region: config.options.region,
    ...(config.options.endpoint !== undefined ? { endpoint: config.options.endpoint } : {}),
    forcePathStyle: config.options.forcePathStyle,
    ...(config.credentials !== undefined ? { credentials: config.credentials } : {}),
  });
}

/**
 * Opens the store a {@link StagingStore.descriptor} names: how a worker reaches the files the
 * host staged for a job. The descriptor travels in the job; `credentials` come from the
 * worker's own configuration (absent: the SDK's default chain), never from the job.
 *
 * @throws {InvalidConfigError} naming the descriptor field at fault (`descriptor.bucket`, ...):
 *   a descriptor is data from a queue and is checked as such; unknown fields are refused.
 */
export function openStaging(descriptor: StagingDescriptor, credentials?: StagingCredentials): StagingStore {
  const type = descriptor !== null && typeof descriptor === 'object' ? (descriptor as { type?: unknown }).type : undefined;
  if (type === 'directory') {
    const obj = expectObject('descriptor', descriptor, ['type', 'path']);
    const path = nonEmptyString('descriptor.path', obj.path);
    if (!isAbsolute(path)) throw new InvalidConfigError('descriptor.path', `descriptor.path must be an absolute path (got ${describeValue(path)})`);
    return new DirectoryStaging(path);
  }
  if (type === 's3') {
    const obj = expectObject('descriptor', descriptor, ['type', 'bucket', 'prefix', 'region', 'endpoint', 'forcePathStyle']);
    const bucket = nonEmptyString('descriptor.bucket', obj.bucket);
    assertBucketName('descriptor.bucket', bucket);
    const region = nonEmptyString('descriptor.region', obj.region);
    const prefix = normaliseKeyPrefix('descriptor.prefix', obj.prefix);
    const endpoint = obj.endpoint === undefined ? undefined : parseHttpUrl('descriptor.endpoint', nonEmptyString('descriptor.endpoint', obj.endpoint)).href.replace(/\/$/, '');
    return new S3Staging({
      bucket,
      region,
      ...(prefix !== undefined ? { prefix } : {}),
      ...(endpoint !== undefined ? { endpoint } : {}),
      ...(obj.forcePathStyle !== undefined ? { forcePathStyle: optionalBoolean('descriptor.forcePathStyle', obj.forcePathStyle, false) } : {}),
      ...(credentials !== undefined ? { credentials } : {}),
    });
  }
  throw new InvalidConfigError('descriptor.type', `descriptor.type must be "directory" or "s3" (got ${describeValue(type)})`);
}
