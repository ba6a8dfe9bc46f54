import { inspect } from 'node:util';
import { describe, expect, test } from 'vitest';
import { redact } from '../../src/config/redact.js';
import { validateRoomRecordingConfig } from '../../src/config/room-config.js';
import { InvalidConfigError } from '../../src/errors.js';

const SECRET_KEY = 'AKIAEXAMPLEKEY123456';
const SECRET_VALUE = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const WHSEC = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;

function expectInvalid(input: unknown, field: string, message: string | RegExp): InvalidConfigError {
  let caught: unknown;
  try {
    validateRoomRecordingConfig(input);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(InvalidConfigError);
  const error = caught as InvalidConfigError;
  expect(error.code).toBe('ERR_INVALID_CONFIG');
  expect(error.field).toBe(field);
  if (typeof message === 'string') expect(error.message).toBe(message);
  else expect(error.message).toMatch(message);
  return error;
}

describe('validateRoomRecordingConfig', () => {
  test('applies defaults: both recordings on, default storage, delete spool files after upload', () => {
    expect(validateRoomRecordingConfig({})).toEqual({
      individual: true,
      composite: true,
      retention: { keepUploadedFiles: false },
    });
    expect(validateRoomRecordingConfig(undefined).individual).toBe(true);
  });

  test('normalises an S3 upload: region ap-south-1, prefix without stray slashes', () => {
    const config = validateRoomRecordingConfig({
      individual: false,
      upload: { type: 's3', location: 'test-bucket', prefix: '/test-prefix/' },
    });
    expect(config.individual).toBe(false);
    expect(config.composite).toBe(true);
    expect(config.upload).toEqual({
      type: 's3',
      location: 'test-bucket',
      prefix: 'test-prefix',
      options: { region: 'ap-south-1', forcePathStyle: false },
    });
    expect(config.upload?.credentials).toBeUndefined();
  });

  test('an empty prefix means no prefix; an endpoint turns on path-style addressing', () => {
    const config = validateRoomRecordingConfig({
      upload: { type: 's3', location: 'bucket', prefix: '/', options: { region: 'auto', endpoint: 'http://127.0.0.1:9000/' } },
    });
    expect(config.upload?.prefix).toBeUndefined();
    expect(config.upload?.options).toEqual({ region: 'auto', endpoint: 'http://127.0.0.1:9000', forcePathStyle: true });
  });

  test('credentials are kept but never printed', () => {
    const config = validateRoomRecordingConfig({
      upload: { type: 's3', location: 'bucket', credentials: { key: SECRET_KEY, secret: SECRET_VALUE } },
      webhook: { url: 'https://example.com/hook', secret: WHSEC },
    });
    expect(config.upload?.credentials?.key.reveal()).toBe(SECRET_KEY);
    expect(config.upload?.credentials?.secret.reveal()).toBe(SECRET_VALUE);
    expect(config.webhook?.secret.reveal()).toBe(WHSEC);
    for (const text of [
      JSON.stringify(config),
      inspect(config, { depth: 10, showHidden: true }),
      String(config.upload?.credentials?.secret),
      `${config.upload?.credentials?.key}`,
      JSON.stringify(redact(config)),
    ]) {
      expect(text).not.toContain(SECRET_KEY);
      expect(text).not.toContain(SECRET_VALUE);
      expect(text).not.toContain(WHSEC.slice(6));
    }
    expect(JSON.parse(JSON.stringify(config)).upload.credentials).toEqual({ key: '[redacted]', secret: '[redacted]' });
  });

  test.each([
    [null, 'config', 'config must be an object (got null)'],
    [{ individual: 'yes' }, 'individual', 'individual must be a boolean (got "yes")'],
    [{ composite: 1 }, 'composite', 'composite must be a boolean (got 1)'],
    [{ individual: false, composite: false }, 'individual', /at least one kind of recording must be enabled/],
    [{ uplaod: {} }, 'uplaod', /^uplaod is not a known field: did you mean upload\? \(expected one of: individual, composite, upload/],
    [{ Composite: true }, 'Composite', /^Composite is not a known field: did you mean composite\?/],
    [{ recording: {} }, 'recording', /^recording is not a known field \(expected one of/],
    // `upload` may hold credentials (an s3:// URL with a key in it): only the type is shown.
    [{ upload: 's3://bucket' }, 'upload', 'upload must be an object (got a string)'],
    [{ upload: { location: 'bucket' } }, 'upload.type', 'upload.type is required (only "s3" is supported)'],
    [{ upload: { type: 'gcs', location: 'bucket' } }, 'upload.type', 'upload.type "gcs" is not supported (only "s3")'],
    [{ upload: { type: 's3' } }, 'upload.location', 'upload.location is required (the bucket name)'],
    [{ upload: { type: 's3', location: '' } }, 'upload.location', 'upload.location is required (the bucket name)'],
    [{ upload: { type: 's3', location: 42 } }, 'upload.location', 'upload.location must be a string (got number)'],
    [{ upload: { type: 's3', location: 'My_Bucket' } }, 'upload.location', /^upload.location "My_Bucket" is not a valid bucket name/],
    [{ upload: { type: 's3', location: 'b', bucket: 'x' } }, 'upload.bucket', /^upload.bucket is not a known field/],
    [{ upload: { type: 's3', location: 'bucket', prefix: 'a/../b' } }, 'upload.prefix', 'upload.prefix "a/../b" contains a ".." segment'],
    [{ upload: { type: 's3', location: 'bucket', prefix: 'a//b' } }, 'upload.prefix', /contains an empty segment/],
    [{ upload: { type: 's3', location: 'bucket', prefix: 'a\nb' } }, 'upload.prefix', /control character/],
    [{ upload: { type: 's3', location: 'bucket', prefix: 7 } }, 'upload.prefix', 'upload.prefix must be a string (got number)'],
    [{ upload: { type: 's3', location: 'bucket', options: [] } }, 'upload.options', 'upload.options must be an object (got an array)'],
    [{ upload: { type: 's3', location: 'bucket', options: { region: 'Mumbai 1' } } }, 'upload.options.region', /^upload.options.region must be a region name such as "ap-south-1"/],
    [{ upload: { type: 's3', location: 'bucket', options: { endpoint: 'ftp://x' } } }, 'upload.options.endpoint', 'upload.options.endpoint must use http: or https: (got "ftp:")'],
    [{ upload: { type: 's3', location: 'bucket', options: { endpoint: 'not a url' } } }, 'upload.options.endpoint', /must be an absolute http\(s\) URL/],
    [{ upload: { type: 's3', location: 'bucket', credentials: 'k:s' } }, 'upload.credentials', /^upload.credentials must be an object/],
    [{ upload: { type: 's3', location: 'bucket', credentials: { secret: 's' } } }, 'upload.credentials.key', /^upload.credentials.key is required when upload.credentials is given/],
    [{ upload: { type: 's3', location: 'bucket', credentials: { key: 'k' } } }, 'upload.credentials.secret', /^upload.credentials.secret is required/],
    [{ upload: { type: 's3', location: 'bucket', credentials: { key: 'k', secret: 5 } } }, 'upload.credentials.secret', 'upload.credentials.secret must be a string (got number)'],
    [{ webhook: { secret: WHSEC } }, 'webhook.url', 'webhook.url is required'],
    [{ webhook: { url: 'mailto:a@b.c', secret: WHSEC } }, 'webhook.url', 'webhook.url must use http: or https: (got "mailto:")'],
    [{ webhook: { url: 'https://u:p@example.com/', secret: WHSEC } }, 'webhook.url', 'webhook.url must not contain a user name or password'],
    [{ webhook: { url: 'https://example.com/' } }, 'webhook.secret', /^webhook.secret is required/],
    [{ webhook: { url: 'https://example.com/', secret: 'whsec_short' } }, 'webhook.secret', /must be "whsec_" followed by the base64 of 24 to 64 random bytes/],
    [{ webhook: { url: 'https://example.com/', secret: WHSEC, maxAttempts: 0 } }, 'webhook.maxAttempts', 'webhook.maxAttempts must be an integer from 1 to 100 (got 0)'],
    [{ retention: { keepUploadedFiles: 'forever' } }, 'retention.keepUploadedFiles', /must be a boolean or a number of milliseconds/],
  ])('rejects %j with a message naming %s', (input, field, message) => {
    expectInvalid(input, field, message);
  });

  test('credential errors never echo the credential values', () => {
    const inputs = [
      { upload: { type: 's3', location: 'bucket', credentials: { key: SECRET_KEY } } },
      { upload: { type: 's3', location: 'bucket', credentials: { key: ` ${SECRET_KEY}`, secret: SECRET_VALUE } } },
      { upload: { type: 's3', location: 'bucket', credentials: { key: SECRET_KEY, secret: SECRET_VALUE, token: SECRET_VALUE } } },
      { upload: { type: 'gcs', location: 'bucket', credentials: { key: SECRET_KEY, secret: SECRET_VALUE } } },
    ];
    for (const input of inputs) {
      let error: unknown;
      try {
        validateRoomRecordingConfig(input);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(InvalidConfigError);
      const text = `${String(error)} ${JSON.stringify(error)} ${inspect(error)}`;
      expect(text).not.toContain(SECRET_KEY);
      expect(text).not.toContain(SECRET_VALUE);
    }
  });
});
