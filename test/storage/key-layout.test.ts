import { describe, expect, test } from 'vitest';
import { InvalidConfigError } from '../../src/errors.js';
import { formatStartDate, recordingKey } from '../../src/storage/key-layout.js';

const room = '61101349d0f56e684b608c08';
const session = '5fccb7dc72909272bf999014';
const peer = '76539d6b-d10d-4790-bdd2-ab57fa7facb0';
const stream = '9aeec8db-524d-4129-874d-7a71d340bdec';
const start = 1626898422000; // 2021-07-21T20:13:42Z

describe('recordingKey', () => {
  test('composite key matches the documented example', () => {
    expect(
      recordingKey({ recordingType: 'composite', prefix: 'test-prefix', roomId: room, sessionId: session, sessionStartedAt: start }),
    ).toBe(`test-prefix/${room}/20210721/${session}/Rec-${session}-1626898422000.mp4`);
  });

  test('individual key matches the documented example', () => {
    expect(
      recordingKey({
        recordingType: 'individual',
        prefix: 'test-prefix',
        roomId: room,
        sessionId: session,
        sessionStartedAt: start,
        peerId: peer,
        streamId: stream,
      }),
    ).toBe(`test-prefix/${room}/20210721/${session}/${peer}/${stream}/${stream}.mp4`);
  });

  test('no prefix (absent, empty or "/") means no leading slash and no empty segment', () => {
    for (const prefix of [undefined, '', '/', '//']) {
      const key = recordingKey({ recordingType: 'composite', prefix, roomId: room, sessionId: session, sessionStartedAt: start });
      expect(key).toBe(`${room}/20210721/${session}/Rec-${session}-1626898422000.mp4`);
    }
    expect(
      recordingKey({ recordingType: 'composite', prefix: '/a/b/', roomId: 'r', sessionId: 's', sessionStartedAt: start }),
    ).toBe('a/b/r/20210721/s/Rec-s-1626898422000.mp4');
  });

  test('start_date is the UTC date of the session start, whatever the local time zone', () => {
    expect(formatStartDate(Date.UTC(2021, 6, 21, 23, 59, 59))).toBe('20210721');
    expect(formatStartDate(Date.UTC(2021, 6, 22, 0, 0, 0))).toBe('20210722');
    expect(formatStartDate(0)).toBe('19700101');
  });

  test.each([
    ['roomId', '', /roomId must be a non-empty string/],
    ['roomId', 'a/b', /roomId "a\/b" contains "\/"/],
    ['sessionId', '..', /sessionId must not be "\.\."/],
    ['peerId', 'p\nq', /peerId .* control character/],
    ['streamId', 'x\\y', /streamId .* contains/],
    ['peerId', undefined, /peerId must be a non-empty string/],
  ])('rejects %s %j', (field, value, message) => {
    const parts = {
      recordingType: 'individual' as const,
      roomId: 'room',
      sessionId: 'session',
      peerId: 'peer',
      streamId: 'stream',
      sessionStartedAt: start,
      [field]: value,
    };
    expect(() => recordingKey(parts)).toThrow(InvalidConfigError);
    expect(() => recordingKey(parts)).toThrow(message);
  });

  test('rejects a bad start time and an unknown recording type', () => {
    expect(() => recordingKey({ recordingType: 'composite', roomId: 'r', sessionId: 's', sessionStartedAt: Number.NaN })).toThrow(
      /sessionStartedAt must be an epoch time in milliseconds/,
    );
    expect(() =>
      recordingKey({ recordingType: 'audio' as 'composite', roomId: 'r', sessionId: 's', sessionStartedAt: start }),
    ).toThrow(/recordingType must be "individual" or "composite"/);
  });
});
