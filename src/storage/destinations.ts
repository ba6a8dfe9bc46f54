import type { UploadConfig } from '../config/room-config.js';
import { S3Destination, type S3DestinationOptions } from './s3-destination.js';
import type { UploadDestination } from './upload-destination.js';

/**
 * The destination for a room: an {@link S3Destination} built from its validated `upload`
 * configuration, or `defaultStorage` (the local storage) when the room has none.
 * `s3Overrides` tunes the S3 client (retries, timeouts, part size).
 */
export function createUploadDestination(
  upload: UploadConfig | undefined,
  defaultStorage: UploadDestination,
  s3Overrides: Omit<S3DestinationOptions, 'bucket' | 'prefix' | 'region' | 'endpoint' | 'credentials'> = {},
): UploadDestination {
  if (upload === undefined) return defaultStorage;
  return S3Destination.fromConfig(upload, s3Overrides);
}
