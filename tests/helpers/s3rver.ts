import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The part of s3rver 3.x we use (the package ships no types). */
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  httpServer?: Server;
}

type S3rverConstructor = new (options: {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  resetOnClose: boolean;
  configureBuckets: { name: string }[];
}) => S3rverInstance;

const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;

/** s3rver's built-in account. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface LocalS3 {
  /** Base URL, e.g. http://127.0.0.1:41234 (path-style addressing). */
  endpoint: string;
  bucket: string;
  /** Where s3rver keeps the bucket's objects on disk (`<directory>/<bucket>/…`). */
  directory: string;
  /** Settings for `ctx.storage.useS3` pointing at this server. */
  settings: {
    endpoint: string;
    bucket: string;
    region: string;
    forcePathStyle: boolean;
    accessKeyId: string;
    secretAccessKey: string;
  };
  stop(): Promise<void>;
}

/**
 * A local S3-compatible server on a free loopback port, with one bucket, storing under a temporary
 * directory. Note: s3rver does not verify SigV4 signatures, so tests also check the URL's parameters.
 */
export async function startS3rver(bucket = 'cloudsecure-test'): Promise<LocalS3> {
  const directory = await mkdtemp(join(tmpdir(), 'cloudsecure-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    resetOnClose: false,
    configureBuckets: [{ name: bucket }],
  });
  const address = await server.run();
  const endpoint = `http://127.0.0.1:${address.port}`;
  return {
    endpoint,
    bucket,
    directory,
    settings: { endpoint, bucket, region: 'auto', forcePathStyle: true, ...S3RVER_CREDENTIALS },
    async stop() {
      // Keep-alive sockets from the SDK would hold close() open.
      server.httpServer?.closeAllConnections();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
