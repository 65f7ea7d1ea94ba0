import type { RangeReader } from '../range-reader.ts';
import {
  CENTRAL_HEADER_SIZE,
  END_SIZE,
  FLAG_ENCRYPTED,
  FLAG_UTF8,
  LOCAL_HEADER_SIZE,
  MAX16,
  MAX32,
  SIG,
  ZIP64_END_SIZE,
  ZIP64_EXTRA_ID,
  ZIP64_LOCATOR_SIZE,
} from './records.ts';
import { ZipError } from './zip-error.ts';

export interface ZipEntry {
  /** Position in the central directory. */
  index: number;
  name: string;
  rawName: Buffer;
  versionMadeBy: number;
  versionNeeded: number;
  flags: number;
  method: number;
  dosTime: number;
  dosDate: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
  internalAttributes: number;
  externalAttributes: number;
  /** Central extra fields with the Zip64 field removed (the writer re-creates it as needed). */
  extra: Buffer;
  comment: Buffer;
  /** Which values the original kept in its Zip64 field. */
  zip64: { uncompressed: boolean; compressed: boolean; offset: boolean };
  encrypted: boolean;
  /**
   * End of this entry's bytes (local header, data, data descriptor, anything up to the next local header):
   * the next local header in file order, or the central directory. Copying [localHeaderOffset, end) moves
   * the entry without reading it.
   */
  end: number;
}

export interface CentralDirectory {
  entries: ZipEntry[];
  /** Where the central directory starts: every byte before it belongs to the entries. */
  offset: number;
  /** End of the last central header (the headers are [offset, headersEnd), copied verbatim when offsets stay). */
  headersEnd: number;
  comment: Buffer;
  zip64: boolean;
}

export interface ZipLimits {
  maxEntries: number;
  maxCentralDirectoryBytes: number;
}

export const DEFAULT_ZIP_LIMITS: ZipLimits = {
  maxEntries: 200_000,
  maxCentralDirectoryBytes: 64 * 1024 * 1024,
};

const TAIL = END_SIZE + MAX16;

/**
 * Reads and checks the central directory through positional reads: the last 64 KiB (end record), the Zip64
 * records if any, and the central directory itself. Never the entries' data.
 */
