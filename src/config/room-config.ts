import { InvalidConfigError } from '../errors.js';
import { normaliseKeyPrefix } from './key-prefix.js';
import { Secret } from './secret.js';
import { describeType, describeValue, expectObject, optionalBoolean, optionalInteger, parseHttpUrl } from './validate.js';

/** The region used when `upload.options.region` is not given (the hosted services' default). */
export const DEFAULT_S3_REGION = 'ap-south-1';
/** Default for `webhook.maxAttempts`. */
export const DEFAULT_WEBHOOK_MAX_ATTEMPTS = 10;
/** Default for `webhook.timeoutMs`. */
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 15_000;

// ---------------------------------------------------------------------------------------
// What users write (field names fixed by the hosted services users come from).
// ---------------------------------------------------------------------------------------

/** `upload.credentials` as written by the user. Absent: the default AWS credential chain. */
export interface UploadCredentialsInput {
  /** Access key id. */
  key: string;
  /** Secret access key. */
  secret: string;
}

/** `upload.options` as written by the user. */
export interface S3UploadOptionsInput {
  /** AWS region; default `ap-south-1`. */
  region?: string;
  /** An S3-compatible endpoint (MinIO, R2, ...), e.g. `http://127.0.0.1:9000`. */
  endpoint?: string;
  /** Path-style addressing (`endpoint/bucket/key`); default true when `endpoint` is set. */
  forcePathStyle?: boolean;
}

/** The upload destination of a room, as written by the user. Only `s3` today. */
export interface S3UploadConfigInput {
  type: 's3';
  /** Bucket name. */
  location: string;
  /** Key prefix; leading and trailing `/` are ignored. */
  prefix?: string;
  options?: S3UploadOptionsInput;
  credentials?: UploadCredentialsInput;
}

/** Any upload destination a room configuration may name. */
export type UploadConfigInput = S3UploadConfigInput;

/** Where and how result notifications are POSTed ([Standard Webhooks](https://www.standardwebhooks.com/)). */
export interface WebhookConfigInput {
  /** `http:` or `https:` URL the events are POSTed to. */
  url: string;
  /** Signing secret: `whsec_` + base64 of 24 to 64 random bytes (the Standard Webhooks format). */
  secret: string;
  /** How many times one event is attempted before it is given up; default 10. */
  maxAttempts?: number;
  /** Per-attempt timeout in ms; default 15000. */
  timeoutMs?: number;
}

/** What happens to a spool file once its upload is confirmed. */
export interface RetentionConfigInput {
  /**
   * `false` (default): delete the spool file as soon as the upload is confirmed.
   * `true`: keep it. A number: keep it that many milliseconds, then delete it.
   * A file whose upload failed is always kept, whatever this says.
   */
  keepUploadedFiles?: boolean | number;
}

/** The recording configuration of a room, as passed to `enableRoom`. */
export interface RoomRecordingConfigInput {
  /** One mp4 per peer stream; default true. */
  individual?: boolean;
  /** One mp4 of the whole session; default true. */
  composite?: boolean;
  /** Where files go; absent: the default (local) storage. */
  upload?: UploadConfigInput;
  /** Where result notifications are POSTed; absent: events only. */
  webhook?: WebhookConfigInput;
  retention?: RetentionConfigInput;
}

// ---------------------------------------------------------------------------------------
// What validation returns: defaults applied, credentials wrapped in Secret.
// ---------------------------------------------------------------------------------------

/** Validated credentials. The values print as `[redacted]`; read them with `reveal()`. */
export interface UploadCredentials {
  key: Secret;
  secret: Secret;
}

/** A validated S3 upload destination. */
export interface S3UploadConfig {
  type: 's3';
  location: string;
  /** Without leading/trailing `/`; absent when empty. */
  prefix?: string;
  options: { region: string; endpoint?: string; forcePathStyle: boolean };
  credentials?: UploadCredentials;
}

/** Any validated upload destination. */
export type UploadConfig = S3UploadConfig;

/** A validated webhook configuration. */
export interface WebhookConfig {
  url: string;
  secret: Secret;
  maxAttempts: number;
  timeoutMs: number;
}

/** A validated retention policy. */
export interface RetentionConfig {
  keepUploadedFiles: boolean | number;
}

/** A validated room recording configuration; safe to log, stringify and emit. */
export interface RoomRecordingConfig {
  individual: boolean;
  composite: boolean;
  upload?: UploadConfig;
  webhook?: WebhookConfig;
  retention: RetentionConfig;
}

