import { MARK_PATTERN } from '../../domain/watermark/watermark-service.ts';
import type { RangeReader } from './range-reader.ts';

/**
 * Trace tokens in a PDF, wherever a copy keeps them: the raw bytes (the /Info entry, XMP, uncompressed
 * content) and the extracted text of every page (the invisible line survives re-saving by qpdf, pdf-lib
 * and Ghostscript, which re-encode fonts and recompress streams: only text extraction sees through that).
 */
export async function findPdfMarks(reader: RangeReader): Promise<string[]> {
  const data = await reader.read(0, reader.size);
  const found = new Set(data.toString('latin1').match(MARK_PATTERN) ?? []);
  // The raw bytes carry the marks of any copy no other tool touched; text extraction (slow: a whole
  // pdf.js parse) is for copies that were re-saved, whose /Info and streams were rewritten.
  if (found.size > 0) return [...found];
  const pdfjs = await import('pdfjs-dist/legacy/build/pdf.mjs');
  const task = pdfjs.getDocument({
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    useSystemFonts: false,
    disableFontFace: true,
    isEvalSupported: false,
    verbosity: 0,
  });
  try {
    const doc = await task.promise;
    for (let n = 1; n <= doc.numPages; n++) {
      const page = await doc.getPage(n);
      const content = await page.getTextContent();
      const text = content.items.map((item) => ('str' in item ? item.str : '')).join('');
      for (const token of text.replace(/\s+/g, '').match(MARK_PATTERN) ?? []) found.add(token);
      page.cleanup();
    }
  } catch {
    // An unreadable file still gets its raw-byte marks reported.
  } finally {
    await task.destroy();
  }
  return [...found];
}
