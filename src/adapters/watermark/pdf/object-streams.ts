import { createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import type { RangeReader } from '../range-reader.ts';
import type { PdfAnalysis, PdfObjectStream } from './analyze.ts';
import { PdfError } from './errors.ts';
import { decodeStream } from './filters.ts';
import { parseObjectStream } from './objects.ts';
import { DEFLATE_LEVEL, type Replacement } from './rewrite.ts';
import { parseObjectSource, pdfName, sourceOf } from './syntax.ts';

const MAX_OBJSTM_BYTES = 64 << 20;

/**
 * Rebuilt object streams, which are the same bytes for every buyer of a file (see planPdfWatermark):
 * an LRU bounded by total size, to share between downloads (create one at the composition root).
 */
export class ObjectStreamCache {
  readonly #entries = new Map<string, Buffer>();
  readonly #maxBytes: number;
  #bytes = 0;

  constructor(maxBytes = 32 << 20) {
    this.#maxBytes = maxBytes;
  }

  get(key: string): Buffer | undefined {
    const value = this.#entries.get(key);
    if (value) {
      this.#entries.delete(key);
      this.#entries.set(key, value);
    }
    return value;
  }

  set(key: string, value: Buffer): void {
    if (value.length > this.#maxBytes || this.#entries.has(key)) return;
    this.#entries.set(key, value);
    this.#bytes += value.length;
    for (const [k, v] of this.#entries) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#entries.delete(k);
      this.#bytes -= v.length;
    }
  }
}

/**
 * Rebuilds the object streams holding pages, reading their raw data in few large reads (neighbouring
 * streams together) and reusing cached results: the same file and page dicts give the same bytes.
 */
export async function rebuildObjectStreams(
  analysis: PdfAnalysis,
  reader: RangeReader,
  inStreams: Map<number, Map<number, string>>,
  cache: ObjectStreamCache | undefined,
): Promise<Replacement[]> {
  const keyed = analysis.objectStreams.map((os) => {
    const replaced = inStreams.get(os.num) ?? new Map<number, string>();
    const hash = createHash('sha256').update(JSON.stringify([analysis.size, os, [...replaced]]));
    return { os, replaced, key: hash.digest('hex'), bytes: undefined as Buffer | undefined };
  });
  const missing = keyed.filter((k) => {
    k.bytes = cache?.get(k.key);
    return !k.bytes;
  });
  missing.sort((a, b) => a.os.dataStart - b.os.dataStart);
  for (let i = 0; i < missing.length; ) {
    let j = i + 1;
    while (
      j < missing.length &&
      missing[j]!.os.dataStart - missing[j - 1]!.os.dataEnd < 65536 &&
      missing[j]!.os.dataEnd - missing[i]!.os.dataStart < 4 << 20
    ) {
      j++;
    }
    const base = missing[i]!.os.dataStart;
    const span = await reader.read(base, Math.max(...missing.slice(i, j).map((k) => k.os.dataEnd)));
    for (const k of missing.slice(i, j)) {
      const raw = span.subarray(k.os.dataStart - base, k.os.dataEnd - base);
      k.bytes = rebuildObjectStream(k.os, raw, k.replaced);
      cache?.set(k.key, k.bytes);
    }
    i = j;
  }
  return keyed.map(({ os, bytes }) => ({ start: os.start, end: os.end, bytes: bytes!, num: os.num }));
}

/** Inflates an object stream, swaps the page dictionaries, and deflates it again (fixed level). */
function rebuildObjectStream(os: PdfObjectStream, raw: Buffer, replaced: Map<number, string>): Buffer {
  const buf = Buffer.from(os.dict, 'latin1');
  const dict = parseObjectSource(buf);
  if (dict.type !== 'dict') throw new PdfError('BROKEN', `object stream ${os.num} has no dictionary`);
  const data = decodeStream(dict, raw, MAX_OBJSTM_BYTES);
  const decoded = parseObjectStream(dict, data, os.num);
  const starts = decoded.index.map(([, offset]) => decoded.first + offset);
  const sorted = [...new Set(starts)].sort((a, b) => a - b);
  const ends = starts.map((s) => sorted[sorted.indexOf(s) + 1] ?? data.length);
  const header: string[] = [];
  const bodies: Buffer[] = [];
  let at = 0;
  decoded.index.forEach(([num], i) => {
    const text = replaced.get(num);
    const body = text !== undefined ? Buffer.from(text, 'latin1') : data.subarray(starts[i], ends[i]);
    header.push(`${num} ${at}`);
    bodies.push(body, Buffer.from('\n'));
    at += body.length + 1;
  });
  const head = Buffer.from(`${header.join(' ')}\n`);
  const z = deflateSync(Buffer.concat([head, ...bodies]), { level: DEFLATE_LEVEL });
  const keep = [...dict.entries].filter(
    ([k]) => !['Length', 'Filter', 'DecodeParms', 'N', 'First'].includes(k),
  );
  const entries = keep.map(([k, v]) => `${pdfName(k)} ${sourceOf(buf, v)}`).join('');
  const out = `<<${entries} /N ${decoded.index.length} /First ${head.length} /Filter /FlateDecode /Length ${z.length}>>`;
  return Buffer.concat([
    Buffer.from(`${os.num} ${os.gen} obj\n${out}\nstream\n`, 'latin1'),
    z,
    Buffer.from('\nendstream\nendobj'),
  ]);
}
