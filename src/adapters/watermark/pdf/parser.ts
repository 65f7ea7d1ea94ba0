import { PdfError, PdfTruncatedError } from './errors.ts';

/**
 * PDF lexical syntax (ISO 32000-1 §7.2–7.3): a tokenizer and object parser over a Buffer (import it
 * through syntax.ts, which adds indirect objects and output formatting). Every parsed
 * value remembers the byte span it came from, so a writer can copy entries verbatim instead of
 * re-serialising them. Parsing is bounded: nesting depth is limited and hitting the end of the buffer
 * throws PdfTruncatedError (a caller reading a window of a file can retry with a larger one).
 */

/** Byte span [start, end) of a value in the buffer it was parsed from. */
export interface Span {
  start: number;
  end: number;
}

export type PdfObject = Span &
  (
    | { type: 'null' }
    | { type: 'boolean'; value: boolean }
    | { type: 'number'; value: number; integer: boolean }
    | { type: 'name'; value: string }
    | { type: 'string'; value: Buffer; hex: boolean }
    | { type: 'array'; items: PdfObject[] }
    | { type: 'dict'; entries: Map<string, PdfObject> }
    | { type: 'ref'; num: number; gen: number }
  );

export type PdfDict = Extract<PdfObject, { type: 'dict' }>;
export type PdfArray = Extract<PdfObject, { type: 'array' }>;
export type PdfRef = Extract<PdfObject, { type: 'ref' }>;

/** A token of a content stream: an operand (object) or an operator keyword. */
export type PdfToken = PdfObject | (Span & { type: 'keyword'; value: string });

const MAX_DEPTH = 64;

/** Character classes: 1 = white-space, 2 = delimiter, 0 = regular. */
const CLASS = new Uint8Array(256);
for (const c of [0, 9, 10, 12, 13, 32]) CLASS[c] = 1;
for (const c of '()<>[]{}/%') CLASS[c.charCodeAt(0)] = 2;

export function isWhitespace(byte: number): boolean {
  return CLASS[byte] === 1;
}

export function isRegular(byte: number): boolean {
  return CLASS[byte] === 0;
}

function hexValue(byte: number): number {
  if (byte >= 48 && byte <= 57) return byte - 48;
  if (byte >= 65 && byte <= 70) return byte - 55;
  if (byte >= 97 && byte <= 102) return byte - 87;
  return -1;
}

export class PdfParser {
  readonly buf: Buffer;
  pos: number;

  constructor(buf: Buffer, pos = 0) {
    this.buf = buf;
    this.pos = pos;
  }

  truncated(what: string): never {
    throw new PdfTruncatedError(`unexpected end of data while reading ${what} at byte ${this.pos}`);
  }

  broken(message: string): never {
    throw new PdfError('BROKEN', `${message} at byte ${this.pos}`);
  }

  /** Skips white-space and comments. */
  skipWhitespace(): void {
    const { buf } = this;
    while (this.pos < buf.length) {
      const c = buf[this.pos]!;
      if (CLASS[c] === 1) this.pos++;
      else if (c === 37 /* % */) {
        while (this.pos < buf.length && buf[this.pos] !== 10 && buf[this.pos] !== 13) this.pos++;
      } else return;
    }
  }

  /** True at the end of the buffer (after skipping white-space). */
  atEnd(): boolean {
    this.skipWhitespace();
    return this.pos >= this.buf.length;
  }

  /** Reads a run of regular characters (a keyword or number) without interpreting it. */
  readRegular(): string {
    const start = this.pos;
    while (this.pos < this.buf.length && CLASS[this.buf[this.pos]!] === 0) this.pos++;
    return this.buf.toString('latin1', start, this.pos);
  }

  /** Consumes `keyword` if it comes next (as a whole token); returns whether it did. */
  tryKeyword(keyword: string): boolean {
    this.skipWhitespace();
    const end = this.pos + keyword.length;
    if (end > this.buf.length) return false;
    if (this.buf.toString('latin1', this.pos, end) !== keyword) return false;
    if (end < this.buf.length && CLASS[this.buf[end]!] === 0) return false;
    this.pos = end;
    return true;
  }

  /** Reads an unsigned integer token if one comes next, else returns null and does not move. */
  tryUnsigned(): number | null {
    const save = this.pos;
    this.skipWhitespace();
    const start = this.pos;
    while (this.pos < this.buf.length && this.buf[this.pos]! >= 48 && this.buf[this.pos]! <= 57) this.pos++;
    if (this.pos === start || (this.pos < this.buf.length && CLASS[this.buf[this.pos]!] === 0)) {
      this.pos = save;
      return null;
    }
    return Number(this.buf.toString('latin1', start, this.pos));
  }

  /** Parses one direct object (numbers followed by `G R` become references). */
  parseObject(depth = 0): PdfObject {
    const token = this.nextToken(depth);
    if (token === null) this.truncated('an object');
    if (token.type === 'keyword') this.broken(`unexpected keyword '${token.value}'`);
    return token;
  }

