import type { Kysely, Selectable } from 'kysely';
import type { DownloadEvent, DownloadStatus } from '../../domain/model.ts';
import type { DownloadRepo } from '../../domain/ports.ts';
import { createUUIDv7Generator } from '../ids.ts';
import type { DB } from './schema.ts';

function toEvent(row: Selectable<DB['download_events']>): DownloadEvent {
  return {
    id: row.id,
    at: row.at,
    grantId: row.grant_id,
    fileId: row.file_id,
    orderId: row.order_id,
    customerId: row.customer_id,
    ip: row.ip,
    userAgent: row.user_agent,
    bytes: row.bytes === null ? null : Number(row.bytes),
    status: row.status as DownloadStatus,
    counted: row.counted === 1,
    range: row.range,
  };
}

export function createDownloadRepo(db: Kysely<DB>): DownloadRepo {
  // Time-ordered ids append to the primary-key index instead of landing at random pages.
  const newId = createUUIDv7Generator();
  return {
    async insert(e) {
      const id = newId();
      await db
        .insertInto('download_events')
        .values({
          id,
          at: e.at,
          grant_id: e.grantId,
          file_id: e.fileId,
          order_id: e.orderId,
          customer_id: e.customerId,
          ip: e.ip,
          user_agent: e.userAgent,
          bytes: e.bytes,
          status: e.status,
          counted: e.counted ? 1 : 0,
          range: e.range?.slice(0, 200) ?? null,
        })
        .execute();
      return id;
    },
    async finish(id, bytes, status) {
      await db.updateTable('download_events').set({ bytes, status }).where('id', '=', id).execute();
    },
    async hasCountedSince(grantId, fileId, ip, since) {
      if (ip === null) return false;
      const row = await db
        .selectFrom('download_events')
        .select('id')
        .where('grant_id', '=', grantId)
        .where('file_id', '=', fileId)
        .where('ip', '=', ip)
        .where('counted', '=', 1)
        .where('at', '>=', since)
        .limit(1)
        .executeTakeFirst();
      return row !== undefined;
    },
    async list(filter) {
      let query = db
        .selectFrom('download_events')
        .selectAll()
        .orderBy('at', 'desc')
        .orderBy('id', 'desc')
        .limit(Math.min(filter.limit ?? 100, 1000));
      if (filter.orderId) query = query.where('order_id', '=', filter.orderId);
      if (filter.grantId) query = query.where('grant_id', '=', filter.grantId);
      if (filter.customerId) query = query.where('customer_id', '=', filter.customerId);
      if (filter.ip) query = query.where('ip', '=', filter.ip);
      return (await query.execute()).map(toEvent);
    },
    async forgetIpsBefore(before) {
      const result = await db
        .updateTable('download_events')
        .set({ ip: null })
        .where('at', '<', before)
        .where('ip', 'is not', null)
        .executeTakeFirst();
      return Number(result.numUpdatedRows);
    },
  };
}
