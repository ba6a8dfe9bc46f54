import { S3Client } from '@aws-sdk/client-s3';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

const require = createRequire(import.meta.url);

/** A running s3rver: a real S3 HTTP API on 127.0.0.1, files in a temp dir. */
export interface S3TestServer {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  port: number;
  bucket: string;
  directory: string;
  close(): Promise<void>;
}

/** Credentials the test server accepts. Distinctive so a leak test can search for them. */
export const TEST_S3_CREDENTIALS = {
  key: 'AKIASFURECTESTKEY777',
  secret: 'sfuRecTopSecret/DoNotLeak+9f3a7c21e5',
} as const;

/**
 * Starts s3rver on a random port with one bucket. s3rver accepts any SigV4 signature from a
 * known access key id, so the test credentials are registered with it. `address`: where it
 * listens; `0.0.0.0` for processes in network namespaces (they reach it at their host-side
 * veth address).
 */
export async function startS3Server(bucket = 'bucket', address = '127.0.0.1'): Promise<S3TestServer> {
  const account = require('s3rver/lib/models/account.js') as {
    DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void };
  };
  account.DUMMY_ACCOUNT.createKeyPair(TEST_S3_CREDENTIALS.key, TEST_S3_CREDENTIALS.secret);
  const directory = await mkdtemp(join(tmpdir(), 's3rver-'));
  const server = new S3rver({
    port: 0,
    address,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  const listening = (await server.run()) as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${listening.port}`,
    port: listening.port,
    bucket,
    directory,
    async close() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** An S3 client for the test server, to look at what landed in the bucket. */
export function testS3Client(s3: S3TestServer, region = 'us-east-1'): S3Client {
  return new S3Client({
    region,
    endpoint: s3.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: TEST_S3_CREDENTIALS.key, secretAccessKey: TEST_S3_CREDENTIALS.secret },
  });
}
