import { makePlan, type OutputPlan } from '../plan.ts';
import type { RangeReader } from '../range-reader.ts';
import { DEFAULT_ZIP_LIMITS, readCentralDirectory, type ZipLimits } from './central-directory.ts';
import {
  crc32,
  DOS_EPOCH,
  MADE_BY_UNIX,
  markedComment,
  toDosDateTime,
  UNIX_FILE_0644,
  writeCentralHeader,
  writeEndRecords,
  writeLocalHeader,
} from './records.ts';

export interface ZipWatermarkInput {
  /** File name of the added entry, at the archive root, e.g. `LICENSE-1042.txt`. */
  licenseName: string;
  licenseText: string;
  /** Opaque trace token (e.g. `WMK7Q2ZP4XJ9D3M5T6R2A`), written to the archive comment and the licence. */
  token: string;
  /** Modification time of the added entry (UTC); 1980-01-01 when absent, so output never depends on a clock. */
  modified?: Date;
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;
const SAFE_TOKEN = /^[\x21-\x7e]{1,128}$/;

/**
 * Adds a licence entry to a ZIP without touching its entries: every byte before the central directory is
 * copied, the licence entry is appended there (stored), then the original central headers (their offsets do not
 * change, so they are copied too), the licence's header, Zip64 records when needed, and an end record whose
 * comment carries the token.
 */
export async function planZipWatermark(
  reader: RangeReader,
  input: ZipWatermarkInput,
  limits: ZipLimits = DEFAULT_ZIP_LIMITS,
): Promise<OutputPlan> {
  if (!SAFE_NAME.test(input.licenseName)) throw new Error(`unsafe licence file name: ${input.licenseName}`);
  if (!SAFE_TOKEN.test(input.token))
    throw new Error('the trace token must be 1-128 printable ASCII characters');
  const cd = await readCentralDirectory(reader, limits);

  const name = Buffer.from(pickName(input.licenseName, new Set(cd.entries.map((e) => e.name.toLowerCase()))));
  const text = input.licenseText.includes(input.token)
    ? input.licenseText
    : `${input.licenseText.replace(/\s*$/, '')}\n\nReference: ${input.token}\n`;
  const data = Buffer.from(text, 'utf8');
  const when = input.modified ? toDosDateTime(input.modified) : DOS_EPOCH;
  const crc = crc32(data);
  const local = writeLocalHeader({
    versionNeeded: 10,
    flags: 0,
    method: 0,
    dosTime: when.time,
    dosDate: when.date,
    crc32: crc,
    compressedSize: data.length,
    uncompressedSize: data.length,
    name,
  });
  const central = writeCentralHeader({
    versionMadeBy: MADE_BY_UNIX,
    versionNeeded: 10,
    flags: 0,
    method: 0,
    dosTime: when.time,
    dosDate: when.date,
    crc32: crc,
    compressedSize: data.length,
    uncompressedSize: data.length,
    name,
    extra: Buffer.alloc(0),
    comment: Buffer.alloc(0),
    internalAttributes: 1, // text
    externalAttributes: UNIX_FILE_0644,
    localHeaderOffset: cd.offset,
  });
  const cdOffset = cd.offset + local.length + data.length;
  const end = writeEndRecords({
    entries: cd.entries.length + 1,
    cdOffset,
    cdSize: cd.headersEnd - cd.offset + central.length,
    comment: markedComment(cd.comment, input.token),
  });
  return makePlan([
    { kind: 'copy', start: 0, end: cd.offset },
    { kind: 'bytes', data: Buffer.concat([local, data]) },
    { kind: 'copy', start: cd.offset, end: cd.headersEnd },
    { kind: 'bytes', data: Buffer.concat([central, end]) },
  ]);
}

/** `LICENSE-1042.txt`, or `LICENSE-1042-2.txt`, `-3`… when the archive already has that name (any case). */
function pickName(wanted: string, taken: Set<string>): string {
  if (!taken.has(wanted.toLowerCase())) return wanted;
  const dot = wanted.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [wanted.slice(0, dot), wanted.slice(dot)] : [wanted, ''];
  for (let n = 2; ; n++) {
    const candidate = `${stem}-${n}${ext}`;
    if (!taken.has(candidate.toLowerCase())) return candidate;
  }
}
