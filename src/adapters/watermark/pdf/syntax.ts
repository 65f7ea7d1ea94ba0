import { PdfError, PdfTruncatedError } from './errors.ts';
import { isRegular, isWhitespace, type PdfDict, type PdfObject, PdfParser, type Span } from './parser.ts';

/**
 * The PDF syntax API shared by the analysis, the writer and the normaliser: the tokenizer and object
 * parser (parser.ts), indirect objects and streams (`N G obj … endobj`), and output formatting.
 */
export { PdfError, PdfTruncatedError } from './errors.ts';
export * from './parser.ts';

/** An indirect object `N G obj … endobj` as found in a buffer. */
export interface IndirectObject {
  num: number;
  gen: number;
  value: PdfObject;
  /** Offset of `N` (the object start) in the buffer. */
  start: number;
  /**
   * End of the object (after `endobj`, or after `endstream`/the value when `endobj` is missing).
   * With `skipStreamData` this is the first byte of the stream data instead.
   */
  end: number;
  /** Stream data [start, end) in the buffer (end = start + length); absent for non-streams. */
  stream?: { start: number; end: number };
}

export interface ReadObjectOptions {
  /** Resolves an indirect /Length (return undefined when unknown: the data is then scanned for `endstream`). */
  lengthOf?: (ref: { num: number; gen: number }) => number | undefined;
  /** Stop after the `stream` keyword (to read a large stream's dictionary only); stream.end is then -1. */
  skipStreamData?: boolean;
  /**
   * The buffer runs to the end of the file: a /Length past its end is then wrong (scan for `endstream`)
   * rather than a sign that the window was too small (PdfTruncatedError).
   */
  final?: boolean;
}

/**
 * Parses the indirect object starting at `pos` (white-space before `N` is skipped). Streams take their
 * length from /Length (direct, or indirect via `lengthOf`) and fall back to scanning for `endstream`
 * when it is missing or wrong, as readers do.
 */
export function readObjectSource(buf: Buffer, pos: number, options: ReadObjectOptions = {}): IndirectObject {
  const p = new PdfParser(buf, pos);
  p.skipWhitespace();
  const start = p.pos;
  const num = p.tryUnsigned();
  const gen = num === null ? null : p.tryUnsigned();
  if (num === null || gen === null || !p.tryKeyword('obj')) {
    if (buf.length - start < 32) p.truncated('an object header');
    throw new PdfError('BROKEN', `no 'N G obj' at byte ${start}`);
  }
  const value = p.parseObject();
  const afterValue = p.pos;
  p.skipWhitespace();
  // A window that ends within the next keyword cannot tell `stream` from `endobj` yet.
  if (buf.length - p.pos < 12 && !options.final) p.truncated('endobj or stream');
  if (value.type === 'dict' && p.tryKeyword('stream')) {
    if (buf.length - p.pos < 2 && !options.final) p.truncated('stream data');
    if (buf[p.pos] === 13) p.pos++;
    if (buf[p.pos] === 10) p.pos++;
    const dataStart = p.pos;
    if (options.skipStreamData) {
      return { num, gen, value, start, end: dataStart, stream: { start: dataStart, end: -1 } };
    }
    const dataEnd = streamEnd(buf, dataStart, declaredLength(value, options), options.final === true);
    p.pos = dataEnd;
    if (!p.tryKeyword('endstream')) p.broken('expected endstream');
    const afterStream = p.pos;
    const end = p.tryKeyword('endobj') ? p.pos : afterStream;
    return { num, gen, value, start, end, stream: { start: dataStart, end: dataEnd } };
  }
  const end = p.tryKeyword('endobj') ? p.pos : afterValue;
  return { num, gen, value, start, end };
}

function declaredLength(dict: PdfDict, options: ReadObjectOptions): number | undefined {
  const length = dict.entries.get('Length');
  if (length?.type === 'number' && length.integer && length.value >= 0) return length.value;
  if (length?.type === 'ref') return options.lengthOf?.(length);
  return undefined;
}

