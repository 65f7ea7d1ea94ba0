import { deflateSync } from 'node:zlib';
import { makePlan, type OutputPlan, type Segment } from '../plan.ts';
import type { PdfAnalysis } from './analyze.ts';
import { PdfError } from './errors.ts';

/**
 * The streamed in-place rewrite (contract §2.7): the master's bytes are copied through except the cut
 * ranges (old xref sections with their `startxref … %%EOF`) and the replaced objects (written in place),
 * then the new objects and ONE fresh cross-reference section (table or stream) with its trailer. Every
 * object's new offset follows from where its bytes land, so the xref is complete and has no /Prev.
 */

/** Bytes that take the place of [start, end) of the master; `num` names the object they define. */
export interface Replacement {
  start: number;
  end: number;
  bytes: Buffer;
  num?: number;
}

export interface RewriteInput {
  analysis: PdfAnalysis;
  replacements: Replacement[];
  /** New objects (`N 0 obj … endobj` bodies without the wrapper), numbered above maxObjectNumber. */
  newObjects: { num: number; body: Buffer }[];
  /** Trailer entries besides /Size (e.g. `/Root 1 0 R /Info 9 0 R /ID [<..> <..>]`). */
  trailer: string;
  kind: 'table' | 'stream';
}

/** Deflate level of every stream this writer compresses: fixed, so the output is deterministic. */
export const DEFLATE_LEVEL = 6;

export function assembleRewrite(input: RewriteInput): OutputPlan {
  return finishRewrite(
    prepareRewrite(input.analysis, input.replacements, input.kind),
    input.newObjects,
    input.trailer,
  );
}

/**
 * The part of a rewrite that does not depend on the new objects: which master ranges are copied, the
 * replaced objects, and the xref rows of every existing object (0 … maxObjectNumber). The same for every
 * buyer of a file, so it can be made once and finished per copy with {@link finishRewrite}.
 */
export interface PreparedRewrite {
  readonly kind: 'table' | 'stream';
  /** Copied ranges and replaced objects, up to the end of the master. */
  readonly segments: readonly Segment[];
  /** Output length of `segments`. */
  readonly length: number;
  /** Rows of the existing objects before the free chain is linked (type 0 = free). */
  readonly type: Uint8Array;
  readonly f2: Float64Array;
  readonly f3: Uint32Array;
  /** Approximate memory held, for caches. */
  readonly bytes: number;
  /** Encoded rows of the existing objects, made on first use (table text, or stream rows per /W). */
  readonly rows: Map<string, Buffer>;
  /** Largest field 2 and 3 values of the existing stream rows (free links included), made on first use. */
  max?: [number, number];
}

export function prepareRewrite(
  analysis: PdfAnalysis,
  replacements: Replacement[],
  kind: 'table' | 'stream',
): PreparedRewrite {
  const edits = [
    ...analysis.cuts.map(([start, end]) => ({
      start,
      end,
      bytes: null as Buffer | null,
      num: undefined as number | undefined,
    })),
    ...replacements.map((r) => ({
      start: r.start,
      end: r.end,
      bytes: r.bytes as Buffer | null,
      num: r.num,
    })),
  ].sort((a, b) => a.start - b.start || a.end - b.end);

  const segments: Segment[] = [];
  const copies: { start: number; end: number; at: number }[] = [];
  const placed = new Map<number, number>();
  let pos = 0;
  let out = 0;
  let bytes = 0;
  const copy = (start: number, end: number) => {
    if (end <= start) return;
    segments.push({ kind: 'copy', start, end });
    copies.push({ start, end, at: out });
    out += end - start;
  };
  for (const e of edits) {
    if (e.start < pos) throw new PdfError('BROKEN', `overlapping rewrite ranges at byte ${e.start}`);
    copy(pos, e.start);
    if (e.bytes) {
      if (e.num !== undefined) placed.set(e.num, out);
      segments.push({ kind: 'bytes', data: e.bytes });
      out += e.bytes.length;
      bytes += e.bytes.length;
    }
    pos = e.end;
  }
  copy(pos, analysis.size);

  // New offsets: replaced objects where their bytes went; copied ones shifted with their range; objects
  // whose bytes were cut (old xref streams) become free. New objects are numbered above all of these.
  const size = analysis.maxObjectNumber + 1;
  const type = new Uint8Array(size);
  const f2 = new Float64Array(size);
  const f3 = new Uint32Array(size);
  for (const [num, kind, a, b] of analysis.objects) {
    if (num >= size) continue;
    if (kind === 2) {
      type[num] = 2;
      f2[num] = a;
      f3[num] = b;
      continue;
    }
    const at = placed.get(num) ?? mapOffset(copies, a);
    if (at === undefined) continue;
    type[num] = 1;
    f2[num] = at;
    f3[num] = b;
  }
  for (const [num, at] of placed) {
    if (type[num] === 0 && num < size) {
      type[num] = 1;
      f2[num] = at;
    }
  }
  // Segments, the three row arrays and (made later) one encoding of the rows.
  bytes += segments.length * 48 + size * 40;
  return { kind, segments, length: out, type, f2, f3, bytes, rows: new Map() };
}

