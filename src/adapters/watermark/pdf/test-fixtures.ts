/**
 * Test support (not product code): the hand-made PDFs the watermark tests run over. Each page says
 * `Page N` so text extraction can check the original content survived.
 */
import { appendUpdate, type HandObject, textContent, writePdf } from './test-pdfs.ts';

const FONT = '<</Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding>>';
const ID: [string, string] = ['0123456789abcdef0123456789abcdef', '0123456789abcdef0123456789abcdef'];

interface PageSpec {
  extra?: string;
  media?: string;
  content?: string;
  at?: [number, number];
}

/** Catalog 1, Pages 2, font 3, pages from 10 (page i: dict 10+2i, contents 11+2i), Info 4. */
function simple(pages: PageSpec[], pagesExtra = '<</Font <</F1 3 0 R>>>>'): HandObject[] {
  const kids = pages.map((_, i) => `${10 + 2 * i} 0 R`).join(' ');
  const objects: HandObject[] = [
    { num: 1, body: '<</Type /Catalog /Pages 2 0 R>>' },
    { num: 2, body: `<</Type /Pages /Kids [${kids}] /Count ${pages.length} /Resources ${pagesExtra}>>` },
    { num: 3, body: FONT },
    { num: 4, body: '<</Title (Hand made) /Producer (CloudSecure tests)>>' },
  ];
  pages.forEach((p, i) => {
    objects.push({
      num: 10 + 2 * i,
      body: `<</Type /Page /Parent 2 0 R /MediaBox ${p.media ?? '[0 0 612 792]'} /Contents ${11 + 2 * i} 0 R${p.extra ?? ''}>>`,
    });
    objects.push({
      num: 11 + 2 * i,
      body: '<<>>',
      stream: textContent(p.content ?? `Page ${i + 1}`, ...(p.at ?? [72, 700])),
    });
  });
  return objects;
}

export function classicPdf(): Buffer {
  return writePdf(simple([{}, {}, {}]), { root: 1, info: 4, xref: 'table', version: '1.4', id: ID });
}

/** Xref stream (PNG predictor) with the page dictionaries and the tree inside an object stream. */
export function objectStreamPdf(): Buffer {
  return writePdf(simple([{}, {}, {}, {}]), {
    root: 1,
    info: 4,
    xref: 'stream',
    version: '1.5',
    inObjectStream: [1, 2, 3, 4, 10, 12, 14, 16],
  });
}

/** Rotations 0/90/180/270, a CropBox offset inside the MediaBox, and a MediaBox not at the origin. */
export function rotatedPdf(): Buffer {
  return writePdf(
    simple([
      { extra: ' /Rotate 90' },
      { extra: ' /Rotate 180' },
      { extra: ' /Rotate 270' },
      { extra: ' /Rotate -90 /CropBox [50 60 400 500]', at: [100, 300] },
      { extra: ' /CropBox [40 30 560 740]', media: '[100 200 712 992]', at: [150, 500] },
    ]),
    { root: 1, xref: 'table' },
  );
}

/**
 * Inherited attributes: /Resources (indirect, with an indirect /XObject), /MediaBox and /Rotate on a
 * nested /Pages node; /Contents as an array and as a reference to an array.
 */
export function inheritedPdf(): Buffer {
  const objects: HandObject[] = [
    { num: 1, body: '<</Type /Catalog /Pages 2 0 R>>' },
    {
      num: 2,
      body: '<</Type /Pages /Kids [5 0 R 20 0 R] /Count 3 /Resources 6 0 R /MediaBox [0 0 500 400]>>',
    },
    { num: 3, body: FONT },
    { num: 5, body: '<</Type /Pages /Parent 2 0 R /Kids [10 0 R 12 0 R] /Count 2 /Rotate 90>>' },
    { num: 6, body: '<</Font <</F1 3 0 R>> /XObject 7 0 R /ProcSet [/PDF /Text]>>' },
    { num: 7, body: '<</Im0 8 0 R>>' },
    {
      num: 8,
      body: '<</Type /XObject /Subtype /Form /BBox [0 0 10 10]>>',
      stream: Buffer.from('0 0 10 10 re f'),
    },
    { num: 10, body: '<</Type /Page /Parent 5 0 R /Contents [11 0 R 16 0 R]>>' },
    { num: 11, body: '<<>>', stream: textContent('Page 1', 72, 300) },
    { num: 16, body: '<<>>', stream: Buffer.from('q 50 50 m 100 100 l S Q') },
    { num: 12, body: '<</Type /Page /Parent 5 0 R /Contents 17 0 R>>' },
    { num: 17, body: '[13 0 R]' },
    { num: 13, body: '<<>>', stream: textContent('Page 2', 72, 300) },
    { num: 20, body: '<</Type /Page /Parent 2 0 R /Contents 21 0 R /Resources <</Font <</F1 3 0 R>>>>>>' },
    { num: 21, body: '<<>>', stream: textContent('Page 3', 72, 300) },
  ];
  return writePdf(objects, { root: 1, xref: 'table', id: ID });
}

/** A classic file with an incremental update that changes page 2 and the Info dictionary. */
export function updatedPdf(): Buffer {
  const base = writePdf(simple([{}, {}, {}]), { root: 1, info: 4, xref: 'table', id: ID });
  return appendUpdate(
    base,
    [
      { num: 13, body: '<<>>', stream: textContent('Page 2 revised') },
      { num: 4, body: '<</Title (Updated)>>' },
    ],
    `/Root 1 0 R /Info 4 0 R /ID [<${ID[0]}> <${ID[1]}>]`,
  );
}

/** A hybrid file: classic table plus /XRefStm listing the objects packed in an object stream. */
export function hybridPdf(): Buffer {
  return writePdf(simple([{}, {}, {}]), {
    root: 1,
    info: 4,
    xref: 'hybrid',
    version: '1.5',
    inObjectStream: [10, 12, 4],
  });
}
