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
  const { analysis, newObjects } = input;
  const edits = [
    ...analysis.cuts.map(([start, end]) => ({
      start,
      end,
      bytes: null as Buffer | null,
      num: undefined as number | undefined,
    })),
    ...input.replacements.map((r) => ({
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
    }
    pos = e.end;
  }
  copy(pos, analysis.size);

  // New offsets: replaced objects where their bytes went; copied ones shifted with their range; objects
  // whose bytes were cut (old xref streams) become free.
  const lastNew = newObjects.reduce((max, o) => Math.max(max, o.num), 0);
  const size = Math.max(analysis.maxObjectNumber, lastNew) + 1 + (input.kind === 'stream' ? 1 : 0);
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

  const tailParts: Buffer[] = [Buffer.from('\n')];
  out += 1;
  for (const o of newObjects) {
    type[o.num] = 1;
    f2[o.num] = out;
    f3[o.num] = 0;
    const part = Buffer.concat([Buffer.from(`${o.num} 0 obj\n`), o.body, Buffer.from('\nendobj\n')]);
    tailParts.push(part);
    out += part.length;
  }
  const xrefAt = out;
  tailParts.push(
    input.kind === 'table'
      ? xrefTable(type, f2, f3, input.trailer)
      : xrefStream(type, f2, f3, input.trailer, size - 1, xrefAt),
  );
  tailParts.push(Buffer.from(`startxref\n${xrefAt}\n%%EOF\n`));
  segments.push({ kind: 'bytes', data: Buffer.concat(tailParts) });
  return makePlan(segments);
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
  const z = deflateSync(data, { level: DEFLATE_LEVEL });
  const dict = `<</Type /XRef /Size ${type.length} /W [1 ${w2} ${w3}]${trailer} /Filter /FlateDecode /Length ${z.length}>>`;
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