/**
 * Checks a room's recording configuration and returns it normalised (defaults applied,
 * region `ap-south-1`, prefix without stray `/`, credentials wrapped so they never print).
 *
 * @throws {InvalidConfigError} naming the first field at fault and what was expected,
 *   e.g. `upload.location is required` or `upload.type "gcs" is not supported (only "s3")`.
 *   Messages never contain credential values.
 */
export function validateRoomRecordingConfig(input: unknown): RoomRecordingConfig {
  const root = input === undefined ? {} : input;
  // The configuration, `upload` and `webhook` hold credentials: a wrong value there is described by its type only.
  const obj = expectObject('config', root, ['individual', 'composite', 'upload', 'webhook', 'retention'], {
    root: true,
    secret: true,
  });
  const individual = optionalBoolean('individual', obj.individual, true);
  const composite = optionalBoolean('composite', obj.composite, true);
  if (!individual && !composite) {
    throw new InvalidConfigError(
      'individual',
      'individual and composite are both false: at least one kind of recording must be enabled',
    );
  }
  const config: RoomRecordingConfig = {
    individual,
    composite,
    retention: validateRetention(obj.retention),
  };
  if (obj.upload !== undefined) config.upload = validateUploadConfig(obj.upload);
  if (obj.webhook !== undefined) config.webhook = validateWebhookConfig(obj.webhook);
  return config;
}

/**
 * Checks one upload destination (`upload` of a room configuration); field names in errors
 * are prefixed with `upload.`.
 */
export function validateUploadConfig(input: unknown): UploadConfig {
  return validateS3UploadConfig(input, 'upload');
}

/**
 * The checks of {@link validateUploadConfig} for an S3 location configured under another
 * field (`jobs.staging`, say): every field name in errors is prefixed with `field`.
 * @internal
 */
export function validateS3UploadConfig(input: unknown, field: string): S3UploadConfig {
  const obj = expectObject(field, input, ['type', 'location', 'prefix', 'options', 'credentials'], { secret: true });
  if (obj.type === undefined) throw new InvalidConfigError(`${field}.type`, `${field}.type is required (only "s3" is supported)`);
  if (obj.type !== 's3') {
    const shown = typeof obj.type === 'string' ? JSON.stringify(obj.type) : `of type ${typeof obj.type}`;
    throw new InvalidConfigError(`${field}.type`, `${field}.type ${shown} is not supported (only "s3")`);
  }
  if (obj.location === undefined || obj.location === '') {
    throw new InvalidConfigError(`${field}.location`, `${field}.location is required (the bucket name)`);
  }
  if (typeof obj.location !== 'string') {
    throw new InvalidConfigError(`${field}.location`, `${field}.location must be a string (got ${typeof obj.location})`);
  }
  assertBucketName(`${field}.location`, obj.location);

  const config: S3UploadConfig = {
    type: 's3',
    location: obj.location,
    options: validateS3Options(obj.options, `${field}.options`),
  };
  const prefix = normaliseKeyPrefix(`${field}.prefix`, obj.prefix);
  if (prefix !== undefined) config.prefix = prefix;
  // Secret values print as [redacted], so the config stays safe to stringify and log.
  if (obj.credentials !== undefined) config.credentials = validateCredentials(obj.credentials, `${field}.credentials`);
  return config;
}

/** Checks a webhook configuration; field names in errors are prefixed with `webhook.`. */
export function validateWebhookConfig(input: unknown): WebhookConfig {
  const obj = expectObject('webhook', input, ['url', 'secret', 'maxAttempts', 'timeoutMs'], { secret: true });
  if (obj.url === undefined || obj.url === '') throw new InvalidConfigError('webhook.url', 'webhook.url is required');
  if (typeof obj.url !== 'string') {
    throw new InvalidConfigError('webhook.url', `webhook.url must be a string (got ${describeType(obj.url)})`);
  }
  // A webhook URL is often a credential itself (a token in its path, as Slack's are): never echoed.
  const url = parseHttpUrl('webhook.url', obj.url, { secret: true });
  if (obj.secret === undefined || obj.secret === '') {
    throw new InvalidConfigError('webhook.secret', 'webhook.secret is required (whsec_ followed by base64)');
  }
  if (typeof obj.secret !== 'string') {
    throw new InvalidConfigError('webhook.secret', `webhook.secret must be a string (got ${describeType(obj.secret)})`);
  }
  assertWebhookSecret('webhook.secret', obj.secret);
  return {
    url: url.href,
    secret: new Secret(obj.secret),
    maxAttempts: optionalInteger('webhook.maxAttempts', obj.maxAttempts, DEFAULT_WEBHOOK_MAX_ATTEMPTS, 1, 100),
    timeoutMs: optionalInteger('webhook.timeoutMs', obj.timeoutMs, DEFAULT_WEBHOOK_TIMEOUT_MS, 100, 300_000),
  };
}

