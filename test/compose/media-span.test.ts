import { basename } from 'node:path';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeSession, type CompositeResult } from '../../src/compose/index.js';
import { parseHexColour } from '../../src/compose/colours.js';
import { resolveFfmpegBinaries, runFfprobe } from '../../src/ffmpeg/index.js';
import { decodeAudio, decodeFrames, flashOnsets, near, pixel, toneAmplitude, toneOnsets } from '../helpers/compose-measure.js';
import { createSyntheticSession, scratchDir, type SyntheticSession } from '../helpers/compose-session.js';

const W = 320;
const H = 180;
const FPS = 30;

/**
 * As with real browsers: the session opens before the first media arrives and closes
 * after the last (transport close, then stop), so its timeline is longer than the media.
 */
describe('composite of a session whose timeline runs past its media', () => {
  const SESSION_END = 3300;
  const A = { peerId: 'peer-a', colour: '0xff0000', toneHz: 700, joinAt: 200, leaveAt: 3000 };
  const B = { peerId: 'peer-b', colour: '0x00ff00', toneHz: 1100, joinAt: 500, leaveAt: 2500 };
  const MEDIA_MS = A.leaveAt - A.joinAt;
  const red = parseHexColour(A.colour);
  const canvas = parseHexColour('0x101010');

  let dir: string;
  let session: SyntheticSession;
  let result: CompositeResult;
  let frames: Buffer[];
  let audio: Float32Array;

  beforeAll(async () => {
    dir = scratchDir('media-span');
    session = await createSyntheticSession(dir, { durationMs: SESSION_END, peers: [A, B] });
    result = await composeSession(dir, { width: W, height: H, fps: FPS, preset: 'ultrafast' });
    [frames, audio] = await Promise.all([decodeFrames(result.file, W, H), decodeAudio(result.file)]);
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lasts from the first media to the last, video and audio alike (±1 frame)', async () => {
    const { ffprobePath } = resolveFfmpegBinaries();
    const probe = await runFfprobe<{ format: { duration: string }; streams: Array<{ codec_type: string; duration: string }> }>(
      ffprobePath,
      ['-show_entries', 'format=duration:stream=codec_type,duration', result.file],
    );
    const frameMs = 1000 / FPS;
    const durations = [probe.format.duration, ...probe.streams.map((s) => s.duration)].map((d) => Number(d) * 1000);
    for (const ms of durations) expect(Math.abs(ms - MEDIA_MS), `${ms} ms vs ${MEDIA_MS} ms of media`).toBeLessThanOrEqual(frameMs);
    expect(Math.abs(frames.length - (MEDIA_MS / 1000) * FPS)).toBeLessThanOrEqual(1);
    expect(result.startedAt).toBe(session.startedAt + A.joinAt);
    expect(result.endedAt).toBe(session.startedAt + A.leaveAt);
    // The name keeps the session's epoch, like the storage key.
    expect(basename(result.file)).toBe(`Rec-${session.sessionId}-${session.startedAt}.mp4`);
  });

  it("shows the peer's tile on the first and the last frame, never the empty canvas", () => {
    for (const [name, frame] of [['first', frames[0]!], ['last', frames.at(-1)!]] as const) {
      for (const [x, y] of [[160, 90], [20, 20], [300, 160]] as const) {
        const c = pixel(frame, W, x, y);
        expect(near(c, red), `${name} frame at ${x},${y}: ${c.join(',')}`).toBe(true);
        expect(near(c, canvas)).toBe(false);
      }
    }
    // The audio runs to the end too: the last peer's tone is in the last 50 ms.
    const end = audio.length - 480;
    expect(toneAmplitude(audio, end - 2400, 2400, A.toneHz)).toBeGreaterThan(0.05);
  });

  it('keeps flashes and beeps on the wall-clock seconds, shifted by the trimmed start', () => {
    const expected = [1000 - A.joinAt, 2000 - A.joinAt].map((ms) => ms / 1000);
    for (const [x, peer] of [[80, A], [240, B]] as const) {
      const flashes = flashOnsets(frames, W, x, 90, FPS, [(B.joinAt - A.joinAt) / 1000, (B.leaveAt - A.joinAt) / 1000]);
      expect(flashes.length, `flashes of ${peer.peerId}: ${flashes.join(', ')}`).toBe(expected.length);
      flashes.forEach((t, i) => expect(Math.abs(t - expected[i]!) * FPS, `flash ${t} s`).toBeLessThanOrEqual(1));
      const beeps = toneOnsets(audio, peer.toneHz, 0.3).filter((t) => t > 0.5 && t < 2.2);
      expect(beeps.length, `beeps of ${peer.peerId}: ${beeps.join(', ')}`).toBe(expected.length);
      beeps.forEach((t, i) => expect(Math.abs(t - expected[i]!) * 1000, `beep ${t} s`).toBeLessThanOrEqual(20));
    }
  });
});
