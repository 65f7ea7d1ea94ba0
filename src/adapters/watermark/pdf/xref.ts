import { PdfError, PdfTruncatedError } from './errors.ts';
import type { ObjectLoader, XrefEntry } from './objects.ts';
import { type PdfDict, type PdfObject, PdfParser } from './syntax.ts';

/**
 * Cross-reference reading (ISO 32000-1 §7.5.4–7.5.8): classic tables, xref streams (/W, /Index, Flate +
 * PNG predictors), hybrid files (/XRefStm), and the /Prev chain with loop detection. Newer sections win.
 */

export interface XrefSection {
  kind: 'table' | 'stream';
  /** Offset named by startxref, /Prev or /XRefStm. */
  offset: number;
  /** Byte range to cut out: the section, plus the `startxref … %%EOF` that follows it, if any. */
  start: number;
  end: number;
}

export interface XrefData {
  entries: Map<number, XrefEntry>;
  /** Newest first. */
  sections: XrefSection[];
  /** Trailer dictionaries, newest first (for streams: the stream dictionary). */
  trailers: { dict: PdfDict; buf: Buffer }[];
  startxref: number;
  /** The file's final `startxref … %%EOF`. */
  tail: { start: number; end: number };
  hybrid: boolean;
  /** Largest /Size over all sections. */
  size: number;
}

export interface XrefLimits {
  maxObjects: number;
  maxXrefSections: number;
}

const STARTXREF = Buffer.from('startxref');

export async function readXref(loader: ObjectLoader, limits: XrefLimits): Promise<XrefData> {
  const { reader } = loader;
  const tailStart = Math.max(0, reader.size - 2048);
  const tailBuf = await reader.read(tailStart, reader.size);
  const at = tailBuf.lastIndexOf(STARTXREF);
  const p = new PdfParser(tailBuf, at + STARTXREF.length);
  const startxref = at < 0 ? null : p.tryUnsigned();
  if (startxref === null) throw new PdfError('BROKEN', 'no startxref at the end of the file');
  const tail = { start: tailStart + at, end: Math.max(await eofTail(loader, tailStart + at), reader.size) };

  const data: XrefData = {
    entries: loader.xref,
    sections: [],
    trailers: [],
    startxref,
    tail,
    hybrid: false,
    size: 0,
  };
  const seen = new Set<number>();
  for (let next: number | null = startxref; next !== null && !seen.has(next); ) {
    seen.add(next);
    if (data.sections.length >= limits.maxXrefSections) {
      throw new PdfError('LIMIT', `more than ${limits.maxXrefSections} cross-reference sections`);
    }
    const head = await reader.read(next, next + 64);
    const isTable = new PdfParser(head).tryKeyword('xref');
    const section: Section = isTable
      ? await readTable(loader, next, limits)
      : await readStream(loader, next, limits);
    data.sections.push({ kind: isTable ? 'table' : 'stream', offset: next, start: next, end: section.end });
    data.trailers.push({ dict: section.trailer, buf: section.buf });
    const stm = section.trailer.entries.get('XRefStm');
    let extra: Section | undefined;
    if (isTable && stm?.type === 'number' && !seen.has(stm.value)) {
      extra = await readStream(loader, stm.value, limits);
      data.hybrid = true;
      data.sections.push({ kind: 'stream', offset: stm.value, start: stm.value, end: extra.end });
    }
    // Within a hybrid section the table's in-use entries win, then the stream's, then the table's free ones.
    for (const [num, e] of section.entries)
      if (e.type !== 'free' && !data.entries.has(num)) data.entries.set(num, e);
    for (const [num, e] of extra?.entries ?? []) if (!data.entries.has(num)) data.entries.set(num, e);
    for (const [num, e] of section.entries) if (!data.entries.has(num)) data.entries.set(num, e);
    const size = section.trailer.entries.get('Size');
    if (size?.type === 'number') data.size = Math.max(data.size, size.value);
    const prev: PdfObject | undefined = section.trailer.entries.get('Prev');
    next = prev?.type === 'number' && Number.isInteger(prev.value) ? prev.value : null;
  }
  if (data.size > limits.maxObjects + 1)
    throw new PdfError('LIMIT', `/Size ${data.size} exceeds ${limits.maxObjects}`);
  return data;
}

interface Section {
  entries: [number, XrefEntry][];
  trailer: PdfDict;
  buf: Buffer;
  end: number;
}

async function readTable(loader: ObjectLoader, offset: number, limits: XrefLimits): Promise<Section> {
  const { reader } = loader;
  const maxBytes = limits.maxObjects * 21 + 65536;
  for (let window = 16384; ; window *= 4) {
    const end = Math.min(reader.size, offset + window);
    const buf = await reader.read(offset, end);
    try {
      const { entries, trailer, at } = parseTable(buf, limits.maxObjects);
      return { entries, trailer, buf, end: await eofTail(loader, offset + at) };
    } catch (error) {
      if (!(error instanceof PdfTruncatedError) || end >= reader.size) throw error;
      if (window >= maxBytes) throw new PdfError('LIMIT', `xref table at byte ${offset} is too large`);
    }
  }
}

