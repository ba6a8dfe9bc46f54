import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { InvalidConfigError } from '../../src/errors.js';
import { SfuRecorder, type SfuRecorderOptions } from '../../src/recorder/sfu-recorder.js';
import { LocalStorage } from '../../src/storage/local-storage.js';
import type { UploadDestination } from '../../src/storage/upload-destination.js';
import { tempDir } from '../helpers/recorder-fixtures.js';
import { newWebhookSecret } from '../helpers/webhook-receiver.js';

const parent = tempDir('recorder-options');
const storageRoot = join(parent, 'storage');
const whsec = newWebhookSecret();
const destination: UploadDestination = { id: 'custom:test', upload: () => Promise.resolve({ location: 'x', sizeBytes: 0 }) };
// The default spool directory, relative to the working directory: a bad call must not create it either.
const defaultSpool = resolve('sfu-recorder');
const defaultSpoolExisted = existsSync(defaultSpool);

afterAll(() => {
  expect(existsSync(defaultSpool)).toBe(defaultSpoolExisted);
});

/**
 * Bad options: [field at fault, options, what the message must show of the value].
 * `null` for the value: the field may hold a credential, so its value must not appear.
 */
const BAD: Array<[string, Record<string, unknown>, string | null]> = [
  ['spoolDir', { spoolDir: 42 }, '42'],
  ['spoolDir', { spoolDir: '' }, '""'],
  ['ffmpegPath', { ffmpegPath: 7 }, '7'],
  ['ffprobePath', { ffprobePath: ['ffprobe'] }, 'an array'],
  ['gracePeriodMs', { gracePeriodMs: Number.NaN }, 'NaN'],
  ['gracePeriodMs', { gracePeriodMs: -1 }, '-1'],
  ['gracePeriodMs', { gracePeriodMs: 1e308 }, '1e+308'],
  ['gracePeriodMs', { gracePeriodMs: '30s' }, '"30s"'],
  ['gracePeriodMS', { gracePeriodMS: 1000 }, 'did you mean gracePeriodMs?'],
  ['reconnectWindowMs', { reconnectWindowMs: -1 }, '-1'],
  ['reconnectWindowMs', { reconnectWindowMs: Infinity }, 'Infinity'],
  ['keepSessionsMs', { keepSessionsMs: -5 }, '-5'],
  ['keepSessionsMs', { keepSessionsMs: 'forever' }, '"forever"'],
  ['identifyProducer', { identifyProducer: 'appData' }, '"appData"'],
  ['newSessionId', { newSessionId: 42 }, '42'],
  ['recoverOnStart', { recoverOnStart: 'yes' }, '"yes"'],
  ['defaultStorage.urlTtlMs', { defaultStorage: { root: storageRoot, urlTtlMs: -1 } }, '-1'],
  ['defaultStorage.urlTtlMs', { defaultStorage: { root: storageRoot, urlTtlMs: 'abc' } }, '"abc"'],
  ['defaultStorage.urlTtlMs', { defaultStorage: { root: storageRoot, urlTtlMs: 1e308 } }, '1e+308'],
  ['defaultStorage.signingSecret', { defaultStorage: { root: storageRoot, signingSecret: 42 } }, null],
  ['defaultStorage.signingSecret', { defaultStorage: { root: storageRoot, signingSecret: '' } }, null],
  ['defaultStorage.signingSecret', { defaultStorage: { root: storageRoot, signingSecret: 'hunter2hunter2' } }, null],
  ['defaultStorage.root', { defaultStorage: { root: 42 } }, '42'],
  ['defaultStorage.baseUrl', { defaultStorage: { root: storageRoot, baseUrl: 'ftp://host/x' } }, '"ftp:"'],
  ['defaultStorage.rooot', { defaultStorage: { rooot: storageRoot } }, 'did you mean root?'],
  ['defaultStorage', { defaultStorage: storageRoot }, null],
  ['destination', { destination: 5 }, 'number'],
  ['destination.id', { destination: {} }, 'undefined'],
  ['destination.upload', { destination: { id: 'custom' } }, 'undefined'],
  ['destination.close', { destination: { ...destination, close: 'now' } }, '"now"'],
  ['destination.keyPrefix', { destination: { ...destination, keyPrefix: 'a/../b' } }, '"a/../b"'],
  ['webhook.url', { webhook: { url: 'mailto:x@y.z', secret: whsec } }, '"mailto:"'],
  ['webhook.maxAttempts', { webhook: { url: 'https://example.com/', secret: whsec, maxAttempts: 0 } }, '0'],
  ['webhook.secret', { webhook: { url: 'https://example.com/', secret: 'whsec_short' } }, null],
  ['delivery.uploadConcurrency', { delivery: { uploadConcurrency: Number.NaN } }, 'NaN'],
  ['delivery.uploadConcurrency', { delivery: { uploadConcurrency: 0 } }, '0'],
  ['delivery.uploadRetry.maxAttempts', { delivery: { uploadRetry: { maxAttempts: 2.5 } } }, '2.5'],
  ['delivery.uploadRetry.initialDelayMs', { delivery: { uploadRetry: { initialDelayMs: -1 } } }, '-1'],
  ['delivery.uploadRetry.maxDelay', { delivery: { uploadRetry: { maxDelay: 10 } } }, 'did you mean maxDelayMs?'],
  ['delivery.webhookRetry.maxAttempts', { delivery: { webhookRetry: { maxAttempts: 3 } } }, 'webhook.maxAttempts'],
  ['delivery.webhookRetry.maxDelayMs', { delivery: { webhookRetry: { maxDelayMs: 'long' } } }, '"long"'],
  ['delivery.uploadRetries', { delivery: { uploadRetries: {} } }, 'did you mean uploadRetry?'],
  ['logger', { logger: 5 }, '5'],
  ['logger.info', { logger: { info: 'yes' } }, '"yes"'],
  ['logger', { logger: {} }, 'none of the methods'],
  ['individualOptions.width', { individualOptions: { width: 8 } }, '8'],
  ['individualOptions.fps', { individualOptions: { fps: 'fast' } }, 'fast'],
  ['individualOptions.x264Preset', { individualOptions: { x264Preset: 'turbo' } }, 'turbo'],
  ['individualOptions.crf', { individualOptions: { crf: 99 } }, '99'],
  ['individualOptions.audioChannels', { individualOptions: { audioChannels: 6 } }, '6'],
  ['individualOptions.copyH264', { individualOptions: { copyH264: 'no' } }, '"no"'],
  ['individualOptions.reorder.maxPackets', { individualOptions: { reorder: { maxPackets: 0 } } }, '0'],
  ['individualOptions.witdh', { individualOptions: { witdh: 640 } }, 'did you mean width?'],
  ['individualOptions.ffmpeg', { individualOptions: { ffmpeg: {} } }, 'not a known field'],
  ['individualOptions', { individualOptions: 'hd' }, '"hd"'],
  ['compositeOptions.width', { compositeOptions: { width: 641 } }, '641'],
  ['compositeOptions.fps', { compositeOptions: { fps: 0 } }, '0'],
  ['compositeOptions.layout', { compositeOptions: { layout: 'mosaic' } }, '"mosaic"'],
  ['compositeOptions.background', { compositeOptions: { background: 'red[x];movie=/etc/passwd' } }, '"red[x];movie=/etc/passwd"'],
  ['compositeOptions.bitrate', { compositeOptions: { bitrate: 'fast' } }, '"fast"'],
  ['compositeOptions.audioBitrate', { compositeOptions: { audioBitrate: 128 } }, '128'],
  ['compositeOptions.preset', { compositeOptions: { preset: 'turbo' } }, '"turbo"'],
  ['compositeOptions.concurrency', { compositeOptions: { concurrency: 1.5 } }, '1.5'],
  ['compositeOptions.pauses', { compositeOptions: { pauses: 'skip' } }, '"skip"'],
  ['compositeOptions.outFile', { compositeOptions: { outFile: '/tmp/x.mp4' } }, 'not a known field'],
  ['compositeOptions', { compositeOptions: 'grid' }, '"grid"'],
  ['jobs.redis', { jobs: { redis: 'http://redis:6379' } }, 'a string that is not one'],
  // A Redis URL may hold a password: it is never shown.
  ['jobs.redis', { jobs: { redis: 'redis://:hunter2@redis :6379' } }, null],
  ['jobs.redis', { jobs: { redis: 6379 } }, '6379'],
  ['jobs.redis', { jobs: { redis: 'redis://r:6379', runner: { name: 'x', run: () => undefined, close: () => undefined } } }, 'cannot be used together'],
  ['jobs.runner', { jobs: { runner: { run: () => undefined } } }, 'JobRunner'],
  ['jobs.staging', { jobs: { staging: { type: 'directory', path: '/tmp' } } }, 'set jobs.redis as well'],
  ['jobs.staging.type', { jobs: { redis: 'redis://r:6379', staging: { type: 'nfs' } } }, '"nfs"'],
  ['jobs.staging.options.region', { jobs: { redis: 'redis://r:6379', staging: { type: 's3', location: 'bucket', options: { region: 'Mumbai' } } } }, '"Mumbai"'],
  ['jobs.staging.credentials.secret', { jobs: { redis: 'redis://r:6379', staging: { type: 's3', location: 'bucket', credentials: { key: 'AKIA', secret: 42 } } } }, null],
  ['jobs.attempts', { jobs: { redis: 'redis://r:6379', attempts: 0 } }, '0'],
  ['jobs.concurrency', { jobs: { concurrency: 2.5 } }, '2.5'],
  ['jobs.queueName', { jobs: { redis: 'redis://r:6379', queueName: 'a:b' } }, '"a:b"'],
  ['jobs.reddis', { jobs: { reddis: 'redis://r:6379' } }, 'did you mean redis?'],
];

