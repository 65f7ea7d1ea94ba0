import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as fontkit from 'fontkit';
import { describe, expect, it } from 'vitest';
import { inspectPdf, onePagePdf, pdfjsText } from '../../../../tests/helpers/font-pdf.ts';
import { bidiRuns, embeddedFont, layoutLine, missingChars, parseFont, subsetTag } from './embedded-font.ts';
import type { TextFont } from './text-font.ts';

const require = createRequire(import.meta.url);
const dejavuPath = join(dirname(require.resolve('dejavu-fonts-ttf/package.json')), 'ttf/DejaVuSans.ttf');
const dejavu = readFileSync(dejavuPath);
/** Debian's fonts-droid-fallback (pulled in with Ghostscript): a CJK TrueType font to test with when present. */
const droidPath = '/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf';

/** The ToUnicode entries of an embedded font: CID → text. */
function toUnicode(font: TextFont): Map<number, string> {
  const cmap = font.objects[4]?.stream?.toString('latin1') ?? '';
  const map = new Map<number, string>();
  const bfchar = [...cmap.matchAll(/beginbfchar\n([\s\S]*?)endbfchar/g)].map((b) => b[1]).join('');
  for (const m of bfchar.matchAll(/^<([0-9A-F]{4})> <([0-9A-F]+)>$/gm)) {
    const hex = m[2] ?? '';
    const units: number[] = [];
    for (let i = 0; i < hex.length; i += 4) units.push(Number.parseInt(hex.slice(i, i + 4), 16));
    map.set(Number.parseInt(m[1] ?? '', 16), String.fromCharCode(...units));
  }
  return map;
}

function cids(show: string): number[] {
  expect(show).toMatch(/^<([0-9A-F]{4})*>$/);
  const out: number[] = [];
  for (let i = 1; i < show.length - 1; i += 4) out.push(Number.parseInt(show.slice(i, i + 4), 16));
  return out;
}

function widthsArray(font: TextFont): number[] {
  const m = /\/W \[0 \[([^\]]*)\]\]/.exec(font.objects[1]?.dict ?? '');
  return (m?.[1] ?? '').split(' ').map(Number);
}

async function expectRoundTrip(text: string, font: TextFont, fontName: string): Promise<void> {
  const pdf = onePagePdf(font, text);
  const report = inspectPdf(pdf);
  expect(report.qpdfStatus, report.qpdfOutput).toBe(0);
  expect(report.qpdfOutput).not.toMatch(/WARNING/i);
  expect(report.text).toBe(text);
  expect(report.fonts).toHaveLength(1);
  const [row] = report.fonts;
  expect(row?.name).toMatch(new RegExp(`^[A-Z]{6}\\+${fontName}$`));
  expect(row).toMatchObject({
    type: 'CID TrueType',
    encoding: 'Identity-H',
    emb: true,
    sub: true,
    uni: true,
  });
  expect(await pdfjsText(pdf)).toBe(text);
}

describe('bidiRuns', () => {
  it('keeps left-to-right text as one run', () => {
    expect(bidiRuns('Дмитрий Иванов · Order 1042')).toEqual([
      { text: 'Дмитрий Иванов · Order 1042', rtl: false },
    ]);
    expect(bidiRuns('')).toEqual([]);
  });

  it('isolates a right-to-left name inside a left-to-right line', () => {
    expect(bidiRuns('Licensed to محمد علي <m@x.com> · Order 1042')).toEqual([
      { text: 'Licensed to ', rtl: false },
      { text: 'محمد علي', rtl: true },
      { text: ' <m@x.com> · Order 1042', rtl: false },
    ]);
  });

  it('orders runs visually in a right-to-left paragraph (numbers and Latin stay left-to-right)', () => {
    expect(bidiRuns('محمد علي')).toEqual([{ text: 'محمد علي', rtl: true }]);
    expect(bidiRuns('علي (محمد) 123 abc')).toEqual([
      { text: 'abc', rtl: false },
      { text: ' ', rtl: true },
      { text: '123', rtl: false },
      { text: 'علي (محمد) ', rtl: true },
    ]);
    expect(bidiRuns('שלום 12 עולם')).toEqual([
      { text: ' עולם', rtl: true },
      { text: '12', rtl: false },
      { text: 'שלום ', rtl: true },
    ]);
  });
});

