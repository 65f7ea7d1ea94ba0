/**
 * The PDF test corpus, made on this machine with Ghostscript, qpdf and hand-written PDF, so the watermark
 * tests need no downloaded files. Generated once into `os.tmpdir()/cloudsecure-pdf-corpus-<version>` and
 * reused by every test file and run (a missing file is regenerated; bump CORPUS_VERSION when a generator
 * changes). Files are written under a temporary name and renamed, and generation runs under a lock
 * directory, so parallel test workers never see half-written files.
 *
 * Every page N of an M-page corpus file shows the text `Page N of M` (see `pageLabel`), so tests can check
 * that the original text survives next to the watermark.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  type Dirent,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statSync,
} from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDeflate, deflateSync, constants as zlibConstants } from 'node:zlib';
import { runTool } from './pdf-verify.ts';

export const CORPUS_VERSION = 1;

export const CORPUS_NAMES = [
  'gs-text',
  'objstm',
  'linearized',
  'rotated',
  'cropped',
  'inherited',
  'incremental',
  'text2000',
  'big-image',
  'encrypted-owner',
  'encrypted-user',
  'broken-xref',
] as const;

export type CorpusName = (typeof CORPUS_NAMES)[number];

export interface CorpusEntry {
  pages: number;
  description: string;
  /** What `qpdf --check` says about the file as generated. */
  check: 'clean' | 'warnings' | 'needs-password';
}

export const USER_PASSWORD = 'user-secret';
export const OWNER_PASSWORD = 'owner-secret';

const GS_TEXT_PAGES = 5;
const BIG_IMAGE_PAGES = 120;

export const CORPUS: Readonly<Record<CorpusName, CorpusEntry>> = {
  'gs-text': {
    pages: GS_TEXT_PAGES,
    description:
      'Ghostscript pdfwrite, classic xref, indirect /Length, Helvetica/Times, a Latin-1 line on page 1',
    check: 'clean',
  },
  objstm: {
    pages: GS_TEXT_PAGES,
    description: 'gs-text through qpdf --object-streams=generate',
    check: 'clean',
  },
  linearized: { pages: GS_TEXT_PAGES, description: 'gs-text through qpdf --linearize', check: 'clean' },
  rotated: {
    pages: GS_TEXT_PAGES,
    description: 'gs-text with /Rotate 0, 90, 180, 270, 270 on pages 1-5 (qpdf --rotate)',
    check: 'clean',
  },
  cropped: {
    pages: 3,
    description:
      'hand-written: MediaBox off 0,0 with an offset CropBox; negative MediaBox + CropBox + /Rotate 90; CropBox beyond MediaBox',
    check: 'clean',
  },
  inherited: {
    pages: 4,
    description: 'hand-written: /Resources, /MediaBox, /CropBox, /Rotate inherited through two /Pages levels',
    check: 'clean',
  },
  incremental: {
    pages: GS_TEXT_PAGES,
    description:
      'gs-text plus an appended revision: new /Info (same object number), page 1 replaced (adds "Revision 2")',
    check: 'clean',
  },
  text2000: { pages: 2000, description: 'Ghostscript, 2,000 A4 pages × 62 lines of text', check: 'clean' },
  'big-image': {
    pages: BIG_IMAGE_PAGES,
    description: `Ghostscript, ${BIG_IMAGE_PAGES} pages each with a different 500×500 DCT (JPEG) noise image, ≥ 100 MB`,
    check: 'clean',
  },
  'encrypted-owner': {
    pages: GS_TEXT_PAGES,
    description: `gs-text, AES-256 (R6), empty user password, owner password "${OWNER_PASSWORD}"`,
    check: 'clean',
  },
  'encrypted-user': {
    pages: GS_TEXT_PAGES,
    description: `gs-text, AES-256 (R6), user password "${USER_PASSWORD}" (for refusal tests)`,
    check: 'needs-password',
  },
  'broken-xref': {
    pages: GS_TEXT_PAGES,
    description: 'gs-text with every xref offset shifted by +7 (qpdf reconstructs it, with warnings)',
    check: 'warnings',
  },
};

/** The text every page N of an M-page corpus file shows. */
export function pageLabel(page: number, pages: number): string {
  return `Page ${page} of ${pages}`;
}

/** Text on page 1 of gs-text and everything derived from it (a re-encoded Helvetica, ISOLatin1). */
export const LATIN1_LINE = 'Grüße aus Köln, café crème';
/** Text the `incremental` file's second revision adds to page 1. */
export const REVISION_2_TEXT = 'Revision 2 footer';

export function corpusDir(): string {
  return join(tmpdir(), `cloudsecure-pdf-corpus-${CORPUS_VERSION}`);
}

// ---------------------------------------------------------------------------------------------------------
// Hand-written PDF
// ---------------------------------------------------------------------------------------------------------

export interface RawObject {
  num: number;
  gen?: number;
  /** What goes between `N G obj` and `endobj`. */
  body: string | Buffer;
}

function bytes(value: string | Buffer): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
}

/** A stream object body with a direct /Length: `<< dict /Length n >>stream … endstream`. */
export function pdfStream(dict: string, data: string | Buffer): Buffer {
  const body = bytes(data);
  return Buffer.concat([
    bytes(`<< ${dict ? `${dict} ` : ''}/Length ${body.length} >>\nstream\n`),
    body,
    bytes('\nendstream'),
  ]);
}

/** Lays objects out from `start` on; returns their bytes and each object's offset. */
export function layoutObjects(
  objects: readonly RawObject[],
  start: number,
): { data: Buffer; offsets: Map<number, { offset: number; gen: number }> } {
  const parts: Buffer[] = [];
  const offsets = new Map<number, { offset: number; gen: number }>();
  let position = start;
  for (const object of objects) {
    const gen = object.gen ?? 0;
    const part = Buffer.concat([
      bytes(`${object.num} ${gen} obj\n`),
      bytes(object.body),
      bytes('\nendobj\n'),
    ]);
    offsets.set(object.num, { offset: position, gen });
    parts.push(part);
    position += part.length;
  }
  return { data: Buffer.concat(parts), offsets };
}

/**
 * A classic xref section (`xref` … up to, not including, `trailer`) with one subsection per run of
 * consecutive object numbers; object 0 (free) is included when `withFreeHead`.
 */
