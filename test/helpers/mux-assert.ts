import { existsSync } from 'node:fs';
import { expect } from 'vitest';
import type { FinaliseStreamResult } from '../../src/mux/finalise.js';
import type { FinalisedStream } from '../../src/mux/stream-result.js';
import { decodeErrors, firstVideoFrame, probeFile } from './mux-probe.js';

/**
 * The checks every finalised test stream must pass: the file exists, holds one
 * H.264 and one AAC stream (unless told otherwise), lasts `expectedMs` ±100 ms,
 * starts with a keyframe and decodes without a single error.
 */
export async function expectGoodMp4(
  result: FinaliseStreamResult,
  expectedMs: number,
  options: { audio?: boolean; video?: boolean } = {},
): Promise<FinalisedStream> {
  if (result.status !== 'finalised') throw new Error(`expected a file, got: ${result.reason}`);
  const stream = result.stream;
  expect(existsSync(stream.file)).toBe(true);
  expect(stream.sizeBytes).toBeGreaterThan(1000);
  const probe = await probeFile(stream.file);
  const kinds = probe.streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort();
  expect(kinds).toEqual([...(options.audio === false ? [] : ['audio:aac']), ...(options.video === false ? [] : ['video:h264'])]);
  expect(Math.abs(stream.durationMs - expectedMs)).toBeLessThanOrEqual(100);
  expect(Math.abs(probe.durationS * 1000 - expectedMs)).toBeLessThanOrEqual(100);
  if (options.video !== false) {
    const first = await firstVideoFrame(stream.file);
    expect(first.keyframe).toBe(true);
    expect(first.timeS).toBeLessThanOrEqual(0.3);
  }
  expect(await decodeErrors(stream.file)).toBe('');
  return stream;
}