describe('layoutLine', () => {
  const font = parseFont(dejavu);

  it('shapes Arabic and returns it in visual order (fontkit reverses RTL runs itself)', () => {
    const glyphs = layoutLine(font, 'محمد علي');
    // Visual order: the last letter of the last word first.
    expect(glyphs.map((g) => g.text).join('')).toBe('يلع دمحم');
    // Joining forms, not the isolated forms the cmap gives.
    const isolated = font.glyphForCodePoint('م'.codePointAt(0) ?? 0).id;
    expect(glyphs.filter((g) => g.text === 'م').every((g) => g.gid !== isolated)).toBe(true);
  });

  it('maps ligatures back to their characters (RTL ligatures in visual order)', () => {
    const latin = layoutLine(font, 'office');
    expect(latin.map((g) => g.text)).toEqual(['o', 'ffi', 'c', 'e']);
    const arabic = layoutLine(font, 'علاء');
    expect(arabic.map((g) => g.text)).toEqual(['ء', 'ال', 'ع']);
  });

  it('is not disturbed by glyphs fontkit cached earlier (Cyrillic о uses Latin o as a component)', () => {
    const expected = layoutLine(parseFont(Buffer.from(dejavu)), 'Licensed to');
    const bytes = Buffer.from(dejavu); // a font parsed for this test only
    embeddedFont('Дмитрий Иванов', bytes);
    const again = layoutLine(parseFont(bytes), 'Licensed to');
    expect(again).toEqual(expected);
    expect(again.map((g) => g.text).join('')).toBe('Licensed to');
  });
});

