import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  NoSuchKey,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { AppError } from '../../domain/errors.ts';
import type { BlobStore } from '../../domain/ports.ts';
import type { S3Settings } from '../../domain/storage/storage-settings.ts';
import { createS3Presigner } from './s3-presigner.ts';

/** Presigned URLs live at most this long: enough to start a download, too short to share. */
export const MAX_PRESIGN_SECONDS = 300;

/** A readiness probe must answer even when the endpoint swallows packets instead of refusing them. */
const CHECK_TIMEOUT_MS = 5_000;

/**
 * Any S3-compatible store, Cloudflare R2 included. R2 wants region `auto` and rejects the checksum
 * headers and `x-amz-checksum-mode` that SDK ≥ 3.729 adds by default, hence `WHEN_REQUIRED`.
 */
export function createS3BlobStore(settings: S3Settings): BlobStore {
  const client = new S3Client({
    region: settings.region,
    endpoint: settings.endpoint,
    forcePathStyle: settings.forcePathStyle,
    credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const Bucket = settings.bucket;
  const presign = createS3Presigner(settings);

  return {
    kind: 's3',
    async put(key, body, options) {
      const upload = new Upload({
        client,
        params: { Bucket, Key: key, Body: body, ContentType: options.contentType },
        queueSize: 4,
        partSize: 8 * 1024 * 1024,
      });
      upload.on('httpUploadProgress', (p) => {
        if (p.loaded !== undefined) options.onProgress?.(p.loaded);
      });
      await upload.done();
    },
    async read(key, range) {
      try {
        const out = await client.send(
          new GetObjectCommand({
            Bucket,
            Key: key,
            ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
          }),
        );
        if (!(out.Body instanceof Readable)) throw new Error('S3 body is not a Node stream');
        return out.Body;
      } catch (error) {
        if (error instanceof NoSuchKey) throw new AppError('FILE_UNAVAILABLE', { cause: error });
        throw error;
      }
    },
    async remove(key) {
      await client.send(new DeleteObjectCommand({ Bucket, Key: key }));
    },
    presignGet(key, options) {
      return presign({
        key,
        expiresInSeconds: Math.min(Math.max(1, options.expiresInSeconds), MAX_PRESIGN_SECONDS),
        contentDisposition: options.contentDisposition,
        contentType: options.contentType,
      });
    },
    async check() {
      await client.send(new HeadBucketCommand({ Bucket }), {
        abortSignal: AbortSignal.timeout(CHECK_TIMEOUT_MS),
      });
    },
  };
}
