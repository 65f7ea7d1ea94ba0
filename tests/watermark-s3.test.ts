import { createReadStream } from 'node:fs';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './helpers/harness.ts';
import { ensureCorpus } from './helpers/pdf-corpus.ts';
import { missingTools, pdftotextPages, qpdfCheck } from './helpers/pdf-verify.ts';
import { type LocalS3, startS3rver } from './helpers/s3rver.ts';

// Watermarked copies of files in an S3-compatible bucket (R2): analysed and normalised through ranged
// reads at upload, made at download from ranged GETs, served by us (never a redirect to the bucket).
let h: Harness;
let s3: LocalS3;

beforeAll(async () => {
  h = await createHarness();
  s3 = await startS3rver();
  await h.ctx.storage.useS3(s3.settings);
}, 120_000);
afterAll(async () => {
  await h?.close();
  await s3?.stop();
});

describe.skipIf(missingTools(['qpdf', 'gs', 'pdftotext']).length > 0)(
  'watermarking files stored in S3/R2',
  () => {
    it('stamps a PDF (and a normalised encrypted one) read by ranges from the bucket', async () => {
      const corpus = await ensureCorpus(['objstm', 'encrypted-owner']);
      const product = await h.ctx.products.create({ name: 'Bucket Book', watermark: {} });
      const methods: string[] = [];
      for (const name of ['objstm', 'encrypted-owner'] as const) {
        const size = (await stat(corpus[name])).size;
        const file = await h.ctx.products.addFile({
          product: product.id,
          fileName: `${name}.pdf`,
          body: createReadStream(corpus[name]),
          contentType: 'application/pdf',
          size,
        });
        methods.push(file.watermark?.method ?? '');
      }
      expect(methods).toEqual(['rewrite', 'normalized']);
      const order = await h.ctx.orders.create({
        email: 'bucket@example.com',
        name: 'Bucket Buyer',
        products: [product.slug],
        source: 'test',
        notify: false,
      });
      for (const link of order.downloads) {
        const full = await fetch(link.url, { redirect: 'manual' });
        expect(full.status).toBe(200);
        const body = Buffer.from(await full.arrayBuffer());
        expect(body.length).toBe(Number(full.headers.get('content-length')));
        const path = join(h.dataDir, `out-${link.file}`);
        await writeFile(path, body);
        expect((await qpdfCheck(path)).exitCode).toBe(0);
        for (const page of await pdftotextPages(path)) expect(page).toContain('Bucket Buyer');
        const ranged = await fetch(link.url, { headers: { range: 'bytes=1000-4999' } });
        expect(ranged.status).toBe(206);
        expect(Buffer.from(await ranged.arrayBuffer()).equals(body.subarray(1000, 5000))).toBe(true);
        expect((await h.ctx.watermarks.trace(body)).matches[0]?.customer.email).toBe('bucket@example.com');
      }
    }, 180_000);
  },
);
