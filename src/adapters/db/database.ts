import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import {
  Kysely,
  type Migration,
  type MigrationProvider,
  Migrator,
  PostgresDialect,
  type SqliteDatabase,
  SqliteDialect,
  sql,
} from 'kysely';
import pg from 'pg';
import * as m0001 from './migrations/0001-init.ts';
import * as m0002 from './migrations/0002-licensing.ts';
import * as m0003 from './migrations/0003-releases.ts';
import * as m0004 from './migrations/0004-outbox.ts';
import * as m0005 from './migrations/0005-integrations.ts';
import * as m0006 from './migrations/0006-watermark.ts';
import type { DB } from './schema.ts';

export type Dialect = 'sqlite' | 'postgres';

export interface Database {
  readonly db: Kysely<DB>;
  readonly dialect: Dialect;
  /** Applies pending migrations; returns the names applied. */
  migrate(): Promise<string[]>;
  /** Throws when the database cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

const MIGRATIONS: Record<string, Migration> = {
  '0001-init': m0001,
  '0002-licensing': m0002,
  '0003-releases': m0003,
  '0004-outbox': m0004,
  '0005-integrations': m0005,
  '0006-watermark': m0006,
};

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

/** Opens SQLite (a file path, `sqlite:PATH` or `:memory:`) or PostgreSQL (`postgres://…`). */
export interface OpenOptions {
  poolSize?: number;
  /** Errors of idle pooled connections (server restart, failover); the pool replaces the client itself. */
  onPoolError?: (error: Error) => void;
}

export function openDatabase(url: string, options: OpenOptions = {}): Database {
  const dialect: Dialect = /^postgres(ql)?:\/\//.test(url) ? 'postgres' : 'sqlite';
  const db = new Kysely<DB>({
    dialect:
      dialect === 'postgres' ? postgres(url, options.poolSize ?? 10, options.onPoolError) : sqlite(url),
  });
  return {
    db,
    dialect,
    async migrate() {
      const { error, results } = await new Migrator({ db, provider }).migrateToLatest();
      if (error) throw error;
      return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
    },
    async ping() {
      await sql`select 1`.execute(db);
    },
    close: () => db.destroy(),
  };
}

function sqlite(url: string): SqliteDialect {
  const path = url.replace(/^sqlite:(\/\/)?/, '').replace(/^file:/, '');
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  return new SqliteDialect({
    database: async () => {
      const database = new SQLite(path);
      // WAL lets the CLI and the server share the file; busy_timeout makes writers wait instead of failing.
      database.pragma('journal_mode = WAL');
      database.pragma('busy_timeout = 5000');
      database.pragma('synchronous = NORMAL');
      database.pragma('foreign_keys = ON');
      return withStatementCache(database);
    },
  });
}

function postgres(url: string, max: number, onPoolError?: (error: Error) => void): PostgresDialect {
  // bigint (int8) columns hold byte sizes; they fit a JS number up to 8 PiB, so parse them as numbers.
  const types = {
    getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
      oid === 20
        ? (value: string) => Number(value)
        : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
  };
  const pool = new pg.Pool({ connectionString: url, max, types });
  // An idle client whose connection the server ends emits 'error' on the pool; unhandled, Node would
  // crash the process on a PostgreSQL restart or failover.
  pool.on('error', (error) => onPoolError?.(error));
  return new PostgresDialect({ pool });
}

/**
 * Kysely prepares every query anew, and compiling the SQL is a third of a simple query's cost. The texts
 * are a small fixed set (values are parameters), so prepared statements are kept by text. Safe because
 * Kysely runs one query at a time on the single SQLite connection.
 */
function withStatementCache(database: SQLite.Database): SqliteDatabase {
  const statements = new Map<string, SQLite.Statement>();
  return {
    close: () => database.close(),
    prepare(text) {
      let statement = statements.get(text);
      if (!statement) {
        statement = database.prepare(text);
        if (statements.size < 1000) statements.set(text, statement);
      }
      return statement;
    },
  };
}