function validateS3Options(input: unknown, field: string): S3UploadConfig['options'] {
  const obj = input === undefined ? {} : expectObject(field, input, ['region', 'endpoint', 'forcePathStyle']);
  let region = DEFAULT_S3_REGION;
  if (obj.region !== undefined) {
    if (typeof obj.region !== 'string' || !/^[a-z0-9]+(-[a-z0-9]+)*$/.test(obj.region)) {
      throw new InvalidConfigError(
        `${field}.region`,
        `${field}.region must be a region name such as "ap-south-1" (got ${describeValue(obj.region)})`,
      );
    }
    region = obj.region;
  }
  const options: S3UploadConfig['options'] = { region, forcePathStyle: false };
  if (obj.endpoint !== undefined) {
    if (typeof obj.endpoint !== 'string' || obj.endpoint === '') {
      throw new InvalidConfigError(
        `${field}.endpoint`,
        `${field}.endpoint must be an http(s) URL (got ${describeValue(obj.endpoint)})`,
      );
    }
    const url = parseHttpUrl(`${field}.endpoint`, obj.endpoint);
    if (url.search !== '' || url.hash !== '') {
      throw new InvalidConfigError(`${field}.endpoint`, `${field}.endpoint must not have a query or fragment`);
    }
    options.endpoint = url.href.replace(/\/$/, '');
    options.forcePathStyle = true;
  }
  if (obj.forcePathStyle !== undefined) {
    options.forcePathStyle = optionalBoolean(`${field}.forcePathStyle`, obj.forcePathStyle, options.forcePathStyle);
  }
  return options;
}

function validateCredentials(input: unknown, parent: string): UploadCredentials {
  // The AWS SDK's names are a common mistake; any other unknown name is not shown (it may be a credential).
  const obj = expectObject(parent, input, ['key', 'secret'], {
    secret: true,
    hideUnknownNames: true,
    hints: { accessKeyId: 'key', secretAccessKey: 'secret', accessKey: 'key', secretKey: 'secret' },
  });
  for (const name of ['key', 'secret'] as const) {
    const value = obj[name];
    const field = `${parent}.${name}`;
    if (value === undefined || value === '') {
      throw new InvalidConfigError(
        field,
        `${field} is required when ${parent} is given (omit credentials to use the default AWS credential chain)`,
      );
    }
    // Never echo the value: only its type.
    if (typeof value !== 'string') throw new InvalidConfigError(field, `${field} must be a string (got ${describeType(value)})`);
    if (value.trim() !== value) throw new InvalidConfigError(field, `${field} has leading or trailing whitespace`);
  }
  return Object.freeze({ key: new Secret(obj.key as string), secret: new Secret(obj.secret as string) });
}

function validateRetention(input: unknown): RetentionConfig {
  if (input === undefined) return { keepUploadedFiles: false };
  const obj = expectObject('retention', input, ['keepUploadedFiles']);
  const keep = obj.keepUploadedFiles;
  if (keep === undefined) return { keepUploadedFiles: false };
  if (typeof keep === 'boolean') return { keepUploadedFiles: keep };
  if (typeof keep === 'number' && Number.isFinite(keep) && keep >= 0) return { keepUploadedFiles: keep };
  throw new InvalidConfigError(
    'retention.keepUploadedFiles',
    `retention.keepUploadedFiles must be a boolean or a number of milliseconds >= 0 (got ${describeValue(keep)})`,
  );
}

/**
 * S3 bucket naming rules (the strictest common subset of AWS, MinIO and R2).
 * @internal
 */
export function assertBucketName(field: string, name: string): void {
  const ok =
    /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) && !name.includes('..') && !/^\d+\.\d+\.\d+\.\d+$/.test(name);
  if (!ok) {
    throw new InvalidConfigError(
      field,
      `${field} ${JSON.stringify(name)} is not a valid bucket name (3-63 characters: lowercase letters, digits, "." and "-", starting and ending with a letter or digit)`,
    );
  }
}

function assertWebhookSecret(field: string, secret: string): void {
  const body = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret;
  const bytes = /^[A-Za-z0-9+/]+={0,2}$/.test(body) ? Buffer.from(body, 'base64').length : 0;
  if (bytes < 24 || bytes > 64) {
    throw new InvalidConfigError(field, `${field} must be "whsec_" followed by the base64 of 24 to 64 random bytes`);
  }
}
