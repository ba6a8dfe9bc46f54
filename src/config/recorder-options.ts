import { validateStagingConfig } from '../jobs/staging/open-staging.js';
import { resolve } from 'node:path';
import { COMPOSITE_OPTION_NAMES, validateCompositeOptions } from '../compose/compositor.js';
import { InvalidConfigError } from '../errors.js';
import { resolveMuxOptions, type MuxOptions } from '../mux/options.js';
import type { SfuRecorderOptions } from '../recorder/sfu-recorder.js';
import { LocalStorage, validateLocalStorageOptions } from '../storage/local-storage.js';
import { DEFAULT_UPLOAD_RETRY, DEFAULT_WEBHOOK_RETRY, resolveRetryPolicy, type RetryPolicy } from '../storage/retry.js';
import { normaliseKeyPrefix } from './key-prefix.js';
import { validateWebhookConfig } from './room-config.js';
import {
  describeType,
  describeValue,
  expectFunction,
  expectObject,
  integerIn,
  nonEmptyString,
  numberIn,
  optionalBoolean,
  optionNames,
} from './validate.js';

/** Default `spoolDir`, relative to the working directory. */
export const DEFAULT_SPOOL_DIR = 'sfu-recorder/spool';
/** Default `gracePeriodMs`: 30 s. */
export const DEFAULT_GRACE_PERIOD_MS = 30_000;
/** Default `reconnectWindowMs`: 5 s. */
export const DEFAULT_RECONNECT_WINDOW_MS = 5000;
/** Default `keepSessionsMs`: 24 hours. */
export const DEFAULT_KEEP_SESSIONS_MS = 24 * 60 * 60 * 1000;
/** The longest a timer can wait (`setTimeout` fires at once beyond it): about 24.8 days. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** {@link SfuRecorderOptions} once checked, with the defaults of the values the recorder derives from. */
export type ResolvedRecorderOptions = Omit<SfuRecorderOptions, 'spoolDir' | 'gracePeriodMs' | 'reconnectWindowMs' | 'keepSessionsMs'> & {
  /** Absolute. */
  spoolDir: string;
  gracePeriodMs: number;
  reconnectWindowMs: number;
  keepSessionsMs: number;
};

const RECORDER_OPTION_NAMES = optionNames<SfuRecorderOptions>({
  spoolDir: true,
  ffmpegPath: true,
  ffprobePath: true,
  gracePeriodMs: true,
  reconnectWindowMs: true,
  identifyProducer: true,
  newSessionId: true,
  recoverOnStart: true,
  defaultStorage: true,
  destination: true,
  webhook: true,
  delivery: true,
  logger: true,
  keepSessionsMs: true,
  individualOptions: true,
  compositeOptions: true,
  jobs: true,
});

const JOBS_OPTION_NAMES = optionNames<NonNullable<SfuRecorderOptions['jobs']>>({
  runner: true,
  redis: true,
  staging: true,
  queueName: true,
  attempts: true,
  concurrency: true,
});

const DELIVERY_OPTION_NAMES = optionNames<NonNullable<SfuRecorderOptions['delivery']>>({
  uploadRetry: true,
  webhookRetry: true,
  uploadConcurrency: true,
});

const RETRY_OPTION_NAMES = optionNames<RetryPolicy>({
  maxAttempts: true,
  maxElapsedMs: true,
  initialDelayMs: true,
  maxDelayMs: true,
});

const INDIVIDUAL_OPTION_NAMES = optionNames<NonNullable<SfuRecorderOptions['individualOptions']>>({
  width: true,
  height: true,
  maxFrameDimension: true,
  maxFramePixels: true,
  fps: true,
  videoGapFill: true,
  pausedTime: true,
  x264Preset: true,
  crf: true,
  audioBitrate: true,
  audioChannels: true,
  copyH264: true,
  reorder: true,
});

// The recorder passes its own ffmpeg and output paths to the compositor.
const RECORDER_COMPOSITE_OPTION_NAMES = COMPOSITE_OPTION_NAMES.filter(
  (name) => name !== 'ffmpegPath' && name !== 'ffprobePath' && name !== 'outFile',
);

