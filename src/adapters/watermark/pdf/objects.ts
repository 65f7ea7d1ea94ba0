import type { RangeReader } from '../range-reader.ts';
import { PdfError, PdfTruncatedError } from './errors.ts';
import { decodeStream } from './filters.ts';
import { type IndirectObject, type PdfObject, PdfParser, readObjectSource } from './syntax.ts';

/** Where an object lives, per the cross-reference data. */
export type XrefEntry =
  | { type: 'offset'; offset: number; gen: number }
  | { type: 'objstm'; stream: number; index: number }
  | { type: 'free' };

export interface LoaderLimits {
  /** Largest decoded stream (object or xref stream) this engine inflates. */
  maxInflateBytes: number;
  /** Largest total of decoded bytes over the whole analysis. */
  maxTotalInflateBytes: number;
  /** Largest single object (with its stream data when needed) read from the file. */
  maxObjectBytes: number;
}

/**
 * A RangeReader with a small LRU block cache: the analysis makes many small reads close to each other
 * (page dicts, content stream headers), which this turns into few large ones. Memory is bounded by
 * blockSize × maxBlocks.
 */
export class BlockCache {
  readonly size: number;
  readonly #reader: RangeReader;
  readonly #blocks = new Map<number, Buffer>();
  readonly #blockSize: number;
  readonly #maxBlocks: number;

  constructor(reader: RangeReader, blockSize = 64 * 1024, maxBlocks = 64) {
    this.#reader = reader;
    this.size = reader.size;
    this.#blockSize = blockSize;
    this.#maxBlocks = maxBlocks;
  }