export function xrefTable(
  offsets: ReadonlyMap<number, { offset: number; gen: number }>,
  withFreeHead = true,
): string {
  const entries = new Map<number, string>();
  if (withFreeHead) entries.set(0, '0000000000 65535 f \n');
  for (const [num, { offset, gen }] of offsets) {
    entries.set(num, `${String(offset).padStart(10, '0')} ${String(gen).padStart(5, '0')} n \n`);
  }
  const nums = [...entries.keys()].sort((a, b) => a - b);
  let out = 'xref\n';
  for (let i = 0; i < nums.length; ) {
    let j = i;
    while (j + 1 < nums.length && nums[j + 1] === nums[j]! + 1) j++;
    out += `${nums[i]} ${j - i + 1}\n`;
    for (let k = i; k <= j; k++) out += entries.get(nums[k]!);
    i = j + 1;
  }
  return out;
}

export const PDF_HEADER = '%PDF-1.7\n%\xE2\xE3\xCF\xD3\n';

/**
 * A complete one-revision PDF with a classic xref table. `trailer` is the inside of the trailer dictionary
 * without /Size (added as max object number + 1 unless `size` is given); the token `{xref}` in it is replaced
 * by the xref section's offset (for hostile /Prev loops).
 */
export function buildPdf(
  objects: readonly RawObject[],
  trailer: string,
  options: { size?: number; header?: string } = {},
): Buffer {
  const header = bytes(options.header ?? PDF_HEADER);
  const { data, offsets } = layoutObjects(objects, header.length);
  const xrefAt = header.length + data.length;
  const size = options.size ?? Math.max(0, ...objects.map((object) => object.num)) + 1;
  const tail = `${xrefTable(offsets)}trailer\n<< /Size ${size} ${trailer.replaceAll('{xref}', String(xrefAt))} >>\nstartxref\n${xrefAt}\n%%EOF\n`;
  return Buffer.concat([header, data, bytes(tail)]);
}

/** PDF string literal escaping for ASCII/Latin-1 text. */
function pdfString(text: string): string {
  return `(${text.replace(/[\\()]/g, (c) => `\\${c}`)})`;
}

function textContent(lines: readonly { x: number; y: number; size: number; text: string }[]): string {
  return lines
    .map((line) => `BT /F1 ${line.size} Tf ${line.x} ${line.y} Td ${pdfString(line.text)} Tj ET`)
    .join('\n');
}

const HELVETICA = '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>';

function croppedPdf(): Buffer {
  const pages = CORPUS.cropped.pages;
  const page1 = textContent([
    { x: 170, y: 900, size: 14, text: pageLabel(1, pages) },
    { x: 170, y: 880, size: 10, text: 'MediaBox [100 200 712 992], CropBox [150 250 662 942]' },
    { x: 170, y: 270, size: 10, text: 'Bottom of the crop box' },
    // Outside the crop box: hidden by viewers.
    { x: 110, y: 210, size: 10, text: 'Outside the crop box' },
  ]);
  const page2 = textContent([
    { x: -230, y: 320, size: 14, text: pageLabel(2, pages) },
    {
      x: -230,
      y: 300,
      size: 10,
      text: 'MediaBox [-300 -400 312 392], CropBox [-250 -350 262 342], Rotate 90',
    },
    { x: -230, y: -330, size: 10, text: 'Bottom of the crop box' },
  ]);
  const page3 = textContent([
    { x: 40, y: 540, size: 14, text: pageLabel(3, pages) },
    {
      x: 40,
      y: 520,
      size: 10,
      text: 'MediaBox [0 0 420 595], CropBox [-50 -50 500 700] (clipped to the MediaBox)',
    },
    { x: 40, y: 500, size: 10, text: 'TrimBox, BleedBox and ArtBox set' },
  ]);
  return buildPdf(
    [
      { num: 1, body: '<< /Type /Catalog /Pages 2 0 R >>' },
      { num: 2, body: '<< /Type /Pages /Kids [3 0 R 5 0 R 7 0 R] /Count 3 >>' },
      {
        num: 3,
        body: '<< /Type /Page /Parent 2 0 R /MediaBox [100 200 712 992] /CropBox [150 250 662 942] /Resources << /Font << /F1 9 0 R >> >> /Contents 4 0 R >>',
      },
      { num: 4, body: pdfStream('', page1) },
      {
        num: 5,
        body: '<< /Type /Page /Parent 2 0 R /MediaBox [-300 -400 312 392] /CropBox [-250 -350 262 342] /Rotate 90 /Resources << /Font << /F1 9 0 R >> >> /Contents 6 0 R >>',
      },
      { num: 6, body: pdfStream('', page2) },
      {
        num: 7,
        body: '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 420 595] /CropBox [-50 -50 500 700] /TrimBox [10 10 410 585] /BleedBox [5 5 415 590] /ArtBox [20 20 400 575] /Resources << /Font << /F1 9 0 R >> >> /Contents 8 0 R >>',
      },
      { num: 8, body: pdfStream('', page3) },
      { num: 9, body: HELVETICA },
      { num: 10, body: '<< /Title (cropped boxes) /Producer (cloudsecure tests) >>' },
    ],
    '/Root 1 0 R /Info 10 0 R',
  );
}

