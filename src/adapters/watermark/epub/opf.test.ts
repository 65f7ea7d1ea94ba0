import { describe, expect, it } from 'vitest';
import { markPackage, parsePackage, resolveHref } from './opf.ts';

const MARK = {
  token: 'WMK7Q2ZP4XJ3D3M5T6R2AB',
  pageId: 'wm-WMK7Q2ZP4XJ3D3M5T6R2AB',
  pageHref: 'wm-WMK7Q2ZP4XJ3D3M5T6R2AB.xhtml',
};

describe('parsePackage / markPackage', () => {
  it('handles prefixed OPF elements, an existing prefix attribute and non-self-closing itemrefs', () => {
    const opf = `<?xml version="1.0"?>
<!-- <package> in a comment is not the package -->
<opf:package xmlns:opf="http://www.idpf.org/2007/opf" version="3.0" prefix="rendition: http://www.idpf.org/vocab/rendition/#">
<opf:metadata><dc:title xmlns:dc="http://purl.org/dc/elements/1.1/">A &lt;B&gt; &amp; C</dc:title></opf:metadata>
<opf:manifest>
<opf:item id="a" href="Text/A%20b.xhtml#top" media-type="application/xhtml+xml"/>
<opf:item id="n" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav scripted"/>
<opf:item id="r" href="https://example.com/x.mp4" media-type="video/mp4"/>
</opf:manifest>
<opf:spine><opf:itemref idref="a"></opf:itemref><opf:itemref idref="n"/></opf:spine>
</opf:package>`;
    const pkg = parsePackage(opf, 'OPS/content.opf');
    expect(pkg.version).toBe(3);
    expect(pkg.title).toBe('A <B> & C');
    expect(pkg.items.map((i) => [i.id, i.path, i.properties])).toEqual([
      ['a', 'OPS/Text/A b.xhtml', []],
      ['n', 'OPS/nav.xhtml', ['nav', 'scripted']],
      ['r', undefined, []],
    ]);
    const out = markPackage(opf, pkg, MARK);
    expect(out).toContain(
      'prefix="rendition: http://www.idpf.org/vocab/rendition/# cloudsecure: https://cloudsecure.invalid/ns/epub#"',
    );
    expect(out).toContain(`<opf:meta property="cloudsecure:mark">${MARK.token}</opf:meta></opf:metadata>`);
    expect(out).toContain(
      `\n  <opf:item id="${MARK.pageId}" href="${MARK.pageHref}" media-type="application/xhtml+xml"/>\n</opf:manifest>`,
    );
    expect(out).toContain(
      `<opf:itemref idref="a"></opf:itemref>\n<opf:itemref idref="${MARK.pageId}"/><opf:itemref idref="n"/>`,
    );
    // Nothing else changed.
    expect(
      out.replace(
        / cloudsecure: https:\/\/cloudsecure\.invalid\/ns\/epub#|<opf:meta[^>]*>[^<]*<\/opf:meta>|\n<!-- CloudSecure \w+ -->| {2}<opf:item id="wm-[^>]*>\n|\n<opf:itemref idref="wm-[^>]*>/g,
        '',
      ),
    ).toBe(opf);
  });

  it('puts the itemref first when the spine is empty, and keeps a prefix declared before', () => {
    const opf = `<package xmlns="http://www.idpf.org/2007/opf" version="3.0" prefix="cloudsecure: https://cloudsecure.invalid/ns/epub#"><metadata/><metadata></metadata><manifest></manifest><spine></spine></package>`;
    const out = markPackage(opf, parsePackage(opf, 'content.opf'), MARK);
    expect(out).toContain(`<spine><itemref idref="${MARK.pageId}"/></spine>`);
    expect(out.match(/cloudsecure: /g)).toHaveLength(1);
  });

  it('resolves hrefs as URLs relative to the OPF', () => {
    expect(resolveHref('OEBPS/', '../images/a%2Bb.png')).toBe('images/a+b.png');
    expect(resolveHref('', './x.xhtml?q#f')).toBe('x.xhtml');
    expect(resolveHref('A/', 'mailto:x@y')).toBeUndefined();
    expect(resolveHref('A/', '%E0%A4%A')).toBe('A/%E0%A4%A');
  });
});
