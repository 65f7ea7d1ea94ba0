/**
 * Shared pieces of the end-to-end watermark tests (tests/watermark-*.test.ts): watermarked products, uploads
 * from disk, purchases, downloads over HTTP, and small EPUB 3 / ZIP builders that use the Info-ZIP CLI the way
 * sellers' tools do (the EPUB builder follows src/adapters/watermark/epub/epub-test-helpers.ts, trimmed).
 */
import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import { expect } from 'vitest';
import { AppError, type ErrorCode } from '../../src/domain/errors.ts';
import type { DownloadLink } from '../../src/domain/grants/grant-service.ts';
import type { OrderView } from '../../src/domain/orders/order-service.ts';
import type { FileView, ProductView } from '../../src/domain/products/product-service.ts';
import type { WatermarkSettings } from '../../src/domain/watermark/watermark.ts';
import type { TraceMatch, TraceResult } from '../../src/domain/watermark/watermark-service.ts';
import type { Harness } from './harness.ts';
import { runTool } from './pdf-verify.ts';

export interface Buyer {
  name: string;
  email: string;
}

/** A Latin-1 buyer (the visible line uses the standard Helvetica font). */
export const BUYER_A: Buyer = { name: 'José Müller', email: 'jose.mueller@example.com' };
/** A second buyer, for "another buyer's copy differs". */
export const BUYER_B: Buyer = { name: 'Ada Lovelace', email: 'ada@example.org' };

/** A temporary directory for one test file's outputs (removed by the caller). */
export function makeWorkDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `cs-${prefix}-`));
}

export function contentTypeOf(fileName: string): string {
  if (fileName.endsWith('.pdf')) return 'application/pdf';
  if (fileName.endsWith('.epub')) return 'application/epub+zip';
  if (fileName.endsWith('.zip')) return 'application/zip';
  return 'application/octet-stream';
}

/**
 * A product with watermarking on (default settings unless given) and a download limit high enough for the
 * many full and ranged requests the tests make.
 */
export function createWatermarkedProduct(
  h: Harness,
  name: string,
  watermark: Partial<WatermarkSettings> = {},
): Promise<ProductView> {
  return h.ctx.products.create({ name, watermark, downloadLimit: 100_000 });
}

/** Uploads a file from disk the way the API does (streamed, size known). */
export function uploadPath(
  h: Harness,
  product: string,
  path: string,
  fileName = basename(path),
): Promise<FileView> {
  return h.ctx.products.addFile({
    product,
    fileName,
    body: createReadStream(path),
    contentType: contentTypeOf(fileName),
    size: statSync(path).size,
  });
}

export function uploadBuffer(h: Harness, product: string, fileName: string, data: Buffer): Promise<FileView> {
  return h.ctx.products.addFile({
    product,
    fileName,
    body: Readable.from([data]),
    contentType: contentTypeOf(fileName),
    size: data.length,
  });
}

export interface Purchase {
  order: OrderView;
  buyer: Buyer;
  /** The direct link of each of the product's files, by file name. */
  links: Map<string, DownloadLink>;
}

export async function buy(h: Harness, product: string, buyer: Buyer): Promise<Purchase> {
  const order = await h.ctx.orders.create({
    email: buyer.email,
    name: buyer.name,
    products: [product],
    source: 'test',
    notify: false,
  });
  return { order, buyer, links: new Map(order.downloads.map((link) => [link.file, link])) };
}

export function linkOf(purchase: Purchase, fileName: string): DownloadLink {
  const link = purchase.links.get(fileName);
  if (!link) throw new Error(`the order has no link for ${fileName}`);
  return link;
}

/** The order reference the visible line and the ZIP licence name use (see watermark-service copyFor). */
export function orderRefOf(order: OrderView): string {
  return order.order.external_id ?? order.order.id.slice(0, 8);
}

export interface Fetched {
  status: number;
  headers: Headers;
  body: Buffer;
}

