/**
 * Data and databases for the webhooks bench: the store connection, licensed product and mapping made
 * with the CLI (as a seller would), a fresh PostgreSQL database, the queued e-mails of the outbox run,
 * and the row counts that prove every accepted webhook was committed in full.
 */

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { type RawBuilder, sql } from 'kysely';
import pg from 'pg';
import pino from 'pino';
import { loadConfig } from '../../src/config.ts';
import { type AppContext, createAppContext } from '../../src/context.ts';
import { WOO_PRODUCT_ID } from './webhooks-load.ts';

export const BENCH_PRODUCT = { name: 'Bench Plugin', slug: 'bench-plugin', file: 'bench-plugin.zip' };

/** The environment of everything but the CLOUDSECURE_* variables, which the bench sets itself. */
export function inheritedEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter(
      (entry): entry is [string, string] => !entry[0].startsWith('CLOUDSECURE_') && entry[1] !== undefined,
    ),
  );
}

export function serverEnv(input: {
  dataDir: string;
  port: number;
  masterKey: string;
  databaseURL?: string | undefined;
}): Record<string, string> {
  return {
    CLOUDSECURE_DATA_DIR: input.dataDir,
    CLOUDSECURE_HOST: '127.0.0.1',
    CLOUDSECURE_PORT: String(input.port),
    CLOUDSECURE_PUBLIC_URL: `http://127.0.0.1:${input.port}`,
    CLOUDSECURE_MASTER_KEY: input.masterKey,
    CLOUDSECURE_LOG_LEVEL: 'warn',
    // Only the webhook path is measured: no outbox worker, no reconciliation poll, no expiry scan.
    CLOUDSECURE_OUTBOX: 'false',
    CLOUDSECURE_RECONCILE_MINUTES: '0',
    CLOUDSECURE_EXPIRY_NOTICE_DAYS: '0',
    ...(input.databaseURL ? { CLOUDSECURE_DATABASE_URL: input.databaseURL } : {}),
  };
}

/** Runs `node bin/cloudsecure.mjs --json ARGS` with `vars`; returns its JSON output. */
export function cliJSON<T>(
  bin: string,
  cwd: string,
  vars: Record<string, string>,
  args: string[],
): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, '--json', ...args], {
      cwd,
      env: { ...inheritedEnv(), ...vars },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) {
        // The webhook secret and consumer secret are in args: name the command only.
        reject(
          new Error(`cloudsecure ${args.slice(0, 2).join(' ')} exited ${code}: ${stderr.slice(0, 2000)}`),
        );
        return;
      }
      try {
        resolve(JSON.parse(stdout) as T);
      } catch {
        reject(
          new Error(`cloudsecure ${args.slice(0, 2).join(' ')} printed no JSON: ${stdout.slice(0, 500)}`),
        );
      }
    });
  });
}

export interface StoreSetup {
  connectionId: string;
  webhookUrl: string;
  productId: string;
  /** Wall time of the three CLI commands. */
  seconds: number;
}

/**
 * A WooCommerce connection (`woocommerce connect --json`), a licensed product with one file (`product
 * create --license --file`) and its mapping to WooCommerce product 93 (`product map`), all through the CLI.
 * The store URL points where nothing listens: the worker is off, nothing calls the store.
 */
export async function setupStore(input: {
  bin: string;
  cwd: string;
  vars: Record<string, string>;
  webhookSecret: string;
  filePath: string;
}): Promise<StoreSetup> {
  const started = performance.now();
  const run = <T>(args: string[]) => cliJSON<T>(input.bin, input.cwd, input.vars, args);
  const connection = await run<{ id: string; webhook_url: string }>([
    ...['woocommerce', 'connect', '--store-url', 'http://127.0.0.1:9'],
    ...['--consumer-key', `ck_${randomBytes(20).toString('hex')}`],
    ...['--consumer-secret', `cs_${randomBytes(20).toString('hex')}`],
    ...['--webhook-secret', input.webhookSecret],
  ]);
  const product = await run<{ id: string; license: unknown }>([
    ...['product', 'create', '--name', BENCH_PRODUCT.name, '--slug', BENCH_PRODUCT.slug],
    ...['--license', '--file', input.filePath],
  ]);
  if (!product.license) throw new Error('product create --license made a product without a license policy');
  await run(['product', 'map', BENCH_PRODUCT.slug, '--woocommerce-product', String(WOO_PRODUCT_ID)]);
  return {
    connectionId: connection.id,
    webhookUrl: connection.webhook_url,
    productId: product.id,
    seconds: (performance.now() - started) / 1000,
  };
}

