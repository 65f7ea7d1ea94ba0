import type { Kysely, Selectable } from 'kysely';
import { isUUID } from '../../domain/ids.ts';
import type { StorageKind } from '../../domain/model.ts';
import type { ReleaseRepo } from '../../domain/ports.ts';
import type { Release } from '../../domain/releases/release.ts';
import { isUniqueViolation } from './catalog-repos.ts';
import type { DB } from './schema.ts';

function toRelease(row: Selectable<DB['releases']>): Release {
  return {
    id: row.id,
    productId: row.product_id,
    version: row.version,
    fileName: row.file_name,
    size: Number(row.size),
    sha256: row.sha256,
    contentType: row.content_type,
    storage: row.storage as StorageKind,
    objectKey: row.object_key,
    changelog: row.changelog,
    requiresPHP: row.requires_php,
    requiresWP: row.requires_wp,
    tested: row.tested,
    beta: row.beta === 1,
    createdAt: row.created_at,
  };
}

export function createReleaseRepo(db: Kysely<DB>): ReleaseRepo {
  return {
    async insert(r) {
      try {
        await db
          .insertInto('releases')
          .values({
            id: r.id,
            product_id: r.productId,
            version: r.version,
            file_name: r.fileName,
            size: r.size,
            sha256: r.sha256,
            content_type: r.contentType,
            storage: r.storage,
            object_key: r.objectKey,
            changelog: r.changelog,
            requires_php: r.requiresPHP,
            requires_wp: r.requiresWP,
            tested: r.tested,
            beta: r.beta ? 1 : 0,
            created_at: r.createdAt,
          })
          .execute();
        return true;
      } catch (error) {
        if (isUniqueViolation(error)) return false;
        throw error;
      }
    },
    async findById(id) {
      if (!isUUID(id)) return undefined;
      const row = await db.selectFrom('releases').selectAll().where('id', '=', id).executeTakeFirst();
      return row && toRelease(row);
    },
    async listByProduct(productId) {
      const rows = await db
        .selectFrom('releases')
        .selectAll()
        .where('product_id', '=', productId)
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      return rows.map(toRelease);
    },
  };
}
