// Smoke test of the PDF corpus generators and the verification helpers (not of the watermarking).

import { statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CORPUS,
  CORPUS_NAMES,
  type CorpusName,
  debianDocPdfs,
  ensureCorpus,
  hostilePdfPaths,
  hostilePdfs,
  LATIN1_LINE,
  pageLabel,
  REVISION_2_TEXT,
  sampleMinimalPdf,
  sampleXrefStreamPdf,
  USER_PASSWORD,
} from './helpers/pdf-corpus.ts';
import {
  eofCount,
  fileRangeReader,
  gsRender,
  gsResave,
  missingTools,
  pageCount,
  pdfjsPageCount,
  pdfjsText,
  pdflibResave,
  pdftotextPages,
  prefixesAtEof,
  qpdfCheck,
  qpdfResave,
  qpdfTrailer,
} from './helpers/pdf-verify.ts';

const missing = missingTools();

describe.skipIf(missing.length > 0)('PDF test corpus', () => {
  let corpus: Record<CorpusName, string>;
  let scratch: string;

  beforeAll(async () => {
    corpus = await ensureCorpus();
    scratch = await mkdtemp(join(tmpdir(), 'cs-pdf-corpus-test-'));
  }, 300_000);

  afterAll(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it.each(CORPUS_NAMES)(
    '%s: qpdf --check as expected, page count',
    async (name) => {
      const entry = CORPUS[name];
      const check = await qpdfCheck(corpus[name]);
      if (entry.check === 'clean') expect(check, check.output).toMatchObject({ ok: true, exitCode: 0 });
      if (entry.check === 'warnings') {
        expect(check.exitCode).toBe(3);
        expect(check.warnings.length).toBeGreaterThan(0);
      }
      if (entry.check === 'needs-password') {
        expect(check.exitCode).toBe(2);
        expect(check.errors.join('\n')).toMatch(/invalid password/);
        expect((await qpdfCheck(corpus[name], { password: USER_PASSWORD })).ok).toBe(true);
      }
      const password = entry.check === 'needs-password' ? USER_PASSWORD : undefined;
      expect(await pageCount(corpus[name], { password })).toBe(entry.pages);
    },
    120_000,
  );

  it.each(CORPUS_NAMES)(
    '%s: pdftotext finds "Page N of M" on every page',
    async (name) => {
      const entry = CORPUS[name];
      const password = entry.check === 'needs-password' ? USER_PASSWORD : undefined;
      const pages = await pdftotextPages(corpus[name], { password });
      expect(pages).toHaveLength(entry.pages);
      pages.forEach((text, i) => {
        expect(text).toContain(pageLabel(i + 1, entry.pages));
      });
    },
    120_000,
  );

  it('sizes and special content', async () => {
    expect(CORPUS.text2000.pages).toBe(2000);
    expect(statSync(corpus['big-image']).size).toBeGreaterThanOrEqual(100 * 1024 * 1024);
    const gsText = await pdftotextPages(corpus['gs-text']);
    expect(gsText[0]).toContain(LATIN1_LINE);
    const incremental = await pdftotextPages(corpus.incremental);
    expect(incremental[0]).toContain(REVISION_2_TEXT);
    expect(await pdftotextPages(corpus['encrypted-user']).catch((error: Error) => error.message)).toMatch(
      /pdftotext failed/,
    );
    const info = await qpdfTrailer(corpus.incremental);
    expect(info).toMatch(/\/Prev \d+/);
  });

  it('incremental: one prefix per revision, the first is gs-text itself', async () => {
    const data = await readFile(corpus.incremental);
    const original = await readFile(corpus['gs-text']);
    expect(eofCount(data)).toBe(2);
    expect(eofCount(original)).toBe(1);
    const prefixes = prefixesAtEof(data);
    expect(prefixes).toHaveLength(2);
    expect(prefixes[0]!.equals(original.subarray(0, prefixes[0]!.length))).toBe(true);
    expect(original.subarray(prefixes[0]!.length).toString('latin1').trim()).toBe('');
    const cut = join(scratch, 'cut.pdf');
    await writeFile(cut, prefixes[0]!);
    expect((await pdftotextPages(cut))[0]).not.toContain(REVISION_2_TEXT);
  });

  it('pdf.js extracts the same page labels', async () => {
    const texts = await pdfjsText(corpus['gs-text']);
    expect(texts).toHaveLength(CORPUS['gs-text'].pages);
    texts.forEach((text, i) => {
      expect(text).toContain(pageLabel(i + 1, texts.length));
    });
    expect(texts[0]).toContain(LATIN1_LINE);
    const picked = await pdfjsText(corpus.text2000, { pages: [2000, 1] });
    expect(picked[0]).toContain(pageLabel(2000, 2000));
    expect(picked[1]).toContain(pageLabel(1, 2000));
    expect(await pdfjsPageCount(corpus.objstm)).toBe(CORPUS.objstm.pages);
    expect((await pdfjsText(corpus['encrypted-user'], { password: USER_PASSWORD }))[0]).toContain(
      pageLabel(1, CORPUS['encrypted-user'].pages),
    );
    await expect(pdfjsText(corpus['encrypted-user'])).rejects.toThrow();
  });

  it.each([
    ['qpdf', qpdfResave],
    ['gs', gsResave],
    ['pdf-lib', pdflibResave],
  ] as const)('re-save with %s keeps the text and passes qpdf --check', async (tool, resave) => {
    const out = join(scratch, `resaved-${tool}.pdf`);
    await resave(corpus['gs-text'], out);
    expect((await qpdfCheck(out)).ok).toBe(true);
    const pages = await pdftotextPages(out);
    expect(pages).toHaveLength(CORPUS['gs-text'].pages);
    expect(pages[4]).toContain(pageLabel(5, 5));
  });

  it('Ghostscript renders every page of the small files without complaint', async () => {
    for (const name of ['gs-text', 'cropped', 'inherited', 'incremental', 'rotated'] as const) {
      const render = await gsRender(corpus[name]);
      expect(render, name).toEqual({ ok: true, messages: [] });
    }
  });

  it('fileRangeReader reads positional slices', async () => {
    const data = await readFile(corpus['gs-text']);
    const reader = await fileRangeReader(corpus['gs-text']);
    try {
      expect(reader.size).toBe(data.length);
      expect((await reader.read(10, 100)).equals(data.subarray(10, 100))).toBe(true);
      expect((await reader.read(data.length - 5, data.length + 100)).equals(data.subarray(-5))).toBe(true);
      expect((await reader.read(50, 50)).length).toBe(0);
    } finally {
      await reader.close();
    }
  });

  it('the hand-written samples are valid PDF', async () => {
    for (const [name, data] of [
      ['minimal', sampleMinimalPdf()],
      ['xref-stream', await sampleXrefStreamPdf()],
    ] as const) {
      const path = join(scratch, `sample-${name}.pdf`);
      await writeFile(path, data);
      const check = await qpdfCheck(path);
      expect(check, check.output).toMatchObject({ ok: true });
      expect(await pageCount(path)).toBe(1);
    }
  });

  it('hostile inputs are generated, small, and the bombs really inflate past 1 MiB', async () => {
    const files = await hostilePdfs();
    const names = Object.keys(files);
    expect(names.length).toBeGreaterThan(50);
    expect(files.empty).toHaveLength(0);
    for (const name of ['page-tree-loop-kids', 'huge-object-number', 'xref-prev-cycle', 'deep-array']) {
      expect(names).toContain(name);
    }
    for (const [name, data] of Object.entries(files)) expect(data.length, name).toBeLessThan(2 * 1024 * 1024);
    const bomb = files['bomb-content-stream']!.toString('latin1');
    const start = bomb.indexOf('stream\n', bomb.indexOf('/FlateDecode')) + 'stream\n'.length;
    const compressed = files['bomb-content-stream']!.subarray(start, bomb.indexOf('\nendstream', start));
    expect(() => inflateSync(compressed, { maxOutputLength: 1 << 20 })).toThrow(RangeError);
    const paths = await hostilePdfPaths();
    expect(Object.keys(paths).sort()).toEqual([...names].sort());
    expect((await readFile(paths['xref-prev-self']!)).equals(files['xref-prev-self']!)).toBe(true);
  }, 120_000);

  it('Debian documentation PDFs, when installed, start with %PDF', async () => {
    const pdfs = debianDocPdfs({ maxFiles: 5 });
    expect(pdfs.length).toBeLessThanOrEqual(5);
    for (const path of pdfs) {
      const head = (await readFile(path)).subarray(0, 1024).toString('latin1');
      expect(head).toContain('%PDF-');
    }
  });
});