const LOGGER_METHODS = ['debug', 'info', 'warn', 'error'] as const;

/**
 * Checks every option of `SfuRecorder.create()` (nested ones included) and fills in the
 * defaults the recorder derives from. Nothing is created on disk and nothing is started,
 * so a bad option leaves no trace. Unknown options are refused by name, with the closest
 * known name (`gracePeriodMS` → did you mean `gracePeriodMs`?).
 *
 * @throws {InvalidConfigError} whose `field` is the full path of the option at fault
 *   (`delivery.uploadConcurrency`, `individualOptions.width`, `defaultStorage.signingSecret`)
 *   and whose message names it, what was expected and the value (only the type for a
 *   field that may hold a credential).
 */
export function validateRecorderOptions(input: unknown): ResolvedRecorderOptions {
  // The options hold secrets (webhook, defaultStorage): a non-object is described by its type only.
  const o = expectObject('options', input === undefined ? {} : input, RECORDER_OPTION_NAMES, { root: true, secret: true });

  const spoolDir = resolve(o.spoolDir === undefined ? DEFAULT_SPOOL_DIR : nonEmptyString('spoolDir', o.spoolDir));
  if (o.ffmpegPath !== undefined) nonEmptyString('ffmpegPath', o.ffmpegPath);
  if (o.ffprobePath !== undefined) nonEmptyString('ffprobePath', o.ffprobePath);
  const gracePeriodMs = durationOption('gracePeriodMs', o.gracePeriodMs, DEFAULT_GRACE_PERIOD_MS);
  const reconnectWindowMs = durationOption('reconnectWindowMs', o.reconnectWindowMs, DEFAULT_RECONNECT_WINDOW_MS);
  const keepSessionsMs = o.keepSessionsMs === undefined ? DEFAULT_KEEP_SESSIONS_MS : o.keepSessionsMs;
  if (typeof keepSessionsMs !== 'number' || !(keepSessionsMs >= 0)) {
    throw new InvalidConfigError('keepSessionsMs', `keepSessionsMs must be a number >= 0 or Infinity (got ${describeValue(keepSessionsMs)})`);
  }
  if (o.identifyProducer !== undefined) {
    expectFunction('identifyProducer', o.identifyProducer, '(producer, transport) => { peerId, streamId, ... }');
  }
  if (o.newSessionId !== undefined) expectFunction('newSessionId', o.newSessionId, 'returning a session id');
  optionalBoolean('recoverOnStart', o.recoverOnStart, true);
  if (o.defaultStorage !== undefined && !(o.defaultStorage instanceof LocalStorage)) {
    validateLocalStorageOptions(o.defaultStorage, 'defaultStorage');
  }
  if (o.destination !== undefined) validateDestination('destination', o.destination);
  if (o.webhook !== undefined) validateWebhookConfig(o.webhook);
  if (o.delivery !== undefined) validateDelivery(o.delivery);
  if (o.logger !== undefined) validateLogger('logger', o.logger);
  if (o.individualOptions !== undefined) validateIndividualOptions(o.individualOptions);
  if (o.compositeOptions !== undefined) {
    validateCompositeOptions(o.compositeOptions, 'compositeOptions', RECORDER_COMPOSITE_OPTION_NAMES);
  }
  if (o.jobs !== undefined) validateJobs(o.jobs);
  return { ...(o as SfuRecorderOptions), spoolDir, gracePeriodMs, reconnectWindowMs, keepSessionsMs };
}

/**
 * `jobs`: a runner of yours, or BullMQ on Redis (a URL or a connection) with a staging store.
 * A Redis URL may hold a password: it is never echoed.
 */
