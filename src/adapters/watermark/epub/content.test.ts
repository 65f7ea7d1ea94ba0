import { describe, expect, it } from 'vitest';
import { addFooter, watermarkPage } from './content.ts';
import { scanTags } from './xml.ts';

const PAGE = { text: 'Licensed to <Ann & "Bo"> \u0001 · Order 7', token: 'WMK7Q2ZP4XJ3D3M5T6R2AB' };
const FOOTER_TEXT = 'Licensed to &lt;Ann &amp; &quot;Bo&quot;&gt;  · Order 7';

describe('addFooter', () => {
  it('inserts before the last </body>, keeping every other byte (even invalid UTF-8)', () => {
    const doc = Buffer.concat([
      Buffer.from('<html><body><p>caf'),
      Buffer.from([0xe9]),
      Buffer.from('</p><!-- </body> --></body>\n</html>'),
    ]);
    const out = addFooter(doc, PAGE);
    const at = doc.indexOf('</body>\n');
    expect(out.subarray(0, at).equals(doc.subarray(0, at))).toBe(true);
    expect(out.subarray(out.length - (doc.length - at)).equals(doc.subarray(at))).toBe(true);
    expect(out.toString('utf8')).toContain(`>${FOOTER_TEXT}</p><!-- CloudSecure ${PAGE.token} -->\n</body>`);
  });

  it('uses the body element prefix, re-encodes UTF-16, and falls back to a trailing comment', () => {
    expect(addFooter(Buffer.from('<h:html><h:body></h:body></h:html>'), PAGE).toString()).toMatch(
      /<h:p class="cloudsecure-watermark"[^>]*>.*<\/h:p><!-- CloudSecure \w+ -->\n<\/h:body>/,
    );
    const utf16 = Buffer.concat([
      Buffer.from([0xff, 0xfe]),
      Buffer.from('<html><body>é</body></html>', 'utf16le'),
    ]);
    const out16 = addFooter(utf16, PAGE);
    expect(out16.subarray(0, 2).equals(Buffer.from([0xff, 0xfe]))).toBe(true);
    expect(out16.subarray(2).toString('utf16le')).toContain(
      `${FOOTER_TEXT}</p><!-- CloudSecure ${PAGE.token} -->\n</body>`,
    );
    const be = Buffer.from(utf16).swap16();
    expect(addFooter(be, PAGE).swap16().subarray(2).toString('utf16le')).toContain(PAGE.token);
    expect(addFooter(Buffer.from('<svg/>'), PAGE).toString()).toBe(
      `<svg/>\n<!-- CloudSecure ${PAGE.token} -->\n`,
    );
  });
});

describe('watermarkPage', () => {
  it('is well-formed for both versions and escapes what it is given', () => {
    for (const version of [2, 3] as const) {
      const page = watermarkPage(version, { ...PAGE, buyerName: 'Ann <&>', title: 'X & Y' }).toString();
      expect(page).toContain('This copy of <em>X &amp; Y</em> is licensed to Ann &lt;&amp;&gt;.');
      expect(page).toContain(version === 3 ? '<!DOCTYPE html>' : 'XHTML 1.1');
      const stack: string[] = [];
      for (const tag of scanTags(page)) {
        if (tag.kind === 'start' && !tag.selfClosing) stack.push(tag.name);
        else if (tag.kind === 'end') expect(stack.pop()).toBe(tag.name);
      }
      expect(stack).toEqual([]);
    }
  });
});
