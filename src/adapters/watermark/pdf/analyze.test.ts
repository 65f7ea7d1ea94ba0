import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { bufferReader } from '../range-reader.ts';
import { analyzePdf, PdfError, planPdfWatermark } from './index.ts';
import { helvetica } from './standard-font.ts';
import {
  classicPdf,
  hybridPdf,
  inheritedPdf,
  objectStreamPdf,
  rotatedPdf,
  updatedPdf,
} from './test-fixtures.ts';
import { appendUpdate, fileReader, hasTool, run, textContent, writePdf } from './test-pdfs.ts';

const dir = mkdtempSync(join(tmpdir(), 'cs-pdf-an-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const analyze = (pdf: Buffer, limits?: Parameters<typeof analyzePdf>[1]) =>
  analyzePdf(bufferReader(pdf), limits);

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'OK';
  } catch (error) {
    if (error instanceof PdfError) return error.code;
    throw error;
  }
}

describe('analyzePdf', () => {
  it('reads a classic file: version, xref flavour, trailer, info, pages', async () => {
    const a = await analyze(classicPdf());
    expect(a).toMatchObject({
      version: 1,
      pdfVersion: '1.4',
      xrefKind: 'table',
      hybrid: false,
      linearized: false,
      encrypted: false,
      trailer: {
        root: { num: 1, gen: 0 },
        info: { num: 4, gen: 0 },
        id: ['0123456789abcdef0123456789abcdef', expect.any(String)],
      },
    });
    expect(a.info).toContain('(Hand made)');
    expect(a.pages.map((p) => p.num)).toEqual([10, 12, 14]);
    expect(a.pages[0]).toMatchObject({ location: { kind: 'offset' }, contents: ['11 0 R'], rotate: 0 });
    expect(a.pages[0]!.resources).toBe('<</Font <</F1 3 0 R>>>>');
    expect(a.xrefSections).toHaveLength(1);
    expect(a.cuts).toHaveLength(1);
    expect(JSON.parse(JSON.stringify(a))).toEqual(a);
  });

  it('normalises rotation and boxes, intersecting the CropBox with the MediaBox', async () => {
    const a = await analyze(rotatedPdf());
    expect(a.pages.map((p) => p.rotate)).toEqual([90, 180, 270, 270, 0]);
    expect(a.pages[3]!.cropBox).toEqual([50, 60, 400, 500]);
    expect(a.pages[4]!.mediaBox).toEqual([100, 200, 712, 992]);
    expect(a.pages[4]!.cropBox).toEqual([100, 200, 560, 740]);
    expect(a.pages[0]!.cropBox).toEqual([0, 0, 612, 792]);
  });

  it('resolves inherited and indirect attributes', async () => {
    const a = await analyze(inheritedPdf());
    expect(a.pages.map((p) => p.rotate)).toEqual([90, 90, 0]);
    expect(a.pages.map((p) => p.mediaBox)).toEqual([
      [0, 0, 500, 400],
      [0, 0, 500, 400],
      [0, 0, 500, 400],
    ]);
    expect(a.pages[0]!.resources).toBe('<</Font <</F1 3 0 R>>/XObject <</Im0 8 0 R>>/ProcSet [/PDF /Text]>>');
    expect(a.pages[0]!.contents).toEqual(['11 0 R', '16 0 R']);
    expect(a.pages[1]!.contents).toEqual(['13 0 R']);
    expect(a.pages[2]!.resources).toBe('<</Font <</F1 3 0 R>>>>');
  });

  it('reads xref streams with predictors and page dictionaries inside object streams', async () => {
    const a = await analyze(objectStreamPdf());
    expect(a.xrefKind).toBe('stream');
    expect(a.pages.every((p) => p.location.kind === 'objstm')).toBe(true);
    expect(a.objectStreams).toHaveLength(1);
    expect(a.objectStreams[0]!.objects).toEqual([1, 2, 3, 4, 10, 12, 14, 16]);
    expect(a.info).toContain('Hand made');
  });

  it('reads hybrid files through /XRefStm', async () => {
    const a = await analyze(hybridPdf());
    expect(a).toMatchObject({ xrefKind: 'stream', hybrid: true });
    expect(a.xrefSections.map((s) => s.kind)).toEqual(['table', 'stream']);
    expect(a.pages.map((p) => p.location.kind)).toEqual(['objstm', 'objstm', 'offset']);
  });

  it('follows /Prev through an incremental update (newest objects win)', async () => {
    const a = await analyze(updatedPdf());
    expect(a.xrefSections).toHaveLength(2);
    expect(a.cuts).toHaveLength(2);
    expect(a.info).toBe('<</Title (Updated)>>');
  });

  it.skipIf(!hasTool('qpdf'))('detects linearized files', async () => {
    const src = join(dir, 'src.pdf');
    const lin = join(dir, 'lin.pdf');
    writeFileSync(src, classicPdf());
    run('qpdf', ['--linearize', src, lin]);
    const reader = await fileReader(lin);
    const a = await analyzePdf(reader);
    await reader.close();
    expect(a.linearized).toBe(true);
    expect(a.xrefSections).toHaveLength(2);
  });

  it('reads only what it needs: not the page content streams', async () => {
    const big = Buffer.alloc(3 << 20, 'x');
    const pdf = writePdf(
      [
        { num: 1, body: '<</Type /Catalog /Pages 2 0 R>>' },
        { num: 2, body: '<</Type /Pages /Kids [3 0 R] /Count 1>>' },
        { num: 3, body: '<</Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R>>' },
        { num: 4, body: '<<>>', stream: Buffer.concat([textContent('Page 1'), Buffer.from('\n%'), big]) },
      ],
      { root: 1, xref: 'table' },
    );
    const path = join(dir, 'big.pdf');
    writeFileSync(path, pdf);
    const reader = await fileReader(path);
    const a = await analyzePdf(reader);
    const plan = await planPdfWatermark(a, reader, {
      text: 'Licensed to A',
      token: 'WMAAAAAAAAAAAAAAAAAAAA',
      position: 'footer',
      opacity: 1,
      sizePt: 8,
      font: helvetica(),
    });
    await reader.close();
    expect(a.pages[0]!.contents).toEqual(['4 0 R']);
    expect(reader.bytesRead).toBeLessThan(400_000);
    expect(plan.length).toBeGreaterThan(pdf.length);
  });

  it('flags encryption; planning refuses it', async () => {
    const pdf = writePdf(
      [
        { num: 1, body: '<</Type /Catalog /Pages 2 0 R>>' },
        { num: 2, body: '<</Type /Pages /Kids [3 0 R] /Count 1>>' },
        { num: 3, body: '<</Type /Page /Parent 2 0 R /MediaBox [0 0 612 792]>>' },
        { num: 5, body: '<</Filter /Standard /V 1 /R 2 /O <00> /U <00> /P -4>>' },
      ],
      { root: 1, xref: 'table' },
    ).toString('latin1');
    const encrypted = Buffer.from(pdf.replace('/Root 1 0 R', '/Encrypt 5 0 R /Root 1 0 R'), 'latin1');
    const a = await analyze(encrypted);
    expect(a.encrypted).toBe(true);
    const stamp = {
      text: 'x',
      token: 'WMX',
      position: 'footer',
      opacity: 1,
      sizePt: 8,
      font: helvetica(),
    } as const;
    expect(await codeOf(planPdfWatermark(a, bufferReader(encrypted), stamp))).toBe('ENCRYPTED');
  });
});