describe('embeddedFont', () => {
  it.each([
    ['Cyrillic', 'Дмитрий Иванов'],
    ['Greek', 'Σωκράτης'],
    ['Arabic', 'محمد علي'],
    ['Arabic with the lam-alef ligature', 'علاء الدين'],
    ['Hebrew', 'דוד לוי'],
    ['mixed Latin and Cyrillic with a ligature', 'Licensed to Дмитрий <office@example.ru>'],
    ['right-to-left with brackets', 'علي (محمد)'],
  ])('embeds a subset that renders and extracts exactly: %s', async (_, text) => {
    await expectRoundTrip(text, embeddedFont(text, dejavu), 'DejaVuSans');
  });

  it('keeps a right-to-left name readable inside a Latin line', async () => {
    const text = 'Licensed to محمد علي <m@x.com> · Order 1042';
    const report = inspectPdf(onePagePdf(embeddedFont(text, dejavu), text, 12));
    expect(report.qpdfStatus).toBe(0);
    expect(report.text).toContain('Licensed to');
    expect(report.text).toContain('محمد علي');
    expect(report.text).toContain('m@x.com>');
    expect(report.text).toContain('Order 1042');
  });

  it.skipIf(!existsSync(droidPath))('embeds a CJK subset (Droid Sans Fallback)', async () => {
    const droid = readFileSync(droidPath);
    await expectRoundTrip('王小明', embeddedFont('王小明', droid), 'DroidSansFallback');
    await expectRoundTrip('やまだ たろう', embeddedFont('やまだ たろう', droid), 'DroidSansFallback');
  });

  it('builds Type0 / CIDFontType2 / FontDescriptor / FontFile2 / ToUnicode objects', () => {
    const text = 'Дмитрий Иванов';
    const font = embeddedFont(text, dejavu);
    expect(font.root).toBe(0);
    expect(font.objects).toHaveLength(5);
    const [type0, cid, descriptor, file, cmap] = font.objects;
    const tag = subsetTag('DejaVuSans', text);
    expect(type0?.dict).toBe(
      `<< /Type /Font /Subtype /Type0 /BaseFont /${tag}+DejaVuSans /Encoding /Identity-H /DescendantFonts [{{ref:1}}] /ToUnicode {{ref:4}} >>`,
    );
    expect(cid?.dict).toContain('/Subtype /CIDFontType2');
    expect(cid?.dict).toContain('/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >>');
    expect(cid?.dict).toContain('/CIDToGIDMap /Identity');
    expect(cid?.dict).toContain('/FontDescriptor {{ref:2}}');
    expect(descriptor?.dict).toMatch(
      new RegExp(
        `^<< /Type /FontDescriptor /FontName /${tag}\\+DejaVuSans /Flags 4 /FontBBox \\[-?\\d+ -?\\d+ \\d+ \\d+\\] /ItalicAngle 0 /Ascent \\d+ /Descent -\\d+ /CapHeight 729 /StemV \\d+ /FontFile2 \\{\\{ref:3\\}\\} >>$`,
      ),
    );
    expect(file?.dict).toBe(`<< /Length1 ${file?.stream?.length} >>`);
    expect(cmap?.dict).toBe('<< >>');
    // The subset is a TrueType font whose glyph ids are the CIDs shown.
    const subset = fontkit.create(file?.stream ?? Buffer.alloc(0)) as fontkit.Font;
    const shown = cids(font.show(text));
    expect(subset.numGlyphs).toBeGreaterThan(Math.max(...shown));
    expect(subset.numGlyphs).toBeLessThan(40);
    expect(new Set(shown).size).toBe(new Set(text.replace(/ /g, '')).size + 1); // distinct letters + space
    // Every shown CID maps back to its character.
    const map = toUnicode(font);
    expect(shown.map((c) => map.get(c)).join('')).toBe(text);
  });

  it('measures from the /W widths the viewer uses', () => {
    const text = 'Σωκράτης';
    const font = embeddedFont(text, dejavu);
    const w = widthsArray(font);
    const expected = cids(font.show(text)).reduce((sum, c) => sum + (w[c] ?? 0), 0) / 1000;
    expect(font.width(text)).toBeCloseTo(expected, 10);
    const fk = parseFont(dejavu);
    const advance = fk.layout(text).advanceWidth / fk.unitsPerEm;
    expect(Math.abs(font.width(text) - advance)).toBeLessThan(0.02);
  });

  it('shows other strings with the subset glyphs, .notdef for the rest', () => {
    const font = embeddedFont('Иван', dejavu);
    const [i, v, a, n] = cids(font.show('Иван'));
    expect(cids(font.show('ванИ'))).toEqual([v, a, n, i]);
    expect(cids(font.show('Иx'))).toEqual([i, 0]);
  });

  it('maps .notdef to the one character the font lacks', () => {
    const font = embeddedFont('Иван 王', dejavu);
    expect(missingChars(parseFont(dejavu), 'Иван 王')).toEqual(['王']);
    expect(toUnicode(font).get(0)).toBe('王');
    expect(cids(font.show('Иван 王')).at(-1)).toBe(0);
    const two = embeddedFont('王 明', dejavu);
    expect(toUnicode(two).has(0)).toBe(false);
  });

  it('is deterministic: same text and font bytes give identical objects, whatever was laid out before', () => {
    const text = 'Licensed to محمد علي <office@example.com> · Дмитрий · 2026-11-29';
    const first = embeddedFont(text, dejavu);
    embeddedFont('Дмитрий Иванов Σωκράτης علاء', dejavu);
    const second = embeddedFont(text, dejavu);
    const freshParse = embeddedFont(text, Buffer.from(dejavu));
    for (const other of [second, freshParse]) {
      expect(other.objects).toEqual(first.objects);
      expect(other.show(text)).toBe(first.show(text));
      expect(other.width(text)).toBe(first.width(text));
    }
    expect(embeddedFont(`${text}!`, dejavu).objects[0]?.dict).not.toBe(first.objects[0]?.dict);
  });
});
