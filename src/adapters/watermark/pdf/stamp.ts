import { pdfNumber, pdfString } from './syntax.ts';
import type { TextFont } from './text-font.ts';

/** What to stamp on every page of one buyer's copy. */
export interface PdfStamp {
  /** The visible line, ready-made (e.g. `Licensed to … · Order 1042 · 2026-11-29`). */
  text: string;
  /** The opaque trace token (ASCII), written as invisible text, in /Info and in /ID[1]. */
  token: string;
  position: 'footer' | 'header' | 'diagonal';
  /** 0..1, for /ca and /CA. */
  opacity: number;
  sizePt: number;
  font: TextFont;
}

/** A page geometry: the visible box (effective CropBox) and the rotation. One Form XObject each. */
export interface Geometry {
  box: [number, number, number, number];
  rotate: 0 | 90 | 180 | 270;
}

/** Resource names the stamp content uses inside its Form XObject. */
export const STAMP_NAMES = { font: 'CSf', token: 'CSt', gs: 'CSgs' } as const;

const MIN_SIZE = 4;
const TOKEN_SIZE = 4;
const GREY = '0.3 g';

/** Size of the page as displayed (after /Rotate), in points. */
export function displaySize(g: Geometry): { width: number; height: number } {
  const w = g.box[2] - g.box[0];
  const h = g.box[3] - g.box[1];
  return g.rotate === 90 || g.rotate === 270 ? { width: h, height: w } : { width: w, height: h };
}

/**
 * The Form /Matrix mapping upright display coordinates ([0,width]×[0,height]) onto the page's user
 * space, so the stamp reads upright whatever /Rotate says (contract §2.2).
 */
export function formMatrix(g: Geometry): [number, number, number, number, number, number] {
  const [llx, lly, urx, ury] = g.box;
  switch (g.rotate) {
    case 90:
      return [0, 1, -1, 0, urx, lly];
    case 180:
      return [-1, 0, 0, -1, urx, ury];
    case 270:
      return [0, -1, 1, 0, llx, ury];
    default:
      return [1, 0, 0, 1, llx, lly];
  }
}

/**
 * The stamp's content stream in display space: the visible line (grey, `/Artifact` pagination
 * marked content, shrunk to fit the width but not below 4 pt) and the token as invisible text (`3 Tr`)
 * in the opposite corner, so text extraction finds it on every page.
 */
export function stampContent(stamp: PdfStamp, width: number, height: number): string {
  const unit = Math.max(stamp.font.width(stamp.text), 1e-6);
  const margin = Math.min(24, width * 0.05, height * 0.05);
  const diagonal = stamp.position === 'diagonal';
  const room = diagonal ? Math.min(width, height) * Math.SQRT2 * 0.85 : width - 2 * margin;
  const size = Math.max(MIN_SIZE, Math.min(stamp.sizePt, room / unit));
  const textWidth = unit * size;
  let matrix: number[];
  if (diagonal) {
    const c = Math.SQRT1_2;
    const x = width / 2 - (textWidth / 2) * c + 0.35 * size * c;
    const y = height / 2 - (textWidth / 2) * c - 0.35 * size * c;
    matrix = [c, c, -c, c, x, y];
  } else {
    const y = stamp.position === 'footer' ? margin + 0.25 * size : height - margin - 0.75 * size;
    matrix = [1, 0, 0, 1, (width - textWidth) / 2, y];
  }
  const subtype = diagonal ? 'Watermark' : stamp.position === 'footer' ? 'Footer' : 'Header';
  const tokenY = stamp.position === 'header' ? margin : height - margin - TOKEN_SIZE;
  const n = STAMP_NAMES;
  const lines = [
    `/Artifact <</Type /Pagination /Subtype /${subtype}>> BDC`,
    `q /${n.gs} gs ${GREY} BT /${n.font} ${pdfNumber(size)} Tf ${matrix.map(pdfNumber).join(' ')} Tm`,
    `${stamp.font.show(stamp.text)} Tj ET Q`,
    'EMC',
    '/Artifact BMC',
    `q BT 3 Tr /${n.token} ${TOKEN_SIZE} Tf 1 0 0 1 ${pdfNumber(margin)} ${pdfNumber(tokenY)} Tm`,
    `${pdfString(stamp.token)} Tj ET`,
  ];
  if (diagonal) {
    // Extractors (poppler) read 45° text as fragments: an invisible horizontal copy keeps the line findable.
    const flat = Math.max(1, Math.min(stamp.sizePt, (width - 2 * margin) / unit));
    const x = (width - unit * flat) / 2;
    lines.push(
      `BT 3 Tr /${n.font} ${pdfNumber(flat)} Tf 1 0 0 1 ${pdfNumber(x)} ${pdfNumber(margin + TOKEN_SIZE)} Tm`,
    );
    lines.push(`${stamp.font.show(stamp.text)} Tj ET`);
  }
  lines.push('Q', 'EMC', '');
  return lines.join('\n');
}