describe('analyzePdf on hostile input', () => {
  const pages = (kids: string, extra: { num: number; body: string }[] = []) =>
    writePdf(
      [
        { num: 1, body: '<</Type /Catalog /Pages 2 0 R>>' },
        { num: 2, body: `<</Type /Pages /Kids [${kids}] /Count 1>>` },
        { num: 3, body: '<</Type /Page /Parent 2 0 R /MediaBox [0 0 612 792]>>' },
        ...extra,
      ],
      { root: 1, xref: 'table' },
    );

  it('rejects page tree loops', async () => {
    expect(await codeOf(analyze(pages('3 0 R 2 0 R')))).toBe('BROKEN');
    expect(
      await codeOf(
        analyze(
          pages('4 0 R', [
            { num: 4, body: '<</Type /Pages /Kids [5 0 R]>>' },
            { num: 5, body: '<</Type /Pages /Kids [4 0 R]>>' },
          ]),
        ),
      ),
    ).toBe('BROKEN');
  });

  it('bounds page count, object numbers and /Size', async () => {
    expect(await codeOf(analyze(pages('3 0 R'), { maxPages: 0 }))).toBe('LIMIT');
    const pdf = pages('3 0 R').toString('latin1');
    expect(await codeOf(analyze(Buffer.from(pdf.replace(/\/Size \d+/, '/Size 999999999'), 'latin1')))).toBe(
      'LIMIT',
    );
    const huge = pdf.replace(
      /xref\n0 (\d+)\n/,
      (_, n: string) => `xref\n4000000000 1\n0000000009 00000 n\r\n0 ${n}\n`,
    );
    expect(await codeOf(analyze(Buffer.from(huge, 'latin1')))).toBe('LIMIT');
  });

  it('bounds inflation (decompression bombs)', async () => {
    const bomb = deflateSync(Buffer.alloc(16 << 20));
    const spliced = writePdf(
      [
        { num: 1, body: '<</Type /Catalog /Pages 2 0 R>>' },
        { num: 2, body: '<</Type /Pages /Kids [3 0 R] /Count 1>>' },
        { num: 3, body: '<</Type /Page /Parent 2 0 R /MediaBox [0 0 612 792]>>' },
      ],
      { root: 1, xref: 'stream', inObjectStream: [2, 3], objectStreamData: bomb },
    );
    const code = await codeOf(analyze(spliced, { maxInflateBytes: 1 << 20 }));
    expect(code).toBe('LIMIT');
  });

  it('stops on /Prev loops and rejects missing startxref, junk and truncation', async () => {
    const base = classicPdf();
    const prevSelf = appendUpdate(base, [{ num: 4, body: '<<>>' }], '/Root 1 0 R').toString('latin1');
    const at = /startxref\n(\d+)\n%%EOF\n$/.exec(prevSelf)![1]!;
    const looped = prevSelf.replace(
      /\/Prev \d+/,
      `/Prev ${at.padStart(String(/\/Prev (\d+)/.exec(prevSelf)![1]).length, '0')}`,
    );
    expect(['OK', 'BROKEN']).toContain(await codeOf(analyze(Buffer.from(looped, 'latin1'))));
    expect(
      await codeOf(analyze(Buffer.from(base.toString('latin1').replace('startxref', 'startxre_'), 'latin1'))),
    ).toBe('BROKEN');
    expect(await codeOf(analyze(Buffer.concat([Buffer.from('junk\n'), base])))).toBe('BROKEN');
    expect(await codeOf(analyze(base.subarray(0, Math.floor(base.length / 2))))).toBe('BROKEN');
  });

  it('bounds nesting depth', async () => {
    const deep = `<</Type /Page /Parent 2 0 R /X ${'['.repeat(5000)}${']'.repeat(5000)}>>`;
    const pdf = writePdf(
      [
        { num: 1, body: '<</Type /Catalog /Pages 2 0 R>>' },
        { num: 2, body: '<</Type /Pages /Kids [3 0 R] /Count 1>>' },
        { num: 3, body: deep },
      ],
      { root: 1, xref: 'table' },
    );
    expect(await codeOf(analyze(pdf))).toBe('LIMIT');
  });

  it('fuzz: corrupted files give a PdfError or a plan, never another error', async () => {
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const stamp = {
      text: 'Licensed to A',
      token: 'WMFUZZ',
      position: 'diagonal',
      opacity: 0.5,
      sizePt: 9,
      font: helvetica(),
    } as const;
    const sources = [classicPdf(), objectStreamPdf(), hybridPdf(), inheritedPdf(), updatedPdf()];
    const outcomes = new Map<string, number>();
    for (let round = 0; round < 400; round++) {
      const source = sources[round % sources.length]!;
      const copy = Buffer.from(source);
      const edits = 1 + Math.floor(random() * 4);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(random() * copy.length);
        const choice = random();
        if (choice < 0.5) copy[at] = Math.floor(random() * 256);
        else if (choice < 0.8) copy[at] = '0123456789<>[]()/ R'.charCodeAt(Math.floor(random() * 19));
        else copy.fill(32, at, Math.min(copy.length, at + 8));
      }
      const truncated = random() < 0.1 ? copy.subarray(0, Math.floor(random() * copy.length)) : copy;
      const code = await codeOf(
        (async () => {
          const reader = bufferReader(truncated);
          const a = await analyzePdf(reader);
          await planPdfWatermark(a, reader, stamp);
        })(),
      );
      outcomes.set(code, (outcomes.get(code) ?? 0) + 1);
    }
    expect(outcomes.get('OK')).toBeGreaterThan(0);
    expect(outcomes.get('BROKEN')).toBeGreaterThan(0);
  });
});
