import { createHash } from 'node:crypto';
import type { Font, Glyph } from 'fontkit';
import * as fontkit from 'fontkit';
import type { TextFont } from './text-font.ts';

/**
 * An embedded TrueType subset for one watermark line: Type0 / CIDFontType2 with Identity-H, CIDs = glyph ids of
 * the subset (/CIDToGIDMap /Identity), a /W array, a FontDescriptor with the subset in /FontFile2 and a
 * ToUnicode CMap that maps every glyph back to the characters it stands for (shaped Arabic forms and ligatures
 * map to their base characters), so pdftotext and pdf.js extract the original text.
 *
 * Layout: fontkit shapes each run (Arabic joining forms, ligatures). fontkit has no bidi algorithm: it picks
 * one script for the whole string (the first strong character's) and reverses the whole run when that script
 * is right-to-left. A mixed line such as `Licensed to محمد علي <…>` would come out as unshaped Arabic in
 * logical order. So the text is first split into directional runs by a simplified Unicode bidi algorithm
 * (`bidiRuns`), each run is laid out on its own (right-to-left runs with direction 'rtl', which fontkit
 * returns already reversed into visual order), and the runs are put in visual order. The content stream then
 * holds the glyphs in visual (left-to-right drawing) order, as every PDF producer does.
 *
 * Limitation: the Tj operand cannot carry GPOS kerning or mark offsets; each glyph advances by its /W width
 * (the font's advance; 0 for marks the shaper zeroed).
 */

/** Cache of parsed fonts per file buffer (fontkit parses tables lazily and caches the layout engine). */
const parsed = new WeakMap<Buffer, Font>();

/** The fontkit font in `bytes` (parsed once per Buffer). Collections (TTC) are refused. */
export function parseFont(bytes: Buffer): Font {
  let font = parsed.get(bytes);
  if (!font) {
    const created = fontkit.create(bytes);
    if (!('unitsPerEm' in created)) throw new Error('font collections are not supported; pass a single font');
    font = created;
    parsed.set(bytes, font);
  }
  return font;
}

// ---------------------------------------------------------------------------------------------------------
// Simplified bidi (UBA without explicit embeddings/isolates): one paragraph, base direction from the first
// strong character, rules W1/W2/W7 (numbers), N1/N2 (neutrals), I1/I2 (levels), L2 (reordering).

type BidiClass = 'L' | 'R' | 'EN' | 'AN' | 'N';

const RTL_RANGES = /[\u0590-\u08FF\uFB1D-\uFDFF\uFE70-\uFEFF\u{10800}-\u{10FFF}\u{1E800}-\u{1EFFF}]/u;
const MARK = /\p{M}/u;
const DIGIT = /\p{Nd}/u;
const LETTER = /[\p{L}\p{Nl}]/u;

function classify(ch: string): BidiClass | 'NSM' {
  if (MARK.test(ch)) return 'NSM';
  const cp = ch.codePointAt(0) ?? 0;
  if (
    (cp >= 0x30 && cp <= 0x39) ||
    (cp >= 0xff10 && cp <= 0xff19) ||
    cp === 0xb2 ||
    cp === 0xb3 ||
    cp === 0xb9
  )
    return 'EN';
  if ((cp >= 0x660 && cp <= 0x669) || (cp >= 0x6f0 && cp <= 0x6f9)) return 'AN';
  if (RTL_RANGES.test(ch)) return DIGIT.test(ch) ? 'AN' : LETTER.test(ch) ? 'R' : 'N';
  if (LETTER.test(ch) || DIGIT.test(ch)) return 'L';
  return 'N';
}

/** A run of characters with one direction, in visual order among its siblings. */
export interface BidiRun {
  text: string;
  rtl: boolean;
}

