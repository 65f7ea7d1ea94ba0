import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  eofCount,
  fileRangeReader,
  missingTools,
  pageCount,
  pdfInfo,
  pdftotextPages,
  qpdfCheck,
  runTool,
} from '../../../../tests/helpers/pdf-verify.ts';
import { bufferReader } from '../range-reader.ts';
import { PdfError } from './errors.ts';
import { type NormalizeReason, type NormalizeResult, needsNormalization, normalizePdf } from './normalize.ts';
import { type PdfDict, type PdfObject, parseObjectSource, serializeObject } from './syntax.ts';

describe('needsNormalization', () => {
  it('normalises encrypted, broken and linearized files, and analysis failures except LIMIT', () => {
    expect(needsNormalization({})).toBe(false);
    expect(needsNormalization({ encrypted: true })).toBe(true);
    expect(needsNormalization({ broken: true })).toBe(true);
    expect(needsNormalization({ linearized: true })).toBe(true);
    expect(needsNormalization(new PdfError('ENCRYPTED', 'x'))).toBe(true);
    expect(needsNormalization(new PdfError('BROKEN', 'x'))).toBe(true);
    expect(needsNormalization(new PdfError('LIMIT', 'x'))).toBe(false);
  });
});

/** Normalises into memory; resolves with the result and the bytes, or with the PdfError thrown. */
async function normalizeBytes(
  input: Buffer,
  options?: Parameters<typeof normalizePdf>[2],
): Promise<{ result: NormalizeResult; output: Buffer } | { error: unknown }> {
  const chunks: Buffer[] = [];
  try {
    const result = await normalizePdf(bufferReader(input), (chunk) => void chunks.push(chunk), options);
    return { result, output: Buffer.concat(chunks) };
  } catch (error) {
    return { error };
  }
}

function errorOf(outcome: Awaited<ReturnType<typeof normalizeBytes>>): PdfError {
  if (!('error' in outcome)) throw new Error('expected normalizePdf to fail');
  expect(outcome.error).toBeInstanceOf(PdfError);
  return outcome.error as PdfError;
}

describe('normalizePdf on hand-made input (no tools needed)', () => {
  it('refuses what is not a PDF', async () => {
    expect(errorOf(await normalizeBytes(Buffer.from('hello world'))).code).toBe('BROKEN');
    expect(errorOf(await normalizeBytes(Buffer.alloc(0))).code).toBe('BROKEN');
  });

  it('stops at huge object numbers and object-stream decompression bombs', async () => {
    const huge = Buffer.from('%PDF-1.4\n99999999 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n', 'latin1');
    expect(errorOf(await normalizeBytes(huge, { maxObjects: 1000 })).code).toBe('LIMIT');

    const bomb = deflateSync(Buffer.alloc(40 * 1024 * 1024, 32));
    const head = Buffer.from(
      `%PDF-1.5\n1 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length ${bomb.length} >>\nstream\n`,
      'latin1',
    );
    const tail = Buffer.from('\nendstream\nendobj\ntrailer\n<< /Root 2 0 R >>\n%%EOF\n', 'latin1');
    const outcome = await normalizeBytes(Buffer.concat([head, bomb, tail]));
    expect(['LIMIT', 'BROKEN']).toContain(errorOf(outcome).code);
  });

  it('does not loop on object streams whose /Length points into each other', async () => {
    const pdf = [
      '%PDF-1.5',
      '1 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Length 2 0 R >>\nstream\n3 0 << /Type /Catalog >>\nendstream\nendobj',
      '2 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Length 1 0 R >>\nstream\n4 0 5\nendstream\nendobj',
      'trailer\n<< /Root 3 0 R >>\n%%EOF\n',
    ].join('\n');
    const outcome = await normalizeBytes(Buffer.from(pdf, 'latin1'));
    if ('error' in outcome) expect(outcome.error).toBeInstanceOf(PdfError);
  });
});

const missing = missingTools(['qpdf', 'gs', 'pdftotext', 'pdfinfo']);

