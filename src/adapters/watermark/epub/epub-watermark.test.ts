import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streamPlan } from '../plan.ts';
import { bufferReader } from '../range-reader.ts';
import { readCentralDirectory } from '../zip/central-directory.ts';
import { findZipMarks } from '../zip/find-marks.ts';
import { ZipError } from '../zip/zip-error.ts';
import {
  epubcheck,
  epubcheckJar,
  fileOpenRange,
  fileReader,
  flatten,
  hasTool,
  layoutZip,
  planOverSparse,
  readAll,
  run,
  sparseReader,
  writeSparse,
} from '../zip/zip-test-helpers.ts';
import { CHAPTERS, makeEpub } from './epub-test-helpers.ts';
import { DEFAULT_EPUB_LIMITS, type EpubWatermarkInput, planEpubWatermark } from './epub-watermark.ts';

const TOKEN = 'WMK7Q2ZP4XJ3D3M5T6R2AB';
const OTHER = 'WMBBBBBBBBBBBBBBBBBBBB';
const INPUT: EpubWatermarkInput = {
  text: 'Licensed to José Müller <jose@example.com> · Order 1042 · 2026-11-29',
  token: TOKEN,
  buyerName: 'José Müller',
};
const ESCAPED = 'Licensed to José Müller &lt;jose@example.com&gt; · Order 1042 · 2026-11-29';
const haveZip = hasTool('zip') && hasTool('unzip');
const jar = epubcheckJar();
let dir = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'epubwm-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function watermark(path: string, input: EpubWatermarkInput = INPUT): Promise<Buffer> {
  const reader = await fileReader(path);
  try {
    const plan = await planEpubWatermark(reader, input);
    const out = await readAll(streamPlan(plan, fileOpenRange(path)));
    expect(out.length).toBe(plan.length);
    return out;
  } finally {
    await reader.close();
  }
}

function unzipText(path: string, name: string): string {
  const r = run('unzip', ['-p', path, name]);
  expect(r.status, `${name}: ${r.stderr}`).toBe(0);
  return r.stdout.toString('utf8');
}

/** The first local header: `mimetype`, stored, no extra field, exactly `application/epub+zip`. */
function expectMimetypeFirst(out: Buffer): void {
  expect(out.readUInt32LE(0)).toBe(0x04034b50);
  expect(out.readUInt16LE(8)).toBe(0);
  expect(out.readUInt16LE(28)).toBe(0);
  expect(out.subarray(30, 38).toString()).toBe('mimetype');
  expect(out.subarray(38, 58).toString()).toBe('application/epub+zip');
}

