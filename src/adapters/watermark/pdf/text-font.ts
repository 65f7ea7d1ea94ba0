/**
 * A font for the watermark text, as the PDF writer needs it: the objects to add, and how to show and
 * measure a string. The standard Helvetica (WinAnsi) serves Latin-1 text with no embedded data; other
 * scripts need an embedded subset (Type0/CIDFontType2, Identity-H, with a ToUnicode map so the text can be
 * extracted and traced).
 */
export interface TextFont {
  /**
   * PDF objects to add, in order. A dict source may point at another object of this list with the
   * placeholder `{{ref:N}}` (N = index in this array); the writer replaces it with `<num> 0 R`.
   * `stream` objects are written as streams (the dict must not carry /Length; the writer adds it).
   */
  objects: { dict: string; stream?: Buffer }[];
  /** Index in `objects` of the /Font dictionary to name in page resources. */
  root: number;
  /** The Tj operand showing `text`: a PDF literal `(…)` or hex `<…>` string. */
  show(text: string): string;
  /** Advance width of `text` at 1 pt, in points. */
  width(text: string): number;
}
