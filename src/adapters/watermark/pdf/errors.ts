/**
 * Why a PDF cannot be analysed or watermarked as it is:
 * - ENCRYPTED: /Encrypt is present (decrypt at upload, e.g. `qpdf --decrypt`);
 * - BROKEN: malformed or truncated syntax, wrong xref offsets (repair at upload, e.g. `qpdf in out`);
 * - UNSUPPORTED: valid PDF using something this engine does not handle (exotic filter, leading junk);
 * - LIMIT: a safety bound was hit (object count, page count, inflated size, nesting), likely hostile.
 */
export type PdfErrorCode = 'ENCRYPTED' | 'BROKEN' | 'UNSUPPORTED' | 'LIMIT';

export class PdfError extends Error {
  readonly code: PdfErrorCode;

  constructor(code: PdfErrorCode, message: string) {
    super(message);
    this.name = 'PdfError';
    this.code = code;
  }
}

/**
 * The parser ran off the end of its buffer. Callers that read a window of a larger file catch it and
 * retry with a bigger window; at the real end of the file it means the file is truncated (BROKEN).
 */
export class PdfTruncatedError extends PdfError {
  constructor(message: string) {
    super('BROKEN', message);
    this.name = 'PdfTruncatedError';
  }
}