function inheritedPdf(): Buffer {
  const pages = CORPUS.inherited.pages;
  const flate = (text: string): Buffer =>
    pdfStream('/Filter /FlateDecode', deflateSync(Buffer.from(text, 'latin1')));
  const content = (n: number, note: string): Buffer =>
    flate(
      textContent([
        { x: 60, y: 740, size: 14, text: pageLabel(n, pages) },
        { x: 60, y: 720, size: 10, text: note },
      ]),
    );
  return buildPdf(
    [
      { num: 1, body: '<< /Type /Catalog /Pages 2 0 R >>' },
      // Root node: MediaBox, Resources (indirect) and Rotate for everything below.
      {
        num: 2,
        body: '<< /Type /Pages /Kids [3 0 R 5 0 R] /Count 4 /MediaBox [0 0 612 792] /Resources 11 0 R /Rotate 0 >>',
      },
      { num: 3, body: '<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>' },
      { num: 4, body: content(1, 'Resources, MediaBox and Rotate inherited from the root /Pages') },
      // Intermediate node: overrides Rotate and adds a CropBox; its kids inherit both.
      {
        num: 5,
        body: '<< /Type /Pages /Parent 2 0 R /Kids [6 0 R 8 0 R 9 0 R] /Count 3 /Rotate 90 /CropBox [20 20 592 772] >>',
      },
      { num: 6, body: '<< /Type /Page /Parent 5 0 R /Contents [7 0 R] >>' },
      { num: 7, body: content(2, 'Rotate 90 and CropBox inherited from an intermediate /Pages') },
      { num: 8, body: '<< /Type /Page /Parent 5 0 R /Contents 10 0 R /Rotate 0 >>' },
      {
        num: 9,
        body: '<< /Type /Page /Parent 5 0 R /Contents 13 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 12 0 R >> >> >>',
      },
      { num: 10, body: content(3, 'Own /Rotate 0, inherited CropBox and Resources') },
      { num: 11, body: '<< /Font << /F1 12 0 R >> /ProcSet [/PDF /Text] >>' },
      { num: 12, body: HELVETICA },
      { num: 13, body: content(4, 'Own MediaBox and Resources, inherited CropBox and Rotate 90') },
    ],
    '/Root 1 0 R',
  );
}

// ---------------------------------------------------------------------------------------------------------
// PostScript for Ghostscript
// ---------------------------------------------------------------------------------------------------------

/** Deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  'licence reader chapter figure table margin author edition preface index volume paper press print ' +
  'copy digital order buyer seller download file archive backup server stream object page content font ' +
  'image vector glyph kerning leading baseline column section appendix summary method result measure ' +
  'quick brown fox jumps over lazy dog alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega'
).split(' ');

function textPostScript(pages: number, linesPerPage: number, seed: number, latin1Line: boolean): string {
  const random = prng(seed);
  const out: string[] = [
    '%!PS-Adobe-3.0',
    '<< /PageSize [595 842] >> setpagedevice',
    '/F1 /Helvetica findfont 14 scalefont def',
    '/F2 /Times-Roman findfont 10 scalefont def',
    // Helvetica re-encoded with ISOLatin1Encoding, for the accented line.
    '/Helvetica findfont dup length dict begin { 1 index /FID ne { def } { pop pop } ifelse } forall',
    '/Encoding ISOLatin1Encoding def currentdict end /Helvetica-Latin1 exch definefont pop',
    '/F3 /Helvetica-Latin1 findfont 12 scalefont def',
  ];
  for (let page = 1; page <= pages; page++) {
    out.push(`F1 setfont 56 800 moveto (${pageLabel(page, pages)}) show`);
    if (latin1Line && page === 1)
      out.push('F3 setfont 56 780 moveto (Gr\\374\\337e aus K\\366ln, caf\\351 cr\\350me) show');
    out.push('F2 setfont');
    for (let line = 0; line < linesPerPage; line++) {
      const words: string[] = [];
      for (let w = 0; w < 13; w++) words.push(WORDS[Math.floor(random() * WORDS.length)]!);
      out.push(`56 ${760 - line * 11.5} moveto (${page}.${line + 1} ${words.join(' ')}) show`);
    }
    out.push('showpage');
  }
  out.push('%%EOF', '');
  return out.join('\n');
}

const IMAGE_SIDE = 500;

function imagePostScript(noisePath: string, pages: number): string {
  const rowBytes = IMAGE_SIDE * 3;
  return [
    '%!PS-Adobe-3.0',
    '<< /PageSize [595 842] >> setpagedevice',
    // Near-lossless JPEG without chroma subsampling: noise then costs ~3.7 bytes per pixel, so the file gets
    // big with few pixels, which keeps qpdf --check (it decodes every DCT stream) fast.
    '<< /ColorImageDict << /QFactor 0.02 /Blend 1 /HSamples [1 1 1 1] /VSamples [1 1 1 1] >> >> setdistillerparams',
    `/src (${noisePath}) (r) file def`,
    '/F1 /Helvetica findfont 14 scalefont def',
    `1 1 ${pages} { /p exch def`,
    // A different stretch of the noise file for every page, so Ghostscript cannot share images.
    `  src p ${rowBytes + 7} mul setfileposition`,
    `  gsave 47 200 translate 500 500 scale`,
    `  ${IMAGE_SIDE} ${IMAGE_SIDE} 8 [${IMAGE_SIDE} 0 0 -${IMAGE_SIDE} 0 ${IMAGE_SIDE}] src false 3 colorimage`,
    '  grestore',
    `  F1 setfont 56 760 moveto (Page ) show p 10 string cvs show ( of ${pages}) show`,
    '  showpage',
    '} for',
    '%%EOF',
    '',
  ].join('\n');
}

function noiseBytes(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i + 4 <= length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.writeUInt32LE(x >>> 0, i);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------------------------------------

async function gs(args: readonly string[], timeoutMs = 120_000): Promise<void> {
  const run = await runTool('gs', ['-q', '-dNOPAUSE', '-dBATCH', '-dSAFER', '-sDEVICE=pdfwrite', ...args], {
    timeoutMs,
  });
  if (run.code !== 0)
    throw new Error(`gs failed (${run.code}): ${(run.stderr || run.stdout).slice(0, 2000)}`);
}

async function qpdf(args: readonly string[]): Promise<void> {
  const run = await runTool('qpdf', args, { timeoutMs: 120_000 });
  // 3 = succeeded with warnings (expected for broken inputs).
  if (run.code !== 0 && run.code !== 3)
    throw new Error(`qpdf ${args.join(' ')} failed (${run.code}): ${run.stderr}`);
}

interface ClassicXref {
  entries: Map<number, { offset: number; gen: number }>;
  /** Offset of the `xref` keyword. */
  at: number;
  trailer: string;
  startxref: number;
}