describe.skipIf(!haveZip).each([3, 2] as const)('planEpubWatermark on an EPUB %i', (version) => {
  it('marks the OPF and every content document, adds the page to the spine, copies the rest raw', async () => {
    const path = makeEpub(dir, `book${version}`, { version });
    if (jar) expect(epubcheck(jar, path).messages).toEqual([]);
    const out = await watermark(path);
    const outPath = join(dir, `book${version}-wm.epub`);
    writeFileSync(outPath, out);

    expectMimetypeFirst(out);
    const t = run('unzip', ['-t', outPath]);
    expect(t.status, t.stdout.toString()).toBe(0);
    const page = `OEBPS/wm-${TOKEN}.xhtml`;
    const names = run('unzip', ['-Z1', outPath]).stdout.toString().split('\n').filter(Boolean);
    const originalNames = run('unzip', ['-Z1', path]).stdout.toString().split('\n').filter(Boolean);
    expect(names).toEqual([...originalNames, page]);

    const opf = unzipText(outPath, 'OEBPS/content.opf');
    expect(opf).toContain(
      `<item id="wm-${TOKEN}" href="wm-${TOKEN}.xhtml" media-type="application/xhtml+xml"/>`,
    );
    expect(opf).toMatch(
      new RegExp(`<itemref idref="title"/>\\s*<itemref idref="wm-${TOKEN}"/>\\s*<itemref idref="ch1"/>`),
    );
    expect(opf).toContain(`<!-- CloudSecure ${TOKEN} -->`);
    if (version === 3) {
      expect(opf).toContain(`<meta property="cloudsecure:mark">${TOKEN}</meta>`);
      expect(opf).toMatch(/<package [^>]*prefix="cloudsecure: https:/);
    } else {
      expect(opf).toContain(`<meta name="cloudsecure:mark" content="${TOKEN}"/>`);
    }
    for (const chapter of CHAPTERS) {
      const doc = unzipText(outPath, `OEBPS/${chapter}`);
      expect(doc).toContain(ESCAPED);
      expect(doc).toContain(`<!-- CloudSecure ${TOKEN} -->\n</body>`);
      // Everything before the footer is the original document.
      const original = unzipText(path, `OEBPS/${chapter}`);
      expect(doc.slice(0, doc.indexOf('<p class="cloudsecure-watermark"'))).toBe(
        original.slice(0, original.indexOf('</body>')),
      );
    }
    if (version === 3) expect(unzipText(outPath, 'OEBPS/nav.xhtml')).toBe(unzipText(path, 'OEBPS/nav.xhtml'));
    const wm = unzipText(outPath, page);
    expect(wm).toContain('This copy of <em>Tales &amp; Trials</em> is licensed to José Müller.');
    expect(wm).toContain(ESCAPED);
    expect(wm).toContain(TOKEN);
    for (const raw of ['OEBPS/images/figure.png', 'OEBPS/style.css', 'META-INF/container.xml']) {
      expect(run('unzip', ['-p', outPath, raw]).stdout.equals(run('unzip', ['-p', path, raw]).stdout)).toBe(
        true,
      );
    }
    // Copied entries keep their compressed bytes: same CRC, method and compressed size.
    const before = await readCentralDirectory(bufferReader(readFileSync(path)));
    const after = await readCentralDirectory(bufferReader(out));
    const figure = (cd: typeof before) => cd.entries.find((e) => e.name === 'OEBPS/images/figure.png')!;
    expect([figure(after).crc32, figure(after).method, figure(after).compressedSize]).toEqual([
      figure(before).crc32,
      figure(before).method,
      figure(before).compressedSize,
    ]);
    expect(await findZipMarks(bufferReader(out))).toEqual([TOKEN]);
    expect(await findZipMarks(bufferReader(readFileSync(path)))).toEqual([]);

    if (jar) {
      const check = epubcheck(jar, outPath);
      expect(check.messages, check.output).toEqual([]);
      expect(check.ok, check.output).toBe(true);
    }
  }, 180_000);

  it('is deterministic, differs per token, and Range slices equal the same slice of the whole', async () => {
    const path = makeEpub(dir, `det${version}`, { version });
    const a = await watermark(path);
    const b = await watermark(path);
    const c = await watermark(path, { ...INPUT, token: OTHER });
    expect(a.equals(b)).toBe(true);
    expect(a.equals(c)).toBe(false);
    const reader = await fileReader(path);
    const plan = await planEpubWatermark(reader, INPUT);
    await reader.close();
    const cuts = [0, 1, 38, 58, 59, 500, 1234, a.length - 200, a.length - 1, a.length];
    for (const from of cuts) {
      for (const to of cuts) {
        if (to <= from) continue;
        const slice = await readAll(streamPlan(plan, fileOpenRange(path), from, to));
        expect(slice.equals(a.subarray(from, to)), `${from}-${to}`).toBe(true);
      }
    }
  });
});

describe.skipIf(!haveZip)('planEpubWatermark on imperfect books', () => {
  it('moves mimetype to the front of a book zipped in the wrong order (with data descriptors)', async () => {
    makeEpub(dir, 'late', { version: 3 });
    // Zipped to a pipe, mimetype last: entries carry data descriptors, and epubcheck refuses the book.
    const piped = join(dir, 'late-piped.epub');
    const r = run('sh', ['-c', `zip -q -r - META-INF OEBPS mimetype | cat > ${piped}`], {
      cwd: join(dir, 'late-src'),
    });
    expect(r.status, r.stderr).toBe(0);
    const cd = await readCentralDirectory(bufferReader(readFileSync(piped)));
    expect(cd.entries.at(-1)!.name).toBe('mimetype');
    expect(cd.entries.some((e) => (e.flags & 0x8) !== 0)).toBe(true);
    const out = await watermark(piped);
    const outPath = join(dir, 'late-wm.epub');
    writeFileSync(outPath, out);
    expectMimetypeFirst(out);
    expect(run('unzip', ['-t', outPath]).status).toBe(0);
    const names = run('unzip', ['-Z1', outPath]).stdout.toString().split('\n').filter(Boolean);
    expect(names.filter((n) => n === 'mimetype')).toHaveLength(1);
    if (jar) {
      expect(epubcheck(jar, piped).ok).toBe(false);
      const check = epubcheck(jar, outPath);
      expect(check.messages, check.output).toEqual([]);
    }
  }, 180_000);
});

const CONTAINER = `<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>`;
const OPF = `<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:identifier id="id">x</dc:identifier><dc:title>T</dc:title></metadata>
<manifest><item id="c1" href="ch1.xhtml" media-type="application/xhtml+xml"/><item id="f" href="font.otf" media-type="font/otf"/></manifest>
<spine><itemref idref="c1"/></spine>
</package>`;
const CH1 =
  '<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>1</title></head><body><p>one</p></body></html>';

function handEpub(files: Record<string, string | Buffer | undefined> = {}): Buffer {
  const all: Record<string, string | Buffer | undefined> = {
    mimetype: 'application/epub+zip',
    'META-INF/container.xml': CONTAINER,
    'OEBPS/content.opf': OPF,
    'OEBPS/ch1.xhtml': CH1,
    'OEBPS/font.otf': Buffer.alloc(100, 1),
    ...files,
  };
  return flatten(
    layoutZip(
      Object.entries(all)
        .filter((e): e is [string, string | Buffer] => e[1] !== undefined)
        .map(([name, data]) => ({ name, data: Buffer.from(data), method: name === 'mimetype' ? 0 : 8 })),
    ),
  );
}

/** Offset of the central header of `name`. */
function centralHeader(buf: Buffer, name: string): number {
  return buf.lastIndexOf(Buffer.from(name)) - 46;
}

async function refusal(buf: Buffer, limits?: Parameters<typeof planEpubWatermark>[2]): Promise<ZipError> {
  const error = await planEpubWatermark(bufferReader(buf), INPUT, limits).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ZipError);
  return error as ZipError;
}

