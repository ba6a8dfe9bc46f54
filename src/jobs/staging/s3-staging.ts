import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { normaliseKeyPrefix } from '../../config/key-prefix.js';
import { redactString } from '../../config/redact.js';
import { assertBucketName, DEFAULT_S3_REGION } from '../../config/room-config.js';
import { revealSecret, type Secret } from '../../config/secret.js';
import { parseHttpUrl } from '../../config/validate.js';
import { canceledError, closedError, InvalidConfigError, type SfuRecorderError } from '../../errors.js';
import { MIN_PART_SIZE_BYTES } from '../../storage/s3-destination.js';
import { isRetryableUploadError } from '../../storage/upload-destination.js';
import {
  assertStagingKey,
  MAX_STAGING_KEY_BYTES,
  normaliseStagingPrefix,
  sortKeys,
  StagingError,
  type StagingDescriptor,
  type StagingStore,
} from './staging-store.js';

/** Most keys one DeleteObjects request may name. */
const DELETE_BATCH = 1000;
/** Connection failures: the endpoint is wrong or unreachable from this machine. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN']);

/** Credentials of an S3 staging store; absent: the SDK's default provider chain. */
export interface StagingCredentials {
  /** Access key id. */
  key: Secret | string;
  /** Secret access key. */
  secret: Secret | string;
}

/** Options of {@link S3Staging}. */
export interface S3StagingOptions {
  /** Bucket name (`jobs.staging.location`). */
  bucket: string;
  /** Key prefix (`jobs.staging.prefix`); leading and trailing `/` are ignored. */
  prefix?: string;
  /** Default `ap-south-1`. */
  region?: string;
  /** S3-compatible endpoint (MinIO, R2). */
  endpoint?: string;
  /** Default: true when `endpoint` is set. */
  forcePathStyle?: boolean;
  /**
   * Absent: the SDK's default provider chain (`AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`,
   * a profile, an instance or task role), which is what a worker machine normally has.
   */
  credentials?: StagingCredentials;
  /** Multipart part size, at least 5 MiB; default 5 MiB. */
  partSizeBytes?: number;
  /** Parts uploaded in parallel; default 2. Memory use is about `partSizeBytes * queueSize`. */
  queueSize?: number;
  /** Attempts per HTTP request by the SDK (standard retry: backoff with jitter); default 4. */
  maxAttempts?: number;
}

/**
 * Stages job files in an S3 bucket (or an S3-compatible store through `endpoint`) under
 * `<prefix>/<key>`. Uploads go multipart above the part size (S3 makes the object visible
 * only once complete, so a reader never sees part of it); downloads stream to a temp file
 * beside the target and are renamed into place once every byte arrived.
 *
 * Failures that retrying cannot fix (no such bucket, access denied, rejected or missing
 * credentials) are {@link StagingError}s with `retryable: false` whose message says what to
 * check; credentials never appear in messages, `description` or `descriptor`.
 */
export class S3Staging implements StagingStore {
  readonly bucket: string;
  /** Without leading or trailing `/`; absent when empty. */
  readonly prefix?: string;
  readonly descriptor: StagingDescriptor;
  readonly description: string;
  readonly #client: S3Client;
  readonly #options: S3StagingOptions;
  readonly #region: string;
  readonly #secrets: string[];
  /** Bytes of an S3 key left for a staging key once the prefix is added. */
  readonly #maxKeyBytes: number;
  #bucketExists = false;
  #closed = false;
  #closing: Promise<void> | undefined;

