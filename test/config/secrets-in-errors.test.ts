import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, test } from 'vitest';
import { validateRecorderOptions } from '../../src/config/recorder-options.js';
import { validateRoomRecordingConfig } from '../../src/config/room-config.js';
import { Secret } from '../../src/config/secret.js';
import { InvalidConfigError } from '../../src/errors.js';
import { SfuRecorder } from '../../src/recorder/sfu-recorder.js';
import { LocalStorage, type LocalStorageOptions } from '../../src/storage/local-storage.js';
import { tempDir } from '../helpers/recorder-fixtures.js';

// Recognisable, and short enough that a validator echoing short strings would print it.
const CANARY = 'CANARY-s3cr3t-7f3a9';
const LONG_CANARY = `${CANARY}${'x'.repeat(40)}`;
const WHSEC = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;

/** Every wrong shape a credential value can take, each carrying the canary. */
const WRONG_SHAPES: unknown[] = [
  CANARY,
  ` ${CANARY}`,
  `${LONG_CANARY}\n`,
  [CANARY],
  { value: CANARY },
  new Secret(CANARY),
  Buffer.from(CANARY),
  new String(CANARY),
  `whsec_${CANARY}`,
  `https://user:${CANARY}@example.com/hook`,
  `https://example.com/${CANARY} with spaces`,
  `s3://${CANARY}:${CANARY}@bucket`,
];

/**
 * The credential pasted as a field name. Field names are shown in errors (`upload.bucket is
 * not a known field`) except inside `upload.credentials`, where they are hidden; so this shape
 * applies to every field but the containers whose other names are ordinary option names.
 */
const AS_FIELD_NAME = { [CANARY]: true };
const CONTAINERS = new Set(['config', 'upload', 'webhook', 'options', 'defaultStorage']);

/** Where a credential can be written in a room configuration, as a function of the value put there. */
const ROOM_FIELDS: Record<string, (value: unknown) => unknown> = {
  config: (value) => value,
  upload: (value) => ({ upload: value }),
  'upload.credentials': (value) => ({ upload: { type: 's3', location: 'bucket', credentials: value } }),
  'upload.credentials.key': (value) => ({ upload: { type: 's3', location: 'bucket', credentials: { key: value, secret: 'ok' } } }),
  'upload.credentials.secret': (value) => ({ upload: { type: 's3', location: 'bucket', credentials: { key: 'ok', secret: value } } }),
  // A valid credential next to an error elsewhere.
  'upload.credentials (valid) + upload.type': (value) => ({ upload: { type: 'gcs', location: 'bucket', credentials: { key: value, secret: value } } }),
  'upload.credentials (valid) + missing secret': (value) => ({ upload: { type: 's3', location: 'bucket', credentials: { key: value } } }),
  'upload.credentials (valid) + unknown field': (value) => ({ upload: { type: 's3', location: 'bucket', credentials: { key: 'k', secret: 's', token: value } } }),
  webhook: (value) => ({ webhook: value }),
  'webhook.secret': (value) => ({ webhook: { url: 'https://example.com/hook', secret: value } }),
  'webhook.url': (value) => ({ webhook: { url: value, secret: WHSEC } }),
  'webhook.secret (valid) + webhook.maxAttempts': () => ({ webhook: { url: 'https://example.com/hook', secret: WHSEC, maxAttempts: 0 } }),
};

/** The same for the recorder's options and the local storage. */
const RECORDER_FIELDS: Record<string, (value: unknown) => unknown> = {
  options: (value) => value,
  webhook: (value) => ({ webhook: value }),
  'webhook.secret': (value) => ({ webhook: { url: 'https://example.com/hook', secret: value } }),
  'webhook.url': (value) => ({ webhook: { url: value, secret: WHSEC } }),
  defaultStorage: (value) => ({ defaultStorage: value }),
  'defaultStorage.signingSecret': (value) => ({ defaultStorage: { root: '/tmp/unused', signingSecret: value } }),
  'defaultStorage.signingSecret (valid) + urlTtlMs': () => ({ defaultStorage: { root: '/tmp/unused', signingSecret: LONG_CANARY, urlTtlMs: -1 } }),
  'unknown option': (value) => ({ signingSecret: value }),
};

