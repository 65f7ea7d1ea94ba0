import { type Kysely, sql } from 'kysely';
import type { ExternalOrderState, MappingKind } from '../../domain/integrations/external-order.ts';
import type {
  AccessState,
  Connection,
  ConnectionKind,
  ExternalOrderRecord,
  WebhookEvent,
} from '../../domain/integrations/model.ts';
import type {
  ConnectionRepo,
  ExternalOrderRepo,
  MappingRepo,
  OrderLineRepo,
  ProcessedEventRepo,
  WebhookEndpointRepo,
} from '../../domain/ports.ts';
import type { Dialect } from './database.ts';
import type { DB } from './schema.ts';

export function createConnectionRepo(db: Kysely<DB>): ConnectionRepo {
  function toConnection(row: DB['connections']): Connection {
    return {
      id: row.id,
      kind: row.kind as ConnectionKind,
      settings: JSON.parse(row.settings),
      createdAt: row.created_at,
    } as Connection;
  }
  return {
    async insert(c) {
      await db
        .insertInto('connections')
        .values({ id: c.id, kind: c.kind, settings: JSON.stringify(c.settings), created_at: c.createdAt })
        .execute();
    },
    async findById(id) {
      const row = await db.selectFrom('connections').selectAll().where('id', '=', id).executeTakeFirst();
      return row && toConnection(row);
    },
    async list(kind) {
      let query = db.selectFrom('connections').selectAll().orderBy('created_at');
      if (kind) query = query.where('kind', '=', kind);
      return (await query.execute()).map(toConnection);
    },
  };
}

export function createMappingRepo(db: Kysely<DB>): MappingRepo {
  return {
    async set(m) {
      const values = { product_id: m.productId, created_at: m.createdAt };
      await db
        .insertInto('product_mappings')
        .values({ kind: m.kind, value: m.value, ...values })
        .onConflict((oc) => oc.columns(['kind', 'value']).doUpdateSet(values))
        .execute();
    },
    async find(keys) {
      const found = new Map<string, string>();
      if (keys.length === 0) return found;
      const rows = await db
        .selectFrom('product_mappings')
        .select(['kind', 'value', 'product_id'])
        .where((eb) => eb.or(keys.map((k) => eb.and([eb('kind', '=', k.kind), eb('value', '=', k.value)]))))
        .execute();
      for (const row of rows) found.set(`${row.kind}:${row.value}`, row.product_id);
      return found;
    },
    async listByProduct(productId) {
      const rows = await db
        .selectFrom('product_mappings')
        .selectAll()
        .where('product_id', '=', productId)
        .orderBy('kind')
        .execute();
      return rows.map((r) => ({
        kind: r.kind as MappingKind,
        value: r.value,
        productId: r.product_id,
        createdAt: r.created_at,
      }));
    },
  };
}

function toRecord(row: DB['external_orders']): ExternalOrderRecord {
  return {
    source: row.source,
    externalId: row.external_id,
    state: row.state as ExternalOrderState,
    platformStatus: row.platform_status,
    modifiedAt: row.modified_at,
    orderId: row.order_id,
    access: row.access as AccessState,
    endedAt: row.ended_at,
    updatedAt: row.updated_at,
  };
}

export function createExternalOrderRepo(db: Kysely<DB>, dialect: Dialect): ExternalOrderRepo {
  return {
    async claim(source, externalId, now) {
      await db
        .insertInto('external_orders')
        .values({
          source,
          external_id: externalId,
          state: 'pending',
          platform_status: '',
          modified_at: null,
          order_id: null,
          access: 'none',
          ended_at: null,
          updated_at: now,
        })
        .onConflict((oc) => oc.columns(['source', 'external_id']).doNothing())
        .execute();
      // SQLite runs one write transaction at a time; PostgreSQL needs the row lock.
      const row =
        dialect === 'postgres'
          ? (
              await sql<DB['external_orders']>`select * from external_orders
                where source = ${source} and external_id = ${externalId} for update`.execute(db)
            ).rows[0]
          : await db
              .selectFrom('external_orders')
              .selectAll()
              .where('source', '=', source)
              .where('external_id', '=', externalId)
              .executeTakeFirst();
      if (!row) throw new Error(`external order ${source}/${externalId} vanished`);
      return toRecord(row);
    },
    async update(r) {
      await db
        .updateTable('external_orders')
        .set({
          state: r.state,
          platform_status: r.platformStatus,
          modified_at: r.modifiedAt,
          order_id: r.orderId,
          access: r.access,
          ended_at: r.endedAt,
          updated_at: r.updatedAt,
        })
        .where('source', '=', r.source)
        .where('external_id', '=', r.externalId)
        .execute();
    },
    async find(source, externalId) {
      const row = await db
        .selectFrom('external_orders')
        .selectAll()
        .where('source', '=', source)
        .where('external_id', '=', externalId)
        .executeTakeFirst();
      return row && toRecord(row);
    },
    async findByOrder(orderId) {
      const row = await db
        .selectFrom('external_orders')
        .selectAll()
        .where('order_id', '=', orderId)
        .executeTakeFirst();
      return row && toRecord(row);
    },
  };
}

export function createOrderLineRepo(db: Kysely<DB>): OrderLineRepo {
  return {
    async insert(l) {
      await db
        .insertInto('order_lines')
        .values({
          order_id: l.orderId,
          line_id: l.lineId,
          product_id: l.productId,
          quantity: l.quantity,
          created_at: l.createdAt,
        })
        .execute();
    },
    async listByOrder(orderId) {
      const rows = await db.selectFrom('order_lines').selectAll().where('order_id', '=', orderId).execute();
      return rows.map((r) => ({
        orderId: r.order_id,
        lineId: r.line_id,
        productId: r.product_id,
        quantity: r.quantity,
        createdAt: r.created_at,
      }));
    },
  };
}

export function createProcessedEventRepo(db: Kysely<DB>): ProcessedEventRepo {
  return {
    async insert(source, eventId, at) {
      const result = await db
        .insertInto('processed_events')
        .values({ source, event_id: eventId, at })
        .onConflict((oc) => oc.columns(['source', 'event_id']).doNothing())
        .executeTakeFirst();
      return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
    },
  };
}

export function createWebhookEndpointRepo(db: Kysely<DB>): WebhookEndpointRepo {
  function toEndpoint(row: DB['webhook_endpoints']) {
    return {
      id: row.id,
      url: row.url,
      events: JSON.parse(row.events) as WebhookEvent[],
      createdAt: row.created_at,
    };
  }
  return {
    async insert(e) {
      await db
        .insertInto('webhook_endpoints')
        .values({ id: e.id, url: e.url, events: JSON.stringify(e.events), created_at: e.createdAt })
        .execute();
    },
    async findById(id) {
      const row = await db
        .selectFrom('webhook_endpoints')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirst();
      return row && toEndpoint(row);
    },
    async list() {
      return (await db.selectFrom('webhook_endpoints').selectAll().orderBy('created_at').execute()).map(
        toEndpoint,
      );
    },
    async remove(id) {
      const result = await db.deleteFrom('webhook_endpoints').where('id', '=', id).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },
  };
}