/** A Ghostscript document with text, document info strings and link annotations (strings to decrypt). */
const POSTSCRIPT = `
[ /Title (Normalise me \\(test\\)) /Author (J\\351r\\364me) /DOCINFO pdfmark
/Helvetica findfont 16 scalefont setfont
1 1 4 {
  /i exch def
  72 720 moveto (Page ) show i 3 string cvs show (: the quick brown fox jumps over the lazy dog.) show
  72 690 moveto (Second line with \\(parentheses\\) and a backslash \\\\ in it.) show
  [ /Rect [72 600 300 630] /Border [0 0 1] /Action << /Subtype /URI /URI (https://example.com/page) >>
    /Subtype /Link /ANN pdfmark
  showpage
} for
`;

/** qpdf's JSON view of every object (values and decoded stream data), keyed "obj:N G R". */
async function qpdfObjects(path: string): Promise<Record<string, unknown>> {
  const run = await runTool('qpdf', [
    '--json',
    '--json-stream-data=inline',
    '--decode-level=generalized',
    path,
  ]);
  if (run.code !== 0 && run.code !== 3) throw new Error(`qpdf --json failed: ${run.stderr}`);
  const json = JSON.parse(run.stdout) as { qpdf: [unknown, Record<string, unknown>] };
  return json.qpdf[1];
}

/**
 * Objects a normalised file leaves out on purpose: object and xref streams, the linearization dictionary,
 * hint streams (/S) and the /Encrypt dictionary (/Filter).
 */
function isStructural(object: unknown): boolean {
  const o = object as { value?: Record<string, unknown>; stream?: { dict: Record<string, unknown> } };
  if (o.stream)
    return ['/ObjStm', '/XRef'].includes(o.stream.dict['/Type'] as string) || '/S' in o.stream.dict;
  return (
    typeof o.value === 'object' && o.value !== null && ('/Linearized' in o.value || '/Filter' in o.value)
  );
}

/** Every object of ours equals the reference's (same numbers, values and decoded data). */
async function expectSameObjects(ours: string, reference: string): Promise<void> {
  const a = await qpdfObjects(ours);
  const b = await qpdfObjects(reference);
  for (const [key, value] of Object.entries(a)) {
    if (key !== 'trailer') expect(value, key).toEqual(b[key]);
  }
  for (const [key, value] of Object.entries(b)) {
    if (key !== 'trailer' && !(key in a)) expect(isStructural(value), `${key} was dropped`).toBe(true);
  }
}

async function normalizeFile(input: string, output: string): Promise<NormalizeResult> {
  const reader = await fileRangeReader(input);
  const handle = await open(output, 'w');
  try {
    return await normalizePdf(reader, async (chunk) => {
      await handle.write(chunk);
    });
  } finally {
    await reader.close();
    await handle.close();
  }
}

/** Appends an incremental update: new objects, and a trailer from the last one with /Size, /Prev and extras. */
function appendUpdate(
  pdf: Buffer,
  objects: { num: number; body: string }[],
  options: { prev?: (ownOffset: number) => number; trailer?: Record<string, string> } = {},
): Buffer {
  const text = pdf.toString('latin1');
  const source = [...text.matchAll(/trailer\s*(<<[\s\S]*?>>)\s*startxref\s*(\d+)/g)].at(-1);
  if (!source) throw new Error('no classic trailer');
  const trailer = parseObjectSource(source[1]!) as PdfDict;
  let body = '\n';
  const offsets: number[] = [];
  for (const { num, body: value } of objects) {
    offsets.push(pdf.length + body.length);
    body += `${num} 0 obj\n${value}\nendobj\n`;
  }
  const xrefAt = pdf.length + body.length;
  const size = Math.max(
    Number(serializeObject(trailer.entries.get('Size')!)),
    ...objects.map((o) => o.num + 1),
  );
  const entries = new Map<string, PdfObject>(trailer.entries);
  entries.delete('Prev');
  let extra = `/Size ${size}/Prev ${options.prev ? options.prev(xrefAt) : source[2]}`;
  for (const [key, value] of Object.entries(options.trailer ?? {})) {
    entries.delete(key);
    extra += `/${key} ${value}`;
  }
  entries.delete('Size');
  const kept = serializeObject({ type: 'dict', entries, start: 0, end: 0 }).slice(0, -2);
  let xref = 'xref\n';
  objects.forEach((o, i) => {
    xref += `${o.num} 1\n${String(offsets[i]).padStart(10, '0')} 00000 n \n`;
  });
  xref += `trailer\n${kept}${extra}>>\nstartxref\n${xrefAt}\n%%EOF\n`;
  return Buffer.concat([pdf, Buffer.from(body + xref, 'latin1')]);
}

