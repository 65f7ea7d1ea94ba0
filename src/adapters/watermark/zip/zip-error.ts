/**
 * Why a ZIP (or EPUB) cannot be read or watermarked:
 * - BROKEN: the archive is truncated, inconsistent or hostile (offsets outside the file, overlapping entries…);
 * - UNSUPPORTED: valid but outside what we handle (multi-disk, compression other than Store/Deflate, UTF-16 OPF…);
 * - LIMIT: larger than the configured bounds (entries, central directory or document size);
 * - ENCRYPTED: an entry we must read is encrypted (ZIP encryption or EPUB DRM).
 */
export type ZipErrorCode = 'BROKEN' | 'UNSUPPORTED' | 'LIMIT' | 'ENCRYPTED';

export class ZipError extends Error {
  override readonly name = 'ZipError';
  readonly code: ZipErrorCode;

  constructor(code: ZipErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
