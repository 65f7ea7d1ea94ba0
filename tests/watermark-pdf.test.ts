/**
 * Issue 5 acceptance, PDF: every corpus PDF uploaded to a watermarked product, bought and downloaded over HTTP
 * is a valid PDF (qpdf, poppler, pdf.js) with the buyer's name on every page, cannot be reverted to the
 * unmarked master by cutting it at an `%%EOF`, and is traced back to its grant, also after qpdf, Ghostscript
 * and pdf-lib re-saved it. Also: non-Latin names, Range/If-Range/HEAD on watermarked copies, refusal of
 * user-password PDFs, watermarking off, and the Debian documentation PDFs when installed.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TraceResult } from '../src/domain/watermark/watermark-service.ts';
import { spawnServe, stopProcess } from './helpers/cli.ts';
import { inspectPdf } from './helpers/font-pdf.ts';
import { createHarness, freePort, type Harness } from './helpers/harness.ts';
import { CORPUS, type CorpusName, debianDocPdfs, ensureCorpus, pageLabel } from './helpers/pdf-corpus.ts';
import {
  eofCount,
  gsResave,
  missingTools,
  pageCount,
  pdfjsText,
  pdflibResave,
  pdftotextPages,
  prefixesAtEof,
  qpdfCheck,
  qpdfResave,
  runTool,
} from './helpers/pdf-verify.ts';
import {
  BUYER_A,
  BUYER_B,
  type Buyer,
  buy,
  createWatermarkedProduct,
  download,
  expectAppError,
  expectTraced,
  type Fetched,
  fetchBody,
  linkOf,
  makeWorkDir,
  mapLimit,
  type Purchase,
  squash,
  uploadPath,
} from './helpers/watermark-fixtures.ts';

const TOOLS = missingTools(['gs', 'qpdf', 'pdftotext', 'pdfinfo', 'pdffonts']);

/** The small corpus files every check runs on (text2000 and big-image have tests of their own). */
const SMALL = [
  'gs-text',
  'objstm',
  'linearized',
  'rotated',
  'cropped',
  'inherited',
  'incremental',
  'encrypted-owner',
  'broken-xref',
] as const satisfies readonly CorpusName[];

let h: Harness;
let work: string;

beforeAll(async () => {
  h = await createHarness();
  work = await makeWorkDir('wm-pdf');
});