  async read(start: number, end: number): Promise<Buffer> {
    start = Math.max(0, start);
    end = Math.min(this.size, end);
    if (end <= start) return Buffer.alloc(0);
    const first = Math.floor(start / this.#blockSize);
    const last = Math.floor((end - 1) / this.#blockSize);
    if (last - first >= 8) return this.#reader.read(start, end);
    const parts: Buffer[] = [];
    for (let b = first; b <= last; b++) parts.push(await this.#block(b));
    const joined = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    const base = first * this.#blockSize;
    return joined.subarray(start - base, end - base);
  }

  async #block(index: number): Promise<Buffer> {
    const cached = this.#blocks.get(index);
    if (cached) {
      this.#blocks.delete(index);
      this.#blocks.set(index, cached);
      return cached;
    }
    const start = index * this.#blockSize;
    const data = await this.#reader.read(start, Math.min(this.size, start + this.#blockSize));
    if (this.#blocks.size >= this.#maxBlocks) this.#blocks.delete(this.#blocks.keys().next().value!);
    this.#blocks.set(index, data);
    return data;
  }
}

/** An object as loaded: its value, the buffer its spans refer to, and where it lives in the file. */
export interface LoadedObject {
  num: number;
  gen: number;
  value: PdfObject;
  buf: Buffer;
  location:
    | { kind: 'offset'; start: number; end: number }
    | { kind: 'objstm'; stream: number; index: number };
  /** Stream data range in the file (offset objects with a stream only). */
  stream?: { start: number; end: number };
}

interface DecodedObjectStream {
  data: Buffer;
  first: number;
  /** [object number, offset relative to /First] per index. */
  index: [number, number][];
}

/**
 * Loads objects by number through the cross-reference map: reads a growing window at the object's
 * offset until it parses, or inflates the object stream holding it (cached, a few at a time).
 */
export class ObjectLoader {
  readonly reader: BlockCache;
  readonly xref: Map<number, XrefEntry>;
  readonly limits: LoaderLimits;
  #inflated = 0;
  readonly #streams = new Map<number, DecodedObjectStream>();
  #cachedBytes = 0;

  constructor(reader: BlockCache, xref: Map<number, XrefEntry>, limits: LoaderLimits) {
    this.reader = reader;
    this.xref = xref;
    this.limits = limits;
  }

  /**
   * Parses the indirect object at `offset`. With a stream, its data must fit in maxObjectBytes unless
   * `skipStreamData`. Spans in the result are relative to `buf`, which starts at file offset `base`.
   */
  async readAt(
    offset: number,
    options: { skipStreamData?: boolean; lengthOf?: (num: number) => number | undefined } = {},
  ): Promise<{ obj: IndirectObject; buf: Buffer; base: number }> {
    if (offset < 0 || offset >= this.reader.size) {
      throw new PdfError('BROKEN', `object offset ${offset} is outside the file`);
    }
    const lengthOf = options.lengthOf ? (r: { num: number }) => options.lengthOf?.(r.num) : undefined;
    for (let window = 4096; ; window *= 4) {
      const end = Math.min(this.reader.size, offset + window);
      const buf = await this.reader.read(offset, end);
      try {
        const final = end >= this.reader.size;
        const obj = readObjectSource(buf, 0, { skipStreamData: options.skipStreamData, lengthOf, final });
        return { obj, buf, base: offset };
      } catch (error) {
        if (!(error instanceof PdfTruncatedError) || end >= this.reader.size) throw error;
        if (window >= this.limits.maxObjectBytes) {
          throw new PdfError(
            'LIMIT',
            `object at byte ${offset} is larger than ${this.limits.maxObjectBytes} bytes`,
          );
        }
      }
    }
  }

  /**
   * Loads object `num` (null when free or missing). Stream data is not decoded (see streamData); with
   * `streamExtent: false` its extent is not even located (location.end and stream.end are then -1).
   */
  async get(num: number, options: { streamExtent?: boolean } = {}): Promise<LoadedObject | null> {
    const entry = this.xref.get(num);
    if (!entry || entry.type === 'free') return null;
    if (entry.type === 'objstm') return this.#fromObjectStream(num, entry.stream, entry.index);
    const { obj, buf, base } = await this.readAt(entry.offset, { skipStreamData: true });
    if (obj.num !== num)
      throw new PdfError('BROKEN', `xref points object ${num} at byte ${entry.offset}, found ${obj.num}`);
    let end = base + obj.end;
    let stream: LoadedObject['stream'];
    if (obj.stream && options.streamExtent === false) {
      end = -1;
      stream = { start: base + obj.stream.start, end: -1 };
    } else if (obj.stream) {
      const full = await this.#readStreamObject(entry.offset, obj);
      end = full.end;
      stream = full.stream;
    }
    return {
      num,
      gen: obj.gen,
      value: obj.value,
      buf,
      location: { kind: 'offset', start: entry.offset, end },
      stream,
    };
  }

  /** Follows references (bounded) to a direct value, with the buffer its spans refer to. */
  async resolve(
    value: PdfObject | undefined,
    buf: Buffer,
  ): Promise<{ value: PdfObject; buf: Buffer } | undefined> {
    let current: { value: PdfObject; buf: Buffer } | undefined = value ? { value, buf } : undefined;
    for (let hops = 0; current?.value.type === 'ref'; hops++) {
      if (hops >= 32) throw new PdfError('BROKEN', 'reference chain too long');
      const loaded = await this.get(current.value.num);
      current = loaded ? { value: loaded.value, buf: loaded.buf } : undefined;
    }
    return current;
  }

  /** The decoded data of a stream object loaded with get(). */
  async streamData(loaded: LoadedObject): Promise<Buffer> {
    if (!loaded.stream || loaded.value.type !== 'dict')
      throw new PdfError('BROKEN', `object ${loaded.num} is no stream`);
    const { start, end } = loaded.stream;
    if (end - start > this.limits.maxObjectBytes) {
      throw new PdfError(
        'LIMIT',
        `stream of object ${loaded.num} is larger than ${this.limits.maxObjectBytes} bytes`,
      );
    }
    const raw = await this.reader.read(start, end);
    return this.decode(loaded.value, raw);
  }

  /** Decodes stream data, counting the total against the analysis budget. */
  decode(dict: Extract<PdfObject, { type: 'dict' }>, raw: Buffer): Buffer {
    const remaining = this.limits.maxTotalInflateBytes - this.#inflated;
    const data = decodeStream(dict, raw, Math.max(0, Math.min(this.limits.maxInflateBytes, remaining)));
    this.#inflated += data.length;
    return data;
  }

  /** Resolves a stream's /Length (direct or indirect) and returns the object's full extent. */
  async #readStreamObject(
    offset: number,
    head: IndirectObject,
  ): Promise<{ end: number; stream: { start: number; end: number } }> {
    const length = head.value.type === 'dict' ? head.value.entries.get('Length') : undefined;
    let known: number | undefined;
    if (length?.type === 'number') known = length.value;
    else if (length?.type === 'ref' && length.num !== head.num) {
      const target = await this.resolve(length, Buffer.alloc(0));
      if (target?.value.type === 'number') known = target.value.value;
    }
    // Large streams (images): trust a /Length followed by endstream without reading the data.
    if (known !== undefined && known >= 0 && known > 65536) {
      const dataStart = offset + head.stream!.start;
      const tail = await this.reader.read(dataStart + known, dataStart + known + 64);
      const p = new PdfParser(tail);
      if (p.tryKeyword('endstream')) {
        const afterStream = dataStart + known + p.pos;
        const end = p.tryKeyword('endobj') ? dataStart + known + p.pos : afterStream;
        return { end, stream: { start: dataStart, end: dataStart + known } };
      }
    }
    const { obj, base } = await this.readAt(offset, { lengthOf: () => known });
    return { end: base + obj.end, stream: { start: base + obj.stream!.start, end: base + obj.stream!.end } };
  }

  async #fromObjectStream(num: number, stream: number, index: number): Promise<LoadedObject> {
    const decoded = await this.objectStream(stream);
    let at = index;
    if (decoded.index[at]?.[0] !== num) at = decoded.index.findIndex(([n]) => n === num);
    if (at < 0) throw new PdfError('BROKEN', `object ${num} is not in object stream ${stream}`);
    const p = new PdfParser(decoded.data, decoded.first + decoded.index[at]![1]);
    const value = p.parseObject();
    return { num, gen: 0, value, buf: decoded.data, location: { kind: 'objstm', stream, index: at } };
  }

  /**
   * Inflates object stream `num` and reads its header. Recently used ones stay cached (at most 64, and
   * 32 MiB decoded): page dictionaries, their resources and fonts often sit in different streams.
   */
  async objectStream(num: number): Promise<DecodedObjectStream> {
    const cached = this.#streams.get(num);
    if (cached) {
      this.#streams.delete(num);
      this.#streams.set(num, cached);
      return cached;
    }
    const entry = this.xref.get(num);
    if (entry?.type !== 'offset')
      throw new PdfError('BROKEN', `object stream ${num} is not a top-level object`);
    const loaded = await this.get(num);
    if (loaded?.value.type !== 'dict') throw new PdfError('BROKEN', `object stream ${num} is missing`);
    const decoded = parseObjectStream(loaded.value, await this.streamData(loaded), num);
    this.#streams.set(num, decoded);
    this.#cachedBytes += decoded.data.length;
    while (this.#streams.size > 1 && (this.#streams.size > 64 || this.#cachedBytes > 32 << 20)) {
      const [oldest, evicted] = this.#streams.entries().next().value!;
      this.#streams.delete(oldest);
      this.#cachedBytes -= evicted.data.length;
    }
    return decoded;
  }
}

/** Reads the header of a decoded object stream (/N pairs of object number and offset). */
export function parseObjectStream(
  dict: Extract<PdfObject, { type: 'dict' }>,
  data: Buffer,
  num: number,
): DecodedObjectStream {
  const n = dict.entries.get('N');
  const first = dict.entries.get('First');
  if (
    n?.type !== 'number' ||
    first?.type !== 'number' ||
    n.value < 0 ||
    first.value < 0 ||
    first.value > data.length
  ) {
    throw new PdfError('BROKEN', `object stream ${num} has a bad /N or /First`);
  }
  if (n.value > data.length) throw new PdfError('BROKEN', `object stream ${num} has a bad /N`);
  const p = new PdfParser(data.subarray(0, first.value));
  const index: [number, number][] = [];
  for (let i = 0; i < n.value; i++) {
    const objNum = p.tryUnsigned();
    const offset = p.tryUnsigned();
    if (objNum === null || offset === null || first.value + offset > data.length) {
      throw new PdfError('BROKEN', `object stream ${num} has a bad header`);
    }
    index.push([objNum, offset]);
  }
  return { data, first: first.value, index };
}
