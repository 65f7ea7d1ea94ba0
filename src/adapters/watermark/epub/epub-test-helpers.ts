/**
 * Test helpers (tests only): small valid EPUB 3 and EPUB 2 books written to a folder and zipped with the
 * Info-ZIP CLI the way the OCF asks (`mimetype` first, stored, no extra field).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { crc32 } from '../zip/records.ts';
import { run } from '../zip/zip-test-helpers.ts';

export interface BookOptions {
  version: 2 | 3;
  title?: string;
}

export const CHAPTERS = ['text/title.xhtml', 'text/ch1.xhtml', 'text/ch2.xhtml', 'text/ch_3.xhtml'];

/** Writes the book's files under `dir/<name>-src` and zips them to `dir/<name>.epub`; returns the path. */
export function makeEpub(dir: string, name: string, options: BookOptions): string {
  const src = join(dir, `${name}-src`);
  rmSync(src, { recursive: true, force: true });
  for (const d of ['META-INF', 'OEBPS/text', 'OEBPS/images']) mkdirSync(join(src, d), { recursive: true });
  const title = options.title ?? 'Tales &amp; Trials';
  writeFileSync(join(src, 'mimetype'), 'application/epub+zip');
  writeFileSync(
    join(src, 'META-INF/container.xml'),
    `<?xml version="1.0" encoding="UTF-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles>
    <rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>
  </rootfiles>
</container>
`,
  );
  writeFileSync(join(src, 'OEBPS/style.css'), 'body { font-family: serif; }\np { text-indent: 1em; }\n');
  writeFileSync(join(src, 'OEBPS/images/figure.png'), png(16, 16));
  for (const [i, path] of CHAPTERS.entries()) {
    const body =
      i === 0
        ? `<h1>${title}</h1>\n<p>A test book.</p>`
        : `<h1>Chapter ${i}</h1>\n${Array.from({ length: 20 }, (_, k) => `<p>Paragraph ${k} of chapter ${i}, with some text to read.</p>`).join('\n')}${
            i === 1 ? '\n<p><img src="../images/figure.png" alt="A figure"/></p>' : ''
          }`;
    writeFileSync(join(src, 'OEBPS', path), xhtml(options.version, i === 0 ? 'Title' : `Chapter ${i}`, body));
  }
  const items = [
    '<item id="css" href="style.css" media-type="text/css"/>',
    '<item id="figure" href="images/figure.png" media-type="image/png"/>',
    '<item id="title" href="text/title.xhtml" media-type="application/xhtml+xml"/>',
    '<item id="ch1" href="text/ch1.xhtml" media-type="application/xhtml+xml"/>',
    '<item id="ch2" href="text/ch2.xhtml" media-type="application/xhtml+xml"/>',
    // Percent-encoded on purpose: the href is a URL, the ZIP name is "text/ch_3.xhtml".
    '<item id="ch3" href="text/ch%5F3.xhtml" media-type="application/xhtml+xml"/>',
  ];
  const itemrefs = ['title', 'ch1', 'ch2', 'ch3'].map((id) => `<itemref idref="${id}"/>`).join('\n    ');
  if (options.version === 3) {
    items.push('<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>');
    writeFileSync(
      join(src, 'OEBPS/nav.xhtml'),
      `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">
<head><title>Contents</title></head>
<body>
<nav epub:type="toc" id="toc"><h1>Contents</h1>
<ol>
${CHAPTERS.map((c, i) => `<li><a href="${c}">${i === 0 ? 'Title' : `Chapter ${i}`}</a></li>`).join('\n')}
</ol>
</nav>
</body>
</html>
`,
    );
    writeFileSync(
      join(src, 'OEBPS/content.opf'),
      `<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="bookid" xml:lang="en">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:identifier id="bookid">urn:uuid:0b5a3c0e-8f5e-4a57-9d55-2f1f3a0c6d11</dc:identifier>
    <dc:title>${title}</dc:title>
    <dc:language>en</dc:language>
    <meta property="dcterms:modified">2026-11-29T00:00:00Z</meta>
  </metadata>
  <manifest>
    ${items.join('\n    ')}
  </manifest>
  <spine>
    ${itemrefs}
  </spine>
</package>
`,
    );
  } else {
    items.push('<item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>');
    writeFileSync(
      join(src, 'OEBPS/toc.ncx'),
      `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE ncx PUBLIC "-//NISO//DTD ncx 2005-1//EN" "http://www.daisy.org/z3986/2005/ncx-2005-1.dtd">
<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1">
<head>
<meta name="dtb:uid" content="urn:uuid:0b5a3c0e-8f5e-4a57-9d55-2f1f3a0c6d11"/>
<meta name="dtb:depth" content="1"/>
<meta name="dtb:totalPageCount" content="0"/>
<meta name="dtb:maxPageNumber" content="0"/>
</head>
<docTitle><text>${title}</text></docTitle>
<navMap>
${CHAPTERS.map((c, i) => `<navPoint id="np${i}" playOrder="${i + 1}"><navLabel><text>Part ${i}</text></navLabel><content src="${c}"/></navPoint>`).join('\n')}
</navMap>
</ncx>
`,
    );
    writeFileSync(
      join(src, 'OEBPS/content.opf'),
      `<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="2.0" unique-identifier="bookid">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:opf="http://www.idpf.org/2007/opf">
    <dc:identifier id="bookid" opf:scheme="UUID">urn:uuid:0b5a3c0e-8f5e-4a57-9d55-2f1f3a0c6d11</dc:identifier>
    <dc:title>${title}</dc:title>
    <dc:language>en</dc:language>
  </metadata>
  <manifest>
    ${items.join('\n    ')}
  </manifest>
  <spine toc="ncx">
    ${itemrefs}
  </spine>
</package>
`,
    );
  }
  const out = join(dir, `${name}.epub`);
  rmSync(out, { force: true });
  for (const args of [
    ['-q', '-X', '-0', out, 'mimetype'],
    ['-q', '-r', '-9', out, 'META-INF', 'OEBPS'],
  ]) {
    const r = run('zip', args, { cwd: src });
    if (r.status !== 0) throw new Error(`zip failed: ${r.stderr}`);
  }
  return out;
}

function xhtml(version: 2 | 3, title: string, body: string): string {
  const doctype =
    version === 3
      ? '<!DOCTYPE html>'
      : '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.1//EN" "http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd">';
  return `<?xml version="1.0" encoding="UTF-8"?>
${doctype}
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
<title>${title}</title>
<link rel="stylesheet" type="text/css" href="../style.css"/>
</head>
<body>
${body}
</body>
</html>
`;
}

/** A small RGB PNG, made by hand. */
export function png(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'ascii');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const rows = Buffer.alloc(height * (1 + width * 3));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * (1 + width * 3) + 1 + x * 3;
      rows[p] = x * 16;
      rows[p + 1] = y * 16;
      rows[p + 2] = 128;
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
