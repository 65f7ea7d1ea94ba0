import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TextFont } from '../../src/adapters/watermark/pdf/text-font.ts';

/**
 * A minimal one-page PDF (catalog, pages, page, content, the font's objects; classic xref) that draws
 * `font.show(text)` with `BT /F1 <size> Tf 72 700 Td … Tj ET`, for testing TextFont implementations with
 * pdftotext / pdffonts / qpdf / pdf.js.
 */
export function onePagePdf(font: TextFont, text: string, size = 24): Buffer {
  const fontBase = 5;
  const ref = (i: number): string => `${fontBase + i} 0 R`;
  const resolve = (dict: string): string =>
    dict.replace(/\{\{ref:(\d+)\}\}/g, (_, n: string) => ref(Number(n)));
  const content = Buffer.from(`BT /F1 ${size} Tf 72 700 Td ${font.show(text)} Tj ET\n`, 'latin1');
  const bodies: Buffer[] = [
    Buffer.from('<< /Type /Catalog /Pages 2 0 R >>'),
    Buffer.from('<< /Type /Pages /Kids [3 0 R] /Count 1 >>'),
    Buffer.from(
      `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 ${ref(font.root)} >> >> >>`,
    ),
    streamObject('<< >>', content),
    ...font.objects.map((o) =>
      o.stream ? streamObject(resolve(o.dict), o.stream) : Buffer.from(resolve(o.dict)),
    ),
  ];
  const parts: Buffer[] = [Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n', 'latin1')];
  let offset = parts[0]?.length ?? 0;
  const offsets: number[] = [];
  bodies.forEach((body, i) => {
    offsets.push(offset);
    const obj = Buffer.concat([Buffer.from(`${i + 1} 0 obj\n`), body, Buffer.from('\nendobj\n')]);
    parts.push(obj);
    offset += obj.length;
  });
  let xref = `xref\n0 ${bodies.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) xref += `${String(o).padStart(10, '0')} 00000 n \n`;
  xref += `trailer\n<< /Size ${bodies.length + 1} /Root 1 0 R >>\nstartxref\n${offset}\n%%EOF\n`;
  parts.push(Buffer.from(xref, 'latin1'));
  return Buffer.concat(parts);
}

function streamObject(dict: string, data: Buffer): Buffer {
  const withLength = dict.replace(/>>\s*$/, `/Length ${data.length} >>`);
  return Buffer.concat([
    Buffer.from(`${withLength}\nstream\n`, 'latin1'),
    data,
    Buffer.from('\nendstream', 'latin1'),
  ]);
}

export interface PdfToolReport {
  /** pdftotext output, trimmed, with poppler's bidi embedding marks (U+202A–U+202E) removed. */
  text: string;
  /** qpdf --check: exit status and output. */
  qpdfStatus: number | null;
  qpdfOutput: string;
  /** pdffonts rows: name, type, encoding, emb, sub, uni. */
  fonts: { name: string; type: string; encoding: string; emb: boolean; sub: boolean; uni: boolean }[];
}

/** Runs pdftotext, qpdf --check and pdffonts (poppler-utils, qpdf) on `pdf`. */
export function inspectPdf(pdf: Buffer): PdfToolReport {
  const dir = mkdtempSync(join(tmpdir(), 'font-pdf-'));
  try {
    const file = join(dir, 'font.pdf');
    writeFileSync(file, pdf);
    const text = execFileSync('pdftotext', ['-enc', 'UTF-8', file, '-'], { encoding: 'utf8' })
      .replace(/[\u202a-\u202e]/g, '')
      .replace(/\f/g, '')
      .trim();
    const qpdf = spawnSync('qpdf', ['--check', file], { encoding: 'utf8' });
    const fontsOut = execFileSync('pdffonts', [file], { encoding: 'utf8' });
    const fonts = fontsOut
      .split('\n')
      .slice(2)
      .filter((l) => l.trim().length > 0)
      .map((line) => {
        // name (36) type (17) encoding (16) emb sub uni object ID
        const name = line.slice(0, 36).trim();
        const type = line.slice(37, 54).trim();
        const encoding = line.slice(55, 71).trim();
        const [emb, sub, uni] = line.slice(72).trim().split(/\s+/);
        return { name, type, encoding, emb: emb === 'yes', sub: sub === 'yes', uni: uni === 'yes' };
      });
    return { text, qpdfStatus: qpdf.status, qpdfOutput: `${qpdf.stdout}${qpdf.stderr}`, fonts };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The text pdf.js (pdfjs-dist) extracts from page 1, items joined. */
export async function pdfjsText(pdf: Buffer): Promise<string> {
  const { getDocument } = await import('pdfjs-dist/legacy/build/pdf.mjs');
  const doc = await getDocument({ data: new Uint8Array(pdf), verbosity: 0 }).promise;
  try {
    const page = await doc.getPage(1);
    const content = await page.getTextContent();
    return content.items
      .map((item) => ('str' in item ? item.str : ''))
      .join('')
      .trim();
  } finally {
    await doc.destroy();
  }
}
