import { type FileHandle, open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { BlobStore } from '../../domain/ports.ts';
import type { RangeReader } from './range-reader.ts';

/** Positional reads of a stored object: `pread` on local disk, ranged GETs on S3/R2. Close it when done. */
export function blobReader(
  store: BlobStore,
  key: string,
  size: number,
): RangeReader & { close(): Promise<void> } {
  const path = store.localPath?.(key);
  // One handle for the reader's life: planning a copy of a 2,000-page PDF reads thousands of page objects.
  let handle: Promise<FileHandle> | null = null;
  return {
    size,
    async read(start, end) {
      const from = Math.max(0, start);
      const to = Math.min(size, end);
      if (to <= from) return Buffer.alloc(0);
      if (path) {
        handle ??= open(path, 'r');
        const buffer = Buffer.allocUnsafe(to - from);
        const { bytesRead } = await (await handle).read(buffer, 0, buffer.length, from);
        return buffer.subarray(0, bytesRead);
      }
      const chunks: Buffer[] = [];
      for await (const chunk of await store.read(key, { start: from, end: to - 1 }))
        chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    },
    async close() {
      const open = handle;
      handle = null;
      await (await open)?.close();
    },
  };
}

/** Opens [start, end) of a stored object as a stream (the copy segments of an output plan). */
export function blobRanges(store: BlobStore, key: string) {
  return (start: number, end: number): Promise<Readable> => store.read(key, { start, end: end - 1 });
}
