import { describe, expect, it } from 'vitest';
import {
  PdfError,
  PdfParser,
  PdfTruncatedError,
  parseObjectSource,
  pdfName,
  pdfNumber,
  pdfString,
  readObjectSource,
  serializeObject,
  sourceOf,
} from './syntax.ts';

describe('PDF syntax', () => {
  it('parses dictionaries, arrays, names, strings, numbers and references', () => {
    const src =
      '<< /Type /Page /Kids [1 0 R 2 5 R] /N -3.5 /I 42 /S (a\\(b\\) \\101\\n) /H <48 65 6c6> /E /A#20B /T true /Z null /D << /X 1 >> >>';
    const obj = parseObjectSource(src);
    expect(obj.type).toBe('dict');
    if (obj.type !== 'dict') return;
    const e = obj.entries;
    expect(e.get('Type')).toMatchObject({ type: 'name', value: 'Page' });
    expect(e.get('Kids')).toMatchObject({
      type: 'array',
      items: [
        { type: 'ref', num: 1, gen: 0 },
        { type: 'ref', num: 2, gen: 5 },
      ],
    });
    expect(e.get('N')).toMatchObject({ type: 'number', value: -3.5, integer: false });
    expect(e.get('I')).toMatchObject({ type: 'number', value: 42, integer: true });
    expect((e.get('S') as { value: Buffer }).value.toString('latin1')).toBe('a(b) A\n');
    expect((e.get('H') as { value: Buffer }).value.toString('latin1')).toBe('Hel`');
    expect(e.get('E')).toMatchObject({ type: 'name', value: 'A B' });
    expect(e.get('T')).toMatchObject({ type: 'boolean', value: true });
    expect(e.get('Z')).toMatchObject({ type: 'null' });
    expect(sourceOf(Buffer.from(src, 'latin1'), e.get('D')!)).toBe('<< /X 1 >>');
    expect(serializeObject(obj)).toBe(
      '<</Type /Page/Kids [1 0 R 2 5 R]/N -3.5/I 42/S (a\\(b\\) A\\n)/H <48656c60>/E /A#20B/T true/Z null/D <</X 1>>>>',
    );
  });

  it('reads indirect objects and streams with direct, indirect, wrong or missing /Length', () => {
    const buf = Buffer.from(
      '1 0 obj\n<< /Length 5 >>\nstream\nhello\nendstream\nendobj\n' +
        '2 0 obj << /Length 9 0 R >> stream\r\nab\ncd\r\nendstream endobj ' +
        '3 0 obj << /Length 99 >> stream\nxyz\nendstream\nendobj\n4 0 obj [1 2] endobj',
      'latin1',
    );
    const a = readObjectSource(buf, 0);
    expect([a.num, a.gen]).toEqual([1, 0]);
    expect(buf.toString('latin1', a.stream!.start, a.stream!.end)).toBe('hello');
    expect(buf.toString('latin1', a.end - 6, a.end)).toBe('endobj');
    const b = readObjectSource(buf, a.end, { lengthOf: (r) => (r.num === 9 ? 5 : undefined) });
    expect(buf.toString('latin1', b.stream!.start, b.stream!.end)).toBe('ab\ncd');
    const c = readObjectSource(buf, b.end, { final: true });
    expect(buf.toString('latin1', c.stream!.start, c.stream!.end)).toBe('xyz');
    const d = readObjectSource(buf, c.end, { final: true });
    expect(d.value.type).toBe('array');
    const head = readObjectSource(buf, 0, { skipStreamData: true });
    expect(head.stream!.start).toBe(a.stream!.start);
  });

  it('signals truncation separately from broken syntax', () => {
    expect(() => readObjectSource(Buffer.from('1 0 obj << /A [1 2'), 0)).toThrow(PdfTruncatedError);
    expect(() => readObjectSource(Buffer.from('1 0 obj << /A 1 >> stream\nabc'), 0)).toThrow(
      PdfTruncatedError,
    );
    try {
      readObjectSource(Buffer.from('garbage garbage garbage garbage garbage garbage'), 0);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(PdfError);
      expect((error as PdfError).code).toBe('BROKEN');
    }
  });

  it('bounds nesting depth', () => {
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    expect(() => parseObjectSource(deep)).toThrow(/nested/);
  });

  it('tokenizes content streams', () => {
    const p = new PdfParser(Buffer.from('q 1 0 0 1 10 20 cm /F1 12 Tf (Hi) Tj Q'));
    const tokens: string[] = [];
    for (let t = p.nextToken(); t; t = p.nextToken()) tokens.push(t.type === 'keyword' ? t.value : t.type);
    expect(tokens).toEqual([
      'q',
      ...Array(6).fill('number'),
      'cm',
      'name',
      'number',
      'Tf',
      'string',
      'Tj',
      'Q',
    ]);
  });

  it('formats output values', () => {
    expect(pdfName('A B/#')).toBe('/A#20B#2f#23');
    expect(pdfString('a(b)\\\n')).toBe('(a\\(b\\)\\\\\\n)');
    expect(pdfNumber(1 / 3)).toBe('0.3333');
    expect(pdfNumber(-0.00001)).toBe('0');
    expect(pdfNumber(12345.5)).toBe('12345.5');
  });
});