describe('planEpubWatermark on hand-made and hostile books', () => {
  it('watermarks a minimal book and finds its token again', async () => {
    const plan = await planEpubWatermark(bufferReader(handEpub()), INPUT);
    const out = await readAll(streamPlan(plan, async (s, e) => Readable.from([handEpub().subarray(s, e)])));
    expectMimetypeFirst(out);
    expect(await findZipMarks(bufferReader(out))).toEqual([TOKEN]);
  });

  it('refuses books without a container, a package document or a spine', async () => {
    expect((await refusal(handEpub({ 'META-INF/container.xml': undefined }))).message).toMatch(/container/);
    expect((await refusal(handEpub({ 'OEBPS/content.opf': undefined }))).code).toBe('BROKEN');
    expect(
      (await refusal(handEpub({ 'OEBPS/content.opf': OPF.replace(/<spine>.*<\/spine>/, '') }))).code,
    ).toBe('BROKEN');
    expect(
      (await refusal(handEpub({ 'OEBPS/content.opf': Buffer.from([0x3c, 0xff, 0xfe, 0x3e]) }))).code,
    ).toBe('UNSUPPORTED');
  });

  it('refuses DRM-encrypted content documents but not obfuscated fonts', async () => {
    const encryption = (uri: string) => `<?xml version="1.0"?>
<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" xmlns:enc="http://www.w3.org/2001/04/xmlenc#">
<enc:EncryptedData><enc:EncryptionMethod Algorithm="http://www.idpf.org/2008/embedding"/>
<enc:CipherData><enc:CipherReference URI="${uri}"/></enc:CipherData></enc:EncryptedData></encryption>`;
    expect((await refusal(handEpub({ 'META-INF/encryption.xml': encryption('OEBPS/ch1.xhtml') }))).code).toBe(
      'ENCRYPTED',
    );
    const fonts = handEpub({ 'META-INF/encryption.xml': encryption('OEBPS/font.otf') });
    await expect(planEpubWatermark(bufferReader(fonts), INPUT)).resolves.toBeDefined();
    const zipEncrypted = handEpub();
    const at = centralHeader(zipEncrypted, 'OEBPS/ch1.xhtml');
    zipEncrypted.writeUInt16LE(zipEncrypted.readUInt16LE(at + 8) | 1, at + 8);
    expect((await refusal(zipEncrypted)).code).toBe('ENCRYPTED');
  });

  it('stops decompression bombs and oversized documents', async () => {
    const bomb = handEpub({ 'OEBPS/ch1.xhtml': Buffer.alloc(20_000_000, 0x20) });
    // The central directory claims 1,000 bytes; inflation stops there.
    const at = centralHeader(bomb, 'OEBPS/ch1.xhtml');
    bomb.writeUInt32LE(1000, at + 24);
    expect((await refusal(bomb)).code).toBe('BROKEN');
    const small = { ...DEFAULT_EPUB_LIMITS, maxDocumentBytes: 50 };
    expect((await refusal(handEpub(), small)).code).toBe('LIMIT');
    expect((await refusal(handEpub(), { ...DEFAULT_EPUB_LIMITS, maxDocuments: 0 })).code).toBe('LIMIT');
  });

  it('chooses another page name when the book already has one', async () => {
    const taken = handEpub({ [`OEBPS/wm-${TOKEN}.xhtml`]: 'old' });
    const plan = await planEpubWatermark(bufferReader(taken), INPUT);
    const out = await readAll(streamPlan(plan, async (s, e) => Readable.from([taken.subarray(s, e)])));
    const names = (await readCentralDirectory(bufferReader(out))).entries.map((e) => e.name);
    expect(names).toContain(`OEBPS/wm-${TOKEN}-2.xhtml`);
  });

  it('writes Zip64 offsets for books past 4 GB (sparse, never in memory)', async () => {
    const entries = [
      { name: 'mimetype', data: Buffer.from('application/epub+zip') },
      { name: 'META-INF/container.xml', data: Buffer.from(CONTAINER), method: 8 as const },
      { name: 'OEBPS/content.opf', data: Buffer.from(OPF), method: 8 as const },
      { name: 'OEBPS/font.otf', data: Buffer.alloc(100, 1) },
      { name: 'OEBPS/ch1.xhtml', data: Buffer.from(CH1), method: 8 as const, at: 2 ** 32 + 10 },
    ];
    const layout = layoutZip(entries);
    const plan = await planEpubWatermark(sparseReader(layout), INPUT);
    const output = planOverSparse(plan, layout);
    const cd = await readCentralDirectory(sparseReader(output));
    expect(cd.zip64).toBe(true);
    expect(cd.entries.map((e) => e.name)).toEqual([
      'mimetype',
      'META-INF/container.xml',
      'OEBPS/content.opf',
      'OEBPS/font.otf',
      'OEBPS/ch1.xhtml',
      `OEBPS/wm-${TOKEN}.xhtml`,
    ]);
    expect(cd.entries[4]!.localHeaderOffset).toBeGreaterThan(2 ** 32);
    expect(await findZipMarks(sparseReader(output))).toEqual([TOKEN]);
    if (haveZip) {
      const outPath = join(dir, 'big-wm.epub');
      await writeSparse(outPath, output);
      try {
        const t = run('unzip', ['-t', outPath]);
        expect(t.status, t.stdout.toString()).toBe(0);
        expect(unzipText(outPath, 'OEBPS/ch1.xhtml')).toContain(ESCAPED);
      } finally {
        rmSync(outPath, { force: true });
      }
    }
  });

  it('survives random corruption: a ZipError or a book, nothing else', async () => {
    const base = handEpub();
    let seed = 987;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let round = 0; round < 1000; round++) {
      const buf = Buffer.from(base);
      for (let k = 1 + rand(3); k > 0; k--) buf[rand(buf.length)] = rand(256);
      try {
        await planEpubWatermark(bufferReader(buf), INPUT);
      } catch (e) {
        if (!(e instanceof ZipError)) throw new Error(`round ${round}: ${String(e)}`);
      }
    }
  });
});
