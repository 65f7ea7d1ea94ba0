import { ZipError } from './zip-error.ts';

/** ZIP record signatures (APPNOTE 6.3.10, §4.3). */
export const SIG = {
  local: 0x04034b50,
  central: 0x02014b50,
  end: 0x06054b50,
  zip64End: 0x06064b50,
  zip64Locator: 0x07064b50,
} as const;

export const MAX16 = 0xffff;
export const MAX32 = 0xffffffff;
export const LOCAL_HEADER_SIZE = 30;
export const CENTRAL_HEADER_SIZE = 46;
export const END_SIZE = 22;
export const ZIP64_END_SIZE = 56;
export const ZIP64_LOCATOR_SIZE = 20;
export const ZIP64_EXTRA_ID = 0x0001;

/** General purpose flag bits. */
export const FLAG_ENCRYPTED = 0x0001;
export const FLAG_DATA_DESCRIPTOR = 0x0008;
export const FLAG_UTF8 = 0x0800;

/** "Made by" Unix, spec 3.0; with external attributes 0644 so unzip creates ordinary files. */
export const MADE_BY_UNIX = 0x031e;
export const UNIX_FILE_0644 = (0o100644 << 16) >>> 0;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 as ZIP uses it (only ever run over the small documents we write or rewrite). */
export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export interface DosDateTime {
  date: number;
  time: number;
}

/** 1980-01-01 00:00, the earliest DOS date: the default for entries we add, so output never depends on a clock. */
export const DOS_EPOCH: DosDateTime = { date: (1 << 5) | 1, time: 0 };

