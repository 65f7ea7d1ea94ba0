import { createHash } from 'node:crypto';
import type { RangeReader } from '../range-reader.ts';
import { PdfError } from './errors.ts';
import { BlockCache, ObjectLoader } from './objects.ts';
import { collectPages, type PdfPage } from './page-tree.ts';
import { dictGet, type PdfObject, sourceOf } from './syntax.ts';
import { readXref, type XrefSection } from './xref.ts';

export type { PdfPage } from './page-tree.ts';

/** A reference `num gen R`. */
export interface PdfRefJson {
  num: number;
  gen: number;
}

/** An object stream that holds page dictionaries (rebuilt per download). */
export interface PdfObjectStream {
  num: number;
  gen: number;
  /** `N G obj … endobj` at [start, end). */
  start: number;
  end: number;
  /** Raw (encoded) stream data at [dataStart, dataEnd). */
  dataStart: number;
  dataEnd: number;
  /** Source text of the stream dictionary. */
  dict: string;
  /** Object numbers inside, in index order. */
  objects: number[];
  /** SHA-256 (hex) of the raw stream data: identifies the content, e.g. for caching the rebuilt stream. */
  sha256: string;
}

/**
 * What the watermarker needs to know about a PDF, computed once at upload and stored as JSON next to
 * the file. Offsets are file offsets of the analysed master (`size` bytes).
 */
export interface PdfAnalysis {
  version: 1;
  size: number;
  /** From the `%PDF-x.y` header. */
  pdfVersion: string;
  /** 'stream' when any section is an xref stream (hybrid files included). */
  xrefKind: 'table' | 'stream';
  hybrid: boolean;
  linearized: boolean;
  /** /Encrypt present (the watermarker refuses such files; decrypt at upload). */
  encrypted: boolean;
  trailer: { root: PdfRefJson; info: PdfRefJson | null; id: [string, string] | null };
  /** Source text of the /Info dictionary (null when absent). */
  info: string | null;
  /** Highest object number in use or implied by /Size. */
  maxObjectNumber: number;
  /** Every cross-reference section, newest first. */
  xrefSections: XrefSection[];
  /** Sorted, merged byte ranges to leave out: old xref sections with their `startxref … %%EOF`. */
  cuts: [number, number][];
  /** In-use objects by number: [num, 1, offset, gen] or [num, 2, object stream, index]. */
  objects: ([number, 1, number, number] | [number, 2, number, number])[];
  objectStreams: PdfObjectStream[];
  pages: PdfPage[];
}

export interface PdfLimits {
  maxObjects?: number;
  maxPages?: number;
  maxXrefSections?: number;
  maxInflateBytes?: number;
}

const DEFAULTS = {
  maxObjects: 2_000_000,
  maxPages: 100_000,
  maxXrefSections: 512,
  maxInflateBytes: 64 << 20,
};

