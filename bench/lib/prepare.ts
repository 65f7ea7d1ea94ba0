/**
 * Test data, written through the real services into the database the server will open. Each phase gets
 * a fresh context because the blob-store selection is cached for a few seconds inside a context.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { sql } from 'kysely';
import pino from 'pino';
import { loadConfig } from '../../src/config.ts';
import { type AppContext, createAppContext } from '../../src/context.ts';

const MiB = 1024 * 1024;

export interface S3Target {
  endpoint: string;
  bucket: string;
}

async function withContext<T>(
  env: Record<string, string>,
  work: (ctx: AppContext) => Promise<T>,
): Promise<T> {
  const ctx = await createAppContext(loadConfig(env), pino({ level: 'warn' }));
  try {
    return await work(ctx);
  } finally {
    await ctx.close();
  }
}

function useS3(ctx: AppContext, target: S3Target): Promise<unknown> {
  return ctx.storage.useS3({
    endpoint: target.endpoint,
    bucket: target.bucket,
    region: 'auto',
    forcePathStyle: true,
    // s3rver's built-in account; the presigned URLs are never used, so any key would do after the upload.
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
  });
}

async function buy(ctx: AppContext, productSlug: string): Promise<string> {
  const order = await ctx.orders.create({
    email: `buyer-${productSlug}@example.com`,
    products: [productSlug],
    source: 'bench',
  });
  const url = order.downloads[0]?.url;
  if (!url) throw new Error(`the order for ${productSlug} has no download link`);
  return url;
}

/** The same 1 MiB of random bytes, `total` bytes in all (repeating keeps generation cheap). */
function bytesOf(total: number): Readable {
  const block = randomBytes(MiB);
  return Readable.from(
    (function* chunks() {
      for (let left = total; left > 0; left -= block.length) {
        yield left >= block.length ? block : block.subarray(0, left);
      }
    })(),
  );
}

/**
 * Uploads a small file to S3 (while `uploadTo` is up), sells it with unlimited downloads, then points
 * the S3 settings at `presignFor`, which the server never contacts: presigning is local computation.
 * Returns the direct link.
 */
export async function prepareS3Link(
  env: Record<string, string>,
  uploadTo: S3Target,
  presignFor: S3Target,
): Promise<string> {
  return withContext(env, async (ctx) => {
    await useS3(ctx, uploadTo);
    const product = await ctx.products.create({
      name: 'Bench ebook (S3)',
      slug: 'bench-s3',
      downloadLimit: 0,
      linkTtlSeconds: 7 * 86400,
    });
    await ctx.products.addFile({
      product: product.slug,
      fileName: 'ebook.pdf',
      body: bytesOf(64 * 1024),
      contentType: 'application/pdf',
    });
    await useS3(ctx, presignFor);
    return buy(ctx, product.slug);
  });
}

export interface LocalFile {
  link: string;
  /** Absolute path of the stored blob, for nginx to serve the very same file. */
  path: string;
  size: number;
}

/** Stores a `size`-byte file in local storage, sold with unlimited downloads. */
export async function prepareLocalFile(env: Record<string, string>, size: number): Promise<LocalFile> {
  return withContext(env, async (ctx) => {
    await ctx.storage.useLocal();
    const product = await ctx.products.create({
      name: 'Bench video (local)',
      slug: 'bench-local',
      downloadLimit: 0,
      linkTtlSeconds: 7 * 86400,
    });
    const file = await ctx.products.addFile({
      product: product.slug,
      fileName: 'video.bin',
      body: bytesOf(size),
      contentType: 'application/octet-stream',
      size,
    });
    const row = await ctx.database.db
      .selectFrom('files')
      .select(['object_key', 'storage'])
      .where('id', '=', file.id)
      .executeTakeFirstOrThrow();
    if (row.storage !== 'local') throw new Error(`the big file went to ${row.storage}, not local storage`);
    return {
      link: await buy(ctx, product.slug),
      path: join(ctx.config.dataDir, 'files', row.object_key),
      size,
    };
  });
}

/** Download events grouped by status, read after the runs to prove every request was logged. */
export async function countEvents(env: Record<string, string>): Promise<Record<string, number>> {
  return withContext(env, async (ctx) => {
    const rows = await ctx.database.db
      .selectFrom('download_events')
      .select(['status', sql<number>`count(*)`.as('n')])
      .groupBy('status')
      .execute();
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  });
}