/** Reads the last classic xref section of a file we made ourselves (not a general parser). */
function readClassicXref(data: Buffer): ClassicXref {
  const text = data.toString('latin1');
  const startMatch = /startxref\s+(\d+)\s+%%EOF\s*$/.exec(text);
  if (!startMatch) throw new Error('no startxref');
  const at = Number(startMatch[1]);
  if (!text.startsWith('xref', at)) throw new Error('startxref does not point at a classic xref table');
  const trailerAt = text.indexOf('trailer', at);
  const entries = new Map<number, { offset: number; gen: number }>();
  const lines = text
    .slice(at + 4, trailerAt)
    .trim()
    .split(/\r?\n|\r/);
  for (let i = 0; i < lines.length; ) {
    const [first, count] = lines[i]!.trim().split(/\s+/).map(Number);
    for (let k = 0; k < count!; k++) {
      const [offset, gen, kind] = lines[i + 1 + k]!.trim().split(/\s+/);
      if (kind === 'n') entries.set(first! + k, { offset: Number(offset), gen: Number(gen) });
    }
    i += 1 + count!;
  }
  const trailer = text.slice(trailerAt, text.indexOf('startxref', trailerAt));
  return { entries, at, trailer, startxref: at };
}

function objectText(data: Buffer, offset: number): string {
  const text = data.toString('latin1', offset, offset + 100_000);
  const end = text.indexOf('endobj');
  const start = text.indexOf('obj') + 3;
  return text.slice(start, end).trim();
}

