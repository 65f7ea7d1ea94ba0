import type { Kysely, Selectable } from 'kysely';
import { isUUID } from '../../domain/ids.ts';
import type { LicensePolicy } from '../../domain/licenses/license.ts';
import type { Product, ProductFile, StorageKind } from '../../domain/model.ts';
import type { FileRepo, ProductRepo } from '../../domain/ports.ts';
import type { WatermarkSettings } from '../../domain/watermark/watermark.ts';
import type { DB } from './schema.ts';

function toProduct(row: Selectable<DB['products']>): Product {
  return {
    id: row.id,
    slug: row.slug,
    name: row.name,
    downloadLimit: row.download_limit,
    linkTtlSeconds: row.link_ttl_seconds,
    accessDays: row.access_days,
    itemId: row.item_id,
    licensePolicy: row.license_policy ? (JSON.parse(row.license_policy) as LicensePolicy) : null,
    watermark: row.watermark ? (JSON.parse(row.watermark) as WatermarkSettings) : null,
    createdAt: row.created_at,
  };
}

function productColumns(p: Product): Omit<DB['products'], 'id' | 'created_at'> {
  return {
    slug: p.slug,
    name: p.name,
    download_limit: p.downloadLimit,
    link_ttl_seconds: p.linkTtlSeconds,
    access_days: p.accessDays,
    item_id: p.itemId,
    license_policy: p.licensePolicy ? JSON.stringify(p.licensePolicy) : null,
    watermark: p.watermark ? JSON.stringify(p.watermark) : null,
  };
}

function toFile(row: Selectable<DB['files']>): ProductFile {
  return {
    id: row.id,
    productId: row.product_id,
    name: row.name,
    size: Number(row.size),
    sha256: row.sha256,
    contentType: row.content_type,
    storage: row.storage as StorageKind,
    objectKey: row.object_key,
    createdAt: row.created_at,
  };
}

export function createProductRepo(db: Kysely<DB>): ProductRepo {
  return {
    async insert(p) {
      const result = await db
        .insertInto('products')
        .values({ id: p.id, created_at: p.createdAt, ...productColumns(p) })
        .onConflict((oc) => oc.doNothing())
        .executeTakeFirst();
      return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
    },
    async update(p) {
      try {
        await db.updateTable('products').set(productColumns(p)).where('id', '=', p.id).execute();
        return true;
      } catch (error) {
        if (isUniqueViolation(error)) return false;
        throw error;
      }
    },
    async findByItemId(itemId) {
      const row = await db
        .selectFrom('products')
        .selectAll()
        .where('item_id', '=', itemId)
        .executeTakeFirst();
      return row && toProduct(row);
    },
    async nextItemId() {
      const row = await db
        .selectFrom('products')
        .select((eb) => eb.fn.max('item_id').as('max'))
        .executeTakeFirst();
      return Math.max(1000, Number(row?.max ?? 0) + 1);
    },
    async findBySlugOrId(ref) {
      const query = db.selectFrom('products').selectAll();
      const row = await (isUUID(ref)
        ? query.where('id', '=', ref)
        : query.where('slug', '=', ref)
      ).executeTakeFirst();
      return row && toProduct(row);
    },
    async findById(id) {
      const row = await db.selectFrom('products').selectAll().where('id', '=', id).executeTakeFirst();
      return row && toProduct(row);
    },
    async list() {
      const rows = await db.selectFrom('products').selectAll().orderBy('created_at').orderBy('id').execute();
      return rows.map(toProduct);
    },
  };
}

export function createFileRepo(db: Kysely<DB>): FileRepo {
  return {
    async insert(f) {
      await db
        .insertInto('files')
        .values({
          id: f.id,
          product_id: f.productId,
          name: f.name,
          size: f.size,
          sha256: f.sha256,
          content_type: f.contentType,
          storage: f.storage,
          object_key: f.objectKey,
          created_at: f.createdAt,
        })
        .execute();
    },
    async findById(id) {
      if (!isUUID(id)) return undefined;
      const row = await db.selectFrom('files').selectAll().where('id', '=', id).executeTakeFirst();
      return row && toFile(row);
    },
    async listByProduct(productId) {
      const rows = await db
        .selectFrom('files')
        .selectAll()
        .where('product_id', '=', productId)
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      return rows.map(toFile);
    },
  };
}

/** SQLite and PostgreSQL report unique-key violations differently; both mean "taken". */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return e.code === '23505' || e.code === 'SQLITE_CONSTRAINT_UNIQUE';
}