afterAll(async () => {
  await h?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Text of a copy's pages has the buyer's name and e-mail on every page. */
function expectNameOnEveryPage(pages: readonly string[], buyer: Buyer, what: string): void {
  pages.forEach((text, i) => {
    const flat = squash(text);
    expect(flat, `${what}: page ${i + 1}`).toContain(buyer.name);
    expect(flat, `${what}: page ${i + 1}`).toContain(buyer.email);
  });
}

/** Every line pdf.js extracts from an original page is still extracted from the copy's page. */
function expectOriginalText(original: readonly string[], copy: readonly string[], what: string): void {
  expect(copy.length).toBe(original.length);
  original.forEach((text, i) => {
    const flat = squash(copy[i]!);
    for (const line of text
      .split('\n')
      .map(squash)
      .map((l) => l.trim())) {
      if (line) expect(flat, `${what}: page ${i + 1} lost "${line}"`).toContain(line);
    }
  });
}

interface Rect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/**
 * Each page's visible area (CropBox, clipped to the MediaBox by pdfinfo) in the coordinates `pdftotext -bbox`
 * reports words in: display space after /Rotate, origin top-left of the rotated MediaBox.
 */
async function visibleAreas(path: string, pages: number): Promise<Rect[]> {
  const run = await runTool('pdfinfo', ['-box', '-f', '1', '-l', String(pages), path]);
  const boxes = new Map<number, { media?: number[]; crop?: number[]; rotate?: number }>();
  for (const line of run.stdout.split('\n')) {
    const m = /^Page\s+(\d+)\s+(MediaBox|CropBox|rot):\s+(.*)$/.exec(line);
    if (!m) continue;
    const page = boxes.get(Number(m[1])) ?? {};
    if (m[2] === 'rot') page.rotate = ((Number(m[3]) % 360) + 360) % 360;
    else page[m[2] === 'MediaBox' ? 'media' : 'crop'] = m[3]!.trim().split(/\s+/).map(Number);
    boxes.set(Number(m[1]), page);
  }
  return Array.from({ length: pages }, (_, i) => {
    const { media, crop, rotate } = boxes.get(i + 1) ?? {};
    if (!media || !crop || rotate === undefined) throw new Error(`pdfinfo gave no boxes for page ${i + 1}`);
    const [mx0, my0, mx1, my1] = media as [number, number, number, number];
    const map = (x: number, y: number): [number, number] => {
      switch (rotate) {
        case 90:
          return [y - my0, x - mx0];
        case 180:
          return [mx1 - x, y - my0];
        case 270:
          return [my1 - y, mx1 - x];
        default:
          return [x - mx0, my1 - y];
      }
    };
    const [cx0, cy0, cx1, cy1] = crop as [number, number, number, number];
    const [ax, ay] = map(cx0, cy0);
    const [bx, by] = map(cx1, cy1);
    return { x0: Math.min(ax, bx), y0: Math.min(ay, by), x1: Math.max(ax, bx), y1: Math.max(ay, by) };
  });
}

/** Words of every page with their boxes, from `pdftotext -bbox` (word text HTML-escaped as poppler writes it). */
async function wordBoxes(path: string): Promise<(Rect & { text: string })[][]> {
  const run = await runTool('pdftotext', ['-bbox', path, '-']);
  return run.stdout
    .split('<page ')
    .slice(1)
    .map((page) =>
      [
        ...page.matchAll(
          /<word xMin="([\d.-]+)" yMin="([\d.-]+)" xMax="([\d.-]+)" yMax="([\d.-]+)">([^<]*)<\/word>/g,
        ),
      ].map((m) => ({ x0: Number(m[1]), y0: Number(m[2]), x1: Number(m[3]), y1: Number(m[4]), text: m[5]! })),
    );
}

/**
 * The visible line (starting with `firstWord`) reads upright, left to right, inside each page's visible area,
 * horizontally centred, in the bottom (footer) or top (header) tenth of it: correct on rotated pages, offset
 * and cropped boxes and inherited attributes alike.
 */
async function expectLinePlaced(
  path: string,
  pages: number,
  firstWord: string,
  at: 'footer' | 'header',
): Promise<void> {
  const [areas, words] = await Promise.all([visibleAreas(path, pages), wordBoxes(path)]);
  expect(words).toHaveLength(pages);
  words.forEach((pageWords, i) => {
    const area = areas[i]!;
    const what = `page ${i + 1} (visible ${JSON.stringify(area)})`;
    const first = pageWords.find((w) => w.text === firstWord && w.x1 - w.x0 > w.y1 - w.y0);
    expect(
      first,
      `${what}: no upright "${firstWord}" in ${JSON.stringify(pageWords.slice(-12))}`,
    ).toBeDefined();
    const line = pageWords.filter((w) => Math.abs(w.y0 - first!.y0) < 0.5 && w.x0 >= first!.x0 - 0.5);
    const box = {
      x0: first!.x0,
      y0: Math.min(...line.map((w) => w.y0)),
      x1: Math.max(...line.map((w) => w.x1)),
      y1: Math.max(...line.map((w) => w.y1)),
    };
    const tolerance = 0.5;
    expect(box.x0, what).toBeGreaterThanOrEqual(area.x0 - tolerance);
    expect(box.x1, what).toBeLessThanOrEqual(area.x1 + tolerance);
    expect(box.y0, what).toBeGreaterThanOrEqual(area.y0 - tolerance);
    expect(box.y1, what).toBeLessThanOrEqual(area.y1 + tolerance);
    expect(Math.abs(box.x0 - area.x0 - (area.x1 - box.x1)), `${what}: centred`).toBeLessThan(3);
    const tenth = (area.y1 - area.y0) / 10;
    if (at === 'footer') expect(box.y0, `${what}: in the bottom tenth`).toBeGreaterThan(area.y1 - tenth);
    else expect(box.y1, `${what}: in the top tenth`).toBeLessThan(area.y0 + tenth);
  });
}

/**
 * The revert attack: every prefix of the copy that ends at an `%%EOF` either carries the mark (token in the
 * bytes, or the buyer's name on every page) or is not a PDF a reader can open.
 */
async function expectNoUnmarkedPrefix(
  body: Buffer,
  token: string,
  buyer: Buyer,
  name: string,
): Promise<void> {
  const prefixes = prefixesAtEof(body);
  expect(prefixes.length).toBeGreaterThan(0);
  for (const [i, prefix] of prefixes.entries()) {
    if (prefix.toString('latin1').includes(token)) continue;
    const path = join(work, `${name}-prefix-${i}.pdf`);
    await writeFile(path, prefix);
    const check = await qpdfCheck(path);
    if (check.exitCode === 2) continue;
    const pages = await pdftotextPages(path).catch(() => null);
    if (pages === null) continue;
    expectNameOnEveryPage(pages, buyer, `${name}: prefix ending at %%EOF #${i + 1} of ${prefixes.length}`);
  }
}

/**
 * The copy re-saved by qpdf (new xref and /ID), Ghostscript (re-distilled: /Info dropped, streams re-encoded)
 * and pdf-lib (where pdf-lib can open the original at all), each traced.
 */
async function resaveAndTrace(out: string, original: string, fileName: string): Promise<TraceResult[]> {
  const resaved = {
    qpdf: join(work, `qpdf-${fileName}`),
    gs: join(work, `gs-${fileName}`),
    pdflib: join(work, `pdflib-${fileName}`),
  };
  const [, , pdflibOpened] = await Promise.all([
    qpdfResave(out, resaved.qpdf),
    gsResave(out, resaved.gs),
    pdflibResave(out, resaved.pdflib).then(
      () => true,
      async (error: unknown) => {
        // pdf-lib cannot open every PDF; then it must not open the original either.
        const opensOriginal = await pdflibResave(original, join(work, `pdflib-orig-${fileName}`)).then(
          () => true,
          () => false,
        );
        if (opensOriginal) throw error;
        return false;
      },
    ),
  ]);
  const tools = pdflibOpened ? (['qpdf', 'gs', 'pdflib'] as const) : (['qpdf', 'gs'] as const);
  return Promise.all(tools.map(async (tool) => h.ctx.watermarks.trace(await readFile(resaved[tool]))));
}

describe.skipIf(TOOLS.length > 0)('watermarked PDF downloads of the corpus', () => {
  let corpus: Record<(typeof SMALL)[number] | 'encrypted-user', string>;
  let slug: string;
  let buyerA: Purchase;
  let buyerB: Purchase;

  beforeAll(async () => {
    corpus = await ensureCorpus([...SMALL, 'encrypted-user']);
    slug = (await createWatermarkedProduct(h, 'Corpus Book')).slug;
    const views = await mapLimit(SMALL, 3, (name) => uploadPath(h, slug, corpus[name], `${name}.pdf`));
    for (const [i, view] of views.entries()) {
      // Encrypted, broken and linearized files are stamped from a normalised master, the rest in place.
      const expected = ['linearized', 'encrypted-owner', 'broken-xref'].includes(SMALL[i]!)
        ? 'normalized'
        : 'rewrite';
      expect(view.watermark, SMALL[i]).toMatchObject({ status: 'ok', method: expected });
    }
    [buyerA, buyerB] = await Promise.all([buy(h, slug, BUYER_A), buy(h, slug, BUYER_B)]);
  }, 180_000);

  it.each(SMALL)(
    '%s: valid, stamped on every page, same text, not revertible, traced also after re-saves',
    async (name) => {
      const fileName = `${name}.pdf`;
      const original = corpus[name];
      const body = await download(linkOf(buyerA, fileName).url);
      const out = join(work, `A-${fileName}`);
      await writeFile(out, body);
      // Re-saved by other tools (qpdf: new xref and /ID; Ghostscript: re-distilled; pdf-lib where it opens the
      // file) and traced, started now: it overlaps the checks below (each trace is a sandboxed child).
      const resavedTraces = resaveAndTrace(out, original, fileName);
      resavedTraces.catch(() => undefined);

      const [check, originalCheck, pages, originalPages, text, originalJs, copyJs, traced] =
        await Promise.all([
          qpdfCheck(out),
          qpdfCheck(original),
          pageCount(out),
          pageCount(original),
          pdftotextPages(out),
          pdfjsText(original),
          pdfjsText(out),
          h.ctx.watermarks.trace(body),
        ]);
      expect(check.errors, check.output).toEqual([]);
      expect(check.exitCode, check.output).not.toBe(2);
      expect(check.warnings.length, check.output).toBeLessThanOrEqual(originalCheck.warnings.length);
      expect(pages).toBe(originalPages);
      expect(pages).toBe(CORPUS[name].pages);
      expect(text).toHaveLength(pages);
      expectNameOnEveryPage(text, BUYER_A, `pdftotext ${name}`);
      expectNameOnEveryPage(copyJs, BUYER_A, `pdf.js ${name}`);
      expectOriginalText(originalJs, copyJs, `pdf.js ${name}`);
      for (let page = 1; page <= pages; page++)
        expect(squash(copyJs[page - 1]!)).toContain(pageLabel(page, pages));
      await expectLinePlaced(out, pages, 'Licensed', 'footer');
      const match = expectTraced(traced, { purchase: buyerA, fileName });
      await expectNoUnmarkedPrefix(body, match.token, BUYER_A, name);
      // One revision, not an appended update (the corpus files embed no PDFs that could hold another %%EOF).
      expect(eofCount(body)).toBe(1);

      const results = await resavedTraces;
      for (const result of results) expectTraced(result, { purchase: buyerA, fileName });
    },
    180_000,
  );

  it('names outside Latin-1 render with an embedded font subset and extract as text', async () => {
    const buyers: Buyer[] = [
      { name: 'Анна Каренина', email: 'anna@example.ru' },
      { name: 'Σωκράτης Παπαδόπουλος', email: 'sokratis@example.gr' },
      { name: 'فاطمة الزهراء', email: 'fatima@example.eg' },
      { name: '王小明', email: 'xiaoming@example.cn' },
    ];
    const original = inspectPdf(await readFile(corpus['gs-text']));
    const originalFonts = new Set(original.fonts.map((f) => f.name));
    await mapLimit(buyers, 2, async (buyer) => {
      const purchase = await buy(h, slug, buyer);
      const body = await download(linkOf(purchase, 'gs-text.pdf').url);
      const path = join(work, `${buyer.email}.pdf`);
      await writeFile(path, body);
      const [pages, js] = await Promise.all([pdftotextPages(path), pdfjsText(path)]);
      expectNameOnEveryPage(pages, buyer, `pdftotext ${buyer.name}`);
      expectNameOnEveryPage(js, buyer, `pdf.js ${buyer.name}`);
      const report = inspectPdf(body);
      expect(report.qpdfStatus, report.qpdfOutput).toBe(0);
      const added = report.fonts.filter((f) => !originalFonts.has(f.name));
      expect(
        added.some((f) => f.emb && f.sub && f.uni),
        `pdffonts of ${buyer.name}'s copy: ${JSON.stringify(report.fonts)}`,
      ).toBe(true);
      expectTraced(await h.ctx.watermarks.trace(body), { purchase, fileName: 'gs-text.pdf' });
    });
  }, 120_000);

  describe('Range, If-Range and HEAD on a watermarked copy', () => {
    let url: string;
    let full: Buffer;
    let etag: string;

    beforeAll(async () => {
      url = linkOf(buyerA, 'gs-text.pdf').url;
      const res = await fetchBody(url);
      expect(res.status, res.body.toString('utf8', 0, 500)).toBe(200);
      full = res.body;
      etag = res.headers.get('etag') ?? '';
      expect(etag).not.toBe('');
    });

    it('returns exactly the slice of a full download for every range', async () => {
      const original = await readFile(corpus['gs-text']);
      // Where the copied original bytes first give way to new bytes.
      let boundary = 0;
      while (boundary < original.length && original[boundary] === full[boundary]) boundary++;
      expect(boundary).toBeGreaterThan(100);
      expect(boundary).toBeLessThan(full.length - 100);
      const n = full.length;
      const ranges: [string, number, number][] = [
        ['bytes=0-99', 0, 99],
        ['bytes=0-0', 0, 0],
        [
          `bytes=${Math.floor(n / 2) - 500}-${Math.floor(n / 2) + 499}`,
          Math.floor(n / 2) - 500,
          Math.floor(n / 2) + 499,
        ],
        [`bytes=${boundary - 50}-${boundary + 49}`, boundary - 50, boundary + 49],
        [`bytes=${boundary}-${boundary}`, boundary, boundary],
        [`bytes=${n - 100}-${n - 1}`, n - 100, n - 1],
        [`bytes=${n - 300}-`, n - 300, n - 1],
        ['bytes=-100', n - 100, n - 1],
        [`bytes=${n - 10}-${n + 5000}`, n - 10, n - 1],
        ['bytes=1-', 1, n - 1],
      ];
      for (const [range, start, end] of ranges) {
        const res = await fetchBody(url, { headers: { range } });
        expect(res.status, range).toBe(206);
        expect(res.headers.get('content-range'), range).toBe(`bytes ${start}-${end}/${n}`);
        expect(res.headers.get('content-length'), range).toBe(String(end - start + 1));
        expect(res.headers.get('etag'), range).toBe(etag);
        expect(res.body.equals(full.subarray(start, end + 1)), range).toBe(true);
      }
      // A resume stitched from pieces is the full copy.
      const cut = boundary + 7;
      const head = await fetchBody(url, { headers: { range: `bytes=0-${cut - 1}` } });
      const tail = await fetchBody(url, { headers: { range: `bytes=${cut}-`, 'if-range': etag } });
      expect(Buffer.concat([head.body, tail.body]).equals(full)).toBe(true);
    }, 60_000);

    it('honours If-Range with the ETag and sends the whole copy for a stale one', async () => {
      const matching = await fetchBody(url, { headers: { range: 'bytes=100-199', 'if-range': etag } });
      expect(matching.status).toBe(206);
      expect(matching.body.equals(full.subarray(100, 200))).toBe(true);
      const stale = await fetchBody(url, {
        headers: { range: 'bytes=100-199', 'if-range': '"0123456789abcdef"' },
      });
      expect(stale.status).toBe(200);
      expect(stale.body.equals(full)).toBe(true);
    });

    it('answers HEAD with the same length and validator, and refuses a range past the end', async () => {
      const head = await fetchBody(url, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.headers.get('content-length')).toBe(String(full.length));
      expect(head.headers.get('etag')).toBe(etag);
      expect(head.body.length).toBe(0);
      const headRange = await fetchBody(url, { method: 'HEAD', headers: { range: 'bytes=10-19' } });
      expect(headRange.status).toBe(206);
      expect(headRange.headers.get('content-length')).toBe('10');
      const past = await fetchBody(url, { headers: { range: `bytes=${full.length}-` } });
      expect(past.status).toBe(416);
      expect(past.headers.get('content-range')).toBe(`bytes */${full.length}`);
    });

    it('gives the same buyer the same bytes every time and another buyer different ones', async () => {
      const again = await fetchBody(url);
      expect(again.body.equals(full)).toBe(true);
      expect(again.headers.get('etag')).toBe(etag);
      const other = await fetchBody(linkOf(buyerB, 'gs-text.pdf').url);
      expect(other.status).toBe(200);
      expect(other.body.equals(full)).toBe(false);
      expect(other.headers.get('etag')).not.toBe(etag);
      const otherPath = join(work, 'B-gs-text.pdf');
      await writeFile(otherPath, other.body);
      expectNameOnEveryPage(await pdftotextPages(otherPath), BUYER_B, 'buyer B');
      expect(squash((await pdftotextPages(otherPath)).join('\n'))).not.toContain(BUYER_A.name);
      expectTraced(await h.ctx.watermarks.trace(other.body), { purchase: buyerB, fileName: 'gs-text.pdf' });
    });

    it('makes byte-identical copies in another server process (so a resume may land on either)', async () => {
      const cyrillic = await buy(h, slug, { name: 'Анна Каренина', email: 'anna.k@example.ru' });
      const cyrillicUrl = linkOf(cyrillic, 'gs-text.pdf').url;
      const here = await download(cyrillicUrl);
      const port = await freePort();
      const other = `http://127.0.0.1:${port}`;
      const serve = spawnServe({
        ...process.env,
        ...h.env,
        CLOUDSECURE_PORT: String(port),
        CLOUDSECURE_LOG_LEVEL: 'warn',
      });
      try {
        for (;;) {
          if (serve.child.exitCode !== null) throw new Error(`serve exited: ${serve.output()}`);
          if (
            await fetch(`${other}/healthz`).then(
              (res) => res.ok,
              () => false,
            )
          )
            break;
          await delay(100);
        }
        const there = await fetchBody(cyrillicUrl.replace(h.url, other));
        expect(there.status).toBe(200);
        expect(there.body.equals(here)).toBe(true);
        const latin = await fetchBody(url.replace(h.url, other));
        expect(latin.body.equals(full)).toBe(true);
        expect(latin.headers.get('etag')).toBe(etag);
        const resumed = await fetchBody(url.replace(h.url, other), {
          headers: { range: `bytes=${full.length - 777}-`, 'if-range': etag },
        });
        expect(resumed.status).toBe(206);
        expect(resumed.body.equals(full.subarray(full.length - 777))).toBe(true);
      } finally {
        await stopProcess(serve);
      }
    }, 60_000);
  });

  describe('after the seller changes the watermark', () => {
    let url: string;
    let first: Fetched;
    let changedSlug: string;

    beforeAll(async () => {
      changedSlug = (await createWatermarkedProduct(h, 'Retemplated Book')).slug;
      await uploadPath(h, changedSlug, corpus['gs-text'], 'retemplated.pdf');
      url = linkOf(await buy(h, changedSlug, BUYER_A), 'retemplated.pdf').url;
      first = await fetchBody(url);
      expect(first.status, first.body.toString('utf8', 0, 500)).toBe(200);
      await h.ctx.products.update({ product: changedSlug, watermark: { text: 'Personal copy of {name}' } });
    });

    it('serves a new copy with a new ETag, and a resume validated by the old ETag gets all of it', async () => {
      const now = await fetchBody(url);
      expect(now.headers.get('etag')).not.toBe(first.headers.get('etag'));
      const path = join(work, 'retemplated.pdf');
      await writeFile(path, now.body);
      for (const page of await pdftotextPages(path))
        expect(squash(page)).toContain(`Personal copy of ${BUYER_A.name}`);
      const resumed = await fetchBody(url, {
        headers: { range: 'bytes=100-', 'if-range': first.headers.get('etag') ?? '' },
      });
      expect(resumed.status).toBe(200);
      expect(resumed.body.equals(now.body)).toBe(true);
    });

    // A copy changes with the seller's template, which the upload date cannot tell: a date validator gets it all.
    it('also sends all of it to a resume validated by a date', async () => {
      expect(first.headers.get('last-modified')).toBeNull();
      const date = new Date(Date.now() + 86_400_000).toUTCString();
      const resumed = await fetchBody(url, { headers: { range: 'bytes=100-', 'if-range': date } });
      expect(resumed.status).toBe(200);
    });
  });

  it('refuses a user-password PDF at upload, in the service and over the API', async () => {
    const error = await expectAppError(
      uploadPath(h, slug, corpus['encrypted-user'], 'locked.pdf'),
      'WATERMARK_UNSUPPORTED',
    );
    expect(error.message).toContain('locked.pdf');
    expect(error.message).toMatch(/password/i);

    const res = await fetchBody(`${h.url}/api/v1/products/${slug}/files?name=locked-api.pdf`, {
      method: 'POST',
      headers: { authorization: await h.adminAuth(), 'content-type': 'application/octet-stream' },
      body: new Uint8Array(await readFile(corpus['encrypted-user'])),
    });
    expect(res.status).toBe(422);
    const parsed = JSON.parse(res.body.toString('utf8')) as { error: { code: string; message: string } };
    expect(parsed.error.code).toBe('WATERMARK_UNSUPPORTED');
    expect(parsed.error.message).toMatch(/password/i);
    // Nothing was stored for either attempt.
    const names = (await h.ctx.products.get(slug)).files.map((f) => f.name);
    expect(names).not.toContain('locked.pdf');
    expect(names).not.toContain('locked-api.pdf');
  });

  it('serves the original bytes when watermarking is off, also after it was on', async () => {
    const plain = await h.ctx.products.create({ name: 'Plain Book', downloadLimit: 100 });
    const view = await uploadPath(h, plain.slug, corpus['gs-text'], 'plain.pdf');
    expect(view.watermark).toBeUndefined();
    const purchase = await buy(h, plain.slug, BUYER_A);
    const original = await readFile(corpus['gs-text']);
    expect((await download(linkOf(purchase, 'plain.pdf').url)).equals(original)).toBe(true);

    const toggled = await createWatermarkedProduct(h, 'Toggled Book');
    await uploadPath(h, toggled.slug, corpus['gs-text'], 'toggled.pdf');
    const bought = await buy(h, toggled.slug, BUYER_A);
    const url = linkOf(bought, 'toggled.pdf').url;
    expect((await download(url)).equals(original)).toBe(false);
    await h.ctx.products.update({ product: toggled.slug, watermark: false });
    expect((await download(url)).equals(original)).toBe(true);
  });

  it('applies the seller template and position (header, diagonal)', async () => {
    const template = 'Copy of {name} · {email} · order {order} · {date}';
    await mapLimit(['header', 'diagonal'] as const, 2, async (position) => {
      const product = await createWatermarkedProduct(h, `Placed ${position}`, {
        text: template,
        position,
        sizePt: 12,
      });
      await uploadPath(h, product.slug, corpus.rotated, 'placed.pdf');
      const purchase = await buy(h, product.slug, BUYER_A);
      const body = await download(linkOf(purchase, 'placed.pdf').url);
      const path = join(work, `placed-${position}.pdf`);
      await writeFile(path, body);
      const check = await qpdfCheck(path);
      expect(check.ok, check.output).toBe(true);
      const ref = purchase.order.order.id.slice(0, 8);
      const date = purchase.order.order.created_at.slice(0, 10);
      const expected = `Copy of ${BUYER_A.name} · ${BUYER_A.email} · order ${ref} · ${date}`;
      for (const [i, page] of (await pdfjsText(path)).entries()) {
        expect(squash(page), `${position}: page ${i + 1}`).toContain(expected);
      }
      if (position === 'header') await expectLinePlaced(path, CORPUS.rotated.pages, 'Copy', 'header');
    });
  }, 60_000);
});

describe.skipIf(TOOLS.length > 0)('a 2,000-page PDF', () => {
  it('is stamped on every page, stays valid and is traced, also after a qpdf re-save', async () => {
    const { text2000 } = await ensureCorpus(['text2000']);
    const product = await createWatermarkedProduct(h, 'Long Book');
    expect((await uploadPath(h, product.slug, text2000)).watermark).toMatchObject({ status: 'ok' });
    const purchase = await buy(h, product.slug, BUYER_A);
    const body = await download(linkOf(purchase, 'text2000.pdf').url);
    const out = join(work, 'A-text2000.pdf');
    await writeFile(out, body);
    const sample = [1, 2, 999, 1000, 1999, 2000];
    const resaved = join(work, 'qpdf-text2000.pdf');
    await qpdfResave(out, resaved);
    // Tracing reads every page's text with pdf.js in a sandboxed child: both traces run side by side.
    const [check, pages, text, originalJs, copyJs, traced, tracedResaved] = await Promise.all([
      qpdfCheck(out),
      pageCount(out),
      pdftotextPages(out),
      pdfjsText(text2000, { pages: sample }),
      pdfjsText(out, { pages: sample }),
      h.ctx.watermarks.trace(body),
      readFile(resaved).then((data) => h.ctx.watermarks.trace(data)),
    ]);
    expect(check.ok, check.output).toBe(true);
    expect(pages).toBe(2000);
    expect(text).toHaveLength(2000);
    expectNameOnEveryPage(text, BUYER_A, 'pdftotext text2000');
    expectNameOnEveryPage(copyJs, BUYER_A, 'pdf.js text2000');
    expectOriginalText(originalJs, copyJs, 'pdf.js text2000');
    const match = expectTraced(traced, { purchase, fileName: 'text2000.pdf' });
    await expectNoUnmarkedPrefix(body, match.token, BUYER_A, 'text2000');
    expectTraced(tracedResaved, { purchase, fileName: 'text2000.pdf' });
  }, 300_000);
});

describe.skipIf(TOOLS.length > 0)('a ≥ 100 MB image PDF', () => {
  it('is stamped on every page, stays valid and is traced', async () => {
    const { 'big-image': bigImage } = await ensureCorpus(['big-image']);
    const product = await createWatermarkedProduct(h, 'Photo Book');
    expect((await uploadPath(h, product.slug, bigImage)).watermark).toMatchObject({ status: 'ok' });
    const purchase = await buy(h, product.slug, BUYER_A);
    const body = await download(linkOf(purchase, 'big-image.pdf').url);
    expect(body.length).toBeGreaterThan(100 * 1024 * 1024);
    const out = join(work, 'A-big-image.pdf');
    await writeFile(out, body);
    const pagesExpected = CORPUS['big-image'].pages;
    const [check, pages, text, copyJs, traced] = await Promise.all([
      qpdfCheck(out, { timeoutMs: 300_000 }),
      pageCount(out),
      pdftotextPages(out),
      pdfjsText(out, { pages: [1, 60, pagesExpected] }),
      h.ctx.watermarks.trace(body),
    ]);
    expect(check.ok, check.output).toBe(true);
    expect(pages).toBe(pagesExpected);
    expectNameOnEveryPage(text, BUYER_A, 'pdftotext big-image');
    expectNameOnEveryPage(copyJs, BUYER_A, 'pdf.js big-image');
    const match = expectTraced(traced, { purchase, fileName: 'big-image.pdf' });
    await expectNoUnmarkedPrefix(body, match.token, BUYER_A, 'big-image');
    // A resumed download of the big copy: the last 1 MB equals the same slice of the full one.
    const url = linkOf(purchase, 'big-image.pdf').url;
    const tail = await fetchBody(url, { headers: { range: `bytes=-${1024 * 1024}` } });
    expect(tail.status).toBe(206);
    expect(tail.body.equals(body.subarray(body.length - 1024 * 1024))).toBe(true);
  }, 600_000);
});

const DEBIAN_PDFS = debianDocPdfs({ maxFiles: 10 });

describe.skipIf(TOOLS.length > 0 || DEBIAN_PDFS.length === 0)('Debian documentation PDFs', () => {
  it('are each watermarked without new qpdf errors, on every page', async () => {
    const product = await createWatermarkedProduct(h, 'Debian Docs');
    const names = DEBIAN_PDFS.map((path, i) => `${i}-${path.split('/').pop()}`);
    await mapLimit(
      DEBIAN_PDFS.map((path, i) => [path, names[i]!] as const),
      3,
      ([path, name]) => uploadPath(h, product.slug, path, name),
    );
    const purchase = await buy(h, product.slug, BUYER_A);
    for (const [i, original] of DEBIAN_PDFS.entries()) {
      const name = names[i]!;
      const body = await download(linkOf(purchase, name).url);
      const out = join(work, `debian-${name}`);
      await writeFile(out, body);
      const [check, originalCheck, pages, originalPages, text] = await Promise.all([
        qpdfCheck(out),
        qpdfCheck(original),
        pageCount(out),
        pageCount(original),
        pdftotextPages(out),
      ]);
      expect(check.errors, `${original}: ${check.output}`).toEqual([]);
      if (originalCheck.exitCode !== 2) expect(check.exitCode, `${original}: ${check.output}`).not.toBe(2);
      expect(check.warnings.length, `${original}: ${check.output}`).toBeLessThanOrEqual(
        originalCheck.warnings.length,
      );
      expect(pages, original).toBe(originalPages);
      expectNameOnEveryPage(text, BUYER_A, original);
    }
  }, 300_000);
});