function parseTable(
  buf: Buffer,
  maxObjects: number,
): { entries: [number, XrefEntry][]; trailer: PdfDict; at: number } {
  const p = new PdfParser(buf);
  p.tryKeyword('xref');
  const entries: [number, XrefEntry][] = [];
  const fail = (what: string): never => {
    if (buf.length - p.pos < 64) p.truncated(what);
    return p.broken(`bad ${what}`);
  };
  while (!p.tryKeyword('trailer')) {
    const first = p.tryUnsigned();
    const count = first === null ? null : p.tryUnsigned();
    if (first === null || count === null) fail('xref subsection header');
    if (first! + count! > maxObjects + 1)
      throw new PdfError('LIMIT', `xref lists more than ${maxObjects} objects`);
    for (let i = 0; i < count!; i++) {
      const offset = p.tryUnsigned();
      const gen = offset === null ? null : p.tryUnsigned();
      p.skipWhitespace();
      const kind = p.readRegular();
      if (offset === null || gen === null || (kind !== 'n' && kind !== 'f')) fail('xref entry');
      const inUse = kind === 'n' && offset! > 0;
      entries.push([first! + i, inUse ? { type: 'offset', offset: offset!, gen: gen! } : { type: 'free' }]);
    }
  }
  const trailer = p.parseObject();
  if (trailer.type !== 'dict') return p.broken('trailer is not a dictionary');
  return { entries, trailer, at: p.pos };
}

async function readStream(loader: ObjectLoader, offset: number, limits: XrefLimits): Promise<Section> {
  const { obj, buf, base } = await loader.readAt(offset);
  const dict = obj.value;
  if (dict.type !== 'dict' || !obj.stream || dict.entries.get('W')?.type !== 'array') {
    throw new PdfError('BROKEN', `no xref table or stream at byte ${offset}`);
  }
  const data = loader.decode(dict, buf.subarray(obj.stream.start, obj.stream.end));
  const widths = numbers(dict.entries.get('W'));
  const size = dict.entries.get('Size');
  const index = numbers(dict.entries.get('Index') ?? undefined);
  if (index.length === 0) index.push(0, size?.type === 'number' ? size.value : 0);
  if (widths.length !== 3 || widths.some((w) => w < 0 || w > 8) || index.length % 2 !== 0) {
    throw new PdfError('BROKEN', `bad xref stream /W or /Index at byte ${offset}`);
  }
  const [w1, w2, w3] = widths as [number, number, number];
  const rowLength = w1 + w2 + w3;
  const entries: [number, XrefEntry][] = [];
  let row = 0;
  for (let i = 0; i < index.length; i += 2) {
    const first = index[i]!;
    const count = index[i + 1]!;
    if (first + count > limits.maxObjects + 1)
      throw new PdfError('LIMIT', `xref lists more than ${limits.maxObjects} objects`);
    for (let k = 0; k < count && (row + 1) * rowLength <= data.length; k++, row++) {
      const at = row * rowLength;
      const type = w1 === 0 ? 1 : field(data, at, w1);
      const f2 = field(data, at + w1, w2);
      const f3 = field(data, at + w1 + w2, w3);
      if (type === 0) entries.push([first + k, { type: 'free' }]);
      else if (type === 1)
        entries.push([first + k, f2 > 0 ? { type: 'offset', offset: f2, gen: f3 } : { type: 'free' }]);
      else if (type === 2) entries.push([first + k, { type: 'objstm', stream: f2, index: f3 }]);
    }
  }
  return { entries, trailer: dict, buf, end: await eofTail(loader, base + obj.end) };
}

function numbers(obj: PdfObject | undefined): number[] {
  if (obj?.type !== 'array') return [];
  return obj.items.map((i) => (i.type === 'number' && Number.isInteger(i.value) ? i.value : -1));
}

function field(data: Buffer, at: number, width: number): number {
  let v = 0;
  for (let i = 0; i < width; i++) v = v * 256 + data[at + i]!;
  return v;
}

/**
 * If `startxref N %%EOF` follows `pos` (after white-space only), the offset just past it and its line
 * end; otherwise `pos`. These are cut together with their section so no old `%%EOF` survives.
 */
export async function eofTail(loader: ObjectLoader, pos: number): Promise<number> {
  const buf = await loader.reader.read(pos, pos + 128);
  let i = 0;
  const ws = () => {
    while (
      i < buf.length &&
      (buf[i] === 32 || buf[i] === 9 || buf[i] === 10 || buf[i] === 13 || buf[i] === 12 || buf[i] === 0)
    )
      i++;
  };
  ws();
  if (buf.toString('latin1', i, i + 9) !== 'startxref') return pos;
  i += 9;
  ws();
  while (i < buf.length && buf[i]! >= 48 && buf[i]! <= 57) i++;
  ws();
  if (buf.toString('latin1', i, i + 5) !== '%%EOF') return pos;
  i += 5;
  if (buf[i] === 13) i++;
  if (buf[i] === 10) i++;
  return pos + i;
}
