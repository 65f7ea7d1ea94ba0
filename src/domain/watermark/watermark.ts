import { AppError } from '../errors.ts';

/** How a product's files are stamped for each buyer; stored on the product (null = watermarking off). */
export interface WatermarkSettings {
  /** Template with {name}, {email}, {order} and {date}. */
  text: string;
  position: WatermarkPosition;
  /** 0..1 */
  opacity: number;
  /** Font size of the visible line, in points. */
  sizePt: number;
}

export type WatermarkPosition = 'footer' | 'header' | 'diagonal';
export const WATERMARK_POSITIONS: readonly WatermarkPosition[] = ['footer', 'header', 'diagonal'];

export const DEFAULT_WATERMARK: WatermarkSettings = {
  text: 'Licensed to {name} <{email}> · Order {order} · {date}',
  position: 'footer',
  opacity: 0.6,
  sizePt: 8,
};

/** The kinds of files that get a per-buyer copy; every other file is served as stored. */
export type WatermarkKind = 'pdf' | 'epub' | 'zip';

export function watermarkKindOf(file: { name: string; contentType: string }): WatermarkKind | null {
  const name = file.name.toLowerCase();
  if (name.endsWith('.pdf') || file.contentType === 'application/pdf') return 'pdf';
  if (name.endsWith('.epub') || file.contentType === 'application/epub+zip') return 'epub';
  if (name.endsWith('.zip') || file.contentType === 'application/zip') return 'zip';
  return null;
}

/** C0 and C1 control characters (and DEL): nothing a one-line stamp may carry. */
function isControl(char: string): boolean {
  const code = char.codePointAt(0) ?? 0;
  return code < 0x20 || (code >= 0x7f && code <= 0x9f);
}

function invalid(path: string, message: string): AppError {
  return new AppError('INVALID_REQUEST', { message, detail: { path } });
}

/** Applies changes to the current settings (or the defaults), refusing values no reader could use. */
export function planWatermark(
  current: WatermarkSettings | null,
  input: Partial<WatermarkSettings>,
): WatermarkSettings {
  const next = { ...(current ?? DEFAULT_WATERMARK), ...input };
  if (!next.text.trim() || next.text.length > 300 || [...next.text].some(isControl)) {
    throw invalid('watermark_text', 'watermark_text must be 1-300 characters on one line.');
  }
  if (!WATERMARK_POSITIONS.includes(next.position)) {
    throw invalid('watermark_position', 'watermark_position must be footer, header or diagonal.');
  }
  if (!(next.opacity > 0 && next.opacity <= 1))
    throw invalid('watermark_opacity', 'watermark_opacity must be in (0, 1].');
  if (!(next.sizePt >= 4 && next.sizePt <= 72))
    throw invalid('watermark_size', 'watermark_size must be 4-72 pt.');
  return next;
}

export interface WatermarkVars {
  name: string;
  email: string;
  order: string;
  /** YYYY-MM-DD of the purchase. */
  date: string;
}

/**
 * The visible line for one buyer. Only what the seller's template names is embedded (privacy policy:
 * the buyer's name, e-mail and order reference, as the seller chose); control characters are dropped so
 * a name cannot break out of the line.
 */
export function renderWatermarkText(template: string, vars: WatermarkVars): string {
  const clean = (value: string) =>
    [...value]
      .map((c) => (isControl(c) || c === '\u2028' || c === '\u2029' ? ' ' : c))
      .join('')
      .trim()
      .slice(0, 200);
  return template
    .replace(/\{(name|email|order|date)\}/g, (_, key: keyof WatermarkVars) => clean(vars[key]))
    .replace(/\s+/g, ' ')
    .trim();
}

/** A file's one-time analysis, done when it is uploaded (or when watermarking is turned on). */
export interface FileAnalysis {
  fileId: string;
  kind: WatermarkKind;
  /** `ok`: copies are made per download; `unsupported`: served unchanged, with the reason reported. */
  status: 'ok' | 'unsupported';
  /** How copies are made: `rewrite` (PDF in-place rewrite), `normalized` (of a cleaned master), `zip`, `epub`. */
  method: string;
  reason: string | null;
  /** The normalised master's object key, when the original could not be used as it is. */
  masterKey: string | null;
  masterSize: number | null;
  /** The engine's analysis (page objects, xref sections, central directory…), opaque to the core. */
  data: unknown;
  createdAt: string;
}

/** A trace token handed out with one grant's copy of one file. */
export interface WatermarkMark {
  token: string;
  grantId: string;
  fileId: string;
  createdAt: string;
}
