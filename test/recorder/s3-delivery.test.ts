import { execa } from 'execa';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { types as ms } from 'mediasoup';
import { runCli } from '../../src/cli.js';
import { SfuRecorder, formatStartDate, readTimeline, type RecordingStoredEvent, type SessionEndedInfo } from '../../src/index.js';
import { SyntheticPeer, colorFor } from '../../src/testing/index.js';
import { resolveFfmpegBinaries } from '../../src/ffmpeg/binaries.js';
import { probeFile } from '../helpers/mux-probe.js';
import { sleep, startRouter, tempDir } from '../helpers/recorder-fixtures.js';
import { startS3Server, testS3Client, TEST_S3_CREDENTIALS, type S3TestServer } from '../helpers/s3-server.js';
import { newWebhookSecret, startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const VIDEO = { width: 320, height: 180, bitrateKbps: 300 };

describe('a recorded session delivered to S3 with webhooks', () => {
  let worker: ms.Worker;
  let router: ms.Router;
  let s3: S3TestServer;
  let receiver: WebhookReceiver;
  let recorder: SfuRecorder;
  let session: SessionEndedInfo | undefined;
  const stored: RecordingStoredEvent[] = [];
  const logLines: string[] = [];
  let compositeFile = '';

  beforeAll(async () => {
    ({ worker, router } = await startRouter());
    s3 = await startS3Server();
    const secret = newWebhookSecret();
    receiver = await startWebhookReceiver(secret);
    recorder = await SfuRecorder.create({
      spoolDir: tempDir('spool'),
      defaultStorage: { root: tempDir('storage') },
      recoverOnStart: false,
      individualOptions: { x264Preset: 'ultrafast' },
      compositeOptions: { width: 640, height: 360, preset: 'ultrafast' },
      logger: {
        debug: (m, fields) => logLines.push(`${m} ${JSON.stringify(fields)}`),
        info: (m, fields) => logLines.push(`${m} ${JSON.stringify(fields)}`),
        warn: (m, fields) => logLines.push(`${m} ${JSON.stringify(fields)}`),
        error: (m, fields) => logLines.push(`${m} ${JSON.stringify(fields)}`),
      },
    });
    recorder.on('recordingstored', (event) => stored.push(event));
    recorder.on('sessionended', (info) => (session = info));
    const room = await recorder.enableRoom({
      roomId: 'board-meeting',
      router,
      recording: {
        upload: {
          type: 's3',
          location: s3.bucket,
          prefix: 'test-prefix',
          options: { endpoint: s3.endpoint, region: 'eu-west-1' },
          credentials: { key: TEST_S3_CREDENTIALS.key, secret: TEST_S3_CREDENTIALS.secret },
        },
        webhook: { url: receiver.url, secret },
      },
    });
    const a = await SyntheticPeer.create(router, { peerId: 'ann', video: { codec: 'VP8', ...VIDEO } });
    await sleep(2000);
    const b = await SyntheticPeer.create(router, { peerId: 'ben', video: { codec: 'H264', ...VIDEO } });
    await sleep(3000);
    await room.stop();
    a.close();
    b.close();
    await recorder.whenIdle();
  }, 180_000);

  afterAll(async () => {
    await recorder?.close();
    worker?.close();
    await receiver?.close();
    await s3?.close();
  });

  it('stores the individual files and the composite under exactly the documented keys', async () => {
    const client = testS3Client(s3, 'eu-west-1');
    const listed = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket }));
    const keys = (listed.Contents ?? []).map((o) => o.Key!).sort();
    const { sessionId, startedAt } = session!;
    const base = `test-prefix/board-meeting/${formatStartDate(startedAt)}/${sessionId}`;
    const streamOf = (peer: string) => stored.find((s) => s.metadata.peerId === peer)!.metadata.streamId!;
    expect(keys).toEqual(
      [
        `${base}/Rec-${sessionId}-${Math.round(startedAt)}.mp4`,
        `${base}/ann/${streamOf('ann')}/${streamOf('ann')}.mp4`,
        `${base}/ben/${streamOf('ben')}/${streamOf('ben')}.mp4`,
      ].sort(),
    );
    for (const event of stored) {
      expect(event.location).toBe(`s3://${s3.bucket}/${event.key}`);
      expect(event.url).toContain('X-Amz-Expires=43200');
    }

    // The composite downloaded from the bucket: the session's length, one tile then two.
    const composite = stored.find((s) => s.metadata.recordingType === 'composite')!;
    const object = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: composite.key }));
    const file = join(tempDir('download'), 'composite.mp4');
    writeFileSync(file, await object.Body!.transformToByteArray());
    compositeFile = file;
    const probe = await probeFile(file);
    expect(probe.streams.map((s) => s.codec_name).sort()).toEqual(['aac', 'h264']);
    expect(Math.abs(probe.durationS * 1000 - (session!.endedAt - session!.startedAt))).toBeLessThanOrEqual(150);
    client.destroy();
  });

  it('notes the dominant speaker in the timeline for the speaker layout', () => {
    const events = readTimeline(join(recorder.spoolDir, 'board-meeting', session!.sessionId, 'timeline.jsonl')).events;
    const speakers = events.filter((e) => e.type === 'active-speaker').map((e) => (e as { peerId: string }).peerId);
    expect(speakers.length).toBeGreaterThan(0);
    expect(['ann', 'ben']).toContain(speakers[0]);
  });

  it('posts a verified webhook per stored file, and no credential leaks anywhere', async () => {
    const accepted = receiver.accepted();
    expect(accepted).toHaveLength(3);
    expect(accepted.every((w) => w.verified)).toBe(true);
    const bodies = accepted.map((w) => JSON.parse(w.body) as { type: string; data: { recording_type: string; location: string } });
    expect(bodies.map((b) => b.type)).toEqual(['recording.success', 'recording.success', 'recording.success']);
    expect(bodies.map((b) => b.data.recording_type).sort()).toEqual(['composite', 'individual', 'individual']);
    const everything = [...accepted.map((w) => w.body), ...logLines, JSON.stringify(stored)].join('\n');
    expect(everything).not.toContain(TEST_S3_CREDENTIALS.secret);
  });

  it('shows one tile while ann is alone and two once ben joins, each in its own colour', async () => {
    const colour = (hex: string) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    const ann = colour(colorFor('ann'));
    const ben = colour(colorFor('ben'));
    const near = (pixel: number[], expected: number[]) => pixel.every((v, i) => Math.abs(v - expected[i]!) <= 40);
    // A tile flashes white 100 ms a second: a position counts when most samples match.
    const matches = async (t: number, x: number, y: number, expected: number[]) => {
      let hits = 0;
      for (const dt of [0, 0.2, 0.4]) if (near(await pixelAt(compositeFile, t + dt, x, y), expected)) hits++;
      return hits >= 2;
    };
    expect(await matches(0.8, 320, 180, ann)).toBe(true);
    expect(await matches(4, 160, 180, ann)).toBe(true);
    expect(await matches(4, 480, 180, ben)).toBe(true);
  });

  it('composes the session again later from the spool, after the stored mp4s left it', async () => {
    const sessionDir = join(recorder.spoolDir, 'board-meeting', session!.sessionId);
    const out = join(tempDir('recompose'), 'again.mp4');
    const errors: string[] = [];
    const code = await runCli(['compose', sessionDir, '--width', '320', '--height', '180', '--preset', 'ultrafast', '--out', out], {
      stdout: () => undefined,
      stderr: (text) => errors.push(text),
    });
    expect(code, errors.join('')).toBe(0);
    expect(errors.join('')).toMatch(/finalising stream .* again from its capture journals/);
    const probe = await probeFile(out);
    expect(probe.streams.map((s) => s.codec_name).sort()).toEqual(['aac', 'h264']);
    expect(Math.abs(probe.durationS * 1000 - (session!.endedAt - session!.startedAt))).toBeLessThanOrEqual(150);
  });
});

/** The RGB of one pixel of the frame shown at `t` seconds. */
async function pixelAt(file: string, t: number, x: number, y: number): Promise<number[]> {
  const { stdout } = await execa(resolveFfmpegBinaries().ffmpegPath, [
    '-v', 'error', '-ss', String(t), '-i', file, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-',
  ], { encoding: 'buffer', stdin: 'ignore' });
  const offset = (y * 640 + x) * 3;
  return [stdout[offset]!, stdout[offset + 1]!, stdout[offset + 2]!];
}