/** One request, the body read to the end. */
export async function fetchBody(url: string, init: RequestInit = {}): Promise<Fetched> {
  const res = await fetch(url, init);
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

/** A full download that must succeed; checks Content-Length against the bytes received. */
export async function download(url: string): Promise<Buffer> {
  const res = await fetchBody(url);
  expect(res.status, res.body.toString('utf8', 0, 300)).toBe(200);
  expect(res.headers.get('content-length')).toBe(String(res.body.length));
  return res.body;
}

/** Awaits a promise that must reject with AppError `code`; returns the error. */
export async function expectAppError(promise: Promise<unknown>, code: ErrorCode): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected AppError ${code}`).toBeInstanceOf(AppError);
  expect((error as AppError).code, (error as AppError).message).toBe(code);
  return error as AppError;
}

/** The trace match of one grant's copy of one file; fails the test with the whole result otherwise. */
export function expectTraced(
  result: Pick<TraceResult, 'found' | 'matches'>,
  expected: { purchase: Purchase; fileName: string },
): TraceMatch {
  const { purchase, fileName } = expected;
  const link = linkOf(purchase, fileName);
  const match = result.matches.find((m) => m.grant_id === link.grant_id && m.file === fileName);
  expect(match, JSON.stringify(result)).toBeDefined();
  expect(result.found).toBe(true);
  expect(match!.order_id).toBe(purchase.order.order.id);
  expect(match!.customer.email).toBe(purchase.buyer.email);
  expect(match!.customer.name).toBe(purchase.buyer.name);
  expect(match!.token).toMatch(/^WM[A-Z2-7]{20}$/);
  return match!;
}

/** pdftotext / pdf.js output with white space collapsed (layout mode pads and breaks lines freely). */
export function squash(text: string): string {
  return text.replace(/[\u202a-\u202e]/g, '').replace(/\s+/g, ' ');
}

// ---------------------------------------------------------------------------------------------------------
// Command-line tools
// ---------------------------------------------------------------------------------------------------------

export interface RunResult {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

export function run(cmd: string, args: string[], options: { cwd?: string } = {}): RunResult {
  const r = spawnSync(cmd, args, { cwd: options.cwd, maxBuffer: 512 * 1024 * 1024, timeout: 300_000 });
  return {
    status: r.status,
    stdout: r.stdout ?? Buffer.alloc(0),
    stderr: (r.stderr ?? Buffer.alloc(0)).toString(),
  };
}

/** The epubcheck jar (Debian package `epubcheck`), when it and java are installed. */
export function epubcheckJar(): string | undefined {
  if (spawnSync('sh', ['-c', 'command -v java']).status !== 0) return undefined;
  return ['/usr/share/java/epubcheck.jar'].find((jar) => existsSync(jar));
}

/**
 * Runs epubcheck (`java -jar`: the /usr/bin wrapper needs binfmt); `messages` are its ERROR/FATAL lines. Async:
 * it takes seconds, and the server under test shares this process's event loop.
 */
export async function epubcheck(
  jar: string,
  path: string,
): Promise<{ ok: boolean; messages: string[]; output: string }> {
  const r = await runTool('java', ['-jar', jar, path], { timeoutMs: 300_000 });
  const output = r.stdout + r.stderr;
  return { ok: r.code === 0, messages: output.split('\n').filter((l) => /^(ERROR|FATAL)/.test(l)), output };
}

// ---------------------------------------------------------------------------------------------------------
// ZIP reading (enough for the checks: no Zip64, no spanning)
// ---------------------------------------------------------------------------------------------------------

export interface CentralEntry {
  name: string;
  method: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
}

export interface ZipLayout {
  entries: CentralEntry[];
  cdOffset: number;
  cdSize: number;
  comment: Buffer;
}

/** Reads the end record and the central directory of a ZIP held in memory. */
export function readZip(data: Buffer): ZipLayout {
  const eocd = data.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error('no end of central directory record');
  const count = data.readUInt16LE(eocd + 10);
  const cdSize = data.readUInt32LE(eocd + 12);
  const cdOffset = data.readUInt32LE(eocd + 16);
  const commentLength = data.readUInt16LE(eocd + 20);
  const entries: CentralEntry[] = [];
  let at = cdOffset;
  for (let i = 0; i < count; i++) {
    if (data.readUInt32LE(at) !== 0x02014b50) throw new Error(`no central header at ${at}`);
    const nameLength = data.readUInt16LE(at + 28);
    const extraLength = data.readUInt16LE(at + 30);
    const entryCommentLength = data.readUInt16LE(at + 32);
    entries.push({
      name: data.toString('utf8', at + 46, at + 46 + nameLength),
      method: data.readUInt16LE(at + 10),
      crc32: data.readUInt32LE(at + 16),
      compressedSize: data.readUInt32LE(at + 20),
      uncompressedSize: data.readUInt32LE(at + 24),
      localHeaderOffset: data.readUInt32LE(at + 42),
    });
    at += 46 + nameLength + extraLength + entryCommentLength;
  }
  return { entries, cdOffset, cdSize, comment: data.subarray(eocd + 22, eocd + 22 + commentLength) };
}

/** An entry's local header, name, extra field and compressed data, exactly as stored. */
export function rawEntry(data: Buffer, entry: CentralEntry): Buffer {
  const at = entry.localHeaderOffset;
  if (data.readUInt32LE(at) !== 0x04034b50) throw new Error(`no local header at ${at}`);
  const nameLength = data.readUInt16LE(at + 26);
  const extraLength = data.readUInt16LE(at + 28);
  return data.subarray(at, at + 30 + nameLength + extraLength + entry.compressedSize);
}

/** The first local header: its name, method and extra-field length, and the stored data that follows. */
export function firstLocalEntry(data: Buffer): {
  name: string;
  method: number;
  extraLength: number;
  data: Buffer;
} {
  if (data.readUInt32LE(0) !== 0x04034b50) throw new Error('no local header at 0');
  const method = data.readUInt16LE(8);
  const size = data.readUInt32LE(18);
  const nameLength = data.readUInt16LE(26);
  const extraLength = data.readUInt16LE(28);
  const start = 30 + nameLength + extraLength;
  return {
    name: data.toString('utf8', 30, 30 + nameLength),
    method,
    extraLength,
    data: data.subarray(start, start + size),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Sample EPUB 3 and ZIP, made with the Info-ZIP CLI
// ---------------------------------------------------------------------------------------------------------

/** The book's content documents (in spine order), relative to OEBPS/. */
export const EPUB_CHAPTERS = ['text/title.xhtml', 'text/ch1.xhtml', 'text/ch2.xhtml', 'text/ch3.xhtml'];

function xhtml(title: string, body: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">
<head>
<title>${title}</title>
<link rel="stylesheet" type="text/css" href="../style.css"/>
</head>
<body>
${body}
</body>
</html>
`;
}