/** Splits `text` into directional runs and returns them in visual (left-to-right) order. */
export function bidiRuns(text: string): BidiRun[] {
  const chars = Array.from(text);
  if (chars.length === 0) return [];
  const raw = chars.map(classify);
  // Paragraph direction (P2/P3): the first strong character.
  const firstStrong = raw.find((c) => c === 'L' || c === 'R');
  const baseRtl = firstStrong === 'R';
  const base: BidiClass = baseRtl ? 'R' : 'L';
  // W1: NSM takes the class of the previous character (sos at the start).
  const types: BidiClass[] = [];
  for (const c of raw) types.push(c === 'NSM' ? (types[types.length - 1] ?? base) : c);
  // W2 / W7: European numbers take the context of the last strong character.
  let lastStrong: BidiClass = base;
  for (let i = 0; i < types.length; i++) {
    const t = types[i];
    if (t === 'L' || t === 'R') lastStrong = t;
    else if (t === 'EN') types[i] = lastStrong === 'R' ? 'AN' : lastStrong === 'L' ? 'L' : 'EN';
  }
  // N1/N2: neutrals between two characters of the same direction take it (numbers count as R), else base.
  const dirOf = (t: BidiClass): 'L' | 'R' | undefined =>
    t === 'L' ? 'L' : t === 'R' || t === 'AN' || t === 'EN' ? 'R' : undefined;
  for (let i = 0; i < types.length; ) {
    if (types[i] !== 'N') {
      i++;
      continue;
    }
    let j = i;
    while (j < types.length && types[j] === 'N') j++;
    const before = i > 0 ? dirOf(types[i - 1] as BidiClass) : base;
    const after = j < types.length ? dirOf(types[j] as BidiClass) : base;
    const resolved: BidiClass = before === after && before !== undefined ? before : base;
    for (let k = i; k < j; k++) types[k] = resolved;
    i = j;
  }
  // I1/I2: levels.
  const baseLevel = baseRtl ? 1 : 0;
  const levels = types.map((t) => {
    if (baseLevel === 0) return t === 'R' ? 1 : t === 'AN' || t === 'EN' ? 2 : 0;
    return t === 'R' ? 1 : 2;
  });
  // Runs of equal level, logical order.
  const runs: { text: string; level: number }[] = [];
  for (let i = 0; i < chars.length; i++) {
    const level = levels[i] ?? baseLevel;
    const last = runs[runs.length - 1];
    if (last && last.level === level) last.text += chars[i];
    else runs.push({ text: chars[i] ?? '', level });
  }
  // L2: from the highest level down to the lowest odd level, reverse every sequence at that level or higher.
  const maxLevel = Math.max(...runs.map((r) => r.level));
  for (let level = maxLevel; level >= 1; level--) {
    for (let i = 0; i < runs.length; ) {
      if ((runs[i]?.level ?? 0) < level) {
        i++;
        continue;
      }
      let j = i;
      while (j < runs.length && (runs[j]?.level ?? 0) >= level) j++;
      const reversed = runs.slice(i, j).reverse();
      runs.splice(i, j - i, ...reversed);
      i = j;
    }
  }
  return runs.map((r) => ({ text: r.text, rtl: r.level % 2 === 1 }));
}

/** Bracket pairs mirrored in right-to-left runs (Unicode Bidi_Mirroring_Glyph, common subset). */
const MIRROR: ReadonlyMap<number, number> = new Map(
  [
    [0x28, 0x29],
    [0x3c, 0x3e],
    [0x5b, 0x5d],
    [0x7b, 0x7d],
    [0xab, 0xbb],
    [0x2039, 0x203a],
    [0x2045, 0x2046],
    [0x207d, 0x207e],
    [0x208d, 0x208e],
    [0x2264, 0x2265],
    [0x3008, 0x3009],
    [0x300a, 0x300b],
    [0x300c, 0x300d],
    [0x300e, 0x300f],
    [0x3010, 0x3011],
    [0xff08, 0xff09],
    [0xff3b, 0xff3d],
    [0xff5b, 0xff5d],
  ].flatMap(([a, b]) => [
    [a as number, b as number],
    [b as number, a as number],
  ]),
);

function mirror(text: string): string {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    out += String.fromCodePoint(MIRROR.get(cp) ?? cp);
  }
  return out;
}

/** One glyph of the laid-out line, in visual order. */
export interface PlacedGlyph {
  /** Glyph id in the full font. */
  gid: number;
  /** The characters this glyph stands for (ligatures: several; in right-to-left runs in visual order). */
  text: string;
  /** Advance in font units (0 for marks the shaper zeroed). */
  advance: number;
}

/**
 * fontkit caches Glyph objects per glyph id together with the code points of whoever created them first: a
 * composite glyph's components are created with no code points (e.g. Latin 'o' as a component of Cyrillic
 * 'о'), so later layouts would see `codePoints: []` — wrong ToUnicode entries, even wrong Arabic joining, and
 * output depending on what the process laid out before. The cache is emptied before every layout (it is only
 * a cache: parsed tables and the layout engine stay), which keeps the result a function of (text, font).
 */
function clearGlyphCache(font: Font): void {
  const internal = font as unknown as { _glyphs?: unknown };
  if (internal._glyphs === null || typeof internal._glyphs !== 'object') {
    throw new Error('fontkit internals changed: Font._glyphs not found (check the fontkit version)');
  }
  internal._glyphs = {};
}

