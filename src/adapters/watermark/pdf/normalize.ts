import { inflateSync, constants as zlibConstants } from 'node:zlib';
import type { RangeReader } from '../range-reader.ts';
import { openStandardEncryption, type PdfDecryptor } from './decrypt.ts';
import { PdfError, PdfTruncatedError } from './errors.ts';
import { decodeStream } from './filters.ts';
import { BlockCache, ObjectLoader, parseObjectStream, type XrefEntry } from './objects.ts';
import {
  type IndirectObject,
  nameOf,
  numberOf,
  type PdfDict,
  type PdfObject,
  PdfParser,
  type PdfRef,
  pdfName,
  pdfString,
  readObjectSource,
  sourceOf,
} from './syntax.ts';
import { readXref } from './xref.ts';

/**
 * Upload-time normalisation of a PDF into a clean master (issue 5, point 4; contract §2.4–2.6, §8): decrypts
 * owner-password-only files, rebuilds a broken cross-reference by scanning for `N G obj`, drops
 * linearization and expands object streams, and writes one plain file with a classic xref table and a single
 * `%%EOF`. The buyer's download path never runs this. Stream data is copied (or decrypted) in chunks, never
 * re-compressed; memory holds the object index plus the object being written. Every loop is bounded, and the
 * total bytes parsed are budgeted, so hostile files fail with PdfError instead of hanging.
 */

export type NormalizeReason = 'decrypted' | 'repaired xref' | 'de-linearized' | 'expanded object streams';

export interface NormalizeOptions {
  /** Most objects (and largest object number) accepted. Default 1,000,000. */
  maxObjects?: number;
  /** Most bytes written, also the budget for inflated object streams. Default 4 × input size + 64 MiB. */
  maxBytes?: number;
}

export interface NormalizeResult {
  /** What was done; empty when the file only got a fresh, equivalent layout. */
  reason: NormalizeReason[];
  /** Objects written. */
  objects: number;
  /** Bytes written. */
  bytes: number;
}

/** What an analysis found about a PDF (or the PdfError it failed with). */
export interface PdfCondition {
  encrypted?: boolean;
  broken?: boolean;
  linearized?: boolean;
}

/**
 * Whether an uploaded PDF should be normalised before it becomes the master: it is encrypted, broken or
 * linearized, or the analysis failed with anything but a safety LIMIT (normalising may fix an unsupported
 * layout; if it cannot, normalizePdf throws the real reason, e.g. ENCRYPTED for a user password).
 */
export function needsNormalization(found: PdfCondition | PdfError): boolean {
  if (found instanceof PdfError) return found.code !== 'LIMIT';
  return Boolean(found.encrypted || found.broken || found.linearized);
}

const DEFAULT_MAX_OBJECTS = 1_000_000;
/** Largest dictionary / non-stream object, and largest raw object stream. */
const MAX_OBJECT_BYTES = 64 * 1024 * 1024;
/** Largest inflated object stream. */
const MAX_OBJSTM_BYTES = 32 * 1024 * 1024;
const COPY_CHUNK = 1024 * 1024;
const SCAN_CHUNK = 4 * 1024 * 1024;
const SCAN_OVERLAP = 64;
const FLUSH_BYTES = 64 * 1024;

type Location = Exclude<XrefEntry, { type: 'free' }>;
type DecodedObjectStream = ReturnType<typeof parseObjectStream>;

interface Head {
  obj: IndirectObject;
  buf: Buffer;
  base: number;
}

interface StreamRange {
  start: number;
  end: number;
  /** Just after `endstream`. */
  after: number;
}

interface Trailer {
  dict: PdfDict;
  buf: Buffer;
}

/** The document as located: where each live object is, and what the new trailer carries. */
interface Layout {
  repaired: boolean;
  root: PdfRef;
  info?: { value: PdfObject; buf: Buffer };
  id?: [Buffer, Buffer];
}

/** Reads objects from the input, with decryption of object streams and a budget on parsing work. */
class Source {
  readonly reader: RangeReader;
  readonly cache: BlockCache;
  readonly maxObjects: number;
  entries = new Map<number, Location>();
  decryptor: PdfDecryptor | null = null;
  encryptNum = -1;
  /** Offset of `%PDF-` and the version it declares. */
  header = { at: 0, version: '1.7' };
  #work = 0;
  readonly #workBudget: number;
  #inflated = 0;
  readonly #inflateBudget: number;
  readonly #objstms = new Map<number, DecodedObjectStream>();
  readonly #loading = new Set<number>();
  #endstream = { from: -1, at: -1 };

  constructor(reader: RangeReader, maxObjects: number, maxBytes: number) {
    this.reader = reader;
    this.cache = new BlockCache(reader);
    this.maxObjects = maxObjects;
    this.#workBudget = 16 * reader.size + 64 * 1024 * 1024;
    this.#inflateBudget = maxBytes;
  }