const ENDSTREAM = Buffer.from('endstream');

/** End of stream data: start + length when `endstream` follows there, else found by scanning. */
function streamEnd(buf: Buffer, start: number, length: number | undefined, final: boolean): number {
  if (length !== undefined) {
    const end = start + length;
    let q = end;
    while (q < buf.length && isWhitespace(buf[q]!)) q++;
    if (q + ENDSTREAM.length > buf.length && !final) {
      throw new PdfTruncatedError(`stream data at byte ${start} runs past the buffer`);
    }
    if (buf.subarray(q, q + ENDSTREAM.length).equals(ENDSTREAM)) return end;
  }
  const at = buf.indexOf(ENDSTREAM, start);
  if (at < 0) throw new PdfTruncatedError(`no endstream after byte ${start}`);
  let end = at;
  if (end > start && buf[end - 1] === 10) end--;
  if (end > start && buf[end - 1] === 13) end--;
  return end;
}

/** Parses a complete direct object from source text or bytes (e.g. a stored dictionary source). */
export function parseObjectSource(source: string | Buffer): PdfObject {
  const buf = typeof source === 'string' ? Buffer.from(source, 'latin1') : source;
  return new PdfParser(buf).parseObject();
}

/** The exact source text (latin1) of a parsed value. */
export function sourceOf(buf: Buffer, obj: Span): string {
  return buf.toString('latin1', obj.start, obj.end);
}

/** Encodes a name for output (`/` + name, with # escapes for delimiters, white-space and non-ASCII). */
export function pdfName(name: string): string {
  let out = '/';
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i) & 0xff;
    out += c <= 32 || c >= 127 || c === 35 || !isRegular(c) ? `#${c.toString(16).padStart(2, '0')}` : name[i];
  }
  return out;
}

/** A literal string `( … )` for the given bytes (latin1 string or Buffer), escaping what must be. */
export function pdfString(value: string | Buffer): string {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
  let out = '(';
  for (const c of bytes) {
    if (c === 40 || c === 41 || c === 92) out += `\\${String.fromCharCode(c)}`;
    else if (c === 13) out += '\\r';
    else if (c === 10) out += '\\n';
    else out += String.fromCharCode(c);
  }
  return `${out})`;
}

/** Formats a number without exponent and with at most 4 decimals (deterministic output). */
export function pdfNumber(n: number): string {
  if (!Number.isFinite(n)) return '0';
  const s = Number(n.toFixed(4)).toString();
  return s === '-0' ? '0' : s;
}

/** Serialises a parsed value (names and strings re-escaped; numbers and refs canonical). */
export function serializeObject(obj: PdfObject): string {
  switch (obj.type) {
    case 'null':
      return 'null';
    case 'boolean':
      return String(obj.value);
    case 'number':
      return obj.integer ? String(obj.value) : pdfNumber(obj.value);
    case 'name':
      return pdfName(obj.value);
    case 'string':
      return obj.hex ? `<${obj.value.toString('hex')}>` : pdfString(obj.value);
    case 'ref':
      return `${obj.num} ${obj.gen} R`;
    case 'array':
      return `[${obj.items.map(serializeObject).join(' ')}]`;
    case 'dict': {
      let out = '<<';
      for (const [k, v] of obj.entries) out += `${pdfName(k)} ${serializeObject(v)}`;
      return `${out}>>`;
    }
  }
}

/** The value of `key` in a dictionary (undefined when absent or not a dictionary). */
export function dictGet(obj: PdfObject | undefined, key: string): PdfObject | undefined {
  return obj?.type === 'dict' ? obj.entries.get(key) : undefined;
}

/** A name's value, or undefined. */
export function nameOf(obj: PdfObject | undefined): string | undefined {
  return obj?.type === 'name' ? obj.value : undefined;
}

/** A number's value, or undefined. */
export function numberOf(obj: PdfObject | undefined): number | undefined {
  return obj?.type === 'number' ? obj.value : undefined;
}