/** Lays out `text` in visual order: bidi runs, each shaped by fontkit. */
export function layoutLine(font: Font, text: string): PlacedGlyph[] {
  const out: PlacedGlyph[] = [];
  for (const run of bidiRuns(text)) {
    clearGlyphCache(font);
    // For right-to-left runs: mirror brackets for display, and map the glyphs back to the logical characters.
    const shaped = font.layout(
      run.rtl ? mirror(run.text) : run.text,
      [],
      undefined,
      undefined,
      run.rtl ? 'rtl' : 'ltr',
    );
    const glyphs: Glyph[] = shaped.glyphs;
    // fontkit reverses an 'rtl' run into visual order only when it has a layout engine for the font (OpenType
    // GSUB/GPOS or AAT morx); otherwise the run is reversed here.
    const order = run.rtl && !hasLayoutTables(font) ? [...glyphs.keys()].reverse() : [...glyphs.keys()];
    for (const i of order) {
      const glyph = glyphs[i] as Glyph;
      const position = shaped.positions[i];
      // Right-to-left: the characters of a glyph (a lam-alef ligature, a base with its mark) are stored in
      // visual order too, since extractors (poppler, pdf.js) reverse RTL text character by character.
      const codePoints = run.rtl ? [...glyph.codePoints].reverse() : glyph.codePoints;
      const chars = String.fromCodePoint(...codePoints);
      out.push({
        gid: glyph.id,
        text: run.rtl ? mirror(chars) : chars,
        advance: position && position.xAdvance === 0 ? 0 : glyph.advanceWidth,
      });
    }
  }
  return out;
}

function tableTags(font: Font): Record<string, unknown> {
  return (font as unknown as { directory: { tables: Record<string, unknown> } }).directory.tables;
}

/** Whether fontkit shapes with this font (and so reverses 'rtl' runs itself): GSUB, GPOS or morx present. */
function hasLayoutTables(font: Font): boolean {
  const tables = tableTags(font);
  return 'GSUB' in tables || 'GPOS' in tables || 'morx' in tables;
}

// ---------------------------------------------------------------------------------------------------------
// PDF objects

function hex4(n: number): string {
  return n.toString(16).toUpperCase().padStart(4, '0');
}

function utf16Hex(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) out += hex4(text.charCodeAt(i));
  return out;
}

/** Keeps only characters allowed unescaped in a PDF name (and readable in a font name). */
function pdfNameChars(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9_.-]/g, '');
  return cleaned.length > 0 ? cleaned : 'Font';
}

/** Six capital letters derived from the font name and text, e.g. `QXKBPM` (ISO 32000 9.6.4 subset tag). */
export function subsetTag(fontName: string, text: string): string {
  const digest = createHash('sha256').update(fontName).update('\0').update(text, 'utf8').digest();
  let tag = '';
  for (let i = 0; i < 6; i++) tag += String.fromCharCode(0x41 + ((digest[i] ?? 0) % 26));
  return tag;
}

function toUnicodeCMap(map: ReadonlyMap<number, string>): Buffer {
  const entries = [...map.entries()].sort((a, b) => a[0] - b[0]);
  const lines = [
    '/CIDInit /ProcSet findresource begin',
    '12 dict begin',
    'begincmap',
    '/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def',
    '/CMapName /Adobe-Identity-UCS def',
    '/CMapType 2 def',
    '1 begincodespacerange',
    '<0000> <FFFF>',
    'endcodespacerange',
  ];
  for (let i = 0; i < entries.length; i += 100) {
    const chunk = entries.slice(i, i + 100);
    lines.push(`${chunk.length} beginbfchar`);
    for (const [cid, text] of chunk) lines.push(`<${hex4(cid)}> <${utf16Hex(text)}>`);
    lines.push('endbfchar');
  }
  lines.push('endcmap', 'CMapName currentdict /CMap defineresource pop', 'end', 'end', '');
  return Buffer.from(lines.join('\n'), 'latin1');
}

/** Zero-width format characters (ZWJ, variation selectors, bidi marks…) need no glyph. */
const IGNORABLE = /\p{Default_Ignorable_Code_Point}/u;

/** The distinct characters of `text` (ignorables aside) that `font` has no glyph for, in order of appearance. */
export function missingChars(font: Font, text: string): string[] {
  const missing = new Set<string>();
  for (const ch of text) {
    if (!IGNORABLE.test(ch) && !font.hasGlyphForCodePoint(ch.codePointAt(0) ?? 0)) missing.add(ch);
  }
  return [...missing];
}

/** The subset's glyph-id (CID) mapping as fontkit's Subset really implements it (returns the new id). */
interface FontkitSubset {
  includeGlyph(glyph: number): number;
  encode(): Uint8Array;
}

/**
 * An embedded subset of the TrueType font in `fontBytes` holding exactly the glyphs of `text`, laid out
 * (shaped, bidi-ordered). `show(text)` with the same text gives the hex string of 2-byte CIDs; other strings
 * are laid out too, but glyphs not in the subset show as CID 0 (.notdef). Same text + font → identical objects.
 */
