import type { TextFont } from './text-font.ts';

/**
 * The standard 14 font Helvetica with /WinAnsiEncoding: no embedded data, every viewer has it (or a metric
 * compatible substitute). Serves text whose characters are all in WinAnsi (Latin-1 plus the 0x80–0x9F
 * specials such as € • – — ‘ ’ “ ” …).
 */

/** Unicode code point → WinAnsi code for the 0x80–0x9F range (0x81, 0x8D, 0x8F, 0x90, 0x9D are undefined). */
const WIN_ANSI_SPECIALS: ReadonlyMap<number, number> = new Map([
  [0x20ac, 0x80], // Euro
  [0x201a, 0x82], // quotesinglbase
  [0x0192, 0x83], // florin
  [0x201e, 0x84], // quotedblbase
  [0x2026, 0x85], // ellipsis
  [0x2020, 0x86], // dagger
  [0x2021, 0x87], // daggerdbl
  [0x02c6, 0x88], // circumflex
  [0x2030, 0x89], // perthousand
  [0x0160, 0x8a], // Scaron
  [0x2039, 0x8b], // guilsinglleft
  [0x0152, 0x8c], // OE
  [0x017d, 0x8e], // Zcaron
  [0x2018, 0x91], // quoteleft
  [0x2019, 0x92], // quoteright
  [0x201c, 0x93], // quotedblleft
  [0x201d, 0x94], // quotedblright
  [0x2022, 0x95], // bullet
  [0x2013, 0x96], // endash
  [0x2014, 0x97], // emdash
  [0x02dc, 0x98], // tilde
  [0x2122, 0x99], // trademark
  [0x0161, 0x9a], // scaron
  [0x203a, 0x9b], // guilsinglright
  [0x0153, 0x9c], // oe
  [0x017e, 0x9e], // zcaron
  [0x0178, 0x9f], // ydieresis
]);

/**
 * Helvetica advance widths (1/1000 em) indexed by WinAnsi code, from the Adobe Helvetica AFM
 * (0xA0 is the space glyph, 0xAD the hyphen, as WinAnsiEncoding defines them). Undefined codes are 0.
 */
// biome-ignore format: a 256-entry table reads better 16 per line
const HELVETICA_WIDTHS: readonly number[] = [
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
  556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
  1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
  667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
  333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
  556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, 0,
  556, 0, 222, 556, 333, 1000, 556, 556, 333, 1000, 667, 333, 1000, 0, 611, 0,
  0, 222, 222, 333, 333, 350, 556, 1000, 333, 1000, 500, 333, 944, 0, 500, 500,
  278, 333, 556, 556, 556, 556, 260, 556, 333, 737, 370, 556, 584, 333, 737, 333,
  400, 584, 333, 333, 333, 556, 537, 278, 333, 333, 365, 556, 834, 834, 834, 611,
  667, 667, 667, 667, 667, 667, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278,
  722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611,
  556, 556, 556, 556, 556, 556, 889, 500, 556, 556, 556, 556, 278, 278, 278, 278,
  556, 556, 556, 556, 556, 556, 556, 584, 611, 556, 556, 556, 556, 500, 556, 500,
];

const QUESTION_MARK = 0x3f;

/** The WinAnsi code of a Unicode code point, or undefined when WinAnsi has no printable glyph for it. */
export function winAnsiCode(codePoint: number): number | undefined {
  if ((codePoint >= 0x20 && codePoint <= 0x7e) || (codePoint >= 0xa0 && codePoint <= 0xff)) return codePoint;
  return WIN_ANSI_SPECIALS.get(codePoint);
}

/** True when every character of `text` has a printable glyph in Helvetica/WinAnsi (control characters do not). */
export function isWinAnsi(text: string): boolean {
  for (const ch of text) {
    if (winAnsiCode(ch.codePointAt(0) ?? 0) === undefined) return false;
  }
  return true;
}

/** `text` as WinAnsi bytes; characters outside WinAnsi become '?'. */
export function encodeWinAnsi(text: string): Buffer {
  const codes: number[] = [];
  for (const ch of text) codes.push(winAnsiCode(ch.codePointAt(0) ?? 0) ?? QUESTION_MARK);
  return Buffer.from(codes);
}

/** A PDF literal string for raw bytes: `\`, `(`, `)` escaped, bytes outside 0x20–0x7E as 3-digit octal. */
export function pdfLiteral(bytes: Uint8Array): string {
  let out = '(';
  for (const b of bytes) {
    if (b === 0x5c || b === 0x28 || b === 0x29) out += `\\${String.fromCharCode(b)}`;
    else if (b < 0x20 || b > 0x7e) out += `\\${b.toString(8).padStart(3, '0')}`;
    else out += String.fromCharCode(b);
  }
  return `${out})`;
}

const HELVETICA_DICT = '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>';

/** Helvetica with WinAnsiEncoding (one object, no embedding). */
export function helvetica(): TextFont {
  return {
    objects: [{ dict: HELVETICA_DICT }],
    root: 0,
    show: (text) => pdfLiteral(encodeWinAnsi(text)),
    width: (text) => {
      let units = 0;
      for (const code of encodeWinAnsi(text)) units += HELVETICA_WIDTHS[code] ?? 0;
      return units / 1000;
    },
  };
}
