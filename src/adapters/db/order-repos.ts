import { type Kysely, type Selectable, sql } from 'kysely';
import { isUUID } from '../../domain/ids.ts';
import type { Customer, Grant, Order } from '../../domain/model.ts';
import type { CustomerRepo, GrantRepo, OrderRepo } from '../../domain/ports.ts';
import type { DB } from './schema.ts';

function toCustomer(row: Selectable<DB['customers']>): Customer {
  return { id: row.id, email: row.email, name: row.name, createdAt: row.created_at };
}

function toOrder(row: Selectable<DB['orders']>): Order {
  return {
    id: row.id,
    customerId: row.customer_id,
    source: row.source,
    externalId: row.external_id,
    createdAt: row.created_at,
  };
}

function toGrant(row: Selectable<DB['grants']>): Grant {
  return {
    id: row.id,
    orderId: row.order_id,
    productId: row.product_id,
    customerId: row.customer_id,
    downloadLimit: row.download_limit,
    linkTtlSeconds: row.link_ttl_seconds,
    accessUntil: row.access_until,
    revokedAt: row.revoked_at,
    createdAt: row.created_at,
  };
}

export function createCustomerRepo(db: Kysely<DB>): CustomerRepo {
  return {
    async upsertByEmail(c) {
      await db
        .insertInto('customers')
        .values({ id: c.id, email: c.email, name: c.name, created_at: c.createdAt })
        .onConflict((oc) => oc.column('email').doNothing())
        .execute();
      const row = await db
        .selectFrom('customers')
        .selectAll()
        .where('email', '=', c.email)
        .executeTakeFirstOrThrow();
      if (row.name === null && c.name !== null) {
        await db.updateTable('customers').set({ name: c.name }).where('id', '=', row.id).execute();
        return toCustomer({ ...row, name: c.name });
      }
      return toCustomer(row);
    },
    async findById(id) {
      const row = await db.selectFrom('customers').selectAll().where('id', '=', id).executeTakeFirst();
      return row && toCustomer(row);
    },
    async findByEmail(email) {
      const row = await db.selectFrom('customers').selectAll().where('email', '=', email).executeTakeFirst();
      return row && toCustomer(row);
    },
  };
}

export function createOrderRepo(db: Kysely<DB>): OrderRepo {
  return {
    async insert(o) {
      const result = await db
        .insertInto('orders')
        .values({
          id: o.id,
          customer_id: o.customerId,
          source: o.source,
          external_id: o.externalId,
          created_at: o.createdAt,
        })
        .onConflict((oc) => oc.columns(['source', 'external_id']).doNothing())
        .executeTakeFirst();
      return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
    },
    async findById(id) {
      if (!isUUID(id)) return undefined;
      const row = await db.selectFrom('orders').selectAll().where('id', '=', id).executeTakeFirst();
      return row && toOrder(row);
    },
    async findByExternalId(source, externalId) {
      const row = await db
        .selectFrom('orders')
        .selectAll()
        .where('source', '=', source)
        .where('external_id', '=', externalId)
        .executeTakeFirst();
      return row && toOrder(row);
    },
    async list({ limit, before }) {
      let query = db
        .selectFrom('orders')
        .selectAll()
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(limit);
      if (before) query = query.where('created_at', '<', before);
      return (await query.execute()).map(toOrder);
    },
    async saveIdempotencyKey(key, requestHash, orderId, at) {
      const result = await db
        .insertInto('idempotency_keys')
        .values({ key, request_hash: requestHash, order_id: orderId, created_at: at })
        .onConflict((oc) => oc.column('key').doNothing())
        .executeTakeFirst();
      return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
    },
    async findIdempotencyKey(key) {
      const row = await db
        .selectFrom('idempotency_keys')
        .selectAll()
        .where('key', '=', key)
        .executeTakeFirst();
      return row && { requestHash: row.request_hash, orderId: row.order_id };
    },
  };
}

export function createGrantRepo(db: Kysely<DB>): GrantRepo {
  return {
    async insert(g) {
      await db
        .insertInto('grants')
        .values({
          id: g.id,
          order_id: g.orderId,
          product_id: g.productId,
          customer_id: g.customerId,
          download_limit: g.downloadLimit,
          link_ttl_seconds: g.linkTtlSeconds,
          access_until: g.accessUntil,
          revoked_at: g.revokedAt,
          created_at: g.createdAt,
        })
        .execute();
    },
    async findById(id) {
      if (!isUUID(id)) return undefined;
      const row = await db.selectFrom('grants').selectAll().where('id', '=', id).executeTakeFirst();
      return row && toGrant(row);
    },
    async listByOrder(orderId) {
      const rows = await db
        .selectFrom('grants')
        .selectAll()
        .where('order_id', '=', orderId)
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      return rows.map(toGrant);
    },
    async update(id, changes) {
      const set: { access_until?: string | null; revoked_at?: string | null } = {};
      if ('accessUntil' in changes) set.access_until = changes.accessUntil ?? null;
      if ('revokedAt' in changes) set.revoked_at = changes.revokedAt ?? null;
      if (Object.keys(set).length > 0) await db.updateTable('grants').set(set).where('id', '=', id).execute();
    },
    async usage(grantId) {
      const rows = await db.selectFrom('grant_usage').selectAll().where('grant_id', '=', grantId).execute();
      return new Map(rows.map((r) => [r.file_id, r.downloads_used]));
    },
    async resetUsage(grantId) {
      await db
        .updateTable('grant_usage')
        .set({ downloads_used: 0 })
        .where('grant_id', '=', grantId)
        .execute();
    },
    async tryUseDownload(grantId, fileId, limit) {
      // One statement is the lock, the check and the count: the upsert locks the usage row (PostgreSQL
      // re-evaluates the WHERE on the newest row version; SQLite serialises writers), so exactly `limit`
      // concurrent attempts succeed.
      const result = await db
        .insertInto('grant_usage')
        .values({ grant_id: grantId, file_id: fileId, downloads_used: 1 })
        .onConflict((oc) => {
          const update = oc
            .columns(['grant_id', 'file_id'])
            .doUpdateSet({ downloads_used: sql`grant_usage.downloads_used + 1` });
          return limit > 0 ? update.where('grant_usage.downloads_used', '<', limit) : update;
        })
        .executeTakeFirst();
      return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
    },
  };
}