/** A DOS date/time from the UTC fields of `d`, clamped to the range DOS can express. */
export function toDosDateTime(d: Date): DosDateTime {
  const year = d.getUTCFullYear();
  if (Number.isNaN(year) || year < 1980) return DOS_EPOCH;
  if (year > 2107) return { date: (127 << 9) | (12 << 5) | 31, time: (23 << 11) | (59 << 5) | 29 };
  return {
    date: ((year - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate(),
    time: (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | (d.getUTCSeconds() >> 1),
  };
}

export interface LocalHeader {
  versionNeeded: number;
  flags: number;
  method: number;
  dosTime: number;
  dosDate: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  name: Buffer;
}

/** A local file header with no extra field (we only write headers for small, known-size data). */
export function writeLocalHeader(h: LocalHeader): Buffer {
  if (h.compressedSize >= MAX32 || h.uncompressedSize >= MAX32) {
    throw new ZipError('LIMIT', 'a rewritten entry would need Zip64 sizes');
  }
  if (h.name.length > MAX16) throw new ZipError('LIMIT', 'entry name too long');
  const b = Buffer.alloc(LOCAL_HEADER_SIZE + h.name.length);
  b.writeUInt32LE(SIG.local, 0);
  b.writeUInt16LE(h.versionNeeded, 4);
  b.writeUInt16LE(h.flags, 6);
  b.writeUInt16LE(h.method, 8);
  b.writeUInt16LE(h.dosTime, 10);
  b.writeUInt16LE(h.dosDate, 12);
  b.writeUInt32LE(h.crc32, 14);
  b.writeUInt32LE(h.compressedSize, 18);
  b.writeUInt32LE(h.uncompressedSize, 22);
  b.writeUInt16LE(h.name.length, 26);
  b.writeUInt16LE(0, 28);
  h.name.copy(b, LOCAL_HEADER_SIZE);
  return b;
}

export interface CentralHeader {
  versionMadeBy: number;
  versionNeeded: number;
  flags: number;
  method: number;
  dosTime: number;
  dosDate: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  name: Buffer;
  /** Extra fields without any Zip64 field: the writer adds one when a value needs it. */
  extra: Buffer;
  comment: Buffer;
  internalAttributes: number;
  externalAttributes: number;
  localHeaderOffset: number;
  /** Fields the original entry kept in its Zip64 extra even though they would fit (preserved as they were). */
  zip64?: { uncompressed: boolean; compressed: boolean; offset: boolean };
}

/** A central directory header; values ≥ 0xFFFFFFFF go to a Zip64 extended information field. */
export function writeCentralHeader(h: CentralHeader): Buffer {
  const big = (v: number, forced: boolean | undefined): boolean => forced === true || v >= MAX32;
  const fields: number[] = [];
  const u = big(h.uncompressedSize, h.zip64?.uncompressed);
  const c = big(h.compressedSize, h.zip64?.compressed);
  const o = big(h.localHeaderOffset, h.zip64?.offset);
  if (u) fields.push(h.uncompressedSize);
  if (c) fields.push(h.compressedSize);
  if (o) fields.push(h.localHeaderOffset);
  let extra = h.extra;
  if (fields.length > 0) {
    const z = Buffer.alloc(4 + 8 * fields.length);
    z.writeUInt16LE(ZIP64_EXTRA_ID, 0);
    z.writeUInt16LE(8 * fields.length, 2);
    for (const [i, v] of fields.entries()) z.writeBigUInt64LE(BigInt(v), 4 + 8 * i);
    extra = Buffer.concat([z, h.extra]);
  }
  if (extra.length > MAX16 || h.name.length > MAX16 || h.comment.length > MAX16) {
    throw new ZipError('LIMIT', 'central directory header fields too long');
  }
  const b = Buffer.alloc(CENTRAL_HEADER_SIZE + h.name.length + extra.length + h.comment.length);
  b.writeUInt32LE(SIG.central, 0);
  b.writeUInt16LE(h.versionMadeBy, 4);
  b.writeUInt16LE(fields.length > 0 ? Math.max(h.versionNeeded, 45) : h.versionNeeded, 6);
  b.writeUInt16LE(h.flags, 8);
  b.writeUInt16LE(h.method, 10);
  b.writeUInt16LE(h.dosTime, 12);
  b.writeUInt16LE(h.dosDate, 14);
  b.writeUInt32LE(h.crc32 >>> 0, 16);
  b.writeUInt32LE(c ? MAX32 : h.compressedSize, 20);
  b.writeUInt32LE(u ? MAX32 : h.uncompressedSize, 24);
  b.writeUInt16LE(h.name.length, 28);
  b.writeUInt16LE(extra.length, 30);
  b.writeUInt16LE(h.comment.length, 32);
  b.writeUInt16LE(0, 34);
  b.writeUInt16LE(h.internalAttributes, 36);
  b.writeUInt32LE(h.externalAttributes >>> 0, 38);
  b.writeUInt32LE(o ? MAX32 : h.localHeaderOffset, 42);
  h.name.copy(b, CENTRAL_HEADER_SIZE);
  extra.copy(b, CENTRAL_HEADER_SIZE + h.name.length);
  h.comment.copy(b, CENTRAL_HEADER_SIZE + h.name.length + extra.length);
  return b;
}

export interface EndRecordInput {
  /** Number of central directory entries. */
  entries: number;
  /** Where the central directory starts, and its length. */
  cdOffset: number;
  cdSize: number;
  comment: Buffer;
}

/**
 * The end of the archive: a Zip64 end record and locator when a count, size or offset does not fit the classic
 * record (those fields then read 0xFFFF/0xFFFFFFFF there), followed by the end of central directory record.
 * It must be written right after the central directory.
 */
export function writeEndRecords(e: EndRecordInput): Buffer {
  if (e.comment.length > MAX16) throw new ZipError('LIMIT', 'archive comment too long');
  const manyEntries = e.entries >= MAX16;
  const bigSize = e.cdSize >= MAX32;
  const bigOffset = e.cdOffset >= MAX32;
  const parts: Buffer[] = [];
  if (manyEntries || bigSize || bigOffset) {
    const z = Buffer.alloc(ZIP64_END_SIZE + ZIP64_LOCATOR_SIZE);
    z.writeUInt32LE(SIG.zip64End, 0);
    z.writeBigUInt64LE(BigInt(ZIP64_END_SIZE - 12), 4);
    z.writeUInt16LE(45, 12);
    z.writeUInt16LE(45, 14);
    z.writeUInt32LE(0, 16);
    z.writeUInt32LE(0, 20);
    z.writeBigUInt64LE(BigInt(e.entries), 24);
    z.writeBigUInt64LE(BigInt(e.entries), 32);
    z.writeBigUInt64LE(BigInt(e.cdSize), 40);
    z.writeBigUInt64LE(BigInt(e.cdOffset), 48);
    z.writeUInt32LE(SIG.zip64Locator, 56);
    z.writeUInt32LE(0, 60);
    z.writeBigUInt64LE(BigInt(e.cdOffset + e.cdSize), 64);
    z.writeUInt32LE(1, 72);
    parts.push(z);
  }
  const b = Buffer.alloc(END_SIZE + e.comment.length);
  b.writeUInt32LE(SIG.end, 0);
  b.writeUInt16LE(0, 4);
  b.writeUInt16LE(0, 6);
  b.writeUInt16LE(manyEntries ? MAX16 : e.entries, 8);
  b.writeUInt16LE(manyEntries ? MAX16 : e.entries, 10);
  b.writeUInt32LE(bigSize ? MAX32 : e.cdSize, 12);
  b.writeUInt32LE(bigOffset ? MAX32 : e.cdOffset, 16);
  b.writeUInt16LE(e.comment.length, 20);
  e.comment.copy(b, END_SIZE);
  parts.push(b);
  return Buffer.concat(parts);
}

/** The archive comment we write: the original one (when it is safe to keep) and the trace token. */
export function markedComment(original: Buffer, token: string): Buffer {
  const mark = Buffer.from(`CloudSecure license ${token}`, 'latin1');
  // A comment holding an end-record signature would make readers that scan backwards stop inside it.
  const unsafe =
    original.includes(Buffer.from('PK\x05\x06', 'latin1')) ||
    original.includes(Buffer.from('PK\x06\x07', 'latin1'));
  if (original.length === 0 || unsafe) return mark;
  const keep = original.subarray(0, Math.max(0, MAX16 - mark.length - 1));
  return Buffer.concat([keep, Buffer.from('\n'), mark]);
}
