import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.ts';
import { assertLimit, assertSlug, sanitizeFileName, slugify } from './product.ts';

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return error instanceof AppError ? error.code : 'NOT_AN_APP_ERROR';
  }
  return undefined;
}

describe('slugify', () => {
  it('turns a name into lower-case words joined by hyphens', () => {
    expect(slugify('My Great E-Book (2nd Edition)')).toBe('my-great-e-book-2nd-edition');
  });

  it('drops accents instead of the letters carrying them', () => {
    expect(slugify('Crème Brûlée für Ångström')).toBe('creme-brulee-fur-angstrom');
  });

  it('collapses symbols and trims hyphens at both ends', () => {
    expect(slugify('  --Hello!!!   World??--  ')).toBe('hello-world');
    expect(slugify('C++ & C# / Go')).toBe('c-c-go');
  });

  it('cuts long names to 64 characters without a trailing hyphen', () => {
    const slug = slugify(`${'a'.repeat(63)} b${'c'.repeat(100)}`);
    expect(slug).toBe('a'.repeat(63));
    expect(slugify('word '.repeat(40)).length).toBeLessThanOrEqual(64);
    expect(assertSlug(slugify('word '.repeat(40)))).toBeTruthy();
  });

  it("falls back to 'product' when nothing usable is left", () => {
    expect(slugify('')).toBe('product');
    expect(slugify('!!!')).toBe('product');
    expect(slugify('日本語')).toBe('product');
  });

  it('always produces a slug that assertSlug accepts', () => {
    for (const name of ['x', 'Ünïcödé', '---', 'a-b', `${'z'.repeat(64)}-`, '🎉 Party 🎉', '0']) {
      expect(assertSlug(slugify(name))).toBe(slugify(name));
    }
  });
});

describe('assertSlug', () => {
  it('accepts lower-case letters, digits and inner hyphens up to 64 characters', () => {
    for (const slug of ['a', '0', 'ebook', 'my-ebook-2', 'a'.repeat(64)]) expect(assertSlug(slug)).toBe(slug);
  });

  it.each(['', 'A', 'Ebook', '-ebook', 'ebook-', 'e book', 'e_book', 'e/book', '../x', 'a'.repeat(65), 'é'])(
    'rejects %j with INVALID_REQUEST',
    (slug) => {
      expect(codeOf(() => assertSlug(slug))).toBe('INVALID_REQUEST');
    },
  );
});

describe('sanitizeFileName', () => {
  it('keeps only the last path part, so traversal is impossible', () => {
    expect(sanitizeFileName('../../etc/passwd')).toBe('passwd');
    expect(sanitizeFileName('/absolute/path/report.pdf')).toBe('report.pdf');
  });

  it('treats backslashes as path separators too', () => {
    expect(sanitizeFileName('..\\..\\Windows\\system32\\evil.dll')).toBe('evil.dll');
    expect(sanitizeFileName('C:\\Users\\me\\Desktop\\book.epub')).toBe('book.epub');
  });

  it('removes control characters', () => {
    expect(sanitizeFileName('re\u0000po\r\nrt\u001b[31m.pdf\u007f\u0085')).toBe('report[31m.pdf');
  });

  it('removes bidi controls that would disguise the extension', () => {
    expect(sanitizeFileName('invoice\u202Efdp.exe')).toBe('invoicefdp.exe');
    expect(sanitizeFileName('\u2066a\u2069\u200F.txt')).toBe('a.txt');
  });

  it('removes leading dots and surrounding spaces, so no hidden file is offered', () => {
    expect(sanitizeFileName('.bashrc')).toBe('bashrc');
    expect(sanitizeFileName('  ...hidden.txt.  ')).toBe('hidden.txt');
  });

  it("falls back to 'file' for names made only of dots, spaces or separators", () => {
    for (const raw of ['', '.', '..', '...', '  ', '/', '../', 'dir/', '\u0000\u0001']) {
      expect(sanitizeFileName(raw)).toBe('file');
    }
  });

  it('keeps ordinary names, spaces inside and non-ASCII letters unchanged', () => {
    expect(sanitizeFileName('Über Bücher – 1.pdf')).toBe('Über Bücher – 1.pdf');
    expect(sanitizeFileName('日本語の本.epub')).toBe('日本語の本.epub');
  });

  it('cuts a 300-character name to 200 code points', () => {
    expect(sanitizeFileName('x'.repeat(300))).toBe('x'.repeat(200));
  });

  it('never splits an emoji when cutting', () => {
    const name = sanitizeFileName('😀'.repeat(300));
    expect([...name]).toHaveLength(200);
    expect(name).toBe('😀'.repeat(200));
    expect(name).not.toMatch(/\p{Cs}/u); // no lone surrogate
    const mixed = sanitizeFileName(`${'a'.repeat(199)}😀😀`);
    expect(mixed).toBe(`${'a'.repeat(199)}😀`);
  });

  it('does not leave a trailing dot or space exposed by the cut', () => {
    expect(sanitizeFileName(`${'a'.repeat(198)} .${'b'.repeat(50)}`)).toBe('a'.repeat(198));
  });
});

describe('assertLimit', () => {
  it('returns whole numbers from 0 to the maximum', () => {
    expect(assertLimit(0, 'download_limit', 10)).toBe(0);
    expect(assertLimit(10, 'download_limit', 10)).toBe(10);
  });

  it.each([-1, 11, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('rejects %s and names the field', (value) => {
    try {
      assertLimit(value, 'download_limit', 10);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).code).toBe('INVALID_REQUEST');
      expect((error as AppError).detail).toEqual({ path: 'download_limit' });
    }
  });
});
