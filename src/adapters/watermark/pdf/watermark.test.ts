import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { type OutputPlan, streamPlan } from '../plan.ts';
import {
  analyzePdf,
  ObjectStreamCache,
  type PdfAnalysis,
  type PdfStamp,
  PlanTemplateCache,
  planPdfWatermark,
} from './index.ts';
import { helvetica } from './standard-font.ts';
import {
  classicPdf,
  hybridPdf,
  inheritedPdf,
  objectStreamPdf,
  rotatedPdf,
  updatedPdf,
} from './test-fixtures.ts';
import {
  fileOpener,
  fileReader,
  ghostscript,
  hasTool,
  pdfjsPageTexts,
  run,
  textContent,
  textPostScript,
  writePdf,
} from './test-pdfs.ts';

const QPDF = hasTool('qpdf');
const GS = hasTool('gs');
const POPPLER = hasTool('pdftotext');
const dir = mkdtempSync(join(tmpdir(), 'cs-pdf-wm-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TOKEN_A = 'WMK7Q2ZP4XJ9D3M5T6R2A';
const TOKEN_B = 'WMB3XQ7ZK2M4N5P6R7S2T';
const NAME = 'José Müller';

function stamp(token: string, position: PdfStamp['position'] = 'footer'): PdfStamp {
  return {
    text: `Licensed to ${NAME} <jose@example.com> · Order 1042 · 2026-11-29`,
    token,
    position,
    opacity: 0.6,
    sizePt: 9,
    font: helvetica(),
  };
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The plan applied by hand to the original bytes (what streamPlan must produce). */
function applyPlan(plan: OutputPlan, original: Buffer): Buffer {
  return Buffer.concat(
    plan.segments.map((s) => (s.kind === 'copy' ? original.subarray(s.start, s.end) : s.data)),
  );
}

async function watermark(
  path: string,
  s: PdfStamp,
): Promise<{ out: Buffer; plan: OutputPlan; analysis: PdfAnalysis }> {
  const reader = await fileReader(path);
  try {
    const analysis = JSON.parse(JSON.stringify(await analyzePdf(reader))) as PdfAnalysis;
    const plan = await planPdfWatermark(analysis, reader, s);
    const out = await collect(streamPlan(plan, fileOpener(path)));
    return { out, plan, analysis };
  } finally {
    await reader.close();
  }
}

function count(haystack: Buffer, needle: string): number {
  let n = 0;
  for (let i = haystack.indexOf(needle); i >= 0; i = haystack.indexOf(needle, i + 1)) n++;
  return n;
}

function pageCount(path: string): number {
  return Number(/Pages:\s+(\d+)/.exec(run('pdfinfo', [path]).stdout)?.[1]);
}

/** qpdf --check: exit status and the warning/error lines (offsets stripped so they compare). */
function qpdfCheck(path: string): { status: number; problems: string[] } {
  const r = run('qpdf', ['--check', path]);
  const problems = `${r.stdout}\n${r.stderr}`
    .split('\n')
    .filter(
      (l) =>
        /WARNING|ERROR|error/i.test(l) &&
        !/No syntax or stream encoding errors|errors that qpdf cannot detect/.test(l),
    )
    .map((l) => l.replace(/.*?:\s*/, '').replace(/\d+/g, 'N'));
  return { status: r.status, problems };
}

interface Case {
  name: string;
  make: () => string;
  /** Text each page of the original shows (by page index). */
  pageText: (i: number) => string;
  tools?: ('qpdf' | 'gs')[];
}

function save(name: string, data: Buffer): string {
  const path = join(dir, `${name}.pdf`);
  writeFileSync(path, data);
  return path;
}

const gsPdf = () =>
  ghostscript(textPostScript(12), join(dir, 'gs12.ps'), join(dir, 'gs12.pdf'), writeFileSync);
const qpdfOut = (name: string, args: string[], input: string) => {
  const out = join(dir, `${name}.pdf`);
  const r = run('qpdf', [...args, input, out]);
  if (r.status !== 0 && r.status !== 3) throw new Error(r.stderr);
  return out;
};

const cases: Case[] = [
  { name: 'classic xref table', make: () => save('classic', classicPdf()), pageText: (i) => `Page ${i + 1}` },
  {
    name: 'xref stream + object streams',
    make: () => save('objstm', objectStreamPdf()),
    pageText: (i) => `Page ${i + 1}`,
  },
  { name: 'hybrid (/XRefStm)', make: () => save('hybrid', hybridPdf()), pageText: (i) => `Page ${i + 1}` },
  {
    name: 'rotated and cropped pages',
    make: () => save('rotated', rotatedPdf()),
    pageText: (i) => `Page ${i + 1}`,
  },
  {
    name: 'inherited attributes',
    make: () => save('inherited', inheritedPdf()),
    pageText: (i) => `Page ${i + 1}`,
  },
  {
    name: 'existing incremental update',
    make: () => save('updated', updatedPdf()),
    pageText: (i) => (i === 1 ? 'Page 2 revised' : `Page ${i + 1}`),
  },
  {
    name: 'linearized (qpdf --linearize)',
    make: () => qpdfOut('linearized', ['--linearize'], save('lin-src', classicPdf())),
    pageText: (i) => `Page ${i + 1}`,
    tools: ['qpdf'],
  },
  { name: 'Ghostscript', make: gsPdf, pageText: (i) => `Page ${i + 1}`, tools: ['gs'] },
  {
    name: 'Ghostscript + qpdf --object-streams=generate',
    make: () => qpdfOut('gs-objstm', ['--object-streams=generate'], gsPdf()),
    pageText: (i) => `Page ${i + 1}`,
    tools: ['gs', 'qpdf'],
  },
  {
    name: 'Ghostscript + qpdf --rotate and --linearize',
    make: () => qpdfOut('gs-rot-lin', ['--rotate=+90:1-3', '--rotate=180:4', '--linearize'], gsPdf()),
    pageText: (i) => `Page ${i + 1}`,
    tools: ['gs', 'qpdf'],
  },
];

describe.skipIf(!POPPLER)('planPdfWatermark (streamed in-place rewrite)', () => {
  for (const c of cases) {
    const missing = (c.tools ?? []).some((t) => (t === 'qpdf' ? !QPDF : !GS));
    it.skipIf(missing)(c.name, async () => {
      const path = c.make();
      const original = readFileSync(path);
      const { out, plan, analysis } = await watermark(path, stamp(TOKEN_A));

      expect(out.length).toBe(plan.length);
      expect(out.equals(applyPlan(plan, original))).toBe(true);
      expect(count(out, '%%EOF')).toBe(1);
      expect(out.subarray(-6).toString()).toBe('%%EOF\n');
      const outPath = join(dir, `${c.name.replace(/\W+/g, '-')}-wm.pdf`);
      writeFileSync(outPath, out);

      if (QPDF) {
        const before = qpdfCheck(path);
        const after = qpdfCheck(outPath);
        expect(after.problems.filter((p) => !before.problems.includes(p))).toEqual([]);
        if (before.status === 0) expect(after.status).toBe(0);
      }
      expect(pageCount(outPath)).toBe(analysis.pages.length);
      expect(pageCount(outPath)).toBe(pageCount(path));
      const pages = run('pdftotext', ['-enc', 'UTF-8', outPath, '-']).stdout;
      const texts = Buffer.from(pages, 'latin1').toString('utf8').split('\f').slice(0, analysis.pages.length);
      texts.forEach((text, i) => {
        expect(text, `page ${i + 1}`).toContain(c.pageText(i));
        expect(text, `page ${i + 1}`).toContain(`Licensed to ${NAME}`);
        expect(text, `page ${i + 1}`).toContain(TOKEN_A);
      });

      const viaPdfjs = await pdfjsPageTexts(out);
      expect(viaPdfjs).toHaveLength(analysis.pages.length);
      viaPdfjs.forEach((text, i) => {
        expect(text, `pdf.js page ${i + 1}`).toContain(c.pageText(i));
        expect(text, `pdf.js page ${i + 1}`).toContain(`Licensed to ${NAME}`);
        expect(text, `pdf.js page ${i + 1}`).toContain(TOKEN_A);
      });

      // Deterministic per buyer, different between buyers.
      const again = await watermark(path, stamp(TOKEN_A));
      expect(again.out.equals(out)).toBe(true);
      const other = await watermark(path, stamp(TOKEN_B));
      expect(other.out.equals(out)).toBe(false);
      expect(count(other.out, TOKEN_A)).toBe(0);

      // Any slice streams exactly the same bytes as the full output (HTTP Range).
      for (const [a, b] of [
        [0, 10],
        [5, Math.floor(out.length / 2)],
        [out.length - 300, out.length],
      ] as const) {
        const slice = await collect(streamPlan(plan, fileOpener(path), Math.max(0, a), b));
        expect(slice.equals(out.subarray(Math.max(0, a), b))).toBe(true);
      }
    });
  }

  it('places the stamp upright inside the visible box of rotated and cropped pages', async () => {
    const path = save('rotated-geo', rotatedPdf());
    for (const position of ['footer', 'header', 'diagonal'] as const) {
      const { out, analysis } = await watermark(path, stamp(TOKEN_A, position));
      const outPath = join(dir, `rotated-${position}.pdf`);
      writeFileSync(outPath, out);
      // With -cropbox, poppler reports words relative to the crop box, in display (rotated) orientation.
      const html = run('pdftotext', ['-cropbox', '-bbox', outPath, '-']).stdout;
      const pages = html.split('<page ').slice(1);
      expect(pages).toHaveLength(analysis.pages.length);
      pages.forEach((page, i) => {
        const { cropBox: b, rotate } = analysis.pages[i]!;
        const [bw, bh] = [b[2] - b[0], b[3] - b[1]];
        const [w, h] = rotate === 90 || rotate === 270 ? [bh, bw] : [bw, bh];
        const words = [
          ...page.matchAll(/<word xMin="([\d.-]+)" yMin="([\d.-]+)" xMax="([\d.-]+)" yMax="([\d.-]+)">/g),
        ];
        const boxes = words.map((m) => m.slice(1).map(Number) as [number, number, number, number]);
        const inside = ([x0, y0, x1, y1]: [number, number, number, number]) =>
          x0 >= -0.5 && y0 >= -0.5 && x1 <= w + 0.5 && y1 <= h + 0.5;
        expect(
          boxes.filter((b) => !inside(b)),
          `page ${i + 1} ${position}: words outside the box`,
        ).toEqual([]);
        const word =
          /<word xMin="([\d.-]+)" yMin="([\d.-]+)" xMax="([\d.-]+)" yMax="([\d.-]+)">Licensed<\/word>/.exec(
            page,
          );
        expect(word, `page ${i + 1} ${position}`).not.toBeNull();
        const [x0, y0, x1, y1] = word!.slice(1).map(Number) as [number, number, number, number];
        // Upright (wider than tall), near the bottom for a footer, the top for a header. For a diagonal,
        // this is the invisible horizontal copy (near the bottom), next to the 45° fragments.
        expect(x1 - x0).toBeGreaterThan(y1 - y0);
        if (position !== 'header') expect(y0, `page ${i + 1}`).toBeGreaterThan(h * 0.85);
        else expect(y1, `page ${i + 1}`).toBeLessThan(h * 0.15);
        if (position === 'diagonal') expect(boxes.length).toBeGreaterThan(20);
      });
    }
  });

  it('shrinks the line to fit a narrow page, but not below 4 pt', async () => {
    // Same byte length, so the offsets stay valid: page 4 becomes 350 × 100 pt, rotated (100 pt wide).
    const narrow = rotatedPdf()
      .toString('latin1')
      .replace('/CropBox [50 60 400 500]', '/CropBox [50 60 400 160]');
    const pdf = save('narrow', Buffer.from(narrow, 'latin1'));
    const { out } = await watermark(pdf, stamp(TOKEN_A));
    const sizes = [...out.toString('latin1').matchAll(/\/CSf ([\d.]+) Tf/g)].map((m) => Number(m[1]));
    expect(Math.min(...sizes)).toBeLessThan(9);
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(4);
    expect(Math.max(...sizes)).toBe(9);
  });

  it.skipIf(!QPDF)('bumps a PDF 1.4 header when it must write an xref stream', async () => {
    const pdf = writePdf(
      [
        { num: 1, body: '<</Type /Catalog /Pages 2 0 R>>' },
        { num: 2, body: '<</Type /Pages /Kids [3 0 R] /Count 1>>' },
        { num: 3, body: '<</Type /Page /Parent 2 0 R /MediaBox [0 0 300 300] /Contents 4 0 R>>' },
        { num: 4, body: '<<>>', stream: textContent('Page 1', 20, 150) },
      ],
      { root: 1, xref: 'stream', version: '1.4', inObjectStream: [1, 2, 3] },
    );
    const path = save('v14-objstm', pdf);
    const { out } = await watermark(path, stamp(TOKEN_A, 'header'));
    expect(out.subarray(0, 8).toString()).toBe('%PDF-1.5');
    const outPath = join(dir, 'v14-objstm-wm.pdf');
    writeFileSync(outPath, out);
    expect(qpdfCheck(outPath)).toEqual({ status: 0, problems: [] });
    expect(run('pdftotext', [outPath, '-']).stdout).toContain(TOKEN_A);
  });

  it('gives the same bytes with shared object-stream and plan-template caches, across buyers', async () => {
    for (const [name, pdf] of [
      ['cache-objstm', objectStreamPdf()],
      ['cache-classic', classicPdf()],
    ] as const) {
      const path = save(name, pdf);
      const reader = await fileReader(path);
      const analysis = await analyzePdf(reader);
      const options = { cache: new ObjectStreamCache(), templates: new PlanTemplateCache() };
      const outputs: Buffer[] = [];
      for (const [token, cached] of [
        [TOKEN_A, false],
        [TOKEN_A, true],
        [TOKEN_B, true],
        [TOKEN_B, false],
        [TOKEN_A, true],
      ] as const) {
        const plan = await planPdfWatermark(analysis, reader, stamp(token), cached ? options : {});
        outputs.push(await collect(streamPlan(plan, fileOpener(path))));
      }
      await reader.close();
      expect(outputs[1]!.equals(outputs[0]!)).toBe(true);
      expect(outputs[2]!.equals(outputs[3]!)).toBe(true);
      expect(outputs[4]!.equals(outputs[0]!)).toBe(true);
      expect(outputs[2]!.equals(outputs[0]!)).toBe(false);
    }
  });
});
