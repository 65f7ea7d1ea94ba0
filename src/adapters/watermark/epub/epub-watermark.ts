import { constants, deflateRawSync } from 'node:zlib';
import { makePlan, type OutputPlan, type Segment } from '../plan.ts';
import type { RangeReader } from '../range-reader.ts';
import {
  DEFAULT_ZIP_LIMITS,
  readCentralDirectory,
  type ZipEntry,
  type ZipLimits,
} from '../zip/central-directory.ts';
import { readEntryData } from '../zip/entry-data.ts';
import {
  crc32,
  DOS_EPOCH,
  FLAG_UTF8,
  MADE_BY_UNIX,
  markedComment,
  UNIX_FILE_0644,
  writeCentralHeader,
  writeEndRecords,
  writeLocalHeader,
} from '../zip/records.ts';
import { ZipError } from '../zip/zip-error.ts';
import { addFooter, watermarkPage } from './content.ts';
import { markPackage, type PackageDocument, parsePackage, resolveHref } from './opf.ts';
import { attribute, scanTags } from './xml.ts';

export interface EpubWatermarkInput {
  /** The visible line for the footers and the watermark page. */
  text: string;
  /** Opaque trace token; also names the watermark page (`wm-<token>.xhtml`). */
  token: string;
  buyerName: string;
  /** Book title for the watermark page; the OPF's dc:title when absent. */
  title?: string;
}

export interface EpubLimits extends ZipLimits {
  /** Content documents rewritten, at most. */
  maxDocuments: number;
  /** Largest single document (uncompressed), and all rewritten documents together. */
  maxDocumentBytes: number;
  maxTotalBytes: number;
}

export const DEFAULT_EPUB_LIMITS: EpubLimits = {
  ...DEFAULT_ZIP_LIMITS,
  maxDocuments: 10_000,
  maxDocumentBytes: 8 * 1024 * 1024,
  maxTotalBytes: 64 * 1024 * 1024,
};

const MIMETYPE = Buffer.from('application/epub+zip', 'ascii');
const SAFE_TOKEN = /^[A-Za-z0-9_]+(-[A-Za-z0-9_]+)*$/;
/** Fixed Deflate parameters: the same input gives the same bytes (for a given zlib build). */
const DEFLATE = { level: 9, memLevel: 8, windowBits: 15, strategy: constants.Z_DEFAULT_STRATEGY };
const READ_CONCURRENCY = 8;

/**
 * Watermarks an EPUB (contract §5.2): a fresh stored `mimetype` first; the OPF and every XHTML content document
 * but the nav rewritten (footer + token); a watermark page added to the manifest and the spine; every other
 * entry copied raw, in the original order, with a new central directory. Reads only the central directory and
 * the documents it rewrites.
 */
export async function planEpubWatermark(
  reader: RangeReader,
  input: EpubWatermarkInput,
  limits: EpubLimits = DEFAULT_EPUB_LIMITS,
): Promise<OutputPlan> {
  if (input.token.length > 128 || !SAFE_TOKEN.test(input.token)) {
    throw new Error('the trace token must be letters, digits, _ and single - (at most 128)');
  }
  const cd = await readCentralDirectory(reader, limits);
  const byName = new Map<string, ZipEntry>();
  for (const e of cd.entries) if (!byName.has(e.name)) byName.set(e.name, e);
  const read = (e: ZipEntry): Promise<Buffer> =>
    readEntryData(reader, e, { maxEntryBytes: limits.maxDocumentBytes });

  const container = byName.get('META-INF/container.xml');
  if (!container) throw new ZipError('BROKEN', 'EPUB: META-INF/container.xml is missing');
  const opfPath = findRootfile(decodeUtf8(await read(container), 'META-INF/container.xml'));
  const opfEntry = byName.get(opfPath);
  if (!opfEntry) throw new ZipError('BROKEN', `EPUB: the package document ${opfPath} is missing`);
  const opfText = decodeUtf8(await read(opfEntry), opfPath);
  const pkg = parsePackage(opfText, opfPath);

  const docs = contentDocuments(pkg, byName, opfEntry);
  if (docs.length > limits.maxDocuments)
    throw new ZipError('LIMIT', `EPUB: too many content documents (${docs.length})`);
  const total = docs.reduce((n, e) => n + e.uncompressedSize, 0);
  if (total > limits.maxTotalBytes)
    throw new ZipError('LIMIT', `EPUB: content documents too large (${total} bytes)`);
  const encryption = byName.get('META-INF/encryption.xml');
  if (encryption) {
    const encrypted = encryptedPaths(decodeUtf8(await read(encryption), 'META-INF/encryption.xml'));
    for (const e of [opfEntry, ...docs]) {
      if (encrypted.has(e.name)) throw new ZipError('ENCRYPTED', `EPUB: ${e.name} is encrypted (DRM)`);
    }
  }

  const dir = opfPath.includes('/') ? opfPath.slice(0, opfPath.lastIndexOf('/') + 1) : '';
  let pageId = `wm-${input.token}`;
  for (let n = 2; pkg.ids.has(pageId) || byName.has(`${dir}${pageId}.xhtml`); n++)
    pageId = `wm-${input.token}-${n}`;
  const page = { text: input.text, token: input.token };
  const rewritten = new Map<number, Buffer>();
  const contents = await mapLimit(docs, READ_CONCURRENCY, read);
  for (const [i, e] of docs.entries()) rewritten.set(e.index, addFooter(contents[i]!, page));
  const opf = markPackage(opfText, pkg, { token: input.token, pageId, pageHref: `${pageId}.xhtml` });
  rewritten.set(opfEntry.index, Buffer.from(opf, 'utf8'));

  const out = new ZipOutput();
  const mimetype = byName.get('mimetype');
  out.add(Buffer.from('mimetype'), MIMETYPE, {
    method: 0,
    date: mimetype ?? { dosDate: DOS_EPOCH.date, dosTime: DOS_EPOCH.time },
  });
  for (const e of cd.entries) {
    if (e.name === 'mimetype') continue;
    const data = rewritten.get(e.index);
    if (data) out.add(e.rawName, data, { method: 8, date: e, like: e });
    else out.copy(e);
  }
  const pageDoc = watermarkPage(pkg.version, {
    ...page,
    buyerName: input.buyerName,
    title: input.title ?? pkg.title,
  });
  out.add(Buffer.from(`${dir}${pageId}.xhtml`, 'utf8'), pageDoc, { method: 8, date: opfEntry });
  return out.finish(markedComment(cd.comment, input.token));
}