  /** Next token: an object, an operator keyword, or null at the end of the buffer. */
  nextToken(depth = 0): PdfToken | null {
    if (depth > MAX_DEPTH) throw new PdfError('LIMIT', `objects nested deeper than ${MAX_DEPTH} levels`);
    this.skipWhitespace();
    const { buf } = this;
    const start = this.pos;
    if (start >= buf.length) return null;
    const c = buf[start]!;
    if (c === 47 /* / */) return { type: 'name', value: this.readName(), start, end: this.pos };
    if (c === 40 /* ( */)
      return { type: 'string', value: this.readLiteral(), hex: false, start, end: this.pos };
    if (c === 60 /* < */) {
      if (buf[start + 1] === 60) return this.readDict(depth);
      if (start + 1 >= buf.length) this.truncated('a string');
      return { type: 'string', value: this.readHex(), hex: true, start, end: this.pos };
    }
    if (c === 91 /* [ */) {
      this.pos++;
      const items: PdfObject[] = [];
      for (;;) {
        this.skipWhitespace();
        if (this.pos >= buf.length) this.truncated('an array');
        if (buf[this.pos] === 93 /* ] */) break;
        items.push(this.parseObject(depth + 1));
      }
      this.pos++;
      return { type: 'array', items, start, end: this.pos };
    }
    if (CLASS[c] === 2) {
      this.pos++;
      if (c === 123 || c === 125)
        return { type: 'keyword', value: String.fromCharCode(c), start, end: this.pos };
      this.broken(`unexpected '${String.fromCharCode(c)}'`);
    }
    const word = this.readRegular();
    if (this.pos >= buf.length && depth > 0) this.truncated('a token');
    const first = word.charCodeAt(0);
    if ((first >= 48 && first <= 57) || first === 43 || first === 45 || first === 46) {
      const value = Number(word);
      if (Number.isNaN(value)) {
        // Tolerated by readers: "--5", "1.2.3", "5-"; take the first number in it.
        const match = /[+-]?(\d+\.?\d*|\.\d+)/.exec(word);
        return { type: 'number', value: Number(match?.[0] ?? 0), integer: false, start, end: this.pos };
      }
      const integer = /^\d+$/.test(word);
      if (integer) {
        const ref = this.tryRefTail(value);
        if (ref) return { type: 'ref', num: value, gen: ref - 1, start, end: this.pos };
      }
      return { type: 'number', value, integer: /^[+-]?\d+$/.test(word), start, end: this.pos };
    }
    if (word === 'true' || word === 'false')
      return { type: 'boolean', value: word === 'true', start, end: this.pos };
    if (word === 'null') return { type: 'null', start, end: this.pos };
    return { type: 'keyword', value: word, start, end: this.pos };
  }

  /** After an integer: if `G R` follows, consumes it and returns G + 1 (so 0 stays truthy), else 0. */
  private tryRefTail(num: number): number {
    const save = this.pos;
    const gen = this.tryUnsigned();
    if (gen !== null && num >= 0 && this.tryKeyword('R')) return gen + 1;
    this.pos = save;
    return 0;
  }

  private readDict(depth: number): PdfObject {
    const start = this.pos;
    this.pos += 2;
    const entries = new Map<string, PdfObject>();
    const { buf } = this;
    for (;;) {
      this.skipWhitespace();
      if (this.pos >= buf.length) this.truncated('a dictionary');
      if (buf[this.pos] === 62 /* > */) {
        if (this.pos + 1 >= buf.length) this.truncated('a dictionary');
        if (buf[this.pos + 1] !== 62) this.broken("expected '>>'");
        this.pos += 2;
        return { type: 'dict', entries, start, end: this.pos };
      }
      if (buf[this.pos] !== 47) this.broken('expected a name as dictionary key');
      const key = this.readName();
      this.skipWhitespace();
      if (this.pos < buf.length && buf[this.pos] === 62 && buf[this.pos + 1] === 62) {
        entries.set(key, { type: 'null', start: this.pos, end: this.pos });
        continue;
      }
      entries.set(key, this.parseObject(depth + 1));
    }
  }

  private readName(): string {
    const { buf } = this;
    this.pos++;
    const start = this.pos;
    while (this.pos < buf.length && CLASS[buf[this.pos]!] === 0) this.pos++;
    const raw = buf.toString('latin1', start, this.pos);
    if (!raw.includes('#')) return raw;
    return raw.replace(/#([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
  }

  private readLiteral(): Buffer {
    const { buf } = this;
    const out: number[] = [];
    let nesting = 1;
    this.pos++;
    while (this.pos < buf.length) {
      const c = buf[this.pos++]!;
      if (c === 40) nesting++;
      else if (c === 41 && --nesting === 0) return Buffer.from(out);
      if (c !== 92 /* \ */) {
        out.push(c);
        continue;
      }
      if (this.pos >= buf.length) break;
      const e = buf[this.pos++]!;
      const simple = ESCAPES[e];
      if (simple !== undefined) out.push(simple);
      else if (e >= 48 && e <= 55) {
        let v = e - 48;
        for (let i = 0; i < 2 && this.pos < buf.length && buf[this.pos]! >= 48 && buf[this.pos]! <= 55; i++) {
          v = v * 8 + buf[this.pos++]! - 48;
        }
        out.push(v & 0xff);
      } else if (e === 13) {
        if (buf[this.pos] === 10) this.pos++;
      } else if (e !== 10) out.push(e);
    }
    return this.truncated('a literal string');
  }

  private readHex(): Buffer {
    const { buf } = this;
    const out: number[] = [];
    let high = -1;
    this.pos++;
    while (this.pos < buf.length) {
      const c = buf[this.pos++]!;
      if (c === 62) {
        if (high >= 0) out.push(high << 4);
        return Buffer.from(out);
      }
      if (CLASS[c] === 1) continue;
      const v = hexValue(c);
      if (v < 0) this.broken('bad character in hex string');
      if (high < 0) high = v;
      else {
        out.push((high << 4) | v);
        high = -1;
      }
    }
    return this.truncated('a hex string');
  }
}

const ESCAPES: Record<number, number> = {
  110: 10, // n
  114: 13, // r
  116: 9, // t
  98: 8, // b
  102: 12, // f
  40: 40,
  41: 41,
  92: 92,
};