describe.skipIf(missing.length > 0)('normalizePdf with qpdf-made inputs', () => {
  let dir: string;
  let base: string;
  let baseText: string[];
  let basePages: number;
  const path = (name: string) => join(dir, name);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'normalize-test-'));
    base = path('base.pdf');
    await writeFile(path('base.ps'), POSTSCRIPT, 'latin1');
    const gs = await runTool('gs', [
      '-q',
      '-dNOPAUSE',
      '-dBATCH',
      '-dSAFER',
      '-sDEVICE=pdfwrite',
      '-o',
      base,
      path('base.ps'),
    ]);
    if (gs.code !== 0) throw new Error(`gs failed: ${gs.stderr}`);
    baseText = await pdftotextPages(base);
    basePages = await pageCount(base);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function qpdf(args: string[], output: string, input = base): Promise<string> {
    const run = await runTool('qpdf', [...args, input, path(output)]);
    if (run.code !== 0 && run.code !== 3) throw new Error(`qpdf ${args.join(' ')} failed: ${run.stderr}`);
    return path(output);
  }

  /**
   * Normalises `input` and checks the output against `reference` (by default the input itself, which qpdf,
   * poppler and pdf.js open with the empty user password and read decrypted, with the same object numbers).
   */
  async function expectClean(input: string, reasons: NormalizeReason[], reference = input): Promise<void> {
    const output = `${input}.norm.pdf`;
    const result = await normalizeFile(input, output);
    expect(result.reason.slice().sort()).toEqual(reasons.slice().sort());
    const check = await qpdfCheck(output);
    expect(check.ok, check.output).toBe(true);
    const encryption = await runTool('qpdf', ['--show-encryption', output]);
    expect(encryption.stdout).toContain('File is not encrypted');
    expect(await pdftotextPages(output)).toEqual(await pdftotextPages(reference));
    expect(await pageCount(output)).toBe(await pageCount(reference));
    const bytes = await readFile(output);
    expect(eofCount(bytes)).toBe(1);
    expect(bytes.length).toBe(result.bytes);
    expect(bytes.toString('latin1')).not.toMatch(/\/Encrypt|\/Linearized|\/ObjStm|\/XRef|\/Prev/);
    await expectSameObjects(output, reference);
  }

  const encryptions: [string, string[]][] = [
    ['RC4 40-bit (V1 R2)', ['--allow-weak-crypto', '--encrypt', '', 'ownerpw', '40', '--']],
    ['RC4 128-bit (V2 R3)', ['--allow-weak-crypto', '--encrypt', '', 'ownerpw', '128', '--use-aes=n', '--']],
    [
      'RC4 crypt filter (V4 R4)',
      ['--allow-weak-crypto', '--encrypt', '', 'ownerpw', '128', '--use-aes=n', '--force-V4', '--'],
    ],
    ['AESV2 (V4 R4)', ['--encrypt', '', 'ownerpw', '128', '--use-aes=y', '--']],
    [
      'AESV2, clear metadata',
      ['--encrypt', '', 'ownerpw', '128', '--use-aes=y', '--cleartext-metadata', '--'],
    ],
    ['AESV3 (V5 R6)', ['--encrypt', '', 'ownerpw', '256', '--']],
    ['AESV3 (V5 R5)', ['--allow-weak-crypto', '--encrypt', '', 'ownerpw', '256', '--force-R5', '--']],
    ['AESV3, clear metadata', ['--encrypt', '', 'ownerpw', '256', '--cleartext-metadata', '--']],
  ];
  for (const [name, args] of encryptions) {
    it(`decrypts ${name} opened with the empty user password`, async () => {
      const input = await qpdf(args, `${name.replace(/\W+/g, '-')}.pdf`);
      expect((await pdfInfo(input)).Encrypted).toMatch(/^yes/);
      await expectClean(input, ['decrypted']);
      // qpdf's own decryption gives the same text.
      const decrypted = await qpdf(['--decrypt'], `${name.replace(/\W+/g, '-')}.dec.pdf`, input);
      expect(await pdftotextPages(`${input}.norm.pdf`)).toEqual(await pdftotextPages(decrypted));
    });
  }

  it('decrypts encrypted object streams and drops linearization in one pass', async () => {
    const input = await qpdf(
      ['--object-streams=generate', '--linearize', '--encrypt', '', 'ownerpw', '256', '--'],
      'everything.pdf',
    );
    await expectClean(input, ['decrypted', 'de-linearized', 'expanded object streams']);
  });

  it('decrypts streams larger than one copy chunk, chunk by chunk (AESV3, AESV2, RC4)', async () => {
    // A 1400x1000 RGB image (4.2 MB, noise) stored uncompressed, so the cipher runs over several chunks.
    const width = 1400;
    const height = 1000;
    const pixels = Buffer.alloc(width * height * 3);
    let x = 7;
    for (let i = 0; i < pixels.length; i++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      pixels[i] = x >> 16;
    }
    const content = 'q 500 0 0 360 50 400 cm /Im0 Do Q BT /F1 14 Tf 50 300 Td (Big image page) Tj ET';
    const objects = [
      '<< /Type /Catalog /Pages 2 0 R >>',
      '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
      '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /XObject << /Im0 5 0 R >> /Font << /F1 6 0 R >> >> >>',
      `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
      `<< /Type /XObject /Subtype /Image /Width ${width} /Height ${height} /ColorSpace /DeviceRGB /BitsPerComponent 8 /Length ${pixels.length} >>\nstream\n`,
      '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
    ];
    const parts: Buffer[] = [Buffer.from('%PDF-1.4\n', 'latin1')];
    let size = parts[0]!.length;
    const offsets: number[] = [];
    objects.forEach((body, i) => {
      offsets.push(size);
      const chunk = Buffer.concat([
        Buffer.from(`${i + 1} 0 obj\n${body}`, 'latin1'),
        i === 4 ? Buffer.concat([pixels, Buffer.from('\nendstream')]) : Buffer.alloc(0),
        Buffer.from('\nendobj\n', 'latin1'),
      ]);
      parts.push(chunk);
      size += chunk.length;
    });
    const table = offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('');
    parts.push(
      Buffer.from(
        `xref\n0 7\n0000000000 65535 f \n${table}trailer\n<< /Size 7 /Root 1 0 R >>\nstartxref\n${size}\n%%EOF\n`,
      ),
    );
    await writeFile(path('image.pdf'), Buffer.concat(parts));
    for (const [name, args] of [
      ['image-aes256.pdf', ['--encrypt', '', 'ownerpw', '256', '--']],
      ['image-aes128.pdf', ['--encrypt', '', 'ownerpw', '128', '--use-aes=y', '--']],
      ['image-rc4.pdf', ['--allow-weak-crypto', '--encrypt', '', 'ownerpw', '128', '--use-aes=n', '--']],
    ] as const) {
      const input = await qpdf(['--compress-streams=n', ...args], name, path('image.pdf'));
      await expectClean(input, ['decrypted']);
    }
  });

  it('de-linearizes (drops the linearization dictionary and the hint stream)', async () => {
    const input = await qpdf(['--linearize'], 'linearized.pdf');
    await expectClean(input, ['de-linearized']);
  });

  it('expands object streams and drops xref streams', async () => {
    const input = await qpdf(['--object-streams=generate'], 'objstm.pdf');
    await expectClean(input, ['expanded object streams']);
  });

  it('refuses files with a user password, clearly, as ENCRYPTED', async () => {
    for (const args of [
      ['--encrypt', 'user', 'owner', '256', '--'],
      ['--allow-weak-crypto', '--encrypt', 'user', 'owner', '40', '--'],
      ['--encrypt', 'user', 'owner', '128', '--use-aes=y', '--'],
    ]) {
      const input = await qpdf(args, 'user.pdf');
      const error = errorOf(await normalizeBytes(await readFile(input)));
      expect(error.code).toBe('ENCRYPTED');
      expect(error.message).toBe(
        'the PDF needs a password to open (a user password); upload an unprotected copy',
      );
    }
  });

  it('refuses unknown security handlers as UNSUPPORTED', async () => {
    const input = await qpdf(['--encrypt', '', 'ownerpw', '128', '--use-aes=y', '--'], 'handler.pdf');
    const bytes = (await readFile(input)).toString('latin1');
    expect(bytes).toContain('/Filter /Standard');
    const other = Buffer.from(bytes.replace('/Filter /Standard', '/Filter /PubSecXY'), 'latin1');
    expect(errorOf(await normalizeBytes(other)).code).toBe('UNSUPPORTED');
  });

  it('removes an Identity /Crypt filter from a stream and keeps its data', async () => {
    const input = await qpdf(['--encrypt', '', 'ownerpw', '128', '--use-aes=y', '--'], 'cryptfilter.pdf');
    const pdf = await readFile(input);
    const size = Number(/\/Size (\d+)/.exec(pdf.toString('latin1'))![1]);
    const updated = appendUpdate(pdf, [
      {
        num: size,
        body: '<< /Filter [/Crypt] /DecodeParms [<< /Name /Identity >>] /Length 11 >>\nstream\nhello world\nendstream',
      },
    ]);
    await writeFile(path('cryptfilter-update.pdf'), updated);
    const output = path('cryptfilter.norm.pdf');
    await normalizeFile(path('cryptfilter-update.pdf'), output);
    const text = (await readFile(output)).toString('latin1');
    expect(text).toContain(`${size} 0 obj\n<</Length 11>>\nstream\nhello world\nendstream`);
    expect((await qpdfCheck(output)).ok).toBe(true);
  });

  describe('broken cross-reference data', () => {
    let pdf: Buffer;
    beforeAll(async () => {
      pdf = await readFile(base);
    });

    async function broken(name: string, bytes: Buffer, { qpdfNotices = true } = {}): Promise<string> {
      await writeFile(path(name), bytes);
      // qpdf quietly accepts junk before %PDF- (it shifts the offsets); everything else it reports.
      if (qpdfNotices) expect((await qpdfCheck(path(name))).ok).toBe(false);
      return path(name);
    }

    it('rebuilds the xref when every offset is shifted', async () => {
      const nl = pdf.indexOf(10) + 1;
      const shifted = Buffer.concat([
        pdf.subarray(0, nl),
        Buffer.from(`%${'x'.repeat(40)}\n`),
        pdf.subarray(nl),
      ]);
      await expectClean(await broken('shifted.pdf', shifted), ['repaired xref'], base);
    });

    it('rebuilds the xref when startxref is missing', async () => {
      const cut = pdf.lastIndexOf('startxref');
      const input = await broken(
        'no-startxref.pdf',
        Buffer.concat([pdf.subarray(0, cut), Buffer.from('%%EOF\n')]),
      );
      await expectClean(input, ['repaired xref'], base);
    });

    it('rebuilds the xref when junk precedes %PDF-', async () => {
      const junk = Buffer.from('From: mailer@example.com\r\nContent-Type: application/pdf\r\n\r\n');
      const input = await broken('junk.pdf', Buffer.concat([junk, pdf]), { qpdfNotices: false });
      await expectClean(input, ['repaired xref'], base);
    });

    it('rebuilds the xref on a /Prev loop, taking the newest definitions', async () => {
      const size = Number(/\/Size (\d+)/.exec(pdf.toString('latin1'))![1]);
      const update = { num: size, body: '<< /Title (Updated title) /Producer (test) >>' };
      const loop = appendUpdate(pdf, [update], { prev: (own) => own, trailer: { Info: `${size} 0 R` } });
      const input = await broken('prev-loop.pdf', loop);
      const output = `${input}.norm.pdf`;
      expect((await normalizeFile(input, output)).reason).toEqual(['repaired xref']);
      expect((await qpdfCheck(output)).ok).toBe(true);
      expect((await pdfInfo(output)).Title).toBe('Updated title');
      expect(await pdftotextPages(output)).toEqual(baseText);
    });

    it('keeps a sound incremental update as it is read (newest objects), without a repair', async () => {
      const size = Number(/\/Size (\d+)/.exec(pdf.toString('latin1'))![1]);
      const update = { num: size, body: '<< /Title (Updated title) >>' };
      await writeFile(
        path('incremental.pdf'),
        appendUpdate(pdf, [update], { trailer: { Info: `${size} 0 R` } }),
      );
      const output = path('incremental.norm.pdf');
      expect((await normalizeFile(path('incremental.pdf'), output)).reason).toEqual([]);
      expect((await qpdfCheck(output)).ok).toBe(true);
      expect((await pdfInfo(output)).Title).toBe('Updated title');
      expect(eofCount(await readFile(output))).toBe(1);
    });

    it('recovers stream data whose /Length is wrong', async () => {
      const text = pdf.toString('latin1');
      const lengthRef = /\/Length (\d+) 0 R/.exec(text)!;
      const lengthObj = new RegExp(`\\n${lengthRef[1]} 0 obj\\s*(\\d+)`).exec(text)!;
      const digits = lengthObj[1]!;
      const wrong = digits.replace(/./g, digits.startsWith('9') ? '1' : '9');
      const at = lengthObj.index + lengthObj[0].length - digits.length;
      const input = await broken(
        'wrong-length.pdf',
        Buffer.concat([pdf.subarray(0, at), Buffer.from(wrong), pdf.subarray(at + digits.length)]),
      );
      const output = `${input}.norm.pdf`;
      await normalizeFile(input, output);
      expect((await qpdfCheck(output)).ok).toBe(true);
      expect(await pdftotextPages(output)).toEqual(baseText);
    });

    it('repairs object-stream files whose xref is broken', async () => {
      const objstm = await readFile(await qpdf(['--object-streams=generate'], 'objstm-src.pdf'));
      const nl = objstm.indexOf(10) + 1;
      const shifted = Buffer.concat([objstm.subarray(0, nl), Buffer.from('%shifted\n'), objstm.subarray(nl)]);
      const input = await broken('objstm-shifted.pdf', shifted);
      await expectClean(input, ['repaired xref', 'expanded object streams'], path('objstm-src.pdf'));
    });
  });

  describe('hostile input', () => {
    /** Every outcome is a PdfError or a clean file with the original pages and text. */
    async function expectErrorOrClean(input: Buffer, pages: number, text: string[]): Promise<'ok' | string> {
      const outcome = await normalizeBytes(input);
      if ('error' in outcome) {
        expect(outcome.error).toBeInstanceOf(PdfError);
        return (outcome.error as PdfError).code;
      }
      await writeFile(path('hostile.pdf'), outcome.output);
      const check = await qpdfCheck(path('hostile.pdf'));
      expect(check.exitCode, check.output).toBe(0);
      expect(await pageCount(path('hostile.pdf'))).toBe(pages);
      expect(await pdftotextPages(path('hostile.pdf'))).toEqual(text);
      return 'ok';
    }

    it('truncated files give a PdfError unless every object survived', { timeout: 120_000 }, async () => {
      const sources = [
        base,
        await qpdf(['--object-streams=generate'], 'trunc-objstm.pdf'),
        await qpdf(['--encrypt', '', 'ownerpw', '256', '--'], 'trunc-aes.pdf'),
        await qpdf(['--allow-weak-crypto', '--encrypt', '', 'ownerpw', '40', '--'], 'trunc-rc4.pdf'),
      ];
      for (const source of sources) {
        const bytes = await readFile(source);
        const outcomes = new Set<string>();
        for (let i = 1; i < 40; i++) {
          const cut = bytes.subarray(0, Math.floor((bytes.length * i) / 40));
          outcomes.add(await expectErrorOrClean(cut, basePages, baseText));
        }
        expect(outcomes.has('BROKEN'), source).toBe(true);
      }
    });

    it('random corruption gives a PdfError or a valid file, never anything else', {
      timeout: 120_000,
    }, async () => {
      let seed = 20261129;
      const random = () => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed / 0x80000000;
      };
      const sources = [
        await readFile(base),
        await readFile(
          await qpdf(['--object-streams=generate', '--encrypt', '', 'o', '256', '--'], 'fuzz.pdf'),
        ),
      ];
      for (const source of sources) {
        for (let k = 0; k < 100; k++) {
          const bytes = Buffer.from(source);
          const hits = 1 + Math.floor(random() * 8);
          for (let i = 0; i < hits; i++)
            bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
          const outcome = await normalizeBytes(bytes);
          if ('error' in outcome) {
            expect(outcome.error).toBeInstanceOf(PdfError);
            continue;
          }
          // Damaged stream data is copied as it is; the file structure must still be sound.
          await writeFile(path('fuzz-out.pdf'), outcome.output);
          const check = await qpdfCheck(path('fuzz-out.pdf'));
          expect(
            check.errors.filter((e) => !/errors detected|content stream/.test(e)),
            check.output,
          ).toEqual([]);
        }
      }
    });
  });
});
