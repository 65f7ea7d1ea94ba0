/**
 * Issue 5 acceptance, EPUB and ZIP downloads, and tracing: a generated EPUB 3 and a `zip`-made plugin archive
 * are watermarked per buyer (epubcheck / `unzip -t` pass, original entries untouched, marks where the issue
 * says), and `cloudsecure trace` / `POST /api/v1/trace` find the grant of a leaked copy, also a PDF whose
 * visible line was removed and which was re-distilled by Ghostscript, with a clear answer for clean files.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TraceResult } from '../src/domain/watermark/watermark-service.ts';
import { cliJSON } from './helpers/cli.ts';
import { createHarness, type Harness } from './helpers/harness.ts';
import { ensureCorpus } from './helpers/pdf-corpus.ts';
import { gsResave, missingTools, pdftotextPages, qpdfCheck, runTool } from './helpers/pdf-verify.ts';
import {
  BUYER_A,
  BUYER_B,
  buy,
  createWatermarkedProduct,
  download,
  EPUB_CHAPTERS,
  epubcheck,
  epubcheckJar,
  expectTraced,
  fetchBody,
  firstLocalEntry,
  linkOf,
  makeEpub3,
  makePluginZip,
  makeWorkDir,
  orderRefOf,
  type Purchase,
  rawEntry,
  readZip,
  run,
  squash,
  uploadPath,
} from './helpers/watermark-fixtures.ts';

const ZIP_TOOLS = missingTools(['zip', 'unzip']);
const PDF_TOOLS = missingTools(['gs', 'qpdf', 'pdftotext']);
const EPUBCHECK = epubcheckJar();

let h: Harness;
let work: string;

beforeAll(async () => {
  h = await createHarness();
  work = await makeWorkDir('wm-files');
});

afterAll(async () => {
  await h?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

type TraceBody = TraceResult & { message: string };

async function traceOverAPI(data: Buffer, auth?: string): Promise<{ status: number; body: TraceBody }> {
  const res = await fetchBody(`${h.url}/api/v1/trace`, {
    method: 'POST',
    headers: {
      'content-type': 'application/octet-stream',
      ...(auth === undefined ? { authorization: await h.adminAuth() } : auth ? { authorization: auth } : {}),
    },
    body: new Uint8Array(data),
  });
  return { status: res.status, body: JSON.parse(res.body.toString('utf8')) as TraceBody };
}

function unzipText(path: string, entry: string): string {
  const r = run('unzip', ['-p', path, entry]);
  expect(r.status, `unzip -p ${entry}: ${r.stderr}`).toBe(0);
  return r.stdout.toString('utf8');
}

function unzipTest(path: string): void {
  const r = run('unzip', ['-t', path]);
  expect(r.status, `${r.stdout.toString()}${r.stderr}`).toBe(0);
  expect(r.stdout.toString()).toMatch(/No errors detected/);
}

/** `<item …/>` tags of an OPF manifest: id → the whole tag. */
function manifestItems(opf: string): Map<string, string> {
  const items = new Map<string, string>();
  for (const [tag] of opf.matchAll(/<item\b[^>]*>/g)) {
    const id = /\bid="([^"]+)"/.exec(tag)?.[1];
    if (id) items.set(id, tag);
  }
  return items;
}

function spineIds(opf: string): string[] {
  return [...opf.matchAll(/<itemref\b[^>]*\bidref="([^"]+)"/g)].map((m) => m[1]!);
}