export async function readCentralDirectory(
  reader: RangeReader,
  limits: ZipLimits = DEFAULT_ZIP_LIMITS,
): Promise<CentralDirectory> {
  const size = reader.size;
  if (size < END_SIZE) throw new ZipError('BROKEN', 'not a ZIP archive (too short)');
  const tailStart = Math.max(0, size - TAIL);
  const tail = await readExactly(reader, tailStart, size);
  const endAt = findEndRecord(tail);
  if (endAt < 0) throw new ZipError('BROKEN', 'not a ZIP archive (no end of central directory record)');
  const eocdOffset = tailStart + endAt;
  const disk = tail.readUInt16LE(endAt + 4);
  const cdDisk = tail.readUInt16LE(endAt + 6);
  let entriesOnDisk = tail.readUInt16LE(endAt + 8);
  let total = tail.readUInt16LE(endAt + 10);
  let cdSize = tail.readUInt32LE(endAt + 12);
  let cdOffset = tail.readUInt32LE(endAt + 16);
  const comment = Buffer.from(
    tail.subarray(endAt + END_SIZE, endAt + END_SIZE + tail.readUInt16LE(endAt + 20)),
  );
  let limit = eocdOffset;
  let zip64 = false;

  const locatorOffset = eocdOffset - ZIP64_LOCATOR_SIZE;
  if (locatorOffset >= 0) {
    const loc = await readAt(reader, tail, tailStart, locatorOffset, ZIP64_LOCATOR_SIZE);
    if (loc.readUInt32LE(0) === SIG.zip64Locator) {
      zip64 = true;
      if (loc.readUInt32LE(4) !== 0 || loc.readUInt32LE(16) > 1) {
        throw new ZipError('UNSUPPORTED', 'multi-disk (split) ZIP archives are not supported');
      }
      const recordOffset = toSafe(loc.readBigUInt64LE(8), 'Zip64 end record offset');
      if (recordOffset + ZIP64_END_SIZE > locatorOffset) {
        throw new ZipError('BROKEN', 'Zip64 end record offset points outside the archive');
      }
      const rec = await readAt(reader, tail, tailStart, recordOffset, ZIP64_END_SIZE);
      if (rec.readUInt32LE(0) !== SIG.zip64End) throw new ZipError('BROKEN', 'Zip64 end record not found');
      if (rec.readUInt32LE(16) !== 0 || rec.readUInt32LE(20) !== 0) {
        throw new ZipError('UNSUPPORTED', 'multi-disk (split) ZIP archives are not supported');
      }
      entriesOnDisk = toSafe(rec.readBigUInt64LE(24), 'entry count');
      total = toSafe(rec.readBigUInt64LE(32), 'entry count');
      cdSize = toSafe(rec.readBigUInt64LE(40), 'central directory size');
      cdOffset = toSafe(rec.readBigUInt64LE(48), 'central directory offset');
      limit = recordOffset;
    }
  }
  if (!zip64 && (disk !== 0 || cdDisk !== 0)) {
    throw new ZipError('UNSUPPORTED', 'multi-disk (split) ZIP archives are not supported');
  }
  if (entriesOnDisk !== total)
    throw new ZipError('UNSUPPORTED', 'multi-disk (split) ZIP archives are not supported');
  if (total > limits.maxEntries) {
    throw new ZipError('LIMIT', `too many entries (${total}, at most ${limits.maxEntries})`);
  }
  if (cdSize > limits.maxCentralDirectoryBytes) {
    throw new ZipError('LIMIT', `central directory too large (${cdSize} bytes)`);
  }
  if (cdOffset + cdSize > limit) {
    throw new ZipError('BROKEN', 'central directory lies outside the archive (truncated file?)');
  }
  if (total * CENTRAL_HEADER_SIZE > cdSize) {
    throw new ZipError('BROKEN', 'entry count does not fit the central directory');
  }

  const cd = await readExactly(reader, cdOffset, cdOffset + cdSize);
  if (total > 0 && cd.readUInt32LE(0) !== SIG.central) {
    // Offsets relative to the ZIP part of a self-extracting file that was not adjusted (`zip -A`).
    const actual = limit - cdSize;
    if (actual > cdOffset && actual >= 0) {
      const probe = await reader.read(actual, actual + 4);
      if (probe.length === 4 && probe.readUInt32LE(0) === SIG.central) {
        throw new ZipError(
          'UNSUPPORTED',
          'data before the archive with unadjusted offsets (self-extracting?)',
        );
      }
    }
    throw new ZipError('BROKEN', 'central directory not found at its recorded offset');
  }
  const { entries, length } = parseEntries(cd, total, cdOffset);
  checkLayout(entries, cdOffset);
  return { entries, offset: cdOffset, headersEnd: cdOffset + length, comment, zip64 };
}

function parseEntries(cd: Buffer, total: number, cdOffset: number): { entries: ZipEntry[]; length: number } {
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let index = 0; index < total; index++) {
    if (p + CENTRAL_HEADER_SIZE > cd.length || cd.readUInt32LE(p) !== SIG.central) {
      throw new ZipError('BROKEN', `central directory entry ${index} is damaged`);
    }
    const nameLength = cd.readUInt16LE(p + 28);
    const extraLength = cd.readUInt16LE(p + 30);
    const commentLength = cd.readUInt16LE(p + 32);
    const next = p + CENTRAL_HEADER_SIZE + nameLength + extraLength + commentLength;
    if (next > cd.length) throw new ZipError('BROKEN', `central directory entry ${index} is truncated`);
    const flags = cd.readUInt16LE(p + 8);
    const rawName = Buffer.from(cd.subarray(p + CENTRAL_HEADER_SIZE, p + CENTRAL_HEADER_SIZE + nameLength));
    const rawExtra = cd.subarray(
      p + CENTRAL_HEADER_SIZE + nameLength,
      p + CENTRAL_HEADER_SIZE + nameLength + extraLength,
    );
    let uncompressedSize = cd.readUInt32LE(p + 24);
    let compressedSize = cd.readUInt32LE(p + 20);
    let localHeaderOffset = cd.readUInt32LE(p + 42);
    const zip64 = {
      uncompressed: uncompressedSize === MAX32,
      compressed: compressedSize === MAX32,
      offset: localHeaderOffset === MAX32,
    };
    const { zip64Field, rest } = splitExtra(rawExtra);
    if (zip64.uncompressed || zip64.compressed || zip64.offset) {
      if (!zip64Field) throw new ZipError('BROKEN', `entry ${index} lacks its Zip64 extra field`);
      let q = 0;
      const take = (): number => {
        if (q + 8 > zip64Field.length)
          throw new ZipError('BROKEN', `entry ${index} has a short Zip64 extra field`);
        const v = toSafe(zip64Field.readBigUInt64LE(q), 'Zip64 value');
        q += 8;
        return v;
      };
      if (zip64.uncompressed) uncompressedSize = take();
      if (zip64.compressed) compressedSize = take();
      if (zip64.offset) localHeaderOffset = take();
    }
    if (localHeaderOffset + LOCAL_HEADER_SIZE > cdOffset) {
      throw new ZipError('BROKEN', `entry ${index} starts outside the archive data`);
    }
    entries.push({
      index,
      name: decodeName(rawName, flags),
      rawName,
      versionMadeBy: cd.readUInt16LE(p + 4),
      versionNeeded: cd.readUInt16LE(p + 6),
      flags,
      method: cd.readUInt16LE(p + 10),
      dosTime: cd.readUInt16LE(p + 12),
      dosDate: cd.readUInt16LE(p + 14),
      crc32: cd.readUInt32LE(p + 16),
      compressedSize,
      uncompressedSize,
      localHeaderOffset,
      internalAttributes: cd.readUInt16LE(p + 36),
      externalAttributes: cd.readUInt32LE(p + 38),
      extra: rest,
      comment: Buffer.from(cd.subarray(next - commentLength, next)),
      zip64,
      encrypted: (flags & FLAG_ENCRYPTED) !== 0,
      end: cdOffset,
    });
    p = next;
  }
  if (p + 4 <= cd.length && cd.readUInt32LE(p) === SIG.central) {
    throw new ZipError('BROKEN', 'the central directory holds more entries than the end record says');
  }
  return { entries, length: p };
}

