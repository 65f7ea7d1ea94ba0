import type { Kysely } from 'kysely';
import type { SecretRepo, SettingsRepo, TokenRepo } from '../../domain/ports.ts';
import type { DB } from './schema.ts';

export function createTokenRepo(db: Kysely<DB>): TokenRepo {
  return {
    async insert(t, tokenHash) {
      await db
        .insertInto('api_tokens')
        .values({ id: t.id, name: t.name, token_hash: tokenHash, created_at: t.createdAt })
        .execute();
    },
    async findByHash(tokenHash) {
      const row = await db
        .selectFrom('api_tokens')
        .select(['id', 'name', 'created_at'])
        .where('token_hash', '=', tokenHash)
        .executeTakeFirst();
      return row && { id: row.id, name: row.name, createdAt: row.created_at };
    },
  };
}

export function createSettingsRepo(db: Kysely<DB>): SettingsRepo {
  return {
    async get(key) {
      return (await db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst())
        ?.value;
    },
    async set(key, value) {
      await db
        .insertInto('settings')
        .values({ key, value })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
        .execute();
    },
  };
}

export function createSecretRepo(db: Kysely<DB>): SecretRepo {
  return {
    async upsert(s) {
      const values = {
        ciphertext: s.ciphertext,
        hint: s.hint,
        purpose: s.purpose,
        updated_at: new Date().toISOString(),
      };
      await db
        .insertInto('secrets')
        .values({ id: s.id, ...values })
        .onConflict((oc) => oc.column('id').doUpdateSet(values))
        .execute();
    },
    async findById(id) {
      const row = await db.selectFrom('secrets').selectAll().where('id', '=', id).executeTakeFirst();
      return row && { id: row.id, purpose: row.purpose, ciphertext: row.ciphertext, hint: row.hint };
    },
  };
}