describe.skipIf(ZIP_TOOLS.length > 0)('watermarked EPUB downloads', () => {
  let original: string;
  let slug: string;
  let purchase: Purchase;
  let body: Buffer;
  let out: string;
  let token: string;

  beforeAll(async () => {
    original = makeEpub3(work, 'book');
    slug = (await createWatermarkedProduct(h, 'Tales and Trials')).slug;
    const view = await uploadPath(h, slug, original);
    expect(view.watermark).toMatchObject({ status: 'ok', method: 'epub' });
    purchase = await buy(h, slug, BUYER_A);
    body = await download(linkOf(purchase, 'book.epub').url);
    out = join(work, 'A-book.epub');
    await writeFile(out, body);
    token = expectTraced(await h.ctx.watermarks.trace(body), { purchase, fileName: 'book.epub' }).token;
  }, 60_000);

  it('keeps mimetype first, stored, without extra field, and passes unzip -t', () => {
    const first = firstLocalEntry(body);
    expect(first.name).toBe('mimetype');
    expect(first.method).toBe(0);
    expect(first.extraLength).toBe(0);
    expect(first.data.toString('ascii')).toBe('application/epub+zip');
    unzipTest(out);
  });

  it('adds a watermark page to the manifest and the spine, and puts the token in the OPF', () => {
    const before = unzipText(original, 'OEBPS/content.opf');
    const after = unzipText(out, 'OEBPS/content.opf');
    expect(after).toContain(token);
    expect(before).not.toContain(token);
    const oldItems = manifestItems(before);
    const added = [...manifestItems(after)].filter(([id]) => !oldItems.has(id));
    expect(added, after).toHaveLength(1);
    const [pageId, tag] = added[0]!;
    expect(tag).toContain('media-type="application/xhtml+xml"');
    const spine = spineIds(after);
    expect(spine).toContain(pageId);
    // The original reading order is kept around it.
    expect(spine.filter((id) => id !== pageId)).toEqual(spineIds(before));
    const href = /\bhref="([^"]+)"/.exec(tag)![1]!;
    const page = unzipText(out, `OEBPS/${decodeURIComponent(href)}`);
    expect(page).toContain(BUYER_A.name);
    expect(page).toContain(BUYER_A.email);
    expect(page).toContain(token);
  });

  it('marks every content document and leaves the other entries untouched', () => {
    for (const chapter of EPUB_CHAPTERS) {
      const text = unzipText(out, `OEBPS/${chapter}`);
      expect(text, chapter).toContain(token);
      expect(text, chapter).toContain(BUYER_A.name);
      // The chapter's own text is still there.
      const originalBody = unzipText(original, `OEBPS/${chapter}`);
      const firstHeading = /<h1>[^<]*<\/h1>/.exec(originalBody)![0];
      expect(text, chapter).toContain(firstHeading);
    }
    for (const entry of ['META-INF/container.xml', 'OEBPS/style.css', 'OEBPS/nav.xhtml']) {
      expect(unzipText(out, entry), entry).toBe(unzipText(original, entry));
    }
  });

  it.skipIf(!EPUBCHECK)(
    'passes epubcheck like the original',
    async () => {
      const [before, after] = await Promise.all([
        epubcheck(EPUBCHECK!, original),
        epubcheck(EPUBCHECK!, out),
      ]);
      expect(before.messages, before.output).toEqual([]);
      expect(after.messages, after.output).toEqual([]);
      expect(after.ok, after.output).toBe(true);
    },
    120_000,
  );

  it('is deterministic per buyer and different for another buyer', async () => {
    expect((await download(linkOf(purchase, 'book.epub').url)).equals(body)).toBe(true);
    const other = await buy(h, slug, BUYER_B);
    const otherBody = await download(linkOf(other, 'book.epub').url);
    expect(otherBody.equals(body)).toBe(false);
    expectTraced(await h.ctx.watermarks.trace(otherBody), { purchase: other, fileName: 'book.epub' });
  });
});