export async function analyzePdf(reader: RangeReader, limits: PdfLimits = {}): Promise<PdfAnalysis> {
  const lim = { ...DEFAULTS, ...limits };
  if (reader.size < 32) throw new PdfError('BROKEN', 'file too small to be a PDF');
  const cache = new BlockCache(reader);
  const head = await cache.read(0, 1024);
  const header = /^%PDF-(\d\.\d)/.exec(head.toString('latin1', 0, 16));
  if (!header) {
    const at = head.indexOf('%PDF-');
    throw new PdfError('BROKEN', at > 0 ? `${at} bytes of junk before %PDF-` : 'no %PDF- header');
  }
  const loader = new ObjectLoader(cache, new Map(), {
    maxInflateBytes: lim.maxInflateBytes,
    maxTotalInflateBytes: lim.maxInflateBytes * 8,
    maxObjectBytes: Math.max(lim.maxInflateBytes, 1 << 20),
  });
  const xref = await readXref(loader, lim);

  const fromTrailer = (key: string): { value: PdfObject; buf: Buffer } | undefined => {
    for (const t of xref.trailers) {
      const value = t.dict.entries.get(key);
      if (value && value.type !== 'null') return { value, buf: t.buf };
    }
    return undefined;
  };
  const root = fromTrailer('Root')?.value;
  if (root?.type !== 'ref') throw new PdfError('BROKEN', 'trailer has no /Root reference');
  const infoRef = fromTrailer('Info')?.value;
  const encrypted = fromTrailer('Encrypt') !== undefined;

  let pages: PdfPage[];
  try {
    const catalog = await loader.get(root.num);
    if (catalog?.value.type !== 'dict') throw new PdfError('BROKEN', 'the /Root catalog is missing');
    const pagesRef = catalog.value.entries.get('Pages');
    if (!pagesRef) throw new PdfError('BROKEN', 'the catalog has no /Pages');
    pages = await collectPages(loader, pagesRef, lim);
  } catch (error) {
    if (encrypted && error instanceof PdfError && error.code !== 'LIMIT') {
      throw new PdfError(
        'ENCRYPTED',
        `the PDF is encrypted and cannot be read without decrypting it (${error.message})`,
      );
    }
    throw error;
  }
  if (pages.length === 0) throw new PdfError('BROKEN', 'the PDF has no pages');

  const info =
    infoRef?.type === 'ref'
      ? await loader.resolve(infoRef, Buffer.alloc(0)).catch(() => undefined)
      : undefined;
  const objects: PdfAnalysis['objects'] = [];
  let maxObjectNumber = Math.max(0, xref.size - 1);
  for (const num of [...xref.entries.keys()].sort((a, b) => a - b)) {
    const e = xref.entries.get(num)!;
    if (e.type === 'free' || num === 0) continue;
    objects.push(e.type === 'offset' ? [num, 1, e.offset, e.gen] : [num, 2, e.stream, e.index]);
    maxObjectNumber = Math.max(maxObjectNumber, num);
  }
  const cuts = mergeRanges([
    ...xref.sections.map((s) => [s.start, s.end] as [number, number]),
    [xref.tail.start, xref.tail.end],
  ]);
  const streamSections = new Set(xref.sections.filter((s) => s.kind === 'stream').map((s) => s.offset));
  for (const [num, kind, offset] of objects) {
    if (kind === 1 && inRanges(cuts, offset) && !streamSections.has(offset)) {
      throw new PdfError('BROKEN', `object ${num} lies inside a cross-reference section`);
    }
  }

  const objectStreams: PdfObjectStream[] = [];
  for (const stream of [
    ...new Set(pages.flatMap((p) => (p.location.kind === 'objstm' ? [p.location.stream] : []))),
  ]) {
    const loaded = await loader.get(stream);
    if (!loaded?.stream || loaded.location.kind !== 'offset' || loaded.value.type !== 'dict') {
      throw new PdfError('BROKEN', `object stream ${stream} is missing`);
    }
    const decoded = await loader.objectStream(stream);
    objectStreams.push({
      num: stream,
      gen: loaded.gen,
      start: loaded.location.start,
      end: loaded.location.end,
      dataStart: loaded.stream.start,
      dataEnd: loaded.stream.end,
      dict: sourceOf(loaded.buf, loaded.value),
      objects: decoded.index.map(([n]) => n),
      sha256: createHash('sha256')
        .update(await cache.read(loaded.stream.start, loaded.stream.end))
        .digest('hex'),
    });
  }
  const rewritten = [
    ...pages.flatMap((p) => (p.location.kind === 'offset' ? [[p.location.start, p.location.end]] : [])),
    ...objectStreams.map((s) => [s.start, s.end]),
  ] as [number, number][];
  for (const [start, end] of rewritten) {
    if (cuts.some(([a, b]) => start < b && a < end)) {
      throw new PdfError('BROKEN', `object at byte ${start} overlaps a cross-reference section`);
    }
  }

  return {
    version: 1,
    size: reader.size,
    pdfVersion: header[1]!,
    xrefKind: xref.sections.some((s) => s.kind === 'stream') ? 'stream' : 'table',
    hybrid: xref.hybrid,
    linearized: await isLinearized(loader, head),
    encrypted,
    trailer: {
      root: { num: root.num, gen: root.gen },
      info: infoRef?.type === 'ref' ? { num: infoRef.num, gen: infoRef.gen } : null,
      id: idOf(fromTrailer('ID')?.value),
    },
    info: info?.value.type === 'dict' ? sourceOf(info.buf, info.value) : null,
    maxObjectNumber,
    xrefSections: xref.sections,
    cuts,
    objects,
    objectStreams,
    pages,
  };
}

function idOf(value: PdfObject | undefined): [string, string] | null {
  if (value?.type !== 'array' || value.items.length !== 2) return null;
  const [a, b] = value.items;
  if (a?.type !== 'string' || b?.type !== 'string') return null;
  return [a.value.toString('hex'), b.value.toString('hex')];
}

/** The first object after the header is a dictionary with /Linearized. */
async function isLinearized(loader: ObjectLoader, head: Buffer): Promise<boolean> {
  const match = /\n\s*(\d+\s+\d+\s+obj)/.exec(head.toString('latin1').replace(/\r/g, '\n'));
  if (!match) return false;
  try {
    const { obj } = await loader.readAt(match.index + match[0].indexOf(match[1]!), { skipStreamData: true });
    return dictGet(obj.value, 'Linearized') !== undefined;
  } catch {
    return false;
  }
}

export function mergeRanges(ranges: [number, number][]): [number, number][] {
  const sorted = ranges.filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  const out: [number, number][] = [];
  for (const [a, b] of sorted) {
    const last = out.at(-1);
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

function inRanges(ranges: [number, number][], offset: number): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [a, b] = ranges[mid]!;
    if (offset < a) hi = mid - 1;
    else if (offset >= b) lo = mid + 1;
    else return true;
  }
  return false;
}