function zipOrThrow(args: string[], cwd: string): void {
  const r = run('zip', args, { cwd });
  if (r.status !== 0) throw new Error(`zip ${args.join(' ')} failed: ${r.stderr}`);
}

/**
 * A small valid EPUB 3 (title page, three chapters, nav, CSS, a binary blob) zipped as the OCF asks:
 * `zip -X0 book.epub mimetype` then `zip -r9 book.epub META-INF OEBPS`. Returns its path.
 */
export function makeEpub3(dir: string, name: string): string {
  const src = join(dir, `${name}-src`);
  rmSync(src, { recursive: true, force: true });
  for (const d of ['META-INF', 'OEBPS/text']) mkdirSync(join(src, d), { recursive: true });
  writeFileSync(join(src, 'mimetype'), 'application/epub+zip');
  writeFileSync(
    join(src, 'META-INF/container.xml'),
    `<?xml version="1.0" encoding="UTF-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles>
    <rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>
  </rootfiles>
</container>
`,
  );
  writeFileSync(join(src, 'OEBPS/style.css'), 'body { font-family: serif; }\np { text-indent: 1em; }\n');
  for (const [i, path] of EPUB_CHAPTERS.entries()) {
    const body =
      i === 0
        ? '<h1>Tales &amp; Trials</h1>\n<p>A test book.</p>'
        : `<h1>Chapter ${i}</h1>\n${Array.from({ length: 30 }, (_, k) => `<p>Paragraph ${k} of chapter ${i}, with some text to read.</p>`).join('\n')}`;
    writeFileSync(join(src, 'OEBPS', path), xhtml(i === 0 ? 'Title' : `Chapter ${i}`, body));
  }
  writeFileSync(
    join(src, 'OEBPS/nav.xhtml'),
    `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" xml:lang="en" lang="en">
<head><title>Contents</title></head>
<body>
<nav epub:type="toc" id="toc"><h1>Contents</h1>
<ol>
${EPUB_CHAPTERS.map((c, i) => `<li><a href="${c}">${i === 0 ? 'Title' : `Chapter ${i}`}</a></li>`).join('\n')}
</ol>
</nav>
</body>
</html>
`,
  );
  const ids = ['title', 'ch1', 'ch2', 'ch3'];
  writeFileSync(
    join(src, 'OEBPS/content.opf'),
    `<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="bookid" xml:lang="en">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:identifier id="bookid">urn:uuid:7d1c9a52-4c3e-4f0e-9a57-2b8e3f1d6c42</dc:identifier>
    <dc:title>Tales &amp; Trials</dc:title>
    <dc:language>en</dc:language>
    <meta property="dcterms:modified">2026-11-29T00:00:00Z</meta>
  </metadata>
  <manifest>
    <item id="css" href="style.css" media-type="text/css"/>
    <item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
    ${EPUB_CHAPTERS.map((c, i) => `<item id="${ids[i]}" href="${c}" media-type="application/xhtml+xml"/>`).join('\n    ')}
  </manifest>
  <spine>
    ${ids.map((id) => `<itemref idref="${id}"/>`).join('\n    ')}
  </spine>
</package>
`,
  );
  const out = join(dir, `${name}.epub`);
  rmSync(out, { force: true });
  zipOrThrow(['-q', '-X', '-0', out, 'mimetype'], src);
  zipOrThrow(['-q', '-r', '-9', out, 'META-INF', 'OEBPS'], src);
  return out;
}