function validateJobs(input: unknown): void {
  const o = expectObject('jobs', input, JOBS_OPTION_NAMES, { secret: true });
  if (o.runner !== undefined) {
    const runner = o.runner as { run?: unknown; close?: unknown; name?: unknown };
    if (typeof runner !== 'object' || runner === null || typeof runner.run !== 'function' || typeof runner.close !== 'function' || typeof runner.name !== 'string') {
      throw new InvalidConfigError('jobs.runner', `jobs.runner must be a JobRunner (name, run(), close()) (got ${describeValue(o.runner)})`);
    }
    if (o.redis !== undefined) throw new InvalidConfigError('jobs.redis', 'jobs.redis and jobs.runner cannot be used together: the runner decides where jobs run');
  }
  if (o.redis !== undefined) {
    const isUrl = typeof o.redis === 'string' && /^rediss?:\/\/[^\s]+$/.test(o.redis);
    const isConnection = typeof o.redis === 'object' && o.redis !== null && typeof (o.redis as { duplicate?: unknown }).duplicate === 'function';
    if (!isUrl && !isConnection) {
      throw new InvalidConfigError('jobs.redis', `jobs.redis must be a redis:// or rediss:// URL or an ioredis connection (got ${typeof o.redis === 'string' ? 'a string that is not one' : describeValue(o.redis)})`);
    }
  }
  if (o.staging !== undefined) {
    if (o.redis === undefined) throw new InvalidConfigError('jobs.staging', 'jobs.staging is for the BullMQ runner: set jobs.redis as well');
    const store = o.staging as { put?: unknown; get?: unknown };
    if (!(typeof store.put === 'function' && typeof store.get === 'function')) validateStagingConfig(o.staging, 'jobs.staging');
  }
  if (o.queueName !== undefined) {
    if (!(typeof o.queueName === 'string' && /^[A-Za-z0-9_.-]{1,100}$/.test(o.queueName))) {
      throw new InvalidConfigError('jobs.queueName', `jobs.queueName must be 1 to 100 letters, digits, '_', '.' or '-' (got ${describeValue(o.queueName)})`);
    }
  }
  if (o.attempts !== undefined) integerIn('jobs.attempts', o.attempts, 1, 100);
  if (o.concurrency !== undefined) integerIn('jobs.concurrency', o.concurrency, 1, 1024);
}

/** A duration in ms that a timer waits: a number >= 0 that `setTimeout` can wait. */
function durationOption(field: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidConfigError(field, `${field} must be a number >= 0 (got ${describeValue(value)})`);
  }
  if (value > MAX_TIMER_MS) {
    throw new InvalidConfigError(field, `${field} must be at most ${MAX_TIMER_MS} ms, the longest a timer can wait (got ${describeValue(value)})`);
  }
  return value;
}

function validateDelivery(input: unknown): void {
  const o = expectObject('delivery', input, DELIVERY_OPTION_NAMES);
  if (o.uploadRetry !== undefined) validateRetry('delivery.uploadRetry', o.uploadRetry, DEFAULT_UPLOAD_RETRY);
  if (o.webhookRetry !== undefined) {
    const retry = expectObject('delivery.webhookRetry', o.webhookRetry, RETRY_OPTION_NAMES);
    // Silently ignored otherwise: each webhook's own configuration sets it.
    if (retry.maxAttempts !== undefined) {
      throw new InvalidConfigError(
        'delivery.webhookRetry.maxAttempts',
        'delivery.webhookRetry.maxAttempts is not used: set maxAttempts in the webhook configuration (webhook.maxAttempts)',
      );
    }
    validateRetry('delivery.webhookRetry', retry, DEFAULT_WEBHOOK_RETRY);
  }
  if (o.uploadConcurrency !== undefined) integerIn('delivery.uploadConcurrency', o.uploadConcurrency, 1, 64);
}

function validateRetry(field: string, input: unknown, defaults: RetryPolicy): void {
  const o = expectObject(field, input, RETRY_OPTION_NAMES);
  if (o.maxAttempts !== undefined) integerIn(`${field}.maxAttempts`, o.maxAttempts, 1, 1000);
  const year = 365 * 24 * 3600_000;
  for (const name of ['maxElapsedMs', 'initialDelayMs', 'maxDelayMs'] as const) {
    if (o[name] !== undefined) numberIn(`${field}.${name}`, o[name], 0, year);
  }
  // The same check the delivery makes, so what passes here passes there.
  resolveRetryPolicy(field, o as Partial<RetryPolicy>, defaults);
}