  /**
   * @throws {InvalidConfigError} for a bucket name S3 would refuse, a bad prefix, an endpoint
   *   that is not http(s) or holds a user name or password, a part size under 5 MiB.
   */
  constructor(options: S3StagingOptions) {
    assertBucketName('bucket', options.bucket);
    const partSize = options.partSizeBytes ?? MIN_PART_SIZE_BYTES;
    if (!Number.isInteger(partSize) || partSize < MIN_PART_SIZE_BYTES) {
      throw new InvalidConfigError('partSizeBytes', `partSizeBytes must be an integer >= ${MIN_PART_SIZE_BYTES} (5 MiB)`);
    }
    this.#options = options;
    this.bucket = options.bucket;
    const prefix = normaliseKeyPrefix('prefix', options.prefix);
    if (prefix !== undefined) this.prefix = prefix;
    this.#maxKeyBytes = MAX_STAGING_KEY_BYTES - (prefix === undefined ? 0 : Buffer.byteLength(prefix, 'utf8') + 1);
    this.#region = options.region ?? DEFAULT_S3_REGION;
    // The descriptor is handed to workers: a URL with a password in it must not get that far.
    if (options.endpoint !== undefined) parseHttpUrl('endpoint', options.endpoint);
    this.#secrets = options.credentials
      ? [revealSecret(options.credentials.key), revealSecret(options.credentials.secret)]
      : [];

    const forcePathStyle = options.forcePathStyle ?? (options.endpoint !== undefined ? true : undefined);
    this.descriptor = {
      type: 's3',
      bucket: this.bucket,
      ...(prefix !== undefined ? { prefix } : {}),
      region: this.#region,
      ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
      ...(forcePathStyle !== undefined ? { forcePathStyle } : {}),
    };
    this.description = `s3://${this.bucket}${prefix !== undefined ? `/${prefix}` : ''}`;

    const config: S3ClientConfig = {
      region: this.#region,
      maxAttempts: options.maxAttempts ?? 4,
      retryMode: 'standard',
      // Plain options are turned into a NodeHttpHandler by the SDK.
      requestHandler: { connectionTimeout: 5_000, requestTimeout: 60_000 },
    };
    if (forcePathStyle !== undefined) config.forcePathStyle = forcePathStyle;
    if (options.endpoint !== undefined) {
      config.endpoint = options.endpoint;
      // Many S3-compatible stores do not understand the SDK's default trailing checksums.
      config.requestChecksumCalculation = 'WHEN_REQUIRED';
      config.responseChecksumValidation = 'WHEN_REQUIRED';
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
  }

  /** True from the moment {@link S3Staging.close} is called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** `s3://bucket/<prefix>/<key>`. */
  locationOf(key: string): string {
    return `s3://${this.bucket}/${this.#objectKey(key)}`;
  }

  /**
   * Uploads `file` under `key`, replacing what was there (multipart above the part size,
   * `queueSize` parts at a time; parts of a failed upload are aborted).
   * @throws {StagingError} `ERR_SPOOL_FILE_MISSING` when `file` cannot be read, the mapped S3
   *   errors otherwise; `ERR_CANCELED` when `signal` aborts.
   */
  async put(key: string, file: string, signal?: AbortSignal): Promise<{ sizeBytes: number }> {
    const objectKey = this.#checkedKey(key);
    if (signal?.aborted) throw canceledError(`staging ${this.locationOf(key)}`, signal.reason);
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch (error) {
      throw new StagingError('ERR_SPOOL_FILE_MISSING', `cannot stage ${key}: cannot read ${file} (${(error as Error).message})`, {
        retryable: false,
        store: this.description,
        key,
      });
    }
    const abortController = new AbortController();
    const onAbort = () => abortController.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const upload = new Upload({
        client: this.#client,
        params: {
          Bucket: this.bucket,
          Key: objectKey,
          Body: createReadStream(file),
          ContentLength: size,
          ContentType: 'application/octet-stream',
        },
        partSize: this.#options.partSizeBytes ?? MIN_PART_SIZE_BYTES,
        queueSize: this.#options.queueSize ?? 2,
        leavePartsOnError: false,
        abortController,
      });
      await upload.done();
      return { sizeBytes: size };
    } catch (error) {
      throw this.#toError(error, `staging ${this.locationOf(key)}`, key, signal);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Downloads the object under `key` to `file` (streamed to a temp file beside it, checked
   * against the stored length, renamed into place; parent directories created). `file` is
   * never left partial: on any failure it is as it was.
   * @throws {StagingError} `ERR_STAGING_MISSING` naming the key when there is no such object;
   *   the mapped S3 errors otherwise; `ERR_CANCELED` when `signal` aborts.
   */
  async get(key: string, file: string, signal?: AbortSignal): Promise<{ sizeBytes: number }> {
    const objectKey = this.#checkedKey(key);
    const where = this.locationOf(key);
    if (signal?.aborted) throw canceledError(`fetching ${where}`, signal.reason);
    const tmp = `${file}.tmp-${randomBytes(6).toString('hex')}`;
    try {
      const response = await this.#client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: objectKey }),
        signal ? { abortSignal: signal } : {},
      );
      if (response.Body === undefined) throw new StagingError('ERR_STAGING_UNAVAILABLE', `${where} came back without a body`, { retryable: true, store: this.description, key });
      await mkdir(dirname(file), { recursive: true });
      await pipeline(response.Body as Readable, createWriteStream(tmp, { flags: 'wx' }), signal ? { signal } : {});
      const sizeBytes = (await stat(tmp)).size;
      // A connection cut mid-body can end the stream quietly: never hand over a short file.
      if (response.ContentLength !== undefined && sizeBytes !== response.ContentLength) {
        throw new StagingError(
          'ERR_STAGING_UNAVAILABLE',
          `fetching ${where} stopped after ${sizeBytes} of ${response.ContentLength} bytes`,
          { retryable: true, store: this.description, key },
        );
      }
      await rename(tmp, file);
      return { sizeBytes };
    } catch (error) {
      await rm(tmp, { force: true });
      if (isNotFound(error, 'NoSuchKey')) {
        throw new StagingError('ERR_STAGING_MISSING', `nothing is staged under ${key} (${where})`, {
          retryable: false,
          store: this.description,
          key,
        });
      }
      throw this.#toError(error, `fetching ${where}`, key, signal);
    }
  }

