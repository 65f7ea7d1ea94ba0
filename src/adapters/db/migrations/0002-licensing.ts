import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('products').addColumn('item_id', 'integer').execute();
  await db.schema.alterTable('products').addColumn('license_policy', 'text').execute();
  await db.schema.createIndex('products_item_id').on('products').column('item_id').unique().execute();
  await db.schema
    .createTable('licenses')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('key_hash', 'text', (c) => c.notNull().unique())
    .addColumn('key_enc', 'text', (c) => c.notNull())
    .addColumn('key_hint', 'text', (c) => c.notNull())
    .addColumn('product_id', 'text', (c) => c.notNull().references('products.id'))
    .addColumn('customer_id', 'text', (c) => c.notNull().references('customers.id'))
    .addColumn('order_id', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text')
    .addColumn('activation_limit', 'integer', (c) => c.notNull())
    .addColumn('expiry_stops', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('licenses_order').on('licenses').column('order_id').execute();
  await db.schema.createIndex('licenses_customer').on('licenses').column('customer_id').execute();
  await db.schema
    .createTable('activations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('license_id', 'text', (c) => c.notNull().references('licenses.id'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('identifier', 'text', (c) => c.notNull())
    .addColumn('name', 'text')
    .addColumn('is_local', 'integer', (c) => c.notNull())
    .addColumn('version', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('last_seen_at', 'text', (c) => c.notNull())
    .addColumn('deactivated_at', 'text')
    .addUniqueConstraint('activations_license_scope', ['license_id', 'kind', 'identifier'])
    .execute();
  await db.schema
    .createTable('license_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('license_id', 'text', (c) => c.notNull().references('licenses.id'))
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('detail', 'text', (c) => c.notNull())
    .addColumn('at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('license_events_license')
    .on('license_events')
    .columns(['license_id', 'at'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['license_events', 'activations', 'licenses'])
    await db.schema.dropTable(table).execute();
  await db.schema.dropIndex('products_item_id').execute();
  await db.schema.alterTable('products').dropColumn('license_policy').execute();
  await db.schema.alterTable('products').dropColumn('item_id').execute();
}