/** An UploadDestination: an object with a non-empty `id` and an `upload()` method (`close()` and `keyPrefix` optional). */
function validateDestination(field: string, value: unknown): void {
  const expected = 'an UploadDestination is an object with an id (a non-empty string) and an upload(request) method';
  if (value === null || typeof value !== 'object') {
    throw new InvalidConfigError(field, `${field} must be an UploadDestination (got ${describeType(value)}): ${expected}`);
  }
  const destination = value as Record<string, unknown>;
  if (typeof destination.id !== 'string' || destination.id === '') {
    throw new InvalidConfigError(`${field}.id`, `${field}.id must be a non-empty string (got ${describeValue(destination.id)}): ${expected}`);
  }
  if (typeof destination.upload !== 'function') {
    throw new InvalidConfigError(`${field}.upload`, `${field}.upload must be a method (got ${describeValue(destination.upload)}): ${expected}`);
  }
  if (destination.close !== undefined) expectFunction(`${field}.close`, destination.close, 'releasing connections');
  if (destination.keyPrefix !== undefined) normaliseKeyPrefix(`${field}.keyPrefix`, destination.keyPrefix);
}

/** Any object with the Logger methods it has as functions, and at least one of them. */
function validateLogger(field: string, value: unknown): void {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) {
    throw new InvalidConfigError(field, `${field} must be an object with debug/info/warn/error methods, such as console or a pino logger (got ${describeValue(value)})`);
  }
  const logger = value as Record<string, unknown>;
  let methods = 0;
  for (const name of LOGGER_METHODS) {
    if (logger[name] === undefined) continue;
    expectFunction(`${field}.${name}`, logger[name], '(message, fields)');
    methods++;
  }
  if (methods === 0) {
    throw new InvalidConfigError(field, `${field} has none of the methods debug, info, warn, error (omit logger for no logging)`);
  }
}

/** `individualOptions`: the mux's own validator, its errors named under `individualOptions.`. */
function validateIndividualOptions(input: unknown): void {
  const o = expectObject('individualOptions', input, INDIVIDUAL_OPTION_NAMES);
  // What resolveMuxOptions takes as given.
  if (o.audioChannels !== undefined && o.audioChannels !== 1 && o.audioChannels !== 2) {
    throw new InvalidConfigError('individualOptions.audioChannels', `individualOptions.audioChannels must be 1 or 2 (got ${describeValue(o.audioChannels)})`);
  }
  optionalBoolean('individualOptions.copyH264', o.copyH264, true);
  if (o.reorder !== undefined) {
    const reorder = expectObject('individualOptions.reorder', o.reorder, ['maxPackets', 'maxDelayMs']);
    if (reorder.maxPackets !== undefined) integerIn('individualOptions.reorder.maxPackets', reorder.maxPackets, 1, 32_768);
    if (reorder.maxDelayMs !== undefined) numberIn('individualOptions.reorder.maxDelayMs', reorder.maxDelayMs, 0, 10_000);
  }
  try {
    resolveMuxOptions(o as MuxOptions);
  } catch (error) {
    throw renamed(error, 'individualOptions');
  }
}

// The mux names its fields `mux.<name>`; in the recorder's options they are `individualOptions.<name>`.
function renamed(error: unknown, prefix: string): InvalidConfigError {
  if (!(error instanceof InvalidConfigError)) {
    return new InvalidConfigError(prefix, `${prefix} is not valid: ${error instanceof Error ? error.message : String(error)}`);
  }
  const name = error.field.replace(/^mux\./, '');
  const field = `${prefix}.${name}`;
  const message = error.message.startsWith(error.field) ? `${field}${error.message.slice(error.field.length)}` : `${field}: ${error.message}`;
  return new InvalidConfigError(field, message);
}