  /** Counts bytes parsed or scanned; hostile layouts that make the parser re-read too much stop here. */
  spend(bytes: number): void {
    this.#work += bytes;
    if (this.#work > this.#workBudget) throw new PdfError('LIMIT', 'the PDF takes too much work to parse');
  }

  /** Parses `N G obj <value>` at `offset` (stream data not read), in a growing window. */
  async head(offset: number): Promise<Head> {
    if (offset < 0 || offset >= this.reader.size)
      throw new PdfError('BROKEN', `object offset ${offset} is outside the file`);
    for (let window = 4096; ; window *= 4) {
      const end = Math.min(this.reader.size, offset + window);
      const buf = await this.cache.read(offset, end);
      const final = end >= this.reader.size;
      try {
        const obj = readObjectSource(buf, 0, { skipStreamData: true, final });
        this.spend(obj.end);
        if (!obj.stream && !endsCleanly(buf, obj.end)) {
          // `stream` or `endobj` may be cut by the window rather than by the file.
          if (!final && buf.length - obj.end < 64) throw new PdfTruncatedError('object end');
          throw new PdfError('BROKEN', `object ${obj.num} at byte ${offset} is cut off`);
        }
        return { obj, buf, base: offset };
      } catch (error) {
        this.spend(buf.length);
        if (!(error instanceof PdfTruncatedError) || end >= this.reader.size) throw error;
        if (window >= MAX_OBJECT_BYTES) throw new PdfError('LIMIT', `object at byte ${offset} is too large`);
      }
    }
  }

  /** Where a stream's data is: /Length when `endstream` follows it, else up to the next `endstream`. */
  async streamRange(head: Head): Promise<StreamRange | null> {
    const start = head.base + head.obj.stream!.start;
    const declared = head.obj.value.type === 'dict' ? head.obj.value.entries.get('Length') : undefined;
    let length: number | undefined;
    if (declared?.type === 'number') length = declared.value;
    else if (declared?.type === 'ref' && declared.num !== head.obj.num) {
      const target = await this.get(declared.num).catch((error: unknown) => {
        if (error instanceof PdfError && error.code !== 'LIMIT') return null;
        throw error;
      });
      if (target?.value.type === 'number') length = target.value.value;
    }
    if (
      length !== undefined &&
      Number.isInteger(length) &&
      length >= 0 &&
      start + length <= this.reader.size
    ) {
      const p = new PdfParser(await this.cache.read(start + length, start + length + 64));
      if (p.tryKeyword('endstream')) return { start, end: start + length, after: start + length + p.pos };
    }
    const at = await this.findEndstream(start);
    if (at < 0) return null;
    // The end-of-line before `endstream` is not part of the data.
    const before = await this.cache.read(Math.max(start, at - 2), at);
    let k = before.length;
    if (k > 0 && before[k - 1] === 10) k--;
    if (k > 0 && before[k - 1] === 13) k--;
    return { start, end: at - (before.length - k), after: at + ENDSTREAM.length };
  }

  /** Position of the first `endstream` at or after `from` (-1: none); memoised so repeated scans stay linear. */
  async findEndstream(from: number): Promise<number> {
    const cached = this.#endstream;
    if (cached.from >= 0 && from >= cached.from && (cached.at < 0 || from <= cached.at)) return cached.at;
    let at = -1;
    for (let pos = from; pos < this.reader.size; pos += SCAN_CHUNK - ENDSTREAM.length) {
      const chunk = await this.reader.read(pos, Math.min(this.reader.size, pos + SCAN_CHUNK));
      this.spend(chunk.length);
      const i = chunk.indexOf(ENDSTREAM);
      if (i >= 0) {
        at = pos + i;
        break;
      }
      if (pos + chunk.length >= this.reader.size) break;
    }
    this.#endstream = { from, at };
    return at;
  }

  /** Object `num` as stored (strings not decrypted), or null when it is not live. */
  async get(num: number): Promise<{ value: PdfObject; buf: Buffer } | null> {
    const loc = this.entries.get(num);
    if (!loc) return null;
    if (loc.type === 'offset') {
      const head = await this.head(loc.offset);
      return head.obj.num === num ? { value: head.obj.value, buf: head.buf } : null;
    }
    const stream = await this.objectStream(loc.stream);
    const [member, offset] = stream.index[loc.index] ?? [];
    if (member !== num || offset === undefined) return null;
    return { value: new PdfParser(stream.data, stream.first + offset).parseObject(), buf: stream.data };
  }

  /** Follows references (bounded) to a direct value. */
  async resolve(
    value: PdfObject | undefined,
    buf: Buffer,
  ): Promise<{ value: PdfObject; buf: Buffer } | null> {
    let current = value ? { value, buf } : null;
    for (let hops = 0; current?.value.type === 'ref'; hops++) {
      if (hops >= 32) throw new PdfError('BROKEN', 'reference chain too long');
      current = await this.get(current.value.num);
    }
    return current;
  }

  /** Decrypts, inflates and indexes object stream `num` (two kept decoded; total inflation budgeted). */
  async objectStream(num: number): Promise<DecodedObjectStream> {
    const cached = this.#objstms.get(num);
    if (cached) return cached;
    // An object stream's /Length may sit in another object stream; never follow such a chain in a circle.
    if (this.#loading.has(num) || this.#loading.size > 8)
      throw new PdfError('BROKEN', `object stream ${num} depends on itself`);
    this.#loading.add(num);
    try {
      return await this.#decodeObjectStream(num);
    } finally {
      this.#loading.delete(num);
    }
  }

  async #decodeObjectStream(num: number): Promise<DecodedObjectStream> {
    const loc = this.entries.get(num);
    if (loc?.type !== 'offset') throw new PdfError('BROKEN', `object stream ${num} is missing`);
    const head = await this.head(loc.offset);
    const dict = head.obj.value;
    if (head.obj.num !== num || dict.type !== 'dict' || !head.obj.stream) {
      throw new PdfError('BROKEN', `object ${num} is not an object stream`);
    }
    const range = await this.streamRange(head);
    if (!range) throw new PdfError('BROKEN', `object stream ${num} has no endstream`);
    if (range.end - range.start > MAX_OBJECT_BYTES)
      throw new PdfError('LIMIT', `object stream ${num} is too large`);
    let data = await this.reader.read(range.start, range.end);
    this.spend(data.length);
    const decipher = this.decryptor?.streamDecipher(dict, num, head.obj.gen);
    if (decipher) data = decipher.decrypt(data);
    const room = Math.min(MAX_OBJSTM_BYTES, this.#inflateBudget - this.#inflated);
    if (room <= 0) throw new PdfError('LIMIT', 'object streams inflate to too many bytes');
    const decoded = parseObjectStream(dict, decodeStream(dict, data, room), num);
    this.#inflated += decoded.data.length;
    if (this.#objstms.size >= 2) this.#objstms.delete(this.#objstms.keys().next().value!);
    this.#objstms.set(num, decoded);
    return decoded;
  }
}

const ENDSTREAM = Buffer.from('endstream', 'latin1');

/**
 * A non-stream object must end with `endobj`, or (tolerated, as readers do) be followed directly by the
 * next object or the xref/trailer. Anything else, e.g. `<< /Length 120 >> st` at the end of a truncated
 * file, is a stream cut off in its header, not a dictionary.
 */
function endsCleanly(buf: Buffer, end: number): boolean {
  if (buf.toString('latin1', end - 6, end) === 'endobj') return true;
  const p = new PdfParser(buf, end);
  p.skipWhitespace();
  const c = buf[p.pos];
  if (c === undefined || (c >= 48 && c <= 57)) return true;
  const word = p.readRegular();
  return word === 'xref' || word === 'trailer' || word === 'startxref';
}
const PDF_HEADER = Buffer.from('%PDF-', 'latin1');

/**
 * Rewrites the PDF read through `reader` as a clean master, streamed to `output` in order. Throws PdfError:
 * ENCRYPTED when a user password is needed, UNSUPPORTED for other security handlers or filters, BROKEN
 * when no document can be recovered, LIMIT when a bound is hit. On error, discard what was written.
 */
export async function normalizePdf(
  reader: RangeReader,
  output: (chunk: Buffer) => Promise<void> | void,
  options: NormalizeOptions = {},
): Promise<NormalizeResult> {
  const maxObjects = options.maxObjects ?? DEFAULT_MAX_OBJECTS;
  const maxBytes = options.maxBytes ?? 4 * reader.size + 64 * 1024 * 1024;
  const src = new Source(reader, maxObjects, maxBytes);
  src.header = await findHeader(src);
  const layout = (await locateByXref(src)) ?? (await locateByScan(src));
  const reason: NormalizeReason[] = [];
  if (src.decryptor) reason.push('decrypted');
  if (layout.repaired) reason.push('repaired xref');
  const dropped = await linearizationObjects(src);
  if (dropped.size > 0) reason.push('de-linearized');
  if (src.encryptNum >= 0) dropped.add(src.encryptNum);
  const written = await writeDocument(src, layout, dropped, new Output(output, maxBytes));
  if (written.expanded) reason.push('expanded object streams');
  return { reason, objects: written.objects, bytes: written.bytes };
}

async function findHeader(src: Source): Promise<{ at: number; version: string }> {
  const head = await src.reader.read(0, 64 * 1024);
  const at = head.indexOf(PDF_HEADER);
  if (at < 0) throw new PdfError('BROKEN', 'not a PDF (no %PDF- header)');
  const version = /^\d\.\d/.exec(head.toString('latin1', at + 5, at + 8))?.[0] ?? '1.7';
  return { at, version };
}

// ---------------------------------------------------------------------------------------------------------
// Locating objects: the cross-reference chain when it is sound, else a scan of the whole file.

/** The layout from the xref chain, or null when the chain is unusable (then the file is scanned). */
async function locateByXref(src: Source): Promise<Layout | null> {
  if (src.header.at > 0) return null; // offsets would be off by the junk before %PDF-
  const loader = new ObjectLoader(src.cache, new Map(), {
    maxInflateBytes: MAX_OBJSTM_BYTES,
    maxTotalInflateBytes: MAX_OBJSTM_BYTES * 4,
    maxObjectBytes: MAX_OBJECT_BYTES,
  });
  let data: Awaited<ReturnType<typeof readXref>>;
  try {
    data = await readXref(loader, { maxObjects: src.maxObjects, maxXrefSections: 1024 });
  } catch (error) {
    if (error instanceof PdfError && error.code !== 'LIMIT') return null;
    throw error;
  }
  // readXref stops quietly at a /Prev loop; a reader that meets one reconstructs, and so do we.
  if (numberOf(data.trailers.at(-1)?.dict.entries.get('Prev')) !== undefined) return null;
  const entries = new Map<number, Location>();
  for (const [num, entry] of data.entries) if (entry.type !== 'free' && num > 0) entries.set(num, entry);
  src.entries = entries;
  try {
    // Every offset must hold the object it claims, parseable, with findable stream data.
    for (const [num, loc] of sortedByOffset(entries)) {
      if (loc.offset >= src.reader.size) return null;
      const head = await src.head(loc.offset);
      if (head.obj.num !== num || head.obj.gen !== loc.gen) return null;
      if (head.obj.stream && !(await src.streamRange(head))) return null;
    }
    const trailer = mergeTrailers(data.trailers);
    if (trailer.root?.type !== 'ref' || !entries.has(trailer.root.num)) return null;
    await openEncryption(src, trailer);
    // Object streams (each inflated once): every member must be where the xref says; the index is
    // corrected when it is not.
    const members = new Map<number, number[]>();
    for (const [num, loc] of entries) {
      if (loc.type !== 'objstm') continue;
      if (entries.get(loc.stream)?.type !== 'offset') return null;
      const list = members.get(loc.stream);
      if (list) list.push(num);
      else members.set(loc.stream, [num]);
    }
    for (const [objstm, nums] of members) {
      const stream = await src.objectStream(objstm);
      for (const num of nums) {
        const loc = entries.get(num) as Extract<Location, { type: 'objstm' }>;
        const index =
          stream.index[loc.index]?.[0] === num ? loc.index : stream.index.findIndex(([n]) => n === num);
        if (index < 0) return null;
        if (index !== loc.index) entries.set(num, { type: 'objstm', stream: objstm, index });
      }
    }
    const layout: Layout = {
      repaired: false,
      root: trailer.root as PdfRef,
      info: trailer.info,
      id: trailer.id,
    };
    if (!(await src.get(layout.root.num))) return null;
    return layout;
  } catch (error) {
    if (error instanceof PdfError && error.code === 'BROKEN') return null;
    throw error;
  }
}

function sortedByOffset(entries: Map<number, Location>): [number, Extract<Location, { type: 'offset' }>][] {
  const list: [number, Extract<Location, { type: 'offset' }>][] = [];
  for (const [num, loc] of entries) if (loc.type === 'offset') list.push([num, loc]);
  return list.sort((a, b) => a[1].offset - b[1].offset);
}

interface MergedTrailer {
  root?: PdfObject;
  info?: { value: PdfObject; buf: Buffer };
  id?: [Buffer, Buffer];
  encrypt?: { value: PdfObject; buf: Buffer };
}

/** /Root, /Info, /ID and /Encrypt from the newest trailer that has each (trailers newest first). */
function mergeTrailers(trailers: Trailer[]): MergedTrailer {
  const merged: MergedTrailer = {};
  for (const { dict, buf } of trailers) {
    const e = dict.entries;
    merged.root ??= e.get('Root');
    if (!merged.info && (e.get('Info')?.type === 'ref' || e.get('Info')?.type === 'dict')) {
      merged.info = { value: e.get('Info')!, buf };
    }
    merged.id ??= idOf(e.get('ID'));
    if (!merged.encrypt && e.has('Encrypt') && e.get('Encrypt')?.type !== 'null') {
      merged.encrypt = { value: e.get('Encrypt')!, buf };
    }
  }
  return merged;
}

function idOf(value: PdfObject | undefined): [Buffer, Buffer] | undefined {
  if (value?.type !== 'array') return undefined;
  const [a, b] = value.items;
  if (a?.type !== 'string') return undefined;
  return [a.value, b?.type === 'string' ? b.value : a.value];
}

/** Sets up decryption from the trailer's /Encrypt (if any). */
async function openEncryption(src: Source, trailer: MergedTrailer): Promise<void> {
  src.decryptor = null;
  src.encryptNum = -1;
  if (!trailer.encrypt) return;
  let dict = trailer.encrypt.value;
  if (dict.type === 'ref') {
    if (src.entries.get(dict.num)?.type !== 'offset')
      throw new PdfError('BROKEN', 'the /Encrypt dictionary is missing');
    src.encryptNum = dict.num;
    dict = (await src.get(dict.num))?.value ?? dict;
  }
  if (dict.type !== 'dict') throw new PdfError('BROKEN', 'the /Encrypt entry is not a dictionary');
  src.decryptor = openStandardEncryption(dict, trailer.id?.[0]);
}

const DELIM = '\\0\\t\\n\\f\\r ()<>\\[\\]{}/%';
const OBJ_RE = new RegExp(
  `(?<![^${DELIM}])(\\d{1,10})[\\0\\t\\n\\f\\r ]{1,16}(\\d{1,5})[\\0\\t\\n\\f\\r ]{1,16}obj(?![^${DELIM}])`,
  'g',
);
const TRAILER_RE = new RegExp(`(?<![^${DELIM}])trailer(?![^${DELIM}])`, 'g');

interface Candidate {
  offset: number;
  num: number;
  gen: number;
}

/**
 * Rebuilds the object index by scanning the file for `N G obj` (the last definition of a number wins, as in
 * readers), skipping matches inside stream data, then indexes object streams. The trailer comes from
 * `trailer` dictionaries and xref stream dictionaries, newest first; failing that, the last /Catalog.
 */
async function locateByScan(src: Source): Promise<Layout> {
  const { reader } = src;
  const candidates: Candidate[] = [];
  const trailerOffsets: number[] = [];
  for (let pos = 0; pos < reader.size; pos += SCAN_CHUNK - SCAN_OVERLAP) {
    const chunk = await reader.read(pos, Math.min(reader.size, pos + SCAN_CHUNK));
    src.spend(chunk.length);
    const last = pos + chunk.length >= reader.size;
    const limit = last ? chunk.length : chunk.length - SCAN_OVERLAP;
    const text = chunk.toString('latin1');
    for (const m of text.matchAll(OBJ_RE)) {
      if (m.index >= limit) break;
      candidates.push({ offset: pos + m.index, num: Number(m[1]), gen: Number(m[2]) });
      if (candidates.length > 2 * src.maxObjects)
        throw new PdfError('LIMIT', `more than ${src.maxObjects} objects`);
    }
    for (const m of text.matchAll(TRAILER_RE)) if (m.index < limit) trailerOffsets.push(pos + m.index);
    if (last) break;
  }
  // Provisional index (last match per number) so indirect /Length values resolve during the pass.
  const provisional = new Map<number, Location>();
  for (const c of candidates) provisional.set(c.num, { type: 'offset', offset: c.offset, gen: c.gen });
  src.entries = provisional;

  const defs = new Map<number, Location>();
  const position = new Map<number, number>();
  const trailers: (Trailer & { pos: number })[] = [];
  const objstms: { num: number; offset: number }[] = [];
  const catalogs: { num: number; pos: number }[] = [];
  let sawEncryptDict = false;
  let covered = 0;
  let t = 0;
  const takeTrailers = async (upTo: number): Promise<void> => {
    for (; t < trailerOffsets.length && trailerOffsets[t]! < upTo; t++) {
      if (trailerOffsets[t]! < covered) continue;
      const dict = await readTrailerAt(src, trailerOffsets[t]!);
      if (dict) trailers.push({ ...dict, pos: trailerOffsets[t]! });
    }
  };
  for (const c of candidates) {
    await takeTrailers(c.offset);
    if (c.offset < covered || c.num === 0) continue;
    if (c.num > src.maxObjects)
      throw new PdfError('LIMIT', `object number ${c.num} is larger than ${src.maxObjects}`);
    let head: Head;
    let after: number;
    try {
      head = await src.head(c.offset);
      after = head.base + head.obj.end;
      if (head.obj.stream) {
        const range = await src.streamRange(head);
        if (!range) continue;
        after = range.after;
      }
    } catch (error) {
      if (error instanceof PdfError && error.code !== 'LIMIT') continue;
      throw error;
    }
    covered = after;
    defs.set(c.num, { type: 'offset', offset: c.offset, gen: c.gen });
    position.set(c.num, c.offset);
    const value = head.obj.value;
    if (value.type !== 'dict') continue;
    const type = nameOf(value.entries.get('Type'));
    if (type === 'XRef' && head.obj.stream) trailers.push({ dict: value, buf: head.buf, pos: c.offset });
    else if (type === 'ObjStm' && head.obj.stream) objstms.push({ num: c.num, offset: c.offset });
    else if (type === 'Catalog') catalogs.push({ num: c.num, pos: c.offset });
    if (
      nameOf(value.entries.get('Filter')) === 'Standard' &&
      value.entries.has('O') &&
      value.entries.has('U')
    ) {
      sawEncryptDict = true;
    }
  }
  await takeTrailers(Number.POSITIVE_INFINITY);
  src.entries = defs;

  const newestFirst = trailers.sort((a, b) => b.pos - a.pos);
  const merged = mergeTrailers(newestFirst);
  if (!merged.encrypt && sawEncryptDict) {
    throw new PdfError('BROKEN', 'the PDF is encrypted but its trailer (with /Encrypt and /ID) is lost');
  }
  await openEncryption(src, merged);

  // Object streams that are still the live definition of their number contribute their members.
  for (const { num, offset } of objstms) {
    const loc = defs.get(num);
    if (loc?.type !== 'offset' || loc.offset !== offset) continue;
    let stream: DecodedObjectStream;
    try {
      stream = await src.objectStream(num);
    } catch (error) {
      if (error instanceof PdfError && error.code === 'BROKEN') continue;
      throw error;
    }
    for (let i = 0; i < stream.index.length; i++) {
      const [member, at] = stream.index[i]!;
      if (member === 0 || member === num || (position.get(member) ?? -1) > offset) continue;
      if (member > src.maxObjects)
        throw new PdfError('LIMIT', `object number ${member} is larger than ${src.maxObjects}`);
      let value: PdfObject;
      try {
        value = new PdfParser(stream.data, stream.first + at).parseObject();
      } catch (error) {
        if (error instanceof PdfError && error.code !== 'LIMIT') continue;
        throw error;
      }
      defs.set(member, { type: 'objstm', stream: num, index: i });
      position.set(member, offset);
      if (value.type === 'dict' && nameOf(value.entries.get('Type')) === 'Catalog') {
        catalogs.push({ num: member, pos: offset });
      }
    }
  }
  if (defs.size > src.maxObjects) throw new PdfError('LIMIT', `more than ${src.maxObjects} objects`);

  let root: PdfRef | undefined;
  for (const { dict } of newestFirst) {
    const ref = dict.entries.get('Root');
    if (ref?.type === 'ref' && (await isCatalog(src, ref.num))) {
      root = ref;
      break;
    }
  }
  if (!root) {
    const last = catalogs.filter((c) => position.get(c.num) === c.pos).sort((a, b) => b.pos - a.pos)[0];
    if (last && (await isCatalog(src, last.num))) {
      root = { type: 'ref', num: last.num, gen: 0, start: 0, end: 0 };
      const loc = defs.get(last.num);
      if (loc?.type === 'offset') root.gen = loc.gen;
    }
  }
  if (!root) throw new PdfError('BROKEN', 'the PDF is damaged beyond repair: no document catalog found');
  let info = merged.info;
  if (info?.value.type === 'ref' && !defs.has(info.value.num)) info = undefined;
  return { repaired: true, root, info, id: merged.id };
}

async function isCatalog(src: Source, num: number): Promise<boolean> {
  try {
    const obj = await src.get(num);
    return (
      obj?.value.type === 'dict' &&
      (obj.value.entries.has('Pages') || nameOf(obj.value.entries.get('Type')) === 'Catalog')
    );
  } catch (error) {
    if (error instanceof PdfError && error.code !== 'LIMIT') return false;
    throw error;
  }
}

async function readTrailerAt(src: Source, offset: number): Promise<Trailer | null> {
  for (let window = 4096; window <= 1024 * 1024; window *= 4) {
    const end = Math.min(src.reader.size, offset + window);
    const buf = await src.cache.read(offset, end);
    src.spend(buf.length);
    const p = new PdfParser(buf);
    try {
      p.tryKeyword('trailer');
      const dict = p.parseObject();
      return dict.type === 'dict' ? { dict, buf } : null;
    } catch (error) {
      if (!(error instanceof PdfTruncatedError) || end >= src.reader.size) return null;
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------------
// Linearization and repair checks.

/**
 * The linearization parameter dictionary (the first object in the file, with /Linearized) and the hint
 * stream(s) it points to by offset in /H: objects to leave out of the master.
 */
async function linearizationObjects(src: Source): Promise<Set<number>> {
  const dropped = new Set<number>();
  const [first] = sortedByOffset(src.entries);
  if (!first) return dropped;
  const head = await src.head(first[1].offset);
  const dict = head.obj.value;
  if (dict.type !== 'dict' || !dict.entries.has('Linearized')) return dropped;
  dropped.add(first[0]);
  const hints = dict.entries.get('H');
  const offsets = new Set<number>();
  if (hints?.type === 'array') {
    for (let i = 0; i < hints.items.length; i += 2) {
      const at = numberOf(hints.items[i]);
      if (at !== undefined) offsets.add(at).add(at + src.header.at);
    }
  }
  for (const [num, loc] of src.entries)
    if (loc.type === 'offset' && offsets.has(loc.offset)) dropped.add(num);
  return dropped;
}

// ---------------------------------------------------------------------------------------------------------
// Writing.

/** Buffers small writes into ~64 KB chunks and enforces the output bound. */
class Output {
  bytes = 0;
  readonly #sink: (chunk: Buffer) => Promise<void> | void;
  readonly #max: number;
  #parts: Buffer[] = [];
  #pending = 0;

  constructor(sink: (chunk: Buffer) => Promise<void> | void, max: number) {
    this.#sink = sink;
    this.#max = max;
  }

  async write(data: Buffer | string): Promise<void> {
    const chunk = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    if (this.bytes + chunk.length > this.#max)
      throw new PdfError('LIMIT', `normalised PDF larger than ${this.#max} bytes`);
    this.bytes += chunk.length;
    if (chunk.length >= FLUSH_BYTES) {
      await this.flush();
      await this.#sink(chunk);
      return;
    }
    this.#parts.push(chunk);
    this.#pending += chunk.length;
    if (this.#pending >= FLUSH_BYTES) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.#parts.length === 0) return;
    const chunk = this.#parts.length === 1 ? this.#parts[0]! : Buffer.concat(this.#parts);
    this.#parts = [];
    this.#pending = 0;
    await this.#sink(chunk);
  }
}

/** How strings of the object being written are turned into output (decrypted or not). */
type StringMapper = ((data: Buffer) => Buffer) | null;

/**
 * Serialises a value. Without a mapper the source is copied verbatim (numbers keep their precision);
 * with one, strings are rewritten through it. Values made up here (empty span) are always rebuilt.
 */
function serialize(buf: Buffer, value: PdfObject, strings: StringMapper): string {
  if (value.type === 'null') return 'null';
  if (!strings && value.end > value.start) return sourceOf(buf, value);
  switch (value.type) {
    case 'string': {
      const data = strings ? strings(value.value) : value.value;
      return value.hex ? `<${data.toString('hex')}>` : pdfString(data);
    }
    case 'array':
      return `[${value.items.map((item) => serialize(buf, item, strings)).join(' ')}]`;
    case 'dict':
      return serializeEntries(buf, [...value.entries], strings);
    default:
      return sourceOf(buf, value);
  }
}

function collectRefs(value: PdfObject, into: Set<number>): void {
  if (value.type === 'ref') into.add(value.num);
  else if (value.type === 'array') for (const item of value.items) collectRefs(item, into);
  else if (value.type === 'dict') for (const item of value.entries.values()) collectRefs(item, into);
}

function serializeEntries(buf: Buffer, entries: [string, PdfObject][], strings: StringMapper): string {
  let out = '<<';
  for (const [key, value] of entries) out += `${pdfName(key)} ${serialize(buf, value, strings)}`;
  return `${out}>>`;
}

/** Stream dictionary entries for the output: /Length dropped (written direct later), /Crypt filter removed. */
function streamEntries(dict: PdfDict, decrypting: boolean): [string, PdfObject][] {
  const entries = [...dict.entries].filter(([key]) => key !== 'Length');
  if (!decrypting) return entries;
  const filter = dict.entries.get('Filter');
  const list = filter?.type === 'array' ? filter.items : filter ? [filter] : [];
  if (nameOf(list[0]) !== 'Crypt') return entries;
  const parms = dict.entries.get('DecodeParms');
  const parmList = parms?.type === 'array' ? parms.items : parms ? [parms] : [];
  const rest = (items: PdfObject[]): PdfObject | null => {
    if (items.length === 0) return null;
    const [first, ...more] = items;
    return more.length === 0 ? first! : { type: 'array', items, start: 0, end: 0 };
  };
  const out: [string, PdfObject][] = [];
  for (const [key, value] of entries) {
    if (key === 'Filter') {
      const v = rest(list.slice(1));
      if (v) out.push([key, v]);
    } else if (key === 'DecodeParms') {
      const v = rest(parmList.slice(1));
      if (v && v.type !== 'null') out.push([key, v]);
    } else out.push([key, value]);
  }
  return out;
}

/** Writes every live object (object streams expanded), then a classic xref table and the trailer. */
async function writeDocument(
  src: Source,
  layout: Layout,
  dropped: Set<number>,
  out: Output,
): Promise<{ objects: number; bytes: number; expanded: boolean }> {
  let maxNum = 0;
  for (const num of src.entries.keys()) maxNum = Math.max(maxNum, num);
  const offsets = new Float64Array(maxNum + 1).fill(-1);
  const gens = new Uint16Array(maxNum + 1);
  let objects = 0;
  let expanded = false;
  // After a repair, every reference must lead to a recovered object: a truncated or mangled file is refused
  // rather than becoming a master with missing pages, fonts or images.
  const referenced = layout.repaired ? new Set<number>() : null;
  const hasMembers = new Set<number>();
  const probe = layout.repaired && !src.decryptor ? { checked: 0, failed: 0 } : null;
  for (const loc of src.entries.values()) if (loc.type === 'objstm') hasMembers.add(loc.stream);

  await out.write(`%PDF-${src.header.version}\n%\u00e2\u00e3\u00cf\u00d3\n`);
  for (const [num, loc] of sortedByOffset(src.entries)) {
    if (dropped.has(num)) continue;
    const head = await src.head(loc.offset);
    const { value } = head.obj;
    const type = value.type === 'dict' ? nameOf(value.entries.get('Type')) : undefined;
    if (head.obj.stream && type === 'XRef') continue;
    if (referenced && type !== 'ObjStm') collectRefs(value, referenced);
    if (head.obj.stream && type === 'ObjStm') {
      if (hasMembers.has(num)) {
        const stream = await src.objectStream(num);
        for (let i = 0; i < stream.index.length; i++) {
          const [member, at] = stream.index[i]!;
          const mloc = src.entries.get(member);
          if (mloc?.type !== 'objstm' || mloc.stream !== num || mloc.index !== i || dropped.has(member))
            continue;
          const p = new PdfParser(stream.data, stream.first + at);
          const memberValue = p.parseObject();
          if (referenced) collectRefs(memberValue, referenced);
          offsets[member] = out.bytes;
          gens[member] = 0;
          objects++;
          expanded = true;
          // Members of an object stream are not encrypted one by one: the stream as a whole was.
          await out.write(`${member} 0 obj\n${serialize(stream.data, memberValue, null)}\nendobj\n`);
        }
      }
      continue;
    }
    offsets[num] = out.bytes;
    gens[num] = loc.gen;
    objects++;
    const decryptor = src.decryptor;
    const strings: StringMapper = decryptor ? (data) => decryptor.decryptString(data, num, loc.gen) : null;
    if (!head.obj.stream || value.type !== 'dict') {
      await out.write(`${num} ${loc.gen} obj\n${serialize(head.buf, value, strings)}\nendobj\n`);
      continue;
    }
    await writeStreamObject(src, head, num, loc.gen, strings, out, probe);
  }

  if (!(layout.root.num <= maxNum && offsets[layout.root.num]! >= 0)) {
    throw new PdfError('BROKEN', 'the document catalog could not be written');
  }
  if (probe && probe.failed > 0 && probe.failed * 2 >= probe.checked) {
    throw new PdfError(
      'BROKEN',
      'the PDF is damaged: its compressed streams cannot be decoded (is it encrypted, with the encryption dictionary lost?)',
    );
  }
  for (const num of referenced ?? []) {
    if (!(num <= maxNum && offsets[num]! >= 0) && !dropped.has(num)) {
      throw new PdfError('BROKEN', `the PDF is damaged: object ${num} is referenced but missing`);
    }
  }
  const xrefAt = out.bytes;
  await out.write(`xref\n0 ${maxNum + 1}\n0000000000 65535 f \n`);
  let lines = '';
  for (let num = 1; num <= maxNum; num++) {
    const offset = offsets[num]!;
    lines +=
      offset >= 0
        ? `${String(offset).padStart(10, '0')} ${String(gens[num]).padStart(5, '0')} n \n`
        : '0000000000 00000 f \n';
    if (lines.length >= FLUSH_BYTES) {
      await out.write(lines);
      lines = '';
    }
  }
  let trailer = `trailer\n<</Size ${maxNum + 1}/Root ${layout.root.num} ${layout.root.gen} R`;
  const info = layout.info;
  if (info?.value.type === 'ref' && info.value.num <= maxNum && offsets[info.value.num]! >= 0) {
    trailer += `/Info ${info.value.num} ${info.value.gen} R`;
  } else if (info?.value.type === 'dict') {
    trailer += `/Info ${sourceOf(info.buf, info.value)}`;
  }
  if (layout.id) trailer += `/ID [<${layout.id[0].toString('hex')}><${layout.id[1].toString('hex')}>]`;
  await out.write(`${lines}${trailer}>>\nstartxref\n${xrefAt}\n%%EOF\n`);
  await out.flush();
  return { objects, bytes: out.bytes, expanded };
}

/** Counts Flate streams whose first bytes do not inflate (after a repair, to catch lost encryption). */
interface FlateProbe {
  checked: number;
  failed: number;
}

function probeFlate(dict: PdfDict, data: Buffer, probe: FlateProbe): void {
  const filter = dict.entries.get('Filter');
  const first = nameOf(filter?.type === 'array' ? filter.items[0] : filter);
  if (first !== 'FlateDecode' && first !== 'Fl') return;
  probe.checked++;
  try {
    inflateSync(data.subarray(0, 1024), {
      finishFlush: zlibConstants.Z_SYNC_FLUSH,
      maxOutputLength: 1 << 20,
    });
  } catch (error) {
    if (!(error instanceof RangeError) && (error as { code?: string }).code !== 'ERR_BUFFER_TOO_LARGE')
      probe.failed++;
  }
}

async function writeStreamObject(
  src: Source,
  head: Head,
  num: number,
  gen: number,
  strings: StringMapper,
  out: Output,
  probe: FlateProbe | null,
): Promise<void> {
  const dict = head.obj.value as PdfDict;
  const range = await src.streamRange(head);
  if (!range) throw new PdfError('BROKEN', `stream object ${num} has no endstream`);
  const decipher = num === src.encryptNum ? null : (src.decryptor?.streamDecipher(dict, num, gen) ?? null);
  const rawLength = range.end - range.start;
  let length = rawLength;
  let transform: ((chunk: Buffer) => Buffer) | null = null;
  if (decipher) {
    const tail = await src.reader.read(range.start + decipher.tailStart(rawLength), range.end);
    length = decipher.plainLength(rawLength, tail);
    transform = decipher.begin();
  }
  const entries = streamEntries(dict, src.decryptor !== null);
  const dictSource = serializeEntries(head.buf, entries, strings);
  await out.write(`${num} ${gen} obj\n${dictSource.slice(0, -2)}/Length ${length}>>\nstream\n`);
  let remaining = length;
  for (let pos = range.start; pos < range.end && remaining > 0; pos += COPY_CHUNK) {
    const raw = await src.reader.read(pos, Math.min(range.end, pos + COPY_CHUNK));
    if (raw.length === 0) throw new PdfError('BROKEN', `stream object ${num} is truncated`);
    let data = transform ? transform(raw) : raw;
    if (probe && pos === range.start) probeFlate(dict, data, probe);
    if (data.length > remaining) data = data.subarray(0, remaining);
    remaining -= data.length;
    await out.write(data);
  }
  if (remaining > 0) throw new PdfError('BROKEN', `stream object ${num} is truncated`);
  await out.write('\nendstream\nendobj\n');
}