  /** The stored size, or `undefined` when there is no object under `key`. */
  async stat(key: string): Promise<{ sizeBytes: number } | undefined> {
    const objectKey = this.#checkedKey(key);
    const what = `checking ${this.locationOf(key)}`;
    try {
      const head = await this.#client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: objectKey }));
      return { sizeBytes: head.ContentLength ?? 0 };
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      // A HEAD answer has no body, hence no error code. A 403 may be rejected credentials or
      // a missing permission: a one-byte GET of the same key is decided the same way and says which.
      if (status === 403) {
        const reason = await this.#client
          .send(new GetObjectCommand({ Bucket: this.bucket, Key: objectKey, Range: 'bytes=0-0' }))
          .then((probe) => {
            probe.Body?.transformToByteArray().catch(() => undefined);
            return error;
          }, (probeError: unknown) => probeError);
        throw this.#toError(reason, what, key);
      }
      if (status !== 404 && !isNotFound(error, 'NoSuchKey')) throw this.#toError(error, what, key);
    }
    // A 404 HEAD answer is the same for a missing bucket and a missing key. Ask once.
    if (!this.#bucketExists) {
      try {
        await this.#client.send(new HeadBucketCommand({ Bucket: this.bucket }));
        this.#bucketExists = true;
      } catch (error) {
        const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if (status === 404 || isNotFound(error, 'NoSuchBucket')) throw this.#toError({ name: 'NoSuchBucket' }, what, key);
        // Anything else (no s3:ListBucket, say) says nothing about the key: it is absent.
      }
    }
    return undefined;
  }

  /** Every key under `prefix` (`''`: every key), without the store's prefix, sorted by UTF-8 bytes. */
  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    await this.#pages(prefix, true, 'listing', async (page) => {
      keys.push(...page.map((objectKey) => objectKey.slice(this.#base().length)));
    });
    return sortKeys(keys);
  }