describe('SfuRecorder.create() checks every option first', () => {
  test.each(BAD)('refuses a bad %s, naming it, and creates nothing', async (field, bad, shown) => {
    const spoolDir = join(parent, `spool-${field}-${Math.random().toString(36).slice(2)}`);
    const options = { spoolDir, ...bad } as SfuRecorderOptions;
    const error = await SfuRecorder.create(options).then(
      async (recorder) => {
        await recorder.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InvalidConfigError);
    const invalid = error as InvalidConfigError;
    expect(invalid.code).toBe('ERR_INVALID_CONFIG');
    expect(invalid.field).toBe(field);
    expect(invalid.message.startsWith(field), invalid.message).toBe(true);
    if (shown !== null) expect(invalid.message).toContain(shown);
    // Nothing was created on disk for the bad call: no spool, no storage directory.
    const spoolGiven = typeof bad.spoolDir === 'string' && bad.spoolDir !== '' ? bad.spoolDir : spoolDir;
    expect(existsSync(spoolGiven)).toBe(false);
    expect(existsSync(storageRoot)).toBe(false);
  });

  test('a Redis URL with a password is never echoed', async () => {
    const error = (await SfuRecorder.create({ spoolDir: join(parent, 'spool-redis-pw'), jobs: { redis: 'redis://:hunter2@bad host:6379' } }).catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/^jobs\.redis must be/);
    expect(JSON.stringify({ message: error.message, stack: error.stack })).not.toContain('hunter2');
  });

  test('a non-object is refused by its type only', async () => {
    await expect(SfuRecorder.create('/var/spool' as never)).rejects.toMatchObject({
      name: 'InvalidConfigError',
      field: 'options',
      message: 'options must be an object (got a string)',
    });
  });

  test('every option set to a valid value is accepted, and the recorder starts and closes', async () => {
    const spoolDir = join(parent, 'valid-spool');
    const recorder = await SfuRecorder.create({
      spoolDir,
      gracePeriodMs: 0,
      reconnectWindowMs: 2 ** 31 - 1,
      keepSessionsMs: Infinity,
      identifyProducer: () => ({ peerId: 'p', streamId: 's', source: 'camera' }),
      newSessionId: () => 'session',
      recoverOnStart: false,
      defaultStorage: new LocalStorage({ root: storageRoot, signingSecret: 'k'.repeat(32), urlTtlMs: 7 * 24 * 3600_000 }),
      destination: { ...destination, keyPrefix: 'custom/prefix', close: () => undefined },
      webhook: { url: 'https://example.com/hook', secret: whsec, maxAttempts: 3, timeoutMs: 1000 },
      delivery: { uploadConcurrency: 4, uploadRetry: { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 100, maxElapsedMs: 1000 }, webhookRetry: { initialDelayMs: 10 } },
      logger: console,
      individualOptions: { width: 640, height: 360, fps: 25, videoGapFill: 'hold', pausedTime: 'keep', x264Preset: 'ultrafast', crf: 30, audioBitrate: 64_000, audioChannels: 1, copyH264: false, reorder: { maxPackets: 256, maxDelayMs: 200 } },
      compositeOptions: { layout: () => [], width: 320, height: 180, fps: 15, background: 'black', preset: 'ultrafast', bitrate: '500k', crf: 28, audioBitrate: '96k', concurrency: 1, maxSegmentMs: 5000, minSpeakerMs: 0, pauses: 'keep', fontFile: '/nonexistent.ttf', skipMissingSources: true },
    });
    expect(recorder.spoolDir).toBe(spoolDir);
    expect(readdirSync(spoolDir)).toBeDefined();
    await recorder.close();
  });
});
