import type { Kysely } from 'kysely';

// Per-buyer watermarks: a product's settings (null = off), each file's one-time analysis (and, when it had
// to be normalised, the clean master's object key), and every trace token handed out.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('products').addColumn('watermark', 'text').execute();
  await db.schema
    .createTable('file_analyses')
    .addColumn('file_id', 'text', (c) => c.primaryKey().references('files.id'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('method', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('master_key', 'text')
    .addColumn('master_size', 'bigint')
    .addColumn('data', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('watermark_marks')
    .addColumn('token', 'text', (c) => c.primaryKey())
    .addColumn('grant_id', 'text', (c) => c.notNull().references('grants.id'))
    .addColumn('file_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('watermark_marks').execute();
  await db.schema.dropTable('file_analyses').execute();
  await db.schema.alterTable('products').dropColumn('watermark').execute();
}
