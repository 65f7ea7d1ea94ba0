import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingTools, runTool } from '../../../../tests/helpers/pdf-verify.ts';
import { openStandardEncryption, rc4 } from './decrypt.ts';
import { PdfError } from './errors.ts';
import { type PdfDict, parseObjectSource, readObjectSource } from './syntax.ts';

describe('rc4', () => {
  it('matches the published test vectors', () => {
    const vector = (key: string, plain: string) => rc4(Buffer.from(key))(Buffer.from(plain)).toString('hex');
    expect(vector('Key', 'Plaintext')).toBe('bbf316e8d940af0ad3');
    expect(vector('Wiki', 'pedia')).toBe('1021bf0420');
    expect(vector('Secret', 'Attack at dawn')).toBe('45a01f645fc35b383552544b9bf5');
  });

  it('gives the same bytes when fed in chunks', () => {
    const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff));
    const whole = rc4(Buffer.from('k3y'))(data);
    const step = rc4(Buffer.from('k3y'));
    const parts = [step(data.subarray(0, 1)), step(data.subarray(1, 500)), step(data.subarray(500))];
    expect(Buffer.concat(parts).equals(whole)).toBe(true);
  });
});

function dict(source: string): PdfDict {
  const value = parseObjectSource(source);
  if (value.type !== 'dict') throw new Error('not a dict');
  return value;
}

describe('openStandardEncryption refusals', () => {
  const o = `<${'00'.repeat(32)}>`;
  it('refuses other security handlers and unknown versions as UNSUPPORTED', () => {
    expect(() => openStandardEncryption(dict('<< /Filter /Adobe.PubSec /V 4 /R 4 >>'), undefined)).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED' }),
    );
    expect(() =>
      openStandardEncryption(dict(`<< /Filter /Standard /V 3 /R 3 /O ${o} /U ${o} /P -4 >>`), undefined),
    ).toThrow(expect.objectContaining({ code: 'UNSUPPORTED' }));
    const v4 = `<< /Filter /Standard /V 4 /R 4 /O ${o} /U ${o} /P -4 /CF << /X << /CFM /Magic >> >> /StmF /X /StrF /X >>`;
    expect(() => openStandardEncryption(dict(v4), undefined)).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED' }),
    );
  });

  it('asks for an unprotected copy when the empty user password does not open the file', () => {
    const rc4Dict = `<< /Filter /Standard /V 2 /R 3 /Length 128 /O ${o} /U ${o} /P -4 >>`;
    let error: unknown;
    try {
      openStandardEncryption(dict(rc4Dict), Buffer.alloc(16));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PdfError);
    expect((error as PdfError).code).toBe('ENCRYPTED');
    expect((error as PdfError).message).toMatch(/user password.*unprotected copy/);
  });
});

const missing = missingTools(['qpdf']);

/** The /Encrypt dictionary, /ID[0] and one stream object of a qpdf-encrypted file. */
async function encryptedParts(path: string) {
  const pdf = await readFile(path);
  const text = pdf.toString('latin1');
  const trailer = /trailer\s*(<<[\s\S]*?>>)\s*startxref/.exec(text)?.[1];
  if (!trailer) throw new Error('no trailer');
  const t = dict(trailer);
  const enc = t.entries.get('Encrypt');
  const id = t.entries.get('ID');
  if (enc?.type !== 'ref' || id?.type !== 'array' || id.items[0]?.type !== 'string')
    throw new Error('no /Encrypt');
  const encAt = text.indexOf(`\n${enc.num} 0 obj`) + 1;
  const encrypt = readObjectSource(pdf, encAt).value as PdfDict;
  // The page content: the first stream object that is not the xref or metadata.
  for (const m of text.matchAll(/\n(\d+) 0 obj/g)) {
    const stream = readObjectSource(pdf, m.index + 1);
    const type = stream.value.type === 'dict' ? stream.value.entries.get('Type') : undefined;
    if (stream.stream && type === undefined) return { encrypt, id0: id.items[0].value, pdf, stream };
  }
  throw new Error('no stream');
}

describe.skipIf(missing.length > 0)('stream deciphers on qpdf-encrypted files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'decrypt-test-'));
    const content = 'BT /F1 12 Tf 72 720 Td (Hello, decrypted world) Tj ET\n'.repeat(40);
    const objects = [
      '<< /Type /Catalog /Pages 2 0 R >>',
      '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
      '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
      `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
      '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
    ];
    let pdf = '%PDF-1.4\n';
    const offsets: number[] = [];
    objects.forEach((body, i) => {
      offsets.push(pdf.length);
      pdf += `${i + 1} 0 obj\n${body}\nendobj\n`;
    });
    const xref = pdf.length;
    pdf += `xref\n0 6\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
    pdf += `trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
    await writeFile(join(dir, 'plain.pdf'), pdf, 'latin1');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const variants: [string, string[]][] = [
    ['RC4 40', ['--allow-weak-crypto', '--encrypt', '', 'owner', '40', '--']],
    ['AESV2', ['--encrypt', '', 'owner', '128', '--use-aes=y', '--']],
    ['AESV3 R6', ['--encrypt', '', 'owner', '256', '--']],
  ];
  for (const [name, args] of variants) {
    it(`${name}: chunked decryption equals whole decryption, and plainLength is exact`, async () => {
      const out = join(dir, `${name.replace(/\W/g, '')}.pdf`);
      const run = await runTool('qpdf', ['--compress-streams=n', ...args, join(dir, 'plain.pdf'), out]);
      expect(run.code).toBe(0);
      const { encrypt, id0, pdf, stream } = await encryptedParts(out);
      const decryptor = openStandardEncryption(encrypt, id0);
      const decipher = decryptor.streamDecipher(stream.value as PdfDict, stream.num, stream.gen);
      expect(decipher).not.toBeNull();
      const data = pdf.subarray(stream.stream!.start, stream.stream!.end);
      const whole = decipher!.decrypt(data);
      expect(whole.toString('latin1')).toContain('Hello, decrypted world');
      const length = decipher!.plainLength(data.length, data.subarray(decipher!.tailStart(data.length)));
      expect(length).toBe(whole.length);
      for (const size of [1, 15, 16, 17, 100, 4096]) {
        const step = decipher!.begin();
        const parts: Buffer[] = [];
        for (let at = 0; at < data.length; at += size) parts.push(step(data.subarray(at, at + size)));
        expect(Buffer.concat(parts).subarray(0, length).equals(whole)).toBe(true);
      }
    });
  }
});
