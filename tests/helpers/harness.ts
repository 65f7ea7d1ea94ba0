import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import pino from 'pino';
import { type Config, loadConfig } from '../../src/config.ts';
import { type AppContext, createAppContext } from '../../src/context.ts';
import { type RunningServer, startServer } from '../../src/http/server.ts';

/** A clock the test moves by hand. */
export interface TestClock {
  now(): Date;
  advance(ms: number): void;
}

export function createTestClock(start = Date.now()): TestClock {
  let offset = 0;
  return { now: () => new Date(start + offset), advance: (ms) => (offset += ms) };
}

export interface Harness {
  ctx: AppContext;
  config: Readonly<Config>;
  clock: TestClock;
  dataDir: string;
  /** Every log line the context wrote. */
  logs: string[];
  /** The CLOUDSECURE_* environment this harness runs on (for spawning the CLI against it). */
  env: Record<string, string>;
  /** Base URL of the running server (the harness always listens on loopback). */
  url: string;
  server: RunningServer;
  /** Creates an admin API token and returns the Authorization header value. */
  adminAuth(): Promise<string>;
  close(): Promise<void>;
}

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL;
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL;
export const DIALECT = TEST_DATABASE_URL ? 'postgres' : 'sqlite';

/** A TCP port that is free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** A fresh PostgreSQL database per harness, dropped on close. */
async function createPgDatabase(adminUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `cs_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export async function createHarness(overrides: Record<string, string> = {}): Promise<Harness> {
  const dataDir = await mkdtemp(join(tmpdir(), 'cloudsecure-test-'));
  const pgDb = TEST_DATABASE_URL ? await createPgDatabase(TEST_DATABASE_URL) : null;
  const port = await freePort();
  const env: Record<string, string> = {
    CLOUDSECURE_DATA_DIR: dataDir,
    CLOUDSECURE_DATABASE_URL: pgDb ? pgDb.url : join(dataDir, 'cloudsecure.sqlite'),
    CLOUDSECURE_MASTER_KEY: randomBytes(32).toString('base64'),
    CLOUDSECURE_HOST: '127.0.0.1',
    CLOUDSECURE_PORT: String(port),
    CLOUDSECURE_PUBLIC_URL: `http://127.0.0.1:${port}`,
    CLOUDSECURE_LOG_LEVEL: 'debug',
    CLOUDSECURE_REDIS_PREFIX: `cstest:${randomBytes(4).toString('hex')}:`,
    // Every test calls from 127.0.0.1; tests of the license rate limit set their own allowance.
    CLOUDSECURE_LICENSE_RATE_LIMIT_PER_MINUTE: '1000000',
    ...(TEST_REDIS_URL ? { CLOUDSECURE_REDIS_URL: TEST_REDIS_URL } : {}),
    ...overrides,
  };
  const config = loadConfig(env);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = pino({ level: config.logLevel }, sink);
  const clock = createTestClock();
  const ctx = await createAppContext(config, logger, { clock });
  const server = await startServer(ctx);
  return {
    ctx,
    config,
    clock,
    dataDir,
    logs,
    env,
    url: server.url,
    server,
    async adminAuth() {
      const { token } = await ctx.tokens.create({ name: 'test' });
      return `Bearer ${token}`;
    },
    async close() {
      await server.close();
      await ctx.close();
      await pgDb?.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