describe.skipIf(ZIP_TOOLS.length > 0)('watermarked ZIP downloads', () => {
  let original: Buffer;
  let originalPath: string;
  let slug: string;
  let purchase: Purchase;
  let body: Buffer;
  let out: string;
  let token: string;

  beforeAll(async () => {
    originalPath = makePluginZip(work, 'my-plugin');
    original = await readFile(originalPath);
    // Watermarking turned on from the CLI, with a template of the seller's.
    const product = await h.ctx.products.create({ name: 'My Plugin', downloadLimit: 1000 });
    slug = product.slug;
    const updated = await cliJSON<{ watermark: { text: string } | null }>(h.env, [
      'product',
      'update',
      slug,
      '--watermark',
      'on',
      '--watermark-text',
      'Licensed to {name} <{email}> for order {order}',
    ]);
    expect(updated.watermark?.text).toBe('Licensed to {name} <{email}> for order {order}');
    const view = await uploadPath(h, slug, originalPath);
    expect(view.watermark).toMatchObject({ status: 'ok', method: 'zip' });
    purchase = await buy(h, slug, BUYER_A);
    body = await download(linkOf(purchase, 'my-plugin.zip').url);
    out = join(work, 'A-my-plugin.zip');
    await writeFile(out, body);
    token = expectTraced(await h.ctx.watermarks.trace(body), { purchase, fileName: 'my-plugin.zip' }).token;
  }, 60_000);

  it('passes unzip -t and keeps every original entry byte-identical', () => {
    unzipTest(out);
    const before = readZip(original);
    const after = readZip(body);
    // Everything before the old central directory is copied as it was.
    expect(body.subarray(0, before.cdOffset).equals(original.subarray(0, before.cdOffset))).toBe(true);
    for (const entry of before.entries) {
      const copy = after.entries.find((e) => e.name === entry.name);
      expect(copy, entry.name).toBeDefined();
      expect(copy).toMatchObject({
        crc32: entry.crc32,
        method: entry.method,
        compressedSize: entry.compressedSize,
      });
      expect(rawEntry(body, copy!).equals(rawEntry(original, entry)), entry.name).toBe(true);
    }
    expect(after.entries.map((e) => e.name).slice(0, before.entries.length)).toEqual(
      before.entries.map((e) => e.name),
    );
  });

  it('adds LICENSE-<order>.txt with the licence text and puts the token in the comment', () => {
    const ref = orderRefOf(purchase.order);
    const names = readZip(body).entries.map((e) => e.name);
    expect(names).toContain(`LICENSE-${ref}.txt`);
    expect(names).toHaveLength(readZip(original).entries.length + 1);
    const licence = unzipText(out, `LICENSE-${ref}.txt`);
    expect(licence).toContain(`Licensed to ${BUYER_A.name} <${BUYER_A.email}> for order ${ref}`);
    expect(licence).toContain(token);
    const comment = readZip(body).comment.toString('latin1');
    expect(comment).toContain(token);
    expect(comment).toContain('My Plugin 1.2.3');
  });

  it('serves ranges of the copy as slices of the full download', async () => {
    // Later downloads must not move the time the copy was first issued (checked by the trace below).
    h.clock.advance(60_000);
    const url = linkOf(purchase, 'my-plugin.zip').url;
    const cd = readZip(original).cdOffset;
    for (const [range, start, end] of [
      [`bytes=${cd - 20}-${cd + 19}`, cd - 20, cd + 19],
      ['bytes=-64', body.length - 64, body.length - 1],
    ] as const) {
      const res = await fetchBody(url, { headers: { range } });
      expect(res.status, range).toBe(206);
      expect(res.body.equals(body.subarray(start, end + 1)), range).toBe(true);
    }
    expect((await download(url)).equals(body)).toBe(true);
  });

  it('is traced over the API, and a ZIP with a foreign token reports it as unknown', async () => {
    const traced = await traceOverAPI(body);
    expect(traced.status).toBe(200);
    expect(traced.body.found).toBe(true);
    expect(traced.body.matches.map((m) => m.token)).toEqual([token]);
    expect(traced.body.matches[0]!.grant_id).toBe(linkOf(purchase, 'my-plugin.zip').grant_id);
    const match = traced.body.matches[0]!;
    const times = match.downloads.map((d) => Date.parse(d.at)).sort((a, b) => a - b);
    expect(times.length).toBeGreaterThanOrEqual(2);
    expect(Date.parse(match.issued_at)).toBe(times[0]);
    expect(times.at(-1)!).toBeGreaterThan(times[0]!);

    const foreign = join(work, 'foreign.zip');
    await writeFile(foreign, original);
    const r = run('sh', ['-c', `printf 'CloudSecure license WMAAAAAAAAAAAAAAAAAAAA' | zip -q -z ${foreign}`]);
    expect(r.status, r.stderr).toBe(0);
    const unknown = await traceOverAPI(await readFile(foreign));
    expect(unknown.body).toMatchObject({
      found: false,
      matches: [],
      unknown_tokens: ['WMAAAAAAAAAAAAAAAAAAAA'],
    });
  });
});