/** Appends the new objects, one fresh xref section and the trailer to a prepared rewrite. */
export function finishRewrite(
  prepared: PreparedRewrite,
  newObjects: { num: number; body: Buffer }[],
  trailer: string,
): OutputPlan {
  const existing = prepared.type.length;
  const lastNew = newObjects.reduce((max, o) => Math.max(max, o.num), 0);
  const size = Math.max(existing - 1, lastNew) + 1 + (prepared.kind === 'stream' ? 1 : 0);
  const type = new Uint8Array(size);
  const f2 = new Float64Array(size);
  const f3 = new Uint32Array(size);
  type.set(prepared.type);
  f2.set(prepared.f2);
  f3.set(prepared.f3);

  const tailParts: Buffer[] = [Buffer.from('\n')];
  let out = prepared.length + 1;
  for (const o of newObjects) {
    type[o.num] = 1;
    f2[o.num] = out;
    f3[o.num] = 0;
    const part = Buffer.concat([Buffer.from(`${o.num} 0 obj\n`), o.body, Buffer.from('\nendobj\n')]);
    tailParts.push(part);
    out += part.length;
  }
  const xrefAt = out;
  // When the new objects fill every number above the existing ones, the existing rows (free chain
  // included) are the prepared ones: reuse their encoding instead of redoing it per copy.
  let dense = newObjects.every((o) => o.num >= existing);
  for (let i = existing; dense && i < size - (prepared.kind === 'stream' ? 1 : 0); i++) {
    if (type[i] !== 1) dense = false;
  }
  let xref: Buffer;
  if (prepared.kind === 'table') {
    xref = dense ? denseXrefTable(prepared, type, f2, trailer) : xrefTable(type, f2, f3, trailer);
  } else {
    xref = dense
      ? denseXrefStream(prepared, type, f2, f3, trailer, xrefAt)
      : xrefStream(type, f2, f3, trailer, size - 1, xrefAt);
  }
  tailParts.push(xref, Buffer.from(`startxref\n${xrefAt}\n%%EOF\n`));
  return makePlan([...prepared.segments, { kind: 'bytes', data: Buffer.concat(tailParts) }]);
}

/** Free-chain links of the existing rows alone (the last free one points at 0). */
function linkFree(type: Uint8Array): Float64Array {
  const link = new Float64Array(type.length);
  let next = 0;
  for (let i = type.length - 1; i >= 0; i--) {
    link[i] = next;
    if (type[i] === 0) next = i;
  }
  return link;
}

function denseXrefTable(
  prepared: PreparedRewrite,
  type: Uint8Array,
  f2: Float64Array,
  trailer: string,
): Buffer {
  let rows = prepared.rows.get('table');
  if (!rows) {
    const link = linkFree(prepared.type);
    const lines: string[] = [];
    for (let num = 0; num < prepared.type.length; num++) lines.push(tableRow(prepared, link, num));
    rows = Buffer.from(lines.join(''), 'latin1');
    prepared.rows.set('table', rows);
  }
  const lines: string[] = [];
  for (let num = prepared.type.length; num < type.length; num++) {
    lines.push(`${String(f2[num]).padStart(10, '0')} 00000 n\r\n`);
  }
  lines.push(`trailer\n<</Size ${type.length}${trailer}>>\n`);
  return Buffer.concat([
    Buffer.from(`xref\n0 ${type.length}\n`, 'latin1'),
    rows,
    Buffer.from(lines.join(''), 'latin1'),
  ]);
}

function tableRow(prepared: PreparedRewrite, link: Float64Array, num: number): string {
  const { type, f2, f3 } = prepared;
  if (type[num] === 1)
    return `${String(f2[num]).padStart(10, '0')} ${String(f3[num]).padStart(5, '0')} n\r\n`;
  if (type[num] === 0) return `${String(link[num]).padStart(10, '0')} ${num === 0 ? '65535' : '00000'} f\r\n`;
  throw new PdfError('UNSUPPORTED', 'an xref table cannot list objects in object streams');
}