  /** Deletes every object under `prefix`, a page (1000 keys) at a time; returns how many. */
  async deletePrefix(prefix: string): Promise<number> {
    let deleted = 0;
    await this.#pages(prefix, false, 'deleting', async (page, what) => {
      for (let i = 0; i < page.length; i += DELETE_BATCH) {
        const batch = page.slice(i, i + DELETE_BATCH);
        const out = await this.#client.send(
          new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
        );
        const failed = out.Errors ?? [];
        const first = failed[0];
        if (first !== undefined) {
          throw this.#toError(
            { name: first.Code ?? 'Error', message: `${failed.length} of ${batch.length} keys not deleted: ${first.Message ?? ''} (${first.Key ?? ''})` },
            what,
            prefix,
          );
        }
        deleted += batch.length;
      }
    });
    return deleted;
  }

  /** Destroys the S3 client's connections. `closed` is true at once; calling again returns the same promise. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#client.destroy();
    this.#closing = Promise.resolve();
    return this.#closing;
  }

  // `<prefix>/`, or nothing.
  #base(): string {
    return this.prefix === undefined ? '' : `${this.prefix}/`;
  }

  #objectKey(key: string): string {
    return `${this.#base()}${key}`;
  }

  #checkedKey(key: string): string {
    if (this.#closed) throw closedError(`S3 staging ${this.description}`);
    assertStagingKey(key, this.description, this.#maxKeyBytes);
    return this.#objectKey(key);
  }

  // Calls `each` with every page of object keys under `prefix` (ListObjectsV2, 1000 a page).
  async #pages(
    prefix: string,
    allowEmpty: boolean,
    verb: string,
    each: (page: string[], what: string) => Promise<void>,
  ): Promise<void> {
    if (this.#closed) throw closedError(`S3 staging ${this.description}`);
    const normalised = normaliseStagingPrefix(prefix, this.description, allowEmpty, this.#maxKeyBytes);
    const listPrefix = normalised === '' ? this.#base() : `${this.#objectKey(normalised)}/`;
    const what = `${verb} s3://${this.bucket}/${listPrefix}`;
    let token: string | undefined;
    try {
      do {
        const page = await this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            ...(listPrefix !== '' ? { Prefix: listPrefix } : {}),
            ...(token !== undefined ? { ContinuationToken: token } : {}),
          }),
        );
        const keys = (page.Contents ?? []).flatMap((object) => (object.Key !== undefined ? [object.Key] : []));
        if (keys.length > 0) await each(keys, what);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
    } catch (error) {
      throw this.#toError(error, what, normalised);
    }
  }

  // Turns an SDK error into a StagingError whose message names the bucket and the cause,
  // never the credentials. The SDK error itself is not kept as `cause`: it carries the
  // signed request (Authorization header with the access key id).
  #toError(error: unknown, what: string, key: string, signal?: AbortSignal): SfuRecorderError {
    if (error instanceof StagingError) return error;
    if (signal?.aborted) return canceledError(what, signal.reason);
    if (this.#closed) return closedError(`S3 staging ${this.description}`);
    const e = (error ?? {}) as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    const name = e.name ?? 'Error';
    const status = e.$metadata?.httpStatusCode;
    const endpoint = this.#options.endpoint ?? `region ${this.#region}`;
    const detail = redactString(`${name}${e.code && e.code !== name ? ` ${e.code}` : ''}: ${e.message ?? ''}`, this.#secrets);
    const opts = { store: this.description, key };
    switch (name) {
      case 'AbortError':
        return canceledError(what);
      case 'NoSuchBucket':
        return new StagingError(
          'ERR_STAGING_NO_SUCH_BUCKET',
          `S3 staging bucket "${this.bucket}" does not exist (${endpoint}); check jobs.staging.location and jobs.staging.options.region`,
          { ...opts, retryable: false },
        );
      case 'AccessDenied':
      case 'AllAccessDisabled':
      case 'Forbidden': // a 403 without a body (HEAD), hence without an error code
        return new StagingError(
          'ERR_STAGING_ACCESS_DENIED',
          `access denied ${what}: the staging credentials need s3:PutObject, s3:GetObject, s3:ListBucket and s3:DeleteObject on bucket "${this.bucket}"`,
          { ...opts, retryable: false },
        );
      case 'InvalidAccessKeyId':
      case 'SignatureDoesNotMatch':
        return new StagingError(
          'ERR_STAGING_CREDENTIALS_REJECTED',
          `S3 rejected the staging credentials for bucket "${this.bucket}" (${name}); check jobs.staging.credentials, or the credentials this worker was given`,
          { ...opts, retryable: false },
        );
      case 'CredentialsProviderError':
        return new StagingError(
          'ERR_STAGING_NO_CREDENTIALS',
          `no AWS credentials for staging bucket "${this.bucket}": set jobs.staging.credentials, or give this machine credentials through the default AWS chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile or a role)`,
          { ...opts, retryable: false },
        );
      case 'PermanentRedirect':
      case 'AuthorizationHeaderMalformed':
        // What AWS answers when the bucket lives in another region than the one signed for.
        return new StagingError(
          'ERR_STAGING_FAILED',
          `S3 staging bucket "${this.bucket}" is not in ${this.#region} (${detail}); set jobs.staging.options.region to the bucket's region`,
          { ...opts, retryable: false },
        );
      default: {
        if (e.code !== undefined && UNREACHABLE_CODES.has(e.code)) {
          return new StagingError(
            'ERR_STAGING_UNAVAILABLE',
            `cannot reach S3 at ${endpoint} ${what} (${e.code}); check jobs.staging.options.endpoint and that this machine can reach it`,
            { ...opts, retryable: true },
          );
        }
        const retryable = isRetryableUploadError(error);
        return new StagingError(
          retryable ? 'ERR_STAGING_UNAVAILABLE' : 'ERR_STAGING_FAILED',
          `${what} failed (${status !== undefined ? `HTTP ${status}, ` : ''}${detail})`,
          { ...opts, retryable },
        );
      }
    }
  }
}

// `NoSuchKey` / `NoSuchBucket` from a request with a body, `NotFound` from a HEAD request.
function isNotFound(error: unknown, code: 'NoSuchKey' | 'NoSuchBucket'): boolean {
  const name = (error as { name?: string } | null)?.name;
  return name === code || name === 'NotFound';
}
