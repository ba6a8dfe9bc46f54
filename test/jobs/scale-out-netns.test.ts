import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { types as ms } from 'mediasoup';
import { SfuRecorder, type RecordingStoredEvent } from '../../src/index.js';
import { SyntheticPeer } from '../../src/testing/index.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/job-workers.js';
import { probeFile } from '../helpers/mux-probe.js';
import { createNamespaces, netnsAvailable, type NetnsLab } from '../helpers/netns.js';
import { sleep, startRouter, tempDir } from '../helpers/recorder-fixtures.js';
import { startRedis, type RedisTestServer } from '../helpers/redis-server.js';
import { startS3Server, testS3Client, TEST_S3_CREDENTIALS, type S3TestServer } from '../helpers/s3-server.js';

const available = netnsAvailable();

/**
 * Workers on "other machines": each in its own network namespace with its own work
 * directory, reaching Redis and the S3 staging bucket over its veth link only (127.0.0.1
 * inside a namespace is the namespace's own), so no file can pass through a shared disk.
 */
describe.skipIf(!available.ok)(`workers in their own network namespaces${available.ok ? '' : ` (skipped: ${available.reason})`}`, () => {
  let worker: ms.Worker;
  let router: ms.Router;
  let lab: NetnsLab;
  let redis: RedisTestServer;
  let s3: S3TestServer;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    ({ worker, router } = await startRouter());
    lab = await createNamespaces(2);
    redis = await startRedis({ host: ['127.0.0.1', ...lab.namespaces.map((ns) => ns.hostAddress)] });
    s3 = await startS3Server('staging', '0.0.0.0');
  });

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.kill()));
    await lab?.destroy();
    await redis?.stop();
    await s3?.close();
    worker?.close();
  });

  it('finalises a session with both workers, over the veth links alone', async () => {
    for (const [i, ns] of lab.namespaces.entries()) {
      const name = `ns-w${i + 1}`;
      workers.push(
        startWorkerProcess(
          name,
          [
            '--redis', `redis://${ns.hostAddress}:${redis.port}`,
            '--staging-s3', 'staging/jobs',
            '--s3-endpoint', `http://${ns.hostAddress}:${s3.port}`,
            '--s3-region', 'us-east-1',
            '--lock-ms', '5000',
            '--work-dir', tempDir(`netns-${name}`),
          ],
          {
            env: { SFU_RECORDER_STAGING_KEY: TEST_S3_CREDENTIALS.key, SFU_RECORDER_STAGING_SECRET: TEST_S3_CREDENTIALS.secret },
            spawner: (command, args, options) => lab.spawn(ns.name, command, args, options),
          },
        ),
      );
    }
    await Promise.all(workers.map((w) => w.waitFor(/taking jobs/)));

    const recorder = await SfuRecorder.create({
      spoolDir: tempDir('netns-spool'),
      defaultStorage: { root: tempDir('netns-storage') },
      recoverOnStart: false,
      individualOptions: { x264Preset: 'ultrafast' },
      compositeOptions: { width: 320, height: 180, fps: 15, preset: 'ultrafast', maxSegmentMs: 1500 },
      jobs: {
        redis: redis.url,
        staging: {
          type: 's3',
          location: 'staging',
          prefix: 'jobs',
          options: { endpoint: s3.endpoint, region: 'us-east-1' },
          credentials: { key: TEST_S3_CREDENTIALS.key, secret: TEST_S3_CREDENTIALS.secret },
        },
      },
    });
    const stored: RecordingStoredEvent[] = [];
    const errors: string[] = [];
    recorder.on('recordingstored', (e) => stored.push(e));
    recorder.on('error', (e) => errors.push(`${e.code}: ${e.message}`));
    const room = await recorder.enableRoom({ roomId: 'netns-room', router });
    const peer = await SyntheticPeer.create(router, { peerId: 'alice', video: { codec: 'VP8', width: 320, height: 180, fps: 30, bitrateKbps: 300 } });
    await sleep(6000);
    const sessionId = room.sessionId!;
    await room.stop();
    peer.close();
    await recorder.whenIdle();
    const status = recorder.sessionStatus(sessionId);
    await recorder.close();

    expect(errors).toEqual([]);
    expect(stored.map((e) => e.metadata.recordingType).sort()).toEqual(['composite', 'individual']);
    for (const event of stored) expect((await probeFile(event.location)).durationS).toBeGreaterThan(4);
    // Every job ran in a namespace, and both workers took some.
    expect(status!.jobs.length).toBeGreaterThanOrEqual(4);
    expect(status!.jobs.every((j) => j.state === 'done' && (j.worker === 'ns-w1' || j.worker === 'ns-w2'))).toBe(true);
    expect(new Set(status!.jobs.map((j) => j.worker)).size).toBe(2);
    // The staged files went through the bucket, and are gone once the session is finalised.
    const listed = await testS3Client(s3).send(new ListObjectsV2Command({ Bucket: 'staging', Prefix: 'jobs/' }));
    expect(listed.KeyCount ?? 0).toBe(0);
  }, 180_000);
});
