import { describe, expect, it } from 'vitest';
import { inspectPdf, onePagePdf, pdfjsText } from '../../../../tests/helpers/font-pdf.ts';
import { availableFonts, fontCoverage, fontFor, warmUpFonts } from './fonts.ts';
import { helvetica } from './standard-font.ts';

const cjkInstalled = availableFonts().some((f) => f.name === 'NotoSansSC');

describe('fontFor', () => {
  it('uses Helvetica for WinAnsi text', () => {
    const text = 'Licensed to José Müller <jose@example.com> · Order 1042 · 2026-11-29';
    const font = fontFor(text);
    expect(font.objects).toEqual(helvetica().objects);
    expect(font.show('José')).toBe('(Jos\\351)');
    expect(fontCoverage(text)).toEqual({ font: 'Helvetica', missing: [] });
  });

  it.each([
    ['Cyrillic', 'Licensed to Дмитрий Иванов <dima@example.ru> · Order 1042 · 2026-11-29'],
    ['Greek', 'Licensed to Σωκράτης Παπαδόπουλος · Order 1042'],
    ['Arabic', 'محمد علي'],
    ['Polish (outside WinAnsi, inside DejaVu)', 'Licensed to Łukasz Żółć'],
  ])('embeds DejaVu Sans for %s', async (_, text) => {
    expect(fontCoverage(text)).toEqual({ font: 'DejaVuSans', missing: [] });
    const pdf = onePagePdf(fontFor(text), text, 12);
    const report = inspectPdf(pdf);
    expect(report.qpdfStatus, report.qpdfOutput).toBe(0);
    expect(report.text).toBe(text);
    expect(report.fonts[0]).toMatchObject({ emb: true, sub: true, uni: true });
    expect(report.fonts[0]?.name).toMatch(/^[A-Z]{6}\+DejaVuSans$/);
    expect(await pdfjsText(pdf)).toBe(text);
  });

  it('reports CJK coverage from the bundled fonts', () => {
    if (cjkInstalled) expect(fontCoverage('王小明')).toEqual({ font: 'NotoSansSC', missing: [] });
    else expect(fontCoverage('王小明')).toEqual({ font: 'DejaVuSans', missing: ['王', '小', '明'] });
  });

  it.skipIf(!cjkInstalled)('embeds a Chinese subset when a CJK font is installed', async () => {
    for (const text of ['王小明', 'Licensed to 王小明 <wang@example.cn> · Order 1042']) {
      const pdf = onePagePdf(fontFor(text), text, 12);
      const report = inspectPdf(pdf);
      expect(report.qpdfStatus, report.qpdfOutput).toBe(0);
      expect(report.text).toBe(text);
      expect(report.fonts[0]).toMatchObject({ emb: true, sub: true, uni: true });
      expect(await pdfjsText(pdf)).toBe(text);
    }
  });

  it('falls back to the font covering most characters and lists what is missing', () => {
    // DejaVu lacks 王; Noto Sans SC (when installed) lacks the four Arabic letters.
    expect(fontCoverage('محمد 王 王')).toEqual({ font: 'DejaVuSans', missing: ['王'] });
    // A right-to-left paragraph: 王 (shown as .notdef, CID 0) ends up leftmost, i.e. first in visual order.
    const font = fontFor('محمد 王');
    expect(font.show('محمد 王').startsWith('<0000')).toBe(true);
  });

  it('ignores zero-width format characters', () => {
    expect(fontCoverage('Дми\u200dтрий\ufe0f')).toEqual({ font: 'DejaVuSans', missing: [] });
  });

  it('loads each font file once and is deterministic', () => {
    const first = availableFonts();
    expect(first.map((f) => f.name)[0]).toBe('DejaVuSans');
    const second = availableFonts();
    first.forEach((f, i) => {
      expect(second[i]?.bytes).toBe(f.bytes);
    });
    const text = 'Licensed to Дмитрий · Σωκράτης · علاء';
    expect(fontFor(text).objects).toEqual(fontFor(text).objects);
  });
});

describe('warmUpFonts', () => {
  it('prepares the fonts and keeps fontFor results identical', () => {
    const text = 'Licensed to Дмитрий Иванов · Order 7';
    const before = fontFor(text);
    warmUpFonts();
    expect(fontFor(text)).toBe(before);
    expect(fontFor(`${text}.`).objects).toEqual(fontFor(`${text}.`).objects);
  });
});
