import type { Kysely } from 'kysely';
import type { FileAnalysisRepo, WatermarkMarkRepo } from '../../domain/ports.ts';
import type { FileAnalysis, WatermarkKind } from '../../domain/watermark/watermark.ts';
import type { DB } from './schema.ts';

export function createFileAnalysisRepo(db: Kysely<DB>): FileAnalysisRepo {
  return {
    async upsert(a) {
      const values = {
        kind: a.kind,
        status: a.status,
        method: a.method,
        reason: a.reason,
        master_key: a.masterKey,
        master_size: a.masterSize,
        data: a.data === null || a.data === undefined ? null : JSON.stringify(a.data),
        created_at: a.createdAt,
      };
      await db
        .insertInto('file_analyses')
        .values({ file_id: a.fileId, ...values })
        .onConflict((oc) => oc.column('file_id').doUpdateSet(values))
        .execute();
    },
    async find(fileId) {
      const row = await db
        .selectFrom('file_analyses')
        .selectAll()
        .where('file_id', '=', fileId)
        .executeTakeFirst();
      if (!row) return undefined;
      const analysis: FileAnalysis = {
        fileId: row.file_id,
        kind: row.kind as WatermarkKind,
        status: row.status === 'ok' ? 'ok' : 'unsupported',
        method: row.method,
        reason: row.reason,
        masterKey: row.master_key,
        masterSize: row.master_size === null ? null : Number(row.master_size),
        data: row.data === null ? null : (JSON.parse(row.data) as unknown),
        createdAt: row.created_at,
      };
      return analysis;
    },
  };
}

export function createWatermarkMarkRepo(db: Kysely<DB>): WatermarkMarkRepo {
  return {
    async insert(m) {
      await db
        .insertInto('watermark_marks')
        .values({ token: m.token, grant_id: m.grantId, file_id: m.fileId, created_at: m.createdAt })
        .onConflict((oc) => oc.column('token').doNothing())
        .execute();
    },
    async findByToken(token) {
      const row = await db
        .selectFrom('watermark_marks')
        .selectAll()
        .where('token', '=', token)
        .executeTakeFirst();
      return (
        row && { token: row.token, grantId: row.grant_id, fileId: row.file_id, createdAt: row.created_at }
      );
    },
  };
}