/** Everything an error shows of itself: message, stack, String(), JSON and util.inspect. */
function renderings(error: unknown): string[] {
  return [
    String(error),
    (error as Error).message,
    (error as Error).stack ?? '',
    JSON.stringify(error),
    inspect(error, { depth: 10, showHidden: true }),
  ];
}

function caught(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

function shapesFor(field: string): unknown[] {
  return CONTAINERS.has(field) ? WRONG_SHAPES : [...WRONG_SHAPES, AS_FIELD_NAME];
}

function expectNoCanary(error: unknown, where: string): void {
  for (const text of renderings(error)) {
    expect(text.includes(CANARY), `${where}: ${text}`).toBe(false);
  }
}

describe('an error about a credential never shows its value', () => {
  test.each(Object.entries(ROOM_FIELDS))('room configuration: %s, in every wrong shape', (name, build) => {
    let refused = 0;
    for (const [i, shape] of shapesFor(name).entries()) {
      const error = caught(() => validateRoomRecordingConfig(build(shape)));
      // Some shapes are valid for some fields (a plain string as a key); the others must be refused, without the value.
      if (error === undefined) continue;
      expect(error, `${name} shape ${i}`).toBeInstanceOf(InvalidConfigError);
      expectNoCanary(error, `${name} shape ${i}`);
      refused++;
    }
    expect(refused).toBeGreaterThan(0);
  });

  test.each(Object.entries(RECORDER_FIELDS))('recorder options: %s, in every wrong shape', (name, build) => {
    let refused = 0;
    for (const [i, shape] of shapesFor(name).entries()) {
      const error = caught(() => validateRecorderOptions(build(shape)));
      if (error === undefined) continue;
      expect(error, `${name} shape ${i}`).toBeInstanceOf(InvalidConfigError);
      expectNoCanary(error, `${name} shape ${i}`);
      refused++;
    }
    expect(refused).toBeGreaterThan(0);
  });

  test('LocalStorage: signingSecret in every wrong shape, and the options object itself', () => {
    for (const [i, shape] of [...WRONG_SHAPES, AS_FIELD_NAME].entries()) {
      for (const options of [{ root: '/tmp/unused', signingSecret: shape }, ...(shape === AS_FIELD_NAME ? [] : [shape])]) {
        const error = caught(() => new LocalStorage(options as LocalStorageOptions));
        // A long string is a valid secret; every other shape is refused, without the value.
        if (error === undefined && typeof shape === 'string' && shape.trim() === shape && shape.length >= 32) continue;
        expect(error, `shape ${i}`).toBeInstanceOf(InvalidConfigError);
        expectNoCanary(error, `shape ${i}`);
      }
    }
  });

  test('SfuRecorder.create() refuses them the same way, before creating anything', async () => {
    const parent = tempDir('secret-errors');
    for (const [i, options] of [
      { defaultStorage: { root: join(parent, 'storage'), signingSecret: CANARY } },
      { defaultStorage: { root: join(parent, 'storage'), signingSecret: [CANARY] } },
      { webhook: { url: 'https://example.com/hook', secret: CANARY } },
      { webhook: { url: `https://user:${CANARY}@example.com/`, secret: WHSEC } },
      { webhook: CANARY },
    ].entries()) {
      const spoolDir = join(parent, `spool-${i}`);
      const error = await SfuRecorder.create({ spoolDir, ...(options as object) }).catch((e: unknown) => e);
      expect(error, `case ${i}`).toBeInstanceOf(InvalidConfigError);
      expectNoCanary(error, `case ${i}`);
      expect(existsSync(spoolDir)).toBe(false);
    }
  });
});