/** Entries must not share or overlap bytes (overlapping entries are the classic ZIP bomb). */
function checkLayout(entries: ZipEntry[], cdOffset: number): void {
  const order = entries
    .map((e) => e.index)
    .sort((a, b) => {
      const d = entries[a]!.localHeaderOffset - entries[b]!.localHeaderOffset;
      return d !== 0 ? d : a - b;
    });
  for (let i = 0; i < order.length; i++) {
    const e = entries[order[i]!]!;
    const next = i + 1 < order.length ? entries[order[i + 1]!]!.localHeaderOffset : cdOffset;
    if (e.localHeaderOffset + LOCAL_HEADER_SIZE + e.rawName.length + e.compressedSize > next) {
      throw new ZipError('BROKEN', `entry ${e.index} overlaps the next entry or the central directory`);
    }
    e.end = next;
  }
}

function splitExtra(extra: Buffer): { zip64Field: Buffer | undefined; rest: Buffer } {
  let zip64Field: Buffer | undefined;
  const rest: Buffer[] = [];
  let p = 0;
  while (p + 4 <= extra.length) {
    const id = extra.readUInt16LE(p);
    const len = extra.readUInt16LE(p + 2);
    if (p + 4 + len > extra.length) break;
    if (id === ZIP64_EXTRA_ID) zip64Field = extra.subarray(p + 4, p + 4 + len);
    else rest.push(extra.subarray(p, p + 4 + len));
    p += 4 + len;
  }
  // Trailing bytes that do not form a field (some writers pad) are kept as they were.
  if (p < extra.length) rest.push(extra.subarray(p));
  return { zip64Field, rest: Buffer.concat(rest) };
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function decodeName(raw: Buffer, flags: number): string {
  if ((flags & FLAG_UTF8) !== 0) return raw.toString('utf8');
  try {
    return UTF8.decode(raw);
  } catch {
    return raw.toString('latin1');
  }
}

/** The end record closest to the end whose comment runs exactly to the end of the file. */
function findEndRecord(tail: Buffer): number {
  for (let i = tail.length - END_SIZE; i >= 0; i--) {
    if (tail[i] !== 0x50 || tail.readUInt32LE(i) !== SIG.end) continue;
    if (i + END_SIZE + tail.readUInt16LE(i + 20) === tail.length) return i;
  }
  return -1;
}

function toSafe(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipError('BROKEN', `${what} out of range`);
  return Number(v);
}

async function readExactly(reader: RangeReader, start: number, end: number): Promise<Buffer> {
  const b = await reader.read(start, end);
  if (b.length !== end - start) throw new ZipError('BROKEN', 'unexpected end of file');
  return b;
}

async function readAt(
  reader: RangeReader,
  tail: Buffer,
  tailStart: number,
  at: number,
  n: number,
): Promise<Buffer> {
  if (at >= tailStart && at + n <= tailStart + tail.length)
    return tail.subarray(at - tailStart, at - tailStart + n);
  return readExactly(reader, at, at + n);
}
