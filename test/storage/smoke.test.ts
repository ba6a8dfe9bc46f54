import { writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { test, expect } from 'vitest';
import { startS3Server, TEST_S3_CREDENTIALS } from '../helpers/s3-server.js';
import { S3Destination } from '../../src/storage/s3-destination.js';

test('smoke', async () => {
  const s3 = await startS3Server();
  const dest = new S3Destination({ bucket: 'bucket', endpoint: s3.endpoint, credentials: TEST_S3_CREDENTIALS, region: 'us-east-1' });
  const f = '/tmp/smoke.bin';
  const data = randomBytes(6 * 1024 * 1024 + 10);
  await writeFile(f, data);
  const md = { recordingType: 'composite' as const, roomId: 'r', sessionId: 's', sessionStartedAt: 0, startedAt: 0, stoppedAt: 1, durationMs: 1, sizeBytes: data.length, codecs: {} };
  const r = await dest.upload({ file: f, key: 'a/b.mp4', contentType: 'video/mp4', metadata: md });
  console.log(r);
  const res = await fetch(r.url!);
  const got = Buffer.from(await res.arrayBuffer());
  console.log(res.status, res.headers.get('content-type'), got.length, got.equals(data));
  dest.close();
  await s3.close();
});
