import { type Kysely, type Selectable, sql } from 'kysely';
import { isUUID } from '../../domain/ids.ts';
import type { Activation, ActivationKind, License, LicenseStatus } from '../../domain/licenses/license.ts';
import type { LicenseRepo } from '../../domain/ports.ts';
import type { Dialect } from './database.ts';
import type { DB } from './schema.ts';

function toLicense(row: Selectable<DB['licenses']>): License {
  return {
    id: row.id,
    productId: row.product_id,
    customerId: row.customer_id,
    orderId: row.order_id,
    status: row.status as LicenseStatus,
    expiresAt: row.expires_at,
    activationLimit: row.activation_limit,
    expiryStops: row.expiry_stops as License['expiryStops'],
    keyHint: row.key_hint,
    createdAt: row.created_at,
  };
}

function toActivation(row: Selectable<DB['activations']>): Activation {
  return {
    id: row.id,
    licenseId: row.license_id,
    kind: row.kind as ActivationKind,
    identifier: row.identifier,
    name: row.name,
    isLocal: row.is_local === 1,
    version: row.version,
    createdAt: row.created_at,
    lastSeenAt: row.last_seen_at,
  };
}

export function createLicenseRepo(db: Kysely<DB>, dialect: Dialect): LicenseRepo {
  const licenses = () => db.selectFrom('licenses').selectAll();
  return {
    async insert(l, keyHash, keyCiphertext) {
      await db
        .insertInto('licenses')
        .values({
          id: l.id,
          key_hash: keyHash,
          key_enc: keyCiphertext,
          key_hint: l.keyHint,
          product_id: l.productId,
          customer_id: l.customerId,
          order_id: l.orderId,
          status: l.status,
          expires_at: l.expiresAt,
          activation_limit: l.activationLimit,
          expiry_stops: l.expiryStops,
          created_at: l.createdAt,
        })
        .execute();
    },
    async findById(id) {
      if (!isUUID(id)) return undefined;
      const row = await licenses().where('id', '=', id).executeTakeFirst();
      return row && toLicense(row);
    },
    async findByKeyHash(keyHash) {
      const row = await licenses().where('key_hash', '=', keyHash).executeTakeFirst();
      return row && toLicense(row);
    },
    async listByOrder(orderId) {
      return (await licenses().where('order_id', '=', orderId).orderBy('id').execute()).map(toLicense);
    },
    async listByCustomer(customerId) {
      return (await licenses().where('customer_id', '=', customerId).orderBy('id').execute()).map(toLicense);
    },
    async listExpiring(from, to, limit) {
      const rows = await licenses()
        .where('status', '=', 'active')
        .where('expires_at', '>=', from)
        .where('expires_at', '<', to)
        .orderBy('expires_at')
        .limit(limit)
        .execute();
      return rows.map(toLicense);
    },
    async list({ productId, customerId, status, limit }) {
      let query = licenses().orderBy('id', 'desc').limit(limit);
      if (productId) query = query.where('product_id', '=', productId);
      if (customerId) query = query.where('customer_id', '=', customerId);
      if (status) query = query.where('status', '=', status);
      return (await query.execute()).map(toLicense);
    },
    async keyCiphertext(id) {
      const row = await db.selectFrom('licenses').select('key_enc').where('id', '=', id).executeTakeFirst();
      return row?.key_enc;
    },
    async update(id, changes) {
      const set: Partial<Pick<DB['licenses'], 'status' | 'expires_at' | 'customer_id' | 'activation_limit'>> =
        {};
      if (changes.status !== undefined) set.status = changes.status;
      if ('expiresAt' in changes) set.expires_at = changes.expiresAt ?? null;
      if (changes.customerId !== undefined) set.customer_id = changes.customerId;
      if (changes.activationLimit !== undefined) set.activation_limit = changes.activationLimit;
      if (Object.keys(set).length > 0)
        await db.updateTable('licenses').set(set).where('id', '=', id).execute();
    },
    async lock(id) {
      // SQLite has no row locks; its transactions are serialised on the single connection already.
      if (dialect === 'postgres') await sql`select id from licenses where id = ${id} for update`.execute(db);
    },
    async activeActivations(licenseId) {
      const rows = await db
        .selectFrom('activations')
        .selectAll()
        .where('license_id', '=', licenseId)
        .where('deactivated_at', 'is', null)
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      return rows.map(toActivation);
    },
    async findActiveActivation(licenseId, kind, identifier) {
      const row = await db
        .selectFrom('activations')
        .selectAll()
        .where('license_id', '=', licenseId)
        .where('kind', '=', kind)
        .where('identifier', '=', identifier)
        .where('deactivated_at', 'is', null)
        .executeTakeFirst();
      return row && toActivation(row);
    },
    async activate(a) {
      // Re-activating a deactivated site or machine reuses its row: it is a new activation, so it starts now.
      const values = {
        created_at: a.createdAt,
        name: a.name,
        is_local: a.isLocal ? 1 : 0,
        version: a.version,
        last_seen_at: a.lastSeenAt,
        deactivated_at: null,
      };
      await db
        .insertInto('activations')
        .values({
          id: a.id,
          license_id: a.licenseId,
          kind: a.kind,
          identifier: a.identifier,
          ...values,
        })
        .onConflict((oc) => oc.columns(['license_id', 'kind', 'identifier']).doUpdateSet(values))
        .execute();
    },
    async touchActivation(id, at, version) {
      await db
        .updateTable('activations')
        .set({ last_seen_at: at, ...(version ? { version } : {}) })
        .where('id', '=', id)
        .execute();
    },
    async deactivate(id, at) {
      await db.updateTable('activations').set({ deactivated_at: at }).where('id', '=', id).execute();
    },
    async addEvent(e) {
      await db
        .insertInto('license_events')
        .values({
          id: e.id,
          license_id: e.licenseId,
          type: e.type,
          detail: JSON.stringify(e.detail),
          at: e.at,
        })
        .execute();
    },
    async events(licenseId) {
      const rows = await db
        .selectFrom('license_events')
        .selectAll()
        .where('license_id', '=', licenseId)
        .orderBy('at')
        .orderBy('id')
        .execute();
      return rows.map((r) => ({
        id: r.id,
        licenseId: r.license_id,
        type: r.type,
        detail: JSON.parse(r.detail) as Record<string, unknown>,
        at: r.at,
      }));
    },
  };
}
