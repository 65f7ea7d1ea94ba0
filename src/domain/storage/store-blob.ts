import { createHash } from 'node:crypto';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { StorageKind } from '../model.ts';
import type { BlobStore } from '../ports.ts';

export interface StoredBlob {
  storage: StorageKind;
  objectKey: string;
  size: number;
  sha256: string;
}

/**
 * Streams `body` into `store` under `objectKey`, hashing and counting on the way (never holding the
 * whole file). On any failure the partial object is removed and the error rethrown.
 */
export async function storeBlob(
  store: BlobStore,
  objectKey: string,
  body: Readable,
  options: {
    contentType: string;
    size?: number | undefined;
    onProgress?: ((done: number) => void) | undefined;
  },
): Promise<StoredBlob> {
  const hash = createHash('sha256');
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  const put = store.put(objectKey, meter, {
    contentType: options.contentType,
    ...(options.size === undefined ? {} : { size: options.size }),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  try {
    await Promise.all([pipeline(body, meter), put]);
  } catch (error) {
    meter.destroy();
    await put.catch(() => undefined);
    await store.remove(objectKey).catch(() => undefined);
    throw error;
  }
  return { storage: store.kind, objectKey, size, sha256: hash.digest('hex') };
}
