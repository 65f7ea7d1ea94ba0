/**
 * Positional reads of a stored file, for parsers that look at a few small parts of a large file (a
 * PDF's trailer, xref and page objects; a ZIP's central directory). Implementations read from local disk
 * or issue ranged GETs to S3/R2; nothing ever loads the whole file.
 */
export interface RangeReader {
  readonly size: number;
  /** Bytes [start, end) (end exclusive, clamped to the size). */
  read(start: number, end: number): Promise<Buffer>;
}

/** A reader over bytes already in memory (tests, small files). */
export function bufferReader(data: Buffer): RangeReader {
  return {
    size: data.length,
    read: async (start, end) => data.subarray(Math.max(0, start), Math.min(data.length, end)),
  };
}