async function incrementalPdf(base: string): Promise<Buffer> {
  const data = await readFile(base);
  const xref = readClassicXref(data);
  const pagesRun = await runTool('qpdf', ['--show-pages', base]);
  const pageMatch = /page 1: (\d+) 0 R/.exec(pagesRun.stdout);
  if (!pageMatch) throw new Error('qpdf --show-pages: no page 1');
  const pageNum = Number(pageMatch[1]);
  const size = Number(/\/Size (\d+)/.exec(xref.trailer)?.[1]);
  const root = /\/Root (\d+ \d+ R)/.exec(xref.trailer)?.[1];
  const info = Number(/\/Info (\d+) 0 R/.exec(xref.trailer)?.[1]);
  const id0 = /\/ID\s*\[\s*<([0-9A-Fa-f]+)>/.exec(xref.trailer)?.[1];
  if (!size || !root || !info || !id0) throw new Error('unexpected gs-text trailer');
  const page = objectText(data, xref.entries.get(pageNum)!.offset);
  // Ghostscript writes the page's /Resources inline and its /Contents as one reference.
  if (!/\/Resources\s*<</.test(page) || !/\/Contents\s+\d+ 0 R/.test(page) || page.includes('/XObject')) {
    throw new Error(`unexpected gs-text page object: ${page.slice(0, 300)}`);
  }
  const form = size;
  const formFont = size + 1;
  const newContent = size + 2;
  const newPage = page
    .replace(/\/Resources\s*<</, `/Resources<</XObject<</Rev2 ${form} 0 R>>`)
    .replace(/\/Contents\s+(\d+) 0 R/, `/Contents [$1 0 R ${newContent} 0 R]`);
  const objects: RawObject[] = [
    { num: pageNum, body: newPage },
    {
      num: info,
      body: '<< /Title (Incremental update test) /Producer (GPL Ghostscript, then an appended revision) /ModDate (D:20260101000000Z) >>',
    },
    {
      num: form,
      body: pdfStream(
        `/Type /XObject /Subtype /Form /BBox [0 0 595 60] /Resources << /Font << /F1 ${formFont} 0 R >> >>`,
        `BT /F1 10 Tf 56 30 Td (${REVISION_2_TEXT}) Tj ET`,
      ),
    },
    { num: formFont, body: HELVETICA },
    { num: newContent, body: pdfStream('', 'q /Rev2 Do Q') },
  ];
  const start = data.length + 1;
  const { data: body, offsets } = layoutObjects(objects, start);
  const xrefAt = start + body.length;
  const tail =
    `${xrefTable(offsets, false)}trailer\n<< /Size ${size + 3} /Root ${root} /Info ${info} 0 R /Prev ${xref.startxref} ` +
    `/ID [<${id0}> <${createHash('md5').update('revision 2').digest('hex').toUpperCase()}>] >>\nstartxref\n${xrefAt}\n%%EOF\n`;
  return Buffer.concat([data, bytes('\n'), body, bytes(tail)]);
}

async function brokenXrefPdf(base: string): Promise<Buffer> {
  const data = await readFile(base);
  const { at } = readClassicXref(data);
  const tail = data
    .toString('latin1', at)
    .replace(
      /(\d{10}) (\d{5}) n/g,
      (_, offset: string, gen: string) => `${String(Number(offset) + 7).padStart(10, '0')} ${gen} n`,
    );
  return Buffer.concat([data.subarray(0, at), bytes(tail)]);
}

interface Recipe {
  needs: CorpusName[];
  /** Writes the file at `out` itself (returns undefined) or returns its bytes. */
  make(out: string, work: string, path: (name: CorpusName) => string): Promise<Buffer | undefined>;
}

const RECIPES: Record<CorpusName, Recipe> = {
  'gs-text': {
    needs: [],
    async make(out, work) {
      const ps = join(work, 'gs-text.ps');
      await writeFile(ps, textPostScript(GS_TEXT_PAGES, 40, 1, true), 'latin1');
      await gs(['-o', out, ps]);
      return undefined;
    },
  },
  objstm: {
    needs: ['gs-text'],
    async make(out, _work, path) {
      await qpdf(['--object-streams=generate', '--deterministic-id', path('gs-text'), out]);
      return undefined;
    },
  },
  linearized: {
    needs: ['gs-text'],
    async make(out, _work, path) {
      await qpdf(['--linearize', '--deterministic-id', path('gs-text'), out]);
      return undefined;
    },
  },
  rotated: {
    needs: ['gs-text'],
    async make(out, _work, path) {
      await qpdf([
        '--deterministic-id',
        path('gs-text'),
        out,
        '--rotate=+90:2',
        '--rotate=+180:3',
        '--rotate=+270:4',
        '--rotate=-90:5',
      ]);
      return undefined;
    },
  },
  cropped: { needs: [], make: async () => croppedPdf() },
  inherited: { needs: [], make: async () => inheritedPdf() },
  incremental: { needs: ['gs-text'], make: (_out, _work, path) => incrementalPdf(path('gs-text')) },
  text2000: {
    needs: [],
    async make(out, work) {
      const ps = join(work, 'text2000.ps');
      await writeFile(ps, textPostScript(2000, 62, 2, false), 'latin1');
      await gs(['-o', out, ps], 300_000);
      return undefined;
    },
  },
  'big-image': {
    needs: [],
    async make(out, work) {
      const noise = join(work, 'noise.raw');
      await writeFile(
        noise,
        noiseBytes(IMAGE_SIDE * IMAGE_SIDE * 3 + (BIG_IMAGE_PAGES + 1) * (IMAGE_SIDE * 3 + 7), 3),
      );
      const ps = join(work, 'big-image.ps');
      await writeFile(ps, imagePostScript(noise, BIG_IMAGE_PAGES), 'latin1');
      await gs(
        [
          `--permit-file-read=${noise}`,
          '-dAutoFilterColorImages=false',
          '-dColorImageFilter=/DCTEncode',
          '-dDownsampleColorImages=false',
          '-o',
          out,
          ps,
        ],
        300_000,
      );
      const size = statSync(out).size;
      if (size < 100 * 1024 * 1024) throw new Error(`big-image is only ${size} bytes`);
      return undefined;
    },
  },
  'encrypted-owner': {
    needs: ['gs-text'],
    async make(out, _work, path) {
      await qpdf(['--encrypt', '', OWNER_PASSWORD, '256', '--', path('gs-text'), out]);
      return undefined;
    },
  },
  'encrypted-user': {
    needs: ['gs-text'],
    async make(out, _work, path) {
      await qpdf(['--encrypt', USER_PASSWORD, OWNER_PASSWORD, '256', '--', path('gs-text'), out]);
      return undefined;
    },
  },
  'broken-xref': { needs: ['gs-text'], make: (_out, _work, path) => brokenXrefPdf(path('gs-text')) },
};

function corpusPath(name: CorpusName): string {
  return join(corpusDir(), `${name}.pdf`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs `fn` holding the corpus lock (a directory; stale locks of dead processes are taken over). */
async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  const dir = corpusDir();
  const lock = join(dir, '.lock');
  await mkdir(dir, { recursive: true });
  for (;;) {
    try {
      await mkdir(lock);
      await writeFile(join(lock, 'pid'), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      let owner = 0;
      try {
        owner = Number(readFileSync(join(lock, 'pid'), 'utf8'));
      } catch {
        // Being created right now, or left without a pid file.
      }
      const age = (() => {
        try {
          return Date.now() - statSync(lock).mtimeMs;
        } catch {
          return 0;
        }
      })();
      if ((owner > 0 && !processAlive(owner)) || (owner === 0 && age > 30_000) || age > 15 * 60_000) {
        await rm(lock, { recursive: true, force: true });
        continue;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

/** Generation times and sizes of the files this process made (name → { ms, bytes }). */
export const generationLog: Record<string, { ms: number; bytes: number }> = {};

// Generation in this process is serialised; the lock serialises it across processes.
let queue: Promise<unknown> = Promise.resolve();

function withNeeds(names: readonly CorpusName[]): CorpusName[] {
  const out = new Set<CorpusName>();
  const visit = (name: CorpusName): void => {
    if (out.has(name)) return;
    for (const need of RECIPES[name].needs) visit(need);
    out.add(name);
  };
  for (const name of names) visit(name);
  return [...out];
}

async function generate(names: readonly CorpusName[]): Promise<void> {
  const missing = withNeeds(names).filter((name) => !existsSync(corpusPath(name)));
  if (missing.length === 0) return;
  await withLock(async () => {
    const work = join(corpusDir(), `.work-${process.pid}`);
    await mkdir(work, { recursive: true });
    try {
      // In dependency order (withNeeds lists needs first); another process may have made some meanwhile.
      for (const name of missing) {
        const final = corpusPath(name);
        if (existsSync(final)) continue;
        const started = performance.now();
        const temp = join(work, `${name}.pdf`);
        const data = await RECIPES[name].make(temp, work, corpusPath);
        if (data) await writeFile(temp, data);
        await rename(temp, final);
        generationLog[name] = { ms: Math.round(performance.now() - started), bytes: statSync(final).size };
      }
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
}

/**
 * Makes sure the corpus files exist (generating what is missing) and returns their paths. With `only`,
 * just those files (and what they are made from) are generated: `ensureCorpus(['gs-text', 'objstm'])`
 * does not wait for the 100 MB file. Needs `gs` and `qpdf` (check with `missingTools()` first).
 */
export async function ensureCorpus<N extends CorpusName = CorpusName>(
  only?: readonly N[],
): Promise<Record<N, string>> {
  const names = (only ?? CORPUS_NAMES) as readonly N[];
  const run = queue.then(() => generate(names));
  queue = run.catch(() => undefined);
  await run;
  const out = {} as Record<N, string>;
  for (const name of names) out[name] = corpusPath(name);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Debian documentation PDFs
// ---------------------------------------------------------------------------------------------------------

/**
 * PDFs shipped by installed Debian documentation packages (under /usr/share/doc and /usr/share/R/doc; only
 * files that start with `%PDF-`, so `.pdf.gz` and other look-alikes are skipped), smallest first, at most
 * `maxFiles` and `maxTotalBytes` in total. Empty when none is installed (contract §7.1 lists useful packages:
 * texlive-latex-base-doc, lilypond-doc-pdf, r-doc-pdf, …).
 */
export function debianDocPdfs(
  options: { maxFiles?: number; maxTotalBytes?: number; roots?: readonly string[] } = {},
): string[] {
  const maxFiles = options.maxFiles ?? 50;
  const maxTotalBytes = options.maxTotalBytes ?? 200 * 1024 * 1024;
  const found = new Map<string, number>();
  const inodes = new Set<string>();
  const walk = (dir: string, depth: number): void => {
    if (depth > 12) return;
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      // Symlinked directories are not followed (they loop in places such as gtk-doc references).
      if (entry.isDirectory()) walk(path, depth + 1);
      else if ((entry.isFile() || entry.isSymbolicLink()) && entry.name.toLowerCase().endsWith('.pdf')) {
        try {
          const stat = statSync(path);
          const inode = `${stat.dev}:${stat.ino}`;
          if (!stat.isFile() || stat.size < 64 || inodes.has(inode)) continue;
          const head = Buffer.alloc(1024);
          const fd = openSync(path, 'r');
          try {
            readSync(fd, head, 0, head.length, 0);
          } finally {
            closeSync(fd);
          }
          if (head.indexOf('%PDF-') === -1) continue;
          inodes.add(inode);
          found.set(path, stat.size);
        } catch {
          // Unreadable: skip.
        }
      }
    }
  };
  for (const root of options.roots ?? ['/usr/share/doc', '/usr/share/R/doc']) walk(root, 0);
  const sorted = [...found].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]));
  const out: string[] = [];
  let total = 0;
  for (const [path, size] of sorted) {
    if (out.length >= maxFiles || total + size > maxTotalBytes) break;
    out.push(path);
    total += size;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Hostile inputs (fuzz)
// ---------------------------------------------------------------------------------------------------------

const GIB = 1024 * 1024 * 1024;

/** zlib (FlateDecode) of `prefix` followed by `zeros` zero bytes, streamed (never holds the plain data). */
function deflateZeros(prefix: Buffer, zeros: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const deflate = createDeflate({ level: 9, memLevel: 9, strategy: zlibConstants.Z_RLE });
    const chunks: Buffer[] = [];
    deflate.on('data', (chunk: Buffer) => chunks.push(chunk));
    deflate.on('end', () => resolve(Buffer.concat(chunks)));
    deflate.on('error', reject);
    const block = Buffer.alloc(16 * 1024 * 1024);
    let left = zeros;
    deflate.write(prefix);
    const pump = (): void => {
      while (left > 0) {
        const n = Math.min(left, block.length);
        left -= n;
        if (!deflate.write(n === block.length ? block : block.subarray(0, n))) {
          deflate.once('drain', pump);
          return;
        }
      }
      deflate.end();
    };
    pump();
  });
}

/** 7-byte xref stream entries, /W [1 4 2]. */
function xrefStreamEntries(entries: readonly [number, number, number][]): Buffer {
  const out = Buffer.alloc(entries.length * 7);
  entries.forEach(([type, field2, field3], i) => {
    out.writeUInt8(type, i * 7);
    out.writeUInt32BE(field2, i * 7 + 1);
    out.writeUInt16BE(field3, i * 7 + 5);
  });
  return out;
}

const MIN_CONTENT = `BT /F1 24 Tf 72 700 Td ${pdfString('Hostile test page')} Tj ET`;

/** Catalog 1, Pages 2, Page 3, Font 4, Contents 5; `overrides` replace bodies, `extra` adds objects. */
function minimalObjects(
  overrides: Record<number, string | Buffer> = {},
  extra: RawObject[] = [],
): RawObject[] {
  const base: Record<number, string | Buffer> = {
    1: '<< /Type /Catalog /Pages 2 0 R >>',
    2: '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    3: '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>',
    4: HELVETICA,
    5: pdfStream('', MIN_CONTENT),
    ...overrides,
  };
  return [...Object.entries(base).map(([num, body]) => ({ num: Number(num), body })), ...extra];
}

function minimalPdf(overrides: Record<number, string | Buffer> = {}, extra: RawObject[] = []): Buffer {
  return buildPdf(minimalObjects(overrides, extra), '/Root 1 0 R');
}

/**
 * A PDF whose objects 1-4 live in object stream 6 (with /N 4) and whose xref is a stream (object 7).
 * `objStmData` replaces the object stream's stream part (already encoded); `xrefData`/`xrefDict` the xref
 * stream's.
 */
async function xrefStreamPdf(
  options: {
    objStm?: (plain: Buffer, first: number) => Promise<{ dict: string; data: Buffer }>;
    xref?: (plain: Buffer) => Promise<{ dict: string; data: Buffer }>;
  } = {},
): Promise<Buffer> {
  const members = minimalObjects()
    .filter((object) => object.num <= 4)
    .map((object) => ({ num: object.num, text: bytes(object.body).toString('latin1') }));
  let offsetsHeader = '';
  let bodyText = '';
  for (const member of members) {
    offsetsHeader += `${member.num} ${bodyText.length} `;
    bodyText += `${member.text}\n`;
  }
  const plain = Buffer.from(offsetsHeader + bodyText, 'latin1');
  const first = offsetsHeader.length;
  const objStm = options.objStm
    ? await options.objStm(plain, first)
    : { dict: `/Filter /FlateDecode`, data: deflateSync(plain) };
  const header = bytes(PDF_HEADER);
  const { data: body, offsets } = layoutObjects(
    [
      { num: 5, body: pdfStream('', MIN_CONTENT) },
      {
        num: 6,
        body: pdfStream(`/Type /ObjStm /N ${members.length} /First ${first} ${objStm.dict}`, objStm.data),
      },
    ],
    header.length,
  );
  const xrefAt = header.length + body.length;
  const entries: [number, number, number][] = [
    [0, 0, 65535],
    ...members.map((_, index): [number, number, number] => [2, 6, index]),
    [1, offsets.get(5)!.offset, 0],
    [1, offsets.get(6)!.offset, 0],
    [1, xrefAt, 0],
  ];
  const plainXref = xrefStreamEntries(entries);
  const xref = options.xref
    ? await options.xref(plainXref)
    : { dict: `/Size ${entries.length} /Filter /FlateDecode`, data: deflateSync(plainXref) };
  const xrefObject = layoutObjects(
    [
      {
        num: 7,
        body: pdfStream(
          `/Type /XRef ${xref.dict.includes('/W') ? '' : '/W [1 4 2] '}/Root 1 0 R ${xref.dict}`,
          xref.data,
        ),
      },
    ],
    xrefAt,
  ).data;
  return Buffer.concat([header, body, xrefObject, bytes(`startxref\n${xrefAt}\n%%EOF\n`)]);
}

/** A valid one-page PDF (classic xref, catalog 1, pages 2, page 3, Helvetica 4, contents 5), for unit tests. */
export function sampleMinimalPdf(): Buffer {
  return minimalPdf();
}

/** The same page with objects 1-4 in an object stream (6) and a cross-reference stream (7), for unit tests. */
export function sampleXrefStreamPdf(): Promise<Buffer> {
  return xrefStreamPdf();
}

function truncations(name: string, data: Buffer, out: Record<string, Buffer>): void {
  for (const percent of [1, 10, 25, 50, 75, 90, 99]) {
    out[`${name}-truncated-${percent}pct`] = data.subarray(0, Math.floor((data.length * percent) / 100));
  }
  const xrefAt = data.lastIndexOf('startxref');
  const lastObj = data.lastIndexOf('endobj', xrefAt);
  out[`${name}-truncated-before-startxref`] = data.subarray(0, xrefAt);
  out[`${name}-truncated-before-eof`] = data.subarray(0, data.lastIndexOf('%%EOF'));
  out[`${name}-truncated-last-byte`] = data.subarray(0, data.length - 1);
  out[`${name}-truncated-mid-last-object`] = data.subarray(0, lastObj - 20);
}

function corruptions(name: string, data: Buffer, out: Record<string, Buffer>): void {
  for (const [seed, count] of [
    [1, 16],
    [2, 256],
    [3, 4096],
  ] as const) {
    const random = prng(seed * 7919);
    const copy = Buffer.from(data);
    // The first 16 bytes (the header) stay intact: a file without a PDF header is a separate case.
    for (let i = 0; i < count; i++)
      copy[16 + Math.floor(random() * (copy.length - 16))] = Math.floor(random() * 256);
    out[`${name}-corrupt-seed${seed}-${count}bytes`] = copy;
  }
}

async function makeHostile(): Promise<Record<string, Buffer>> {
  const corpus = await ensureCorpus(['gs-text', 'objstm']);
  const gsText = await readFile(corpus['gs-text']);
  const objstm = await readFile(corpus.objstm);
  const out: Record<string, Buffer> = {};

  out.empty = Buffer.alloc(0);
  out['not-pdf-text'] = Buffer.from('This is not a PDF file.\n'.repeat(100));
  out['not-pdf-png'] = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), noiseBytes(4096, 9)]);
  out['not-pdf-zip'] = Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), noiseBytes(4096, 10)]);
  out['header-only'] = bytes('%PDF-1.7\n');
  out['header-and-eof'] = bytes('%PDF-1.7\n%%EOF\n');

  truncations('gs-text', gsText, out);
  truncations('objstm', objstm, out);
  corruptions('gs-text', gsText, out);
  corruptions('objstm', objstm, out);

  // Page tree loops.
  out['page-tree-loop-kids'] = minimalPdf(
    {
      2: '<< /Type /Pages /Kids [6 0 R] /Count 1 >>',
      3: '<< /Type /Page /Parent 6 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>',
    },
    [{ num: 6, body: '<< /Type /Pages /Parent 2 0 R /Kids [2 0 R 3 0 R] /Count 1 >>' }],
  );
  out['page-tree-self-kid'] = minimalPdf({ 2: '<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>' });
  out['page-tree-parent-loop'] = minimalPdf(
    {
      2: '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
      // No own /Resources or /MediaBox: looking for inherited ones walks 6 → 7 → 6 → …
      3: '<< /Type /Page /Parent 6 0 R /Contents 5 0 R >>',
    },
    [
      { num: 6, body: '<< /Type /Pages /Parent 7 0 R /Kids [3 0 R] /Count 1 >>' },
      { num: 7, body: '<< /Type /Pages /Parent 6 0 R /Kids [6 0 R] /Count 1 >>' },
    ],
  );
  out['page-tree-count-lie'] = minimalPdf({ 2: '<< /Type /Pages /Kids [3 0 R] /Count 2147483647 >>' });
  out['page-tree-100k-duplicate-kids'] = minimalPdf({
    2: `<< /Type /Pages /Kids [${'3 0 R '.repeat(100_000)}] /Count 100000 >>`,
  });
  out['page-not-dict'] = minimalPdf({ 2: '<< /Type /Pages /Kids [3 0 R] /Count 1 >>', 3: '[1 2 3]' });

  // Huge numbers.
  out['huge-object-number'] = buildPdf(
    minimalObjects(
      {
        3: '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 999999999 0 R >> >> /Contents 5 0 R >>',
      },
      [{ num: 999_999_999, body: HELVETICA }],
    ).filter((object) => object.num !== 4),
    '/Root 1 0 R',
  );
  out['huge-xref-size'] = buildPdf(minimalObjects(), '/Root 1 0 R', { size: 2_147_483_647 });
  out['huge-generation'] = buildPdf(
    minimalObjects({ 3: '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 5 65535 R >>' }).map(
      (object) => (object.num === 5 ? { ...object, gen: 65535 } : object),
    ),
    '/Root 1 0 R',
  );
  out['huge-mediabox'] = minimalPdf({
    3: '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 1000000000000000000000000000000000000000.5 99999999999999999999] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>',
  });
  out['huge-stream-length'] = minimalPdf({
    5: bytes(`<< /Length 99999999999 >>\nstream\n${MIN_CONTENT}\nendstream`),
  });
  out['negative-stream-length'] = minimalPdf({
    5: bytes(`<< /Length -5 >>\nstream\n${MIN_CONTENT}\nendstream`),
  });
  out['huge-xref-stream-size'] = await xrefStreamPdf({
    xref: async (plain) => ({ dict: '/Size 2147483647 /Filter /FlateDecode', data: deflateSync(plain) }),
  });
  out['huge-xref-stream-index'] = await xrefStreamPdf({
    xref: async (plain) => ({
      dict: '/Size 8 /Index [0 2147483647] /Filter /FlateDecode',
      data: deflateSync(plain),
    }),
  });
  out['xref-stream-wide-w'] = await xrefStreamPdf({
    xref: async (plain) => ({
      dict: '/Size 8 /W [255 255 255] /Filter /FlateDecode',
      data: deflateSync(plain),
    }),
  });

  // Reference loops.
  out['length-ref-loop'] = minimalPdf(
    { 5: bytes(`<< /Length 6 0 R >>\nstream\n${MIN_CONTENT}\nendstream`) },
    [
      { num: 6, body: '7 0 R' },
      { num: 7, body: '6 0 R' },
    ],
  );
  out['contents-ref-loop'] = minimalPdf(
    {
      3: '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 6 0 R >>',
    },
    [{ num: 6, body: '[5 0 R 6 0 R]' }],
  );
  out['resources-ref-loop'] = minimalPdf(
    { 3: '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources 6 0 R /Contents 5 0 R >>' },
    [{ num: 6, body: '6 0 R' }],
  );

  // Cross-reference chains.
  {
    out['xref-prev-self'] = buildPdf(minimalObjects(), '/Root 1 0 R /Prev {xref}');
    // Two sections whose /Prev point at each other (numbers zero-padded so offsets are known in advance).
    const header = bytes(PDF_HEADER);
    const first = layoutObjects(minimalObjects(), header.length);
    const firstXrefAt = header.length + first.data.length;
    const pad = (n: number): string => String(n).padStart(10, '0');
    const firstTail = (next: number): string =>
      `${xrefTable(first.offsets)}trailer\n<< /Size 6 /Root 1 0 R /Prev ${pad(next)} >>\nstartxref\n${firstXrefAt}\n%%EOF\n`;
    const secondStart = firstXrefAt + firstTail(0).length;
    const second = layoutObjects(
      [{ num: 4, body: '<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>' }],
      secondStart,
    );
    const secondXrefAt = secondStart + second.data.length;
    out['xref-prev-cycle'] = Buffer.concat([
      header,
      first.data,
      bytes(firstTail(secondXrefAt)),
      second.data,
      bytes(
        `${xrefTable(second.offsets, false)}trailer\n<< /Size 6 /Root 1 0 R /Prev ${firstXrefAt} >>\nstartxref\n${secondXrefAt}\n%%EOF\n`,
      ),
    ]);
  }
  {
    const good = minimalPdf();
    const text = good.toString('latin1');
    const startxref = text.lastIndexOf('startxref');
    out['startxref-beyond-eof'] = Buffer.concat([
      good.subarray(0, startxref),
      bytes('startxref\n999999999\n%%EOF\n'),
    ]);
    out['startxref-negative'] = Buffer.concat([
      good.subarray(0, startxref),
      bytes('startxref\n-42\n%%EOF\n'),
    ]);
    out['startxref-zero'] = Buffer.concat([good.subarray(0, startxref), bytes('startxref\n0\n%%EOF\n')]);
    out['no-startxref'] = good.subarray(0, startxref);
  }
  out['objstm-contains-itself'] = await xrefStreamPdf({
    // The object stream (6) claims to hold object 6 as well.
    objStm: async (plain, first) => {
      const text = plain.toString('latin1');
      const extended = `6 ${plain.length - first} ${text.slice(0, first)}`;
      const data = Buffer.from(`${extended}${text.slice(first)}<< /Type /ObjStm >>\n`, 'latin1');
      return { dict: '/Filter /FlateDecode', data: deflateSync(data) };
    },
  });

  // Syntax: deep nesting and unterminated tokens.
  const depth = 100_000;
  out['deep-array'] = minimalPdf({
    3: `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R /Deep ${'['.repeat(depth)}${']'.repeat(depth)} >>`,
  });
  out['deep-dict'] = minimalPdf({
    1: `<< /Type /Catalog /Pages 2 0 R /Deep ${'<< /A '.repeat(depth)}1${' >>'.repeat(depth)} >>`,
  });
  out['deep-array-in-trailer'] = buildPdf(
    minimalObjects(),
    `/Root 1 0 R /Deep ${'['.repeat(depth)}${']'.repeat(depth)}`,
  );
  out['unterminated-string'] = minimalPdf({
    1: `<< /Type /Catalog /Pages 2 0 R /Title (${'a('.repeat(50_000)} >>`,
  });
  out['unterminated-dict'] = minimalPdf({ 3: '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792' });
  out['long-name'] = minimalPdf({ 1: `<< /Type /Catalog /Pages 2 0 R /${'N'.repeat(1_000_000)} 1 >>` });

  // Decompression bombs: ~1 MB on disk, 1 GiB inflated.
  out['bomb-content-stream'] = minimalPdf({
    // NUL is white space in content streams, so this is a valid 1 GiB content stream.
    5: pdfStream('/Filter /FlateDecode', await deflateZeros(bytes(`${MIN_CONTENT}\n`), GIB)),
  });
  out['bomb-object-stream'] = await xrefStreamPdf({
    // The page objects sit in an object stream padded with 1 GiB of zeros after the last member.
    objStm: async (plain) => ({ dict: '/Filter /FlateDecode', data: await deflateZeros(plain, GIB) }),
  });
  out['bomb-xref-stream'] = await xrefStreamPdf({
    // The real entries, then free entries (all zeros) up to 1 GiB; /Size covers them all.
    xref: async (plain) => {
      const zeros = Math.floor(GIB / 7) * 7;
      return {
        dict: `/Size ${(plain.length + zeros) / 7} /Filter /FlateDecode`,
        data: await deflateZeros(plain, zeros),
      };
    },
  });
  return out;
}

let hostile: Promise<Record<string, Buffer>> | undefined;

/**
 * Hostile and broken inputs for fuzz tests, name → bytes: truncations and seeded corruptions of gs-text
 * and objstm, page-tree loops, huge object numbers and sizes, xref /Prev loops, reference loops,
 * decompression bombs (1 GiB of zeros in a content stream, an object stream and an xref stream; ~1 MB each),
 * 100k-level nesting, unterminated tokens, a 0-byte file and non-PDF bytes. Deterministic apart from the
 * gs-made base files. Built once per process (~3 s, mostly the bombs); also written to
 * `<corpusDir>/hostile/` for tests that need paths (see `hostilePdfPaths`).
 */
export function hostilePdfs(): Promise<Record<string, Buffer>> {
  hostile ??= makeHostile();
  return hostile;
}

/** The hostile inputs as files (name → path), written once into the corpus directory. */
export async function hostilePdfPaths(): Promise<Record<string, string>> {
  const dir = join(corpusDir(), `hostile`);
  const index = join(dir, 'index.json');
  if (existsSync(index)) {
    const names = JSON.parse(readFileSync(index, 'utf8')) as string[];
    if (names.every((name) => existsSync(join(dir, `${name}.pdf`)))) {
      return Object.fromEntries(names.map((name) => [name, join(dir, `${name}.pdf`)]));
    }
  }
  const files = await hostilePdfs();
  await withLock(async () => {
    await mkdir(dir, { recursive: true });
    for (const [name, data] of Object.entries(files)) {
      const path = join(dir, `${name}.pdf`);
      await writeFile(`${path}.${process.pid}.tmp`, data);
      await rename(`${path}.${process.pid}.tmp`, path);
    }
    await writeFile(`${index}.${process.pid}.tmp`, JSON.stringify(Object.keys(files)));
    await rename(`${index}.${process.pid}.tmp`, index);
  });
  return Object.fromEntries(Object.keys(files).map((name) => [name, join(dir, `${name}.pdf`)]));
}
