import mime from 'mime-types';

/** The Content-Type for a file name, by extension; unknown types download as octet-stream. */
export function guessContentType(name: string): string {
  return mime.lookup(name) || 'application/octet-stream';
}
