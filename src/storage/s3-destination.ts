import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { GetObjectCommand, HeadObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { DEFAULT_S3_REGION, type S3UploadConfig } from '../config/room-config.js';
import { redactString } from '../config/redact.js';
import { revealSecret, type Secret } from '../config/secret.js';
import { normaliseKeyPrefix } from '../config/key-prefix.js';
import { canceledError, InvalidConfigError } from '../errors.js';
import {
  isRetryableUploadError,
  UploadError,
  type UploadDestination,
  type UploadRequest,
  type UploadResult,
} from './upload-destination.js';

/** Presigned URLs are valid this long: 12 hours. */
export const PRESIGNED_URL_TTL_SECONDS = 12 * 60 * 60;
/** S3's smallest multipart part; files above it go up in several parts. */
export const MIN_PART_SIZE_BYTES = 5 * 1024 * 1024;

/** Options of {@link S3Destination}. */
export interface S3DestinationOptions {
  /** Bucket name (`upload.location`). */
  bucket: string;
  /** Key prefix (`upload.prefix`). */
  prefix?: string;
  /** Default `ap-south-1`. */
  region?: string;
  /** S3-compatible endpoint (MinIO, R2). */
  endpoint?: string;
  /** Default: true when `endpoint` is set. */
  forcePathStyle?: boolean;
  /** Absent: the default AWS credential chain. */
  credentials?: { key: Secret | string; secret: Secret | string };
  /** Overrides the computed {@link S3Destination.id}. */
  id?: string;
  /** Lifetime of presigned URLs; default 12 hours. */
  urlTtlSeconds?: number;
  /** Multipart part size, at least 5 MiB; default 5 MiB. */
  partSizeBytes?: number;
  /** Parts uploaded in parallel; default 4. Memory use is about `partSizeBytes * queueSize`. */
  queueSize?: number;
  /** Attempts per HTTP request by the SDK (standard retry: backoff with jitter); default 4. */
  maxAttempts?: number;
  /** TCP connect timeout per request; default 5000 ms. */
  connectionTimeoutMs?: number;
  /** Socket inactivity timeout per request; default 60000 ms. */
  requestTimeoutMs?: number;
  /**
   * Confirm each upload with a HEAD request comparing the stored size; default true. The
   * spool file is deleted only after this confirmation.
   */
  verifyAfterUpload?: boolean;
  /** Use this client instead of building one (its own settings then apply). */
  client?: S3Client;
}

/**
 * Stores recordings in an S3 bucket (or an S3-compatible store through `endpoint`):
 * multipart above 5 MiB, content type `video/mp4`, SDK-level retries with backoff on
 * throttling, 5xx, timeouts and dropped connections, and a presigned GET URL valid 12 hours.
 *
 * Errors that retrying cannot fix (access denied, no such bucket, rejected credentials)
 * are thrown as non-retryable {@link UploadError}s that name the bucket; credentials never
 * appear in any message.
 */
export class S3Destination implements UploadDestination {
  readonly id: string;
  readonly keyPrefix?: string;
  readonly bucket: string;
  readonly #client: S3Client;
  readonly #ownsClient: boolean;
  readonly #options: S3DestinationOptions;
  readonly #secrets: string[];
  #closed = false;
  #closing: Promise<void> | undefined;

  /** Builds a destination from a validated room `upload` configuration. */
  static fromConfig(
    config: S3UploadConfig,
    overrides: Omit<S3DestinationOptions, 'bucket' | 'prefix' | 'region' | 'endpoint' | 'credentials'> = {},
  ): S3Destination {
    return new S3Destination({
      ...overrides,
      bucket: config.location,
      ...(config.prefix !== undefined ? { prefix: config.prefix } : {}),
      region: config.options.region,
      ...(config.options.endpoint !== undefined ? { endpoint: config.options.endpoint } : {}),
      forcePathStyle: config.options.forcePathStyle,
      ...(config.credentials !== undefined ? { credentials: config.credentials } : {}),
    });
  }

  constructor(options: S3DestinationOptions) {
    if (typeof options.bucket !== 'string' || options.bucket === '') {
      throw new InvalidConfigError('bucket', 'bucket is required');
    }
    const partSize = options.partSizeBytes ?? MIN_PART_SIZE_BYTES;
    if (!Number.isInteger(partSize) || partSize < MIN_PART_SIZE_BYTES) {
      throw new InvalidConfigError('partSizeBytes', `partSizeBytes must be an integer >= ${MIN_PART_SIZE_BYTES} (5 MiB)`);
    }
    this.#options = options;
    this.bucket = options.bucket;
    const prefix = normaliseKeyPrefix('prefix', options.prefix);
    if (prefix !== undefined) this.keyPrefix = prefix;
    const region = options.region ?? DEFAULT_S3_REGION;
    this.id = options.id ?? `s3:${options.bucket}@${options.endpoint ?? region}`;
    this.#secrets = options.credentials
      ? [revealSecret(options.credentials.key), revealSecret(options.credentials.secret)]
      : [];

    if (options.client) {
      this.#client = options.client;
      this.#ownsClient = false;
    } else {
      const config: S3ClientConfig = {
        region,
        maxAttempts: options.maxAttempts ?? 4,
        retryMode: 'standard',
        // Plain options are turned into a NodeHttpHandler by the SDK.
        requestHandler: {
          connectionTimeout: options.connectionTimeoutMs ?? 5_000,
          requestTimeout: options.requestTimeoutMs ?? 60_000,
        },
      };
      if (options.endpoint !== undefined) {
        config.endpoint = options.endpoint;
        config.forcePathStyle = options.forcePathStyle ?? true;
        // Many S3-compatible stores do not understand the SDK's default trailing checksums
        // (aws-chunked bodies); send checksums only where the API requires them.
        config.requestChecksumCalculation = 'WHEN_REQUIRED';
        config.responseChecksumValidation = 'WHEN_REQUIRED';
      } else if (options.forcePathStyle !== undefined) {
        config.forcePathStyle = options.forcePathStyle;
      }
      if (options.credentials) {
        const credentials = options.credentials;
        // A provider function keeps the values out of the client's enumerable config.
        config.credentials = async () => ({
          accessKeyId: revealSecret(credentials.key),
          secretAccessKey: revealSecret(credentials.secret),
        });
      }
      this.#client = new S3Client(config);
      this.#ownsClient = true;
    }
  }

  /** True from the moment {@link S3Destination.close} is called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** `s3://bucket/key`. */
  locationOf(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  /**
   * Uploads the file (multipart when larger than the part size), confirms it with a HEAD
   * request, and presigns a GET URL.
   *
   * @throws {UploadError} `ERR_CLOSED` after {@link S3Destination.close} and `ERR_CANCELED`
   *   when `signal` aborts (both retryable); the storage codes (`ERR_STORAGE_ACCESS_DENIED`,
   *   `ERR_STORAGE_NO_SUCH_BUCKET`, ...) otherwise, with `retryable` saying whether to try again.
   */
  async upload(request: UploadRequest): Promise<UploadResult> {
    if (this.#closed) {
      throw new UploadError('ERR_CLOSED', `S3 destination for bucket "${this.bucket}" is closed`, {
        retryable: true,
        destination: this.id,
        key: request.key,
      });
    }
    if (request.signal?.aborted) throw this.#toUploadError(request.signal.reason, request.key, request.signal);
    let size: number;
    try {
      size = (await stat(request.file)).size;
    } catch (error) {
      throw new UploadError('ERR_SPOOL_FILE_MISSING', `cannot read ${request.file}: ${(error as Error).message}`, {
        retryable: false,
        destination: this.id,
        key: request.key,
      });
    }

    const abortController = new AbortController();
    const onAbort = () => abortController.abort(request.signal?.reason);
    request.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const upload = new Upload({
        client: this.#client,
        params: {
          Bucket: this.bucket,
          Key: request.key,
          Body: createReadStream(request.file),
          ContentType: request.contentType,
          ContentLength: size,
          Metadata: s3Metadata(request),
        },
        partSize: this.#options.partSizeBytes ?? MIN_PART_SIZE_BYTES,
        queueSize: this.#options.queueSize ?? 4,
        leavePartsOnError: false,
        abortController,
      });
      if (request.onProgress) {
        const onProgress = request.onProgress;
        upload.on('httpUploadProgress', (progress) => onProgress(progress.loaded ?? 0, progress.total ?? size));
      }
      await upload.done();

      if (this.#options.verifyAfterUpload ?? true) {
        const head = await this.#client
          .send(new HeadObjectCommand({ Bucket: this.bucket, Key: request.key }), { abortSignal: abortController.signal })
          .catch((error: unknown) => {
            // Not there right after a successful upload: treat as an incomplete upload, retry.
            if ((error as { name?: string }).name !== 'NotFound') throw error;
            return { ContentLength: undefined };
          });
        if (head.ContentLength !== size) {
          throw new UploadError(
            'ERR_UPLOAD_INCOMPLETE',
            `${this.locationOf(request.key)} holds ${String(head.ContentLength)} bytes after upload, expected ${size}`,
            { retryable: true, destination: this.id, key: request.key },
          );
        }
      }
    } catch (error) {
      throw this.#toUploadError(error, request.key, request.signal);
    } finally {
      request.signal?.removeEventListener('abort', onAbort);
    }

    const result: UploadResult = { location: this.locationOf(request.key), sizeBytes: size };
    try {
      const ttl = this.#options.urlTtlSeconds ?? PRESIGNED_URL_TTL_SECONDS;
      const signedAt = Date.now();
      result.url = await getSignedUrl(this.#client, new GetObjectCommand({ Bucket: this.bucket, Key: request.key }), {
        expiresIn: ttl,
        signingDate: new Date(signedAt),
      });
      result.urlExpiresAt = Math.floor(signedAt / 1000) * 1000 + ttl * 1000;
    } catch {
      // The file is stored; a missing URL must not turn that into a failure.
    }
    return result;
  }

  /**
   * Destroys the S3 client's connections if this destination built the client (a client
   * passed in as `client` is left alone: it belongs to the caller). `closed` is true at once;
   * calling it again returns the same promise. Uploads after it fail with `ERR_CLOSED`.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    if (this.#ownsClient) this.#client.destroy();
    this.#closing = Promise.resolve();
    return this.#closing;
  }

  // Turns an SDK error into an UploadError whose message names the bucket and the cause,
  // never the credentials. The SDK error itself is not kept as `cause`: it carries the
  // signed request (Authorization header with the access key id).
  #toUploadError(error: unknown, key: string, signal?: AbortSignal): UploadError {
    if (error instanceof UploadError) return error;
    if (signal?.aborted) {
      return new UploadError('ERR_CANCELED', canceledError(`upload of ${this.locationOf(key)}`, signal.reason).message, {
        retryable: true,
        destination: this.id,
        key,
      });
    }
    const e = (error ?? {}) as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    const name = e.name ?? 'Error';
    const status = e.$metadata?.httpStatusCode;
    const where = this.locationOf(key);
    const endpoint = this.#options.endpoint ?? `region ${this.#options.region ?? DEFAULT_S3_REGION}`;
    const detail = redactString(`${name}${e.code && e.code !== name ? ` ${e.code}` : ''}: ${e.message ?? ''}`, this.#secrets);
    const opts = { destination: this.id, key };
    switch (name) {
      case 'AbortError':
        // The SDK aborts only through our controller; the signal check above names why.
        return new UploadError('ERR_CANCELED', `upload of ${where} was cancelled`, { ...opts, retryable: true });
      case 'NoSuchBucket':
        return new UploadError(
          'ERR_STORAGE_NO_SUCH_BUCKET',
          `S3 bucket "${this.bucket}" does not exist (${endpoint}); check upload.location and upload.options.region`,
          { ...opts, retryable: false },
        );
      case 'AccessDenied':
      case 'AllAccessDisabled':
      case 'Forbidden': // a HEAD request's 403 has no body, hence no error code
        return new UploadError(
          'ERR_STORAGE_ACCESS_DENIED',
          `access denied writing ${where}: the credentials need s3:PutObject and s3:GetObject on bucket "${this.bucket}"`,
          { ...opts, retryable: false },
        );
      case 'InvalidAccessKeyId':
      case 'SignatureDoesNotMatch':
        return new UploadError(
          'ERR_STORAGE_CREDENTIALS_REJECTED',
          `S3 rejected the credentials for bucket "${this.bucket}" (${name}); check upload.credentials`,
          { ...opts, retryable: false },
        );
      case 'CredentialsProviderError':
        return new UploadError(
          'ERR_STORAGE_NO_CREDENTIALS',
          `no AWS credentials for bucket "${this.bucket}": set upload.credentials or configure the default AWS credential chain`,
          { ...opts, retryable: false },
        );
      default: {
        const retryable = isRetryableUploadError(error);
        return new UploadError(
          retryable ? 'ERR_STORAGE_UNAVAILABLE' : 'ERR_UPLOAD_FAILED',
          `upload of ${where} failed (${status !== undefined ? `HTTP ${status}, ` : ''}${detail})`,
          { ...opts, retryable },
        );
      }
    }
  }
}

// User metadata stored with the object (x-amz-meta-*): ids only, ASCII-safe.
function s3Metadata(request: UploadRequest): Record<string, string> {
  const m = request.metadata;
  const out: Record<string, string> = {
    'recording-type': m.recordingType,
    'room-id': m.roomId,
    'session-id': m.sessionId,
    'started-at': new Date(m.startedAt).toISOString(),
    'duration-ms': String(Math.round(m.durationMs)),
  };
  if (m.peerId !== undefined) out['peer-id'] = m.peerId;
  if (m.streamId !== undefined) out['stream-id'] = m.streamId;
  for (const [k, v] of Object.entries(out)) out[k] = encodeURIComponent(v);
  return out;
}