export interface PgDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** A fresh PostgreSQL database, or null (with the reason) when PostgreSQL is not reachable. */
export async function createPgDatabase(adminURL: string): Promise<PgDatabase | { skipped: string }> {
  const name = `cs_bench_webhooks_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminURL, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
  } catch (error) {
    return { skipped: (error as Error).message };
  } finally {
    await admin.end().catch(() => undefined);
  }
  const url = new URL(adminURL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const c = new pg.Client({ connectionString: adminURL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** `SELECT version()` of the PostgreSQL server, shortened. */
export async function pgVersion(url: string): Promise<string> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    const { rows } = await c.query<{ version: string }>('SELECT version()');
    return (rows[0]?.version ?? 'unknown').split(',')[0] ?? 'unknown';
  } catch {
    return 'not reachable';
  } finally {
    await c.end().catch(() => undefined);
  }
}

export async function withContext<T>(
  vars: Record<string, string>,
  work: (ctx: AppContext) => Promise<T>,
): Promise<T> {
  const ctx = await createAppContext(loadConfig(vars), pino({ level: 'warn' }));
  try {
    return await work(ctx);
  } finally {
    await ctx.close();
  }
}

type Count = { n: number | string };

async function count(ctx: AppContext, query: RawBuilder<Count>): Promise<number> {
  const { rows } = await query.execute(ctx.database.db);
  return Number(rows[0]?.n ?? 0);
}

export interface WebhookRows {
  orders: number;
  orderLines: number;
  grants: number;
  licenses: number;
  outboxEmail: number;
  outboxWriteback: number;
  outboxOther: number;
}

/** What the accepted webhooks left in a CloudSecure database. */
export function countWebhookRows(vars: Record<string, string>, connectionId: string): Promise<WebhookRows> {
  const source = `woocommerce:${connectionId}`;
  return withContext(vars, async (ctx) => {
    const outbox = await sql<{ topic: string; n: number | string }>`
      select topic, count(*) as n from outbox group by topic`.execute(ctx.database.db);
    const byTopic = new Map(outbox.rows.map((r) => [r.topic, Number(r.n)]));
    return {
      orders: await count(ctx, sql<Count>`select count(*) as n from orders where source = ${source}`),
      orderLines: await count(
        ctx,
        sql<Count>`select count(*) as n from order_lines l join orders o on o.id = l.order_id where o.source = ${source}`,
      ),
      grants: await count(
        ctx,
        sql<Count>`select count(*) as n from grants g join orders o on o.id = g.order_id where o.source = ${source}`,
      ),
      licenses: await count(
        ctx,
        sql<Count>`select count(*) as n from licenses l join orders o on o.id = l.order_id where o.source = ${source}`,
      ),
      outboxEmail: byTopic.get('email') ?? 0,
      outboxWriteback: byTopic.get('woocommerce.writeback') ?? 0,
      outboxOther: [...byTopic].reduce(
        (sum, [topic, n]) => (topic === 'email' || topic === 'woocommerce.writeback' ? sum : sum + n),
        0,
      ),
    };
  });
}

/**
 * A licensed product with one file and `orders` orders of it, each queueing its delivery e-mail (the
 * outbox worker is not running, so they stay pending). Returns the pending e-mail count.
 */
export async function queueOrderMails(
  vars: Record<string, string>,
  orders: number,
): Promise<{ pending: number; seconds: number }> {
  return withContext(vars, async (ctx) => {
    const started = performance.now();
    await ctx.products.create({ name: BENCH_PRODUCT.name, slug: BENCH_PRODUCT.slug, license: {} });
    await ctx.products.addFile({
      product: BENCH_PRODUCT.slug,
      fileName: BENCH_PRODUCT.file,
      body: Readable.from([randomBytes(64 * 1024)]),
      contentType: 'application/zip',
    });
    for (let i = 0; i < orders; i++) {
      await ctx.orders.create({
        email: `mail-buyer-${i}@example.com`,
        name: `Mail Buyer ${i}`,
        products: [BENCH_PRODUCT.slug],
        source: 'bench',
        externalId: `bench-order-${i}`,
      });
    }
    const pending = await count(
      ctx,
      sql<Count>`select count(*) as n from outbox where topic = 'email' and status = 'pending'`,
    );
    return { pending, seconds: (performance.now() - started) / 1000 };
  });
}

/** Outbox messages by status (all topics). */
export function outboxByStatus(vars: Record<string, string>): Promise<Record<string, number>> {
  return withContext(vars, async (ctx) => {
    const { rows } = await sql<{ status: string; n: number | string }>`
      select status, count(*) as n from outbox group by status`.execute(ctx.database.db);
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  });
}