function denseXrefStream(
  prepared: PreparedRewrite,
  type: Uint8Array,
  f2: Float64Array,
  f3: Uint32Array,
  trailer: string,
  at: number,
): Buffer {
  const num = type.length - 1;
  type[num] = 1;
  f2[num] = at;
  f3[num] = 0;
  const existing = prepared.type.length;
  if (!prepared.max) {
    const link = linkFree(prepared.type);
    let max2 = 0;
    let max3 = 0;
    for (let i = 0; i < existing; i++) {
      max2 = Math.max(max2, prepared.type[i] === 0 ? link[i]! : prepared.f2[i]!);
      max3 = Math.max(max3, prepared.type[i] === 0 ? (i === 0 ? 65535 : 0) : prepared.f3[i]!);
    }
    prepared.max = [max2, max3];
  }
  const [max2, max3] = prepared.max;
  let top2 = max2;
  for (let i = existing; i < type.length; i++) top2 = Math.max(top2, f2[i]!);
  const w2 = bytesFor(top2);
  const w3 = bytesFor(max3);
  const row = 1 + w2 + w3;
  let rows = prepared.rows.get(`${w2}/${w3}`);
  if (!rows) {
    const link = linkFree(prepared.type);
    rows = Buffer.alloc(existing * row);
    for (let i = 0; i < existing; i++) {
      const free = prepared.type[i] === 0;
      rows[i * row] = prepared.type[i]!;
      writeField(rows, i * row + 1, w2, free ? link[i]! : prepared.f2[i]!);
      writeField(rows, i * row + 1 + w2, w3, free ? (i === 0 ? 65535 : 0) : prepared.f3[i]!);
    }
    prepared.rows.set(`${w2}/${w3}`, rows);
  }
  const data = Buffer.alloc(type.length * row);
  rows.copy(data);
  for (let i = existing; i < type.length; i++) {
    data[i * row] = 1;
    writeField(data, i * row + 1, w2, f2[i]!);
  }
  return xrefStreamObject(num, data, w2, w3, type.length, trailer);
}

function mapOffset(copies: { start: number; end: number; at: number }[], offset: number): number | undefined {
  let lo = 0;
  let hi = copies.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const c = copies[mid]!;
    if (offset < c.start) hi = mid - 1;
    else if (offset >= c.end) lo = mid + 1;
    else return c.at + offset - c.start;
  }
  return undefined;
}

/** Next free object number after `num` (0 closes the list), for the free-entry chain. */
function nextFree(type: Uint8Array, num: number): number {
  for (let i = num + 1; i < type.length; i++) if (type[i] === 0) return i;
  return 0;
}

function xrefTable(type: Uint8Array, f2: Float64Array, f3: Uint32Array, trailer: string): Buffer {
  const lines: string[] = [`xref\n0 ${type.length}\n`];
  for (let num = 0; num < type.length; num++) {
    if (type[num] === 1)
      lines.push(`${String(f2[num]).padStart(10, '0')} ${String(f3[num]).padStart(5, '0')} n\r\n`);
    else if (type[num] === 0) {
      const gen = num === 0 ? '65535' : '00000';
      lines.push(`${String(nextFree(type, num)).padStart(10, '0')} ${gen} f\r\n`);
    } else throw new PdfError('UNSUPPORTED', 'an xref table cannot list objects in object streams');
  }
  lines.push(`trailer\n<</Size ${type.length}${trailer}>>\n`);
  return Buffer.from(lines.join(''), 'latin1');
}

function xrefStream(
  type: Uint8Array,
  f2: Float64Array,
  f3: Uint32Array,
  trailer: string,
  num: number,
  at: number,
): Buffer {
  type[num] = 1;
  f2[num] = at;
  f3[num] = 0;
  for (let i = 0; i < type.length; i++) {
    if (type[i] === 0) {
      f2[i] = nextFree(type, i);
      f3[i] = i === 0 ? 65535 : 0;
    }
  }
  let max2 = 0;
  let max3 = 0;
  for (let i = 0; i < type.length; i++) {
    max2 = Math.max(max2, f2[i]!);
    max3 = Math.max(max3, f3[i]!);
  }
  const w2 = bytesFor(max2);
  const w3 = bytesFor(max3);
  const row = 1 + w2 + w3;
  const data = Buffer.alloc(type.length * row);
  for (let i = 0; i < type.length; i++) {
    data[i * row] = type[i]!;
    writeField(data, i * row + 1, w2, f2[i]!);
    writeField(data, i * row + 1 + w2, w3, f3[i]!);
  }
  return xrefStreamObject(num, data, w2, w3, type.length, trailer);
}

function xrefStreamObject(
  num: number,
  data: Buffer,
  w2: number,
  w3: number,
  size: number,
  trailer: string,
): Buffer {
  const z = deflateSync(data, { level: DEFLATE_LEVEL });
  const dict = `<</Type /XRef /Size ${size} /W [1 ${w2} ${w3}]${trailer} /Filter /FlateDecode /Length ${z.length}>>`;
  return Buffer.concat([
    Buffer.from(`${num} 0 obj\n${dict}\nstream\n`),
    z,
    Buffer.from('\nendstream\nendobj\n'),
  ]);
}

function bytesFor(max: number): number {
  let n = 1;
  while (max >= 256 ** n) n++;
  return n;
}

function writeField(buf: Buffer, at: number, width: number, value: number): void {
  for (let i = width - 1; i >= 0; i--) {
    buf[at + i] = value % 256;
    value = Math.floor(value / 256);
  }
}