export function embeddedFont(text: string, fontBytes: Buffer): TextFont {
  const font = parseFont(fontBytes);
  if (!('glyf' in tableTags(font))) {
    // CFF outlines would need /FontFile3 /CIDFontType0C; the bundled fonts are TrueType.
    throw new Error(
      `font ${font.postscriptName} has no TrueType outlines (glyf); only TrueType fonts can be embedded`,
    );
  }
  const scale = 1000 / font.unitsPerEm;
  const placed = layoutLine(font, text);

  const subset = font.createSubset() as unknown as FontkitSubset;
  const cidOf = new Map<number, number>([[0, 0]]);
  const widths = new Map<number, number>([[0, Math.round(font.getGlyph(0).advanceWidth * scale)]]);
  const unicode = new Map<number, string>();
  for (const g of placed) {
    let cid = cidOf.get(g.gid);
    if (cid === undefined) {
      cid = subset.includeGlyph(g.gid);
      cidOf.set(g.gid, cid);
    }
    if (!widths.has(cid)) widths.set(cid, Math.round(g.advance * scale));
    if (cid !== 0 && !unicode.has(cid) && g.text.length > 0) unicode.set(cid, g.text);
  }
  // .notdef: only mappable when a single character is missing (taken from the text: fontkit's glyph cache gives
  // every .notdef of a run the code points of the first one).
  const missing = missingChars(font, text);
  if (missing.length === 1) unicode.set(0, missing[0] ?? '');
  const fontFile = Buffer.from(subset.encode());

  const baseName = `${subsetTag(font.postscriptName, text)}+${pdfNameChars(font.postscriptName)}`;
  const cidCount = Math.max(...cidOf.values()) + 1;
  const w: number[] = [];
  for (let cid = 0; cid < cidCount; cid++) w.push(widths.get(cid) ?? 0);

  const os2 = font['OS/2'] as Partial<{ sCapHeight: number; usWeightClass: number }> | undefined;
  // DejaVu's OS/2 table (version 1) has no sCapHeight: take the height of 'H' then.
  const capHeight =
    font.capHeight ||
    os2?.sCapHeight ||
    (font.hasGlyphForCodePoint(0x48) ? font.glyphForCodePoint(0x48).bbox.maxY : font.ascent);
  const weightClass = os2?.usWeightClass ?? 400;
  const post = (font as unknown as { post?: { isFixedPitch?: number } }).post;
  let flags = 4; // symbolic: the subset's glyphs are not a standard Latin character set
  if (post?.isFixedPitch) flags |= 1;
  if (font.italicAngle !== 0) flags |= 64;
  const bbox = font.bbox;
  const r = (n: number): number => Math.round(n * scale);

  const descriptor =
    `<< /Type /FontDescriptor /FontName /${baseName} /Flags ${flags}` +
    ` /FontBBox [${r(bbox.minX)} ${r(bbox.minY)} ${r(bbox.maxX)} ${r(bbox.maxY)}]` +
    ` /ItalicAngle ${font.italicAngle} /Ascent ${r(font.ascent)} /Descent ${r(font.descent)}` +
    ` /CapHeight ${r(capHeight)} /StemV ${Math.round(10 + 220 * ((weightClass - 50) / 900) ** 2)}` +
    ' /FontFile2 {{ref:3}} >>';

  const objects: TextFont['objects'] = [
    {
      dict:
        `<< /Type /Font /Subtype /Type0 /BaseFont /${baseName} /Encoding /Identity-H` +
        ' /DescendantFonts [{{ref:1}}] /ToUnicode {{ref:4}} >>',
    },
    {
      dict:
        `<< /Type /Font /Subtype /CIDFontType2 /BaseFont /${baseName}` +
        ' /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >>' +
        ` /FontDescriptor {{ref:2}} /DW ${w[0] ?? 0} /W [0 [${w.join(' ')}]] /CIDToGIDMap /Identity >>`,
    },
    { dict: descriptor },
    { dict: `<< /Length1 ${fontFile.length} >>`, stream: fontFile },
    { dict: '<< >>', stream: toUnicodeCMap(unicode) },
  ];

  const cidsFor = (s: string): number[] =>
    s === text
      ? placed.map((g) => cidOf.get(g.gid) ?? 0)
      : layoutLine(font, s).map((g) => cidOf.get(g.gid) ?? 0);

  return {
    objects,
    root: 0,
    show: (s) => `<${cidsFor(s).map(hex4).join('')}>`,
    width: (s) => cidsFor(s).reduce((sum, cid) => sum + (w[cid] ?? 0), 0) / 1000,
  };
}
