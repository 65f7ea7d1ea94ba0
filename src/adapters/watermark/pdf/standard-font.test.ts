import { describe, expect, it } from 'vitest';
import { inspectPdf, onePagePdf, pdfjsText } from '../../../../tests/helpers/font-pdf.ts';
import { encodeWinAnsi, helvetica, isWinAnsi, pdfLiteral, winAnsiCode } from './standard-font.ts';

describe('helvetica()', () => {
  const font = helvetica();

  it('is one unembedded Type1 font dictionary with WinAnsiEncoding', () => {
    expect(font.root).toBe(0);
    expect(font.objects).toEqual([
      { dict: '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>' },
    ]);
  });

  it('escapes backslash and parentheses, and writes bytes outside ASCII as octal', () => {
    expect(font.show('a(b)c\\d')).toBe('(a\\(b\\)c\\\\d)');
    expect(font.show('José Müller')).toBe('(Jos\\351 M\\374ller)');
    expect(font.show('tab\there')).toBe('(tab?here)');
    expect(pdfLiteral(Buffer.from([0, 9, 10, 13, 0x7f, 0xff]))).toBe('(\\000\\011\\012\\015\\177\\377)');
  });

  it('maps the 0x80–0x9F specials and replaces what WinAnsi lacks with ?', () => {
    expect(font.show('€ • – — ‘ ’ “ ” … ™ Œ š Ÿ')).toBe(
      '(\\200 \\225 \\226 \\227 \\221 \\222 \\223 \\224 \\205 \\231 \\214 \\232 \\237)',
    );
    expect(font.show('Дм 王 ✓')).toBe('(?? ? ?)');
    expect([...encodeWinAnsi('A\u00a0\u00ad')]).toEqual([0x41, 0xa0, 0xad]);
    expect(winAnsiCode(0x81)).toBeUndefined();
    expect(winAnsiCode(0x20ac)).toBe(0x80);
  });

  it('measures with the Helvetica AFM widths', () => {
    expect(font.width('Hello')).toBeCloseTo(2.278, 10); // 722 + 556 + 222 + 222 + 556
    expect(font.width('')).toBe(0);
    expect(font.width('€•—')).toBeCloseTo((556 + 350 + 1000) / 1000, 10);
    expect(font.width('ÿ')).toBeCloseTo(0.5, 10);
    expect(font.width('W ')).toBeCloseTo((944 + 278) / 1000, 10);
  });

  it('tells WinAnsi text from the rest', () => {
    expect(isWinAnsi('Licensed to José Müller <jose@example.com> · Order 1042 · 2026-11-29')).toBe(true);
    expect(isWinAnsi('“Zoë” – €5 … Œuvre')).toBe(true);
    expect(isWinAnsi('')).toBe(true);
    expect(isWinAnsi('Дмитрий')).toBe(false);
    expect(isWinAnsi('Łukasz')).toBe(false);
    expect(isWinAnsi('a\tb')).toBe(false);
  });

  it('renders and extracts in a real PDF (pdftotext, pdf.js, qpdf --check)', async () => {
    const text = 'Licensed to José (Müller) \\ <jose@example.com> · € • – — ‘x’ “y” … Œ';
    const pdf = onePagePdf(font, text, 10);
    const report = inspectPdf(pdf);
    expect(report.qpdfStatus).toBe(0);
    expect(report.qpdfOutput).not.toMatch(/WARNING/i);
    expect(report.text).toBe(text);
    expect(report.fonts).toEqual([
      { name: 'Helvetica', type: 'Type 1', encoding: 'WinAnsi', emb: false, sub: false, uni: false },
    ]);
    expect(await pdfjsText(pdf)).toBe(text);
  });
});