/** The XHTML content documents of the manifest (not the nav document), each once, in manifest order. */
function contentDocuments(pkg: PackageDocument, byName: Map<string, ZipEntry>, opf: ZipEntry): ZipEntry[] {
  const seen = new Set<number>([opf.index]);
  const docs: ZipEntry[] = [];
  for (const item of pkg.items) {
    if (item.mediaType !== 'application/xhtml+xml' || item.properties.includes('nav') || !item.path) continue;
    const e = byName.get(item.path);
    if (!e || seen.has(e.index)) continue;
    seen.add(e.index);
    docs.push(e);
  }
  return docs;
}

function findRootfile(containerXml: string): string {
  let first: string | undefined;
  for (const tag of scanTags(containerXml)) {
    if (tag.kind !== 'start' || tag.local !== 'rootfile') continue;
    const path = attribute(tag, 'full-path');
    if (!path) continue;
    if (attribute(tag, 'media-type') === 'application/oebps-package+xml') return path;
    first ??= path;
  }
  if (first) return first;
  throw new ZipError('BROKEN', 'EPUB: container.xml names no package document');
}

function encryptedPaths(encryptionXml: string): Set<string> {
  const paths = new Set<string>();
  for (const tag of scanTags(encryptionXml)) {
    if (tag.kind !== 'start' || tag.local !== 'CipherReference') continue;
    const path = resolveHref('', attribute(tag, 'URI') ?? '');
    if (path) paths.add(path);
  }
  return paths;
}

function decodeUtf8(data: Buffer, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(data);
  } catch {
    throw new ZipError('UNSUPPORTED', `EPUB: ${what} is not UTF-8`);
  }
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

interface AddOptions {
  method: 0 | 8;
  date: { dosDate: number; dosTime: number };
  /** The entry this replaces: its flags, attributes and "made by" are kept. */
  like?: ZipEntry;
}

/** Collects the output: new entries as bytes, kept entries as copies of their original byte range. */
class ZipOutput {
  readonly #segments: Segment[] = [];
  readonly #central: Buffer[] = [];
  #offset = 0;

  add(name: Buffer, content: Buffer, o: AddOptions): void {
    const data = o.method === 8 ? deflateRawSync(content, DEFLATE) : content;
    const flags =
      (o.like?.flags ?? (/[^\x20-\x7e]/.test(name.toString('latin1')) ? FLAG_UTF8 : 0)) & FLAG_UTF8;
    const header = {
      versionNeeded: o.method === 8 ? 20 : 10,
      flags,
      method: o.method,
      dosTime: o.date.dosTime,
      dosDate: o.date.dosDate,
      crc32: crc32(content),
      compressedSize: data.length,
      uncompressedSize: content.length,
      name,
    };
    const local = writeLocalHeader(header);
    this.#central.push(
      writeCentralHeader({
        ...header,
        versionMadeBy: o.like?.versionMadeBy ?? MADE_BY_UNIX,
        extra: Buffer.alloc(0),
        comment: Buffer.alloc(0),
        internalAttributes: o.like?.internalAttributes ?? 0,
        externalAttributes: o.like?.externalAttributes ?? UNIX_FILE_0644,
        localHeaderOffset: this.#offset,
      }),
    );
    this.#segments.push({ kind: 'bytes', data: Buffer.concat([local, data]) });
    this.#offset += local.length + data.length;
  }

  copy(e: ZipEntry): void {
    this.#central.push(writeCentralHeader({ ...e, name: e.rawName, localHeaderOffset: this.#offset }));
    this.#segments.push({ kind: 'copy', start: e.localHeaderOffset, end: e.end });
    this.#offset += e.end - e.localHeaderOffset;
  }

  finish(comment: Buffer): OutputPlan {
    const central = Buffer.concat(this.#central);
    const end = writeEndRecords({
      entries: this.#central.length,
      cdOffset: this.#offset,
      cdSize: central.length,
      comment,
    });
    return makePlan([...this.#segments, { kind: 'bytes', data: Buffer.concat([central, end]) }]);
  }
}