describe.skipIf(PDF_TOOLS.length > 0)('tracing a leaked PDF (CLI and API)', () => {
  let purchase: Purchase;
  let leaked: string;
  let cleanPdf: string;

  beforeAll(async () => {
    const corpus = await ensureCorpus(['gs-text']);
    cleanPdf = corpus['gs-text'];
    const slug = (await createWatermarkedProduct(h, 'Leaky Book')).slug;
    await uploadPath(h, slug, cleanPdf, 'leaky.pdf');
    purchase = await buy(h, slug, BUYER_A);
    const copy = join(work, 'leaky-copy.pdf');
    await writeFile(copy, await download(linkOf(purchase, 'leaky.pdf').url));

    // The leaker removes the visible line: uncompress with qpdf --qdf, blank the line's text in place
    // (same length, so the file stays valid), then "print to PDF" with Ghostscript (drops /Info, new /ID).
    const qdf = join(work, 'leaky-qdf.pdf');
    const qdfRun = await runTool('qpdf', ['--qdf', '--object-streams=disable', copy, qdf]);
    expect([0, 3]).toContain(qdfRun.code);
    const data = await readFile(qdf);
    let blanked = 0;
    for (let at = data.indexOf('(Licensed to '); at !== -1; at = data.indexOf('(Licensed to ', at + 1)) {
      const end = data.indexOf(') Tj', at);
      data.fill(0x20, at + 1, end);
      blanked++;
    }
    expect(blanked).toBeGreaterThan(0);
    const stripped = join(work, 'leaky-stripped.pdf');
    await writeFile(stripped, data);
    expect((await qpdfCheck(stripped)).errors).toEqual([]);
    leaked = join(work, 'leaky-leaked.pdf');
    await gsResave(stripped, leaked);
    for (const page of await pdftotextPages(leaked)) {
      expect(squash(page)).not.toContain(BUYER_A.name);
      expect(squash(page)).not.toContain(BUYER_A.email);
    }
  }, 60_000);

  it('POST /api/v1/trace finds the grant of a copy without its visible line, re-saved by Ghostscript', async () => {
    const res = await traceOverAPI(await readFile(leaked));
    expect(res.status).toBe(200);
    expect(res.body.message).toMatch(/mark/i);
    const match = expectTraced(res.body, { purchase, fileName: 'leaky.pdf' });
    expect(match.downloads.length).toBeGreaterThanOrEqual(1);
  });

  it('cloudsecure trace FILE --json finds it too', async () => {
    const result = await cliJSON<TraceBody>(h.env, ['trace', leaked]);
    expectTraced(result, { purchase, fileName: 'leaky.pdf' });
    expect(result.message).toMatch(/mark/i);
  }, 60_000);

  it('answers found:false with a clear message for a clean PDF, over the API and the CLI', async () => {
    const [api, cli] = await Promise.all([
      readFile(cleanPdf).then((data) => traceOverAPI(data)),
      cliJSON<TraceBody>(h.env, ['trace', cleanPdf]),
    ]);
    expect(api.status).toBe(200);
    expect(api.body).toMatchObject({ found: false, matches: [], unknown_tokens: [] });
    expect(api.body.message).toMatch(/no .*mark found/i);
    expect(cli).toMatchObject({ found: false, matches: [], message: api.body.message });
  }, 60_000);

  it('refuses a trace without the admin token or without a body', async () => {
    const anonymous = await traceOverAPI(await readFile(cleanPdf), '');
    expect(anonymous.status).toBe(401);
    const empty = await fetchBody(`${h.url}/api/v1/trace`, {
      method: 'POST',
      headers: { authorization: await h.adminAuth(), 'content-type': 'application/octet-stream' },
      body: new Uint8Array(0),
    });
    expect(empty.status).toBe(400);
  });
});