/**
 * A plugin-style ZIP made with `zip -r`: text (deflated), an incompressible binary (stored by zip), a file in
 * a sub-folder and an empty directory, with an archive comment. Returns its path and entry names.
 */
export function makePluginZip(dir: string, name: string): string {
  const src = join(dir, `${name}-src`);
  rmSync(src, { recursive: true, force: true });
  mkdirSync(join(src, 'my-plugin/includes'), { recursive: true });
  mkdirSync(join(src, 'my-plugin/languages'), { recursive: true });
  writeFileSync(
    join(src, 'my-plugin/my-plugin.php'),
    `<?php\n/*\n * Plugin Name: My Plugin\n * Version: 1.2.3\n */\n${'// filler line\n'.repeat(200)}`,
  );
  writeFileSync(
    join(src, 'my-plugin/includes/helpers.php'),
    `<?php\nfunction my_plugin_helper() { return 42; }\n`,
  );
  // Deterministic, incompressible bytes: zip stores them (method 0).
  const blob = Buffer.alloc(64 * 1024);
  let x = 0x9e3779b9;
  for (let i = 0; i < blob.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    blob.writeUInt32LE(x >>> 0, i);
  }
  writeFileSync(join(src, 'my-plugin/assets.bin'), blob);
  const out = join(dir, `${name}.zip`);
  rmSync(out, { force: true });
  zipOrThrow(['-q', '-r', '-9', out, 'my-plugin'], src);
  const comment = run('sh', ['-c', `printf 'My Plugin 1.2.3' | zip -q -z ${JSON.stringify(out)}`]);
  if (comment.status !== 0) throw new Error(`zip -z failed: ${comment.stderr}`);
  return out;
}

/** `fn` over `items` with at most `limit` in flight (uploads each start a sandboxed child). */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < items.length) {
      const index = next++;
      out[index] = await fn(items[index]!);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, () => worker()));
  return out;
}

export interface HandZipEntry {
  name: string;
  /** Bytes as stored in the archive (already deflated when `method` is 8). */
  stored: Buffer;
  method: 0 | 8;
  crc32: number;
  uncompressedSize: number;
}

/** Lays out a ZIP by hand (no Zip64), for hostile archives; `patch` may rewrite the end record. */
export function handZip(
  entries: readonly HandZipEntry[],
  options: { patchEnd?: (end: Buffer) => void } = {},
): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(e.method, 8);
    local.writeUInt16LE(0x21, 12);
    local.writeUInt32LE(e.crc32, 14);
    local.writeUInt32LE(e.stored.length, 18);
    local.writeUInt32LE(e.uncompressedSize, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(0x031e, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(e.method, 10);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(e.crc32, 16);
    central.writeUInt32LE(e.stored.length, 20);
    central.writeUInt32LE(e.uncompressedSize, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(0o100644 * 0x10000, 38);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, e.stored);
    centrals.push(central, name);
    offset += 30 + name.length + e.stored.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  options.patchEnd?.(end);
  return Buffer.concat([...locals, cd, end]);
}
