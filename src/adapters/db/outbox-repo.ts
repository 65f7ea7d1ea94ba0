import { type Kysely, type Selectable, sql } from 'kysely';
import type { OutboxMessage, OutboxStatus } from '../../domain/outbox/outbox.ts';
import type { OutboxRepo } from '../../domain/ports.ts';
import type { Dialect } from './database.ts';
import type { DB } from './schema.ts';

function toMessage(row: Selectable<DB['outbox']>): OutboxMessage {
  return {
    id: row.id,
    topic: row.topic,
    payload: JSON.parse(row.payload) as Record<string, unknown>,
    idempotencyKey: row.idempotency_key,
    status: row.status as OutboxStatus,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    lastError: row.last_error,
    createdAt: row.created_at,
    deliveredAt: row.delivered_at,
  };
}

export function createOutboxRepo(db: Kysely<DB>, dialect: Dialect): OutboxRepo {
  return {
    async enqueue(m) {
      const result = await db
        .insertInto('outbox')
        .values({
          id: m.id,
          topic: m.topic,
          payload: JSON.stringify(m.payload),
          idempotency_key: m.idempotencyKey,
          status: m.status,
          attempts: m.attempts,
          next_attempt_at: m.nextAttemptAt,
          locked_until: null,
          last_error: m.lastError,
          created_at: m.createdAt,
          delivered_at: m.deliveredAt,
        })
        .onConflict((oc) => oc.column('idempotency_key').doNothing())
        .executeTakeFirst();
      return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
    },
    async claim({ now, leaseUntil, limit }) {
      // PostgreSQL: SKIP LOCKED lets several workers take disjoint batches. SQLite serialises writers, and
      // the single UPDATE … RETURNING takes its batch atomically.
      const lock = dialect === 'postgres' ? sql`for update skip locked` : sql``;
      const result = await sql<Selectable<DB['outbox']>>`
        update outbox set locked_until = ${leaseUntil}, attempts = attempts + 1
        where id in (
          select id from outbox
          where status = 'pending' and next_attempt_at <= ${now}
            and (locked_until is null or locked_until <= ${now})
          order by next_attempt_at, id
          limit ${limit}
          ${lock}
        )
        returning *`.execute(db);
      return result.rows.map(toMessage).sort((a, b) => (a.nextAttemptAt < b.nextAttemptAt ? -1 : 1));
    },
    async markDelivered(id, at) {
      await db
        .updateTable('outbox')
        .set({ status: 'delivered', delivered_at: at, locked_until: null, last_error: null })
        .where('id', '=', id)
        .execute();
    },
    async markFailed(id, error, nextAttemptAt) {
      await db
        .updateTable('outbox')
        .set({
          status: nextAttemptAt === null ? 'failed' : 'pending',
          last_error: error.slice(0, 2000),
          locked_until: null,
          ...(nextAttemptAt === null ? {} : { next_attempt_at: nextAttemptAt }),
        })
        .where('id', '=', id)
        .execute();
    },
    async list({ status, limit }) {
      let query = db
        .selectFrom('outbox')
        .selectAll()
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(limit);
      if (status) query = query.where('status', '=', status);
      return (await query.execute()).map(toMessage);
    },
    async findById(id) {
      const row = await db.selectFrom('outbox').selectAll().where('id', '=', id).executeTakeFirst();
      return row && toMessage(row);
    },
    async retry(id, now) {
      const result = await db
        .updateTable('outbox')
        .set({ status: 'pending', attempts: 0, next_attempt_at: now, locked_until: null })
        .where('id', '=', id)
        .where('status', '!=', 'delivered')
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },
  };
}
