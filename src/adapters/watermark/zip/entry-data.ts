import { inflateRawSync } from 'node:zlib';
import type { RangeReader } from '../range-reader.ts';
import type { ZipEntry } from './central-directory.ts';
import { crc32, LOCAL_HEADER_SIZE, SIG } from './records.ts';
import { ZipError } from './zip-error.ts';

export interface EntryDataLimits {
  /** Largest entry (uncompressed) we inflate into memory. */
  maxEntryBytes: number;
}

export const DEFAULT_ENTRY_LIMITS: EntryDataLimits = { maxEntryBytes: 16 * 1024 * 1024 };

/**
 * The uncompressed content of one (small) entry: Store or Deflate, checked against the sizes and CRC of the
 * central directory. Inflation is capped at the declared size, so a decompression bomb fails fast.
 */
export async function readEntryData(
  reader: RangeReader,
  entry: ZipEntry,
  limits: EntryDataLimits = DEFAULT_ENTRY_LIMITS,
): Promise<Buffer> {
  const what = `entry "${entry.name}"`;
  if (entry.encrypted) throw new ZipError('ENCRYPTED', `${what} is encrypted`);
  if (entry.method !== 0 && entry.method !== 8) {
    throw new ZipError('UNSUPPORTED', `${what} uses compression method ${entry.method}`);
  }
  if (entry.uncompressedSize > limits.maxEntryBytes || entry.compressedSize > limits.maxEntryBytes) {
    throw new ZipError('LIMIT', `${what} is too large to rewrite (${entry.uncompressedSize} bytes)`);
  }
  const start = entry.localHeaderOffset;
  // One read normally covers the header, the name, a typical extra field and the data.
  const guess = Math.min(
    entry.end,
    start + LOCAL_HEADER_SIZE + entry.rawName.length + 1024 + entry.compressedSize,
  );
  let chunk = await reader.read(start, guess);
  if (chunk.length < LOCAL_HEADER_SIZE || chunk.readUInt32LE(0) !== SIG.local) {
    throw new ZipError('BROKEN', `${what}: local header not found`);
  }
  const dataStart = LOCAL_HEADER_SIZE + chunk.readUInt16LE(26) + chunk.readUInt16LE(28);
  const dataEnd = dataStart + entry.compressedSize;
  if (start + dataEnd > entry.end) throw new ZipError('BROKEN', `${what} runs into the next entry`);
  if (dataEnd > chunk.length) chunk = await reader.read(start, start + dataEnd);
  if (chunk.length < dataEnd) throw new ZipError('BROKEN', `${what} is truncated`);
  const raw = chunk.subarray(dataStart, dataEnd);

  let data: Buffer;
  if (entry.method === 0) {
    data = raw;
  } else if (entry.uncompressedSize === 0) {
    data = Buffer.alloc(0);
  } else {
    try {
      data = inflateRawSync(raw, { maxOutputLength: entry.uncompressedSize });
    } catch {
      throw new ZipError('BROKEN', `${what} does not inflate to its recorded size`);
    }
  }
  if (data.length !== entry.uncompressedSize) throw new ZipError('BROKEN', `${what} has the wrong size`);
  if (crc32(data) !== entry.crc32) throw new ZipError('BROKEN', `${what} fails its CRC check`);
  return data;
}
