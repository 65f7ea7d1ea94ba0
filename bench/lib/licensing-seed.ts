/**
 * License databases for the licensing bench: one SQLite file per size (1,000 / 100,000 / 1,000,000 by
 * default), which the servers then open.
 *
 * Creating a million licenses through the service would take far too long, so:
 * 1. The real services (a context on the smallest database, which also runs the migrations) create the
 *    licensed product, one order with its license, and one activation of that license on the bench site.
 * 2. The other licenses are written in bulk with better-sqlite3, in large transactions, as copies of the
 *    real rows: same columns and formats, each with its own id and key. The key hash is the server's own
 *    (`hashLicenseKey` with `deriveKey(master, 'license-lookup')`), so the server finds them. The sealed
 *    copy of the key is a placeholder of the real length (sealing costs ~50 µs a key, a minute for a
 *    million, and the bench never opens it). No `license.created` events are written: no lookup reads them.
 * 3. A sample of the licenses (the keys the load generator rotates over) is activated on the bench site,
 *    again as copies of the real activation row, so that `check_license` answers `valid` and `validate`
 *    reads a real activation list.
 * Each bigger database starts as a copy of the smaller one and is topped up, so the rows are written once.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import pino from 'pino';
import { deriveKey, parseMasterKey } from '../../src/adapters/crypto/keys.ts';
import { createUUIDv7Generator } from '../../src/adapters/ids.ts';
import { loadConfig } from '../../src/config.ts';
import { createAppContext } from '../../src/context.ts';
import { DEFAULT_KEY_FORMAT, hashLicenseKey, keyHint } from '../../src/domain/licenses/license-key.ts';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const BATCH = 50_000;

export const BENCH_PRODUCT = { name: 'Bench plugin', slug: 'bench-plugin', itemId: 4242 };
/** The site every sampled license is activated on (as a WordPress plugin would send it). */
export const BENCH_SITE = 'https://bench.example.com';

export interface SeededDatabase {
  /** Licenses in the database. */
  size: number;
  dataDir: string;
  databasePath: string;
  /** The sampled keys, shuffled, one a line: what wrk sends. */
  keysFile: string;
  sampled: number;
  /** Wall time to write this database's bulk rows (after copying the smaller one). */
  seedSeconds: number;
  bytes: number;
}

export interface SeedResult {
  databases: SeededDatabase[];
  /** The key issued through the real order path. */
  realKey: string;
  /** Wall time of the whole preparation, services included. */
  seconds: number;
  /** Rows per second of the bulk writes (hash + insert). */
  rowsPerSecond: number;
}

export interface SeedOptions {
  root: string;
  masterKey: string;
  /** Ascending. */
  sizes: number[];
  /** Keys sampled per database (all of them when the database is smaller). */
  sampleSize: number;
  /** The server environment for a data dir (migrations run with it). */
  envFor(dataDir: string): Record<string, string>;
  log(message: string): void;
}

type Row = Record<string, string | number | null>;

/** A key in the server's default format from 16 random bytes (125 bits used), like generateLicenseKey. */
function keyFrom(bytes: Buffer, offset: number): string {
  const { prefix, groups, groupLength, separator } = DEFAULT_KEY_FORMAT;
  let chars = '';
  let acc = 0;
  let bits = 0;
  let p = offset;
  for (let c = 0; c < groups * groupLength; c++) {
    if (bits < 5) {
      acc = (acc << 8) | bytes[p++]!;
      bits += 8;
    }
    bits -= 5;
    chars += ALPHABET[(acc >> bits) & 31];
    acc &= (1 << bits) - 1;
  }
  const parts = Array.from({ length: groups }, (_, g) => chars.slice(g * groupLength, (g + 1) * groupLength));
  return [...(prefix ? [prefix] : []), ...parts].join(separator);
}

/** `count` distinct indices below `size` (all of them when count ≥ size). */
function sampleIndices(size: number, count: number): Set<number> {
  if (count >= size) return new Set(Array.from({ length: size }, (_, i) => i));
  const picked = new Set<number>();
  while (picked.size < count) picked.add(randomInt(size));
  return picked;
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

function insertStatement(db: SQLite.Database, table: string, columns: string[]): SQLite.Statement {
  return db.prepare(
    `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`,
  );
}

function fileBytes(path: string): number {
  const db = new SQLite(path, { readonly: true });
  try {
    const pages = db.pragma('page_count', { simple: true }) as number;
    const size = db.pragma('page_size', { simple: true }) as number;
    return pages * size;
  } finally {
    db.close();
  }
}

export async function seedLicenseDatabases(options: SeedOptions): Promise<SeedResult> {
  const started = performance.now();
  const sizes = [...options.sizes].sort((a, b) => a - b);
  const lookupKey = deriveKey(parseMasterKey(options.masterKey), 'license-lookup');
  const newId = createUUIDv7Generator();

  // Which licenses each database's load rotates over, chosen up front so keys need not be kept.
  const samples = sizes.map((size) => sampleIndices(size, options.sampleSize));
  const wanted = new Set<number>();
  for (const s of samples) for (const i of s) wanted.add(i);
  const keys = new Map<number, string>();
  const ids = new Map<number, string>();

  // 1. The real path: migrations, product, one order with its license, one activation.
  const first = join(options.root, `data-licenses-${sizes[0]}`);
  const firstEnv = options.envFor(first);
  const ctx = await createAppContext(loadConfig(firstEnv), pino({ level: 'warn' }));
  let realKey: string;
  let realId: string;
  let databasePath: string;
  try {
    databasePath = ctx.config.databaseUrl;
    await ctx.products.create({
      name: BENCH_PRODUCT.name,
      slug: BENCH_PRODUCT.slug,
      itemId: BENCH_PRODUCT.itemId,
      license: { activationLimit: 3, durationDays: 365 },
    });
    const order = await ctx.orders.create({
      email: 'bench-buyer@example.com',
      products: [BENCH_PRODUCT.slug],
      source: 'bench',
    });
    const issued = order.licenses[0];
    if (!issued) throw new Error('the bench order issued no license');
    realKey = issued.key;
    realId = issued.id;
    const activated = await ctx.licenses.activate({
      key: realKey,
      product: BENCH_PRODUCT.slug,
      siteUrl: BENCH_SITE,
    });
    if (!activated.valid || !activated.activation) {
      throw new Error(`activating the bench license failed: ${activated.code} ${activated.detail}`);
    }
  } finally {
    await ctx.close();
  }
  if (/^postgres/.test(databasePath)) throw new Error('the licensing bench seeds SQLite only');

  const databases: SeededDatabase[] = [];
  let bulkRows = 0;
  let bulkSeconds = 0;
  let done = 1; // licenses already in the database (the real one is index 0)
  for (const [n, size] of sizes.entries()) {
    const dataDir = join(options.root, `data-licenses-${size}`);
    const path = n === 0 ? databasePath : join(dataDir, 'cloudsecure.sqlite');
    if (n > 0) {
      mkdirSync(dataDir, { recursive: true });
      copyFileSync(databases[n - 1]!.databasePath, path);
    }
    const t0 = performance.now();
    const db = new SQLite(path);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = OFF');
      db.pragma('cache_size = -262144');
      const license = db.prepare('SELECT * FROM licenses WHERE id = ?').get(realId) as Row;
      const activation = db.prepare('SELECT * FROM activations WHERE license_id = ?').get(license.id) as Row;
      if (n === 0) {
        keys.set(0, realKey);
        ids.set(0, realId);
      }
      const sealedLength = String(license.key_enc).length;
      const insertLicense = insertStatement(db, 'licenses', Object.keys(license));
      const insertActivation = db.prepare(
        `INSERT OR IGNORE INTO activations (${Object.keys(activation).join(', ')}) VALUES (${Object.keys(
          activation,
        )
          .map((c) => `@${c}`)
          .join(', ')})`,
      );
      const writeBatch = db.transaction((rows: Row[]) => {
        for (const row of rows) insertLicense.run(row);
      });
      const placeholder = `v1.bench-placeholder.${'A'.repeat(Math.max(0, sealedLength - 21))}`.slice(
        0,
        sealedLength,
      );
      while (done < size) {
        const count = Math.min(BATCH, size - done);
        const random = randomBytes(count * 16);
        const rows: Array<{ index: number; key: string; hash: string }> = [];
        for (let k = 0; k < count; k++) {
          const index = done + k;
          const key = keyFrom(random, k * 16);
          if (wanted.has(index)) keys.set(index, key);
          rows.push({ index, key, hash: hashLicenseKey(lookupKey, key) });
        }
        // In hash order, the unique key_hash index grows by appends within each batch.
        rows.sort((a, b) => (a.hash < b.hash ? -1 : 1));
        writeBatch(
          rows.map((r) => {
            const id = newId();
            if (wanted.has(r.index)) ids.set(r.index, id);
            return { ...license, id, key_hash: r.hash, key_enc: placeholder, key_hint: keyHint(r.key) };
          }),
        );
        done += count;
      }
      const sample = [...samples[n]!];
      db.transaction(() => {
        for (const index of sample) {
          const licenseId = ids.get(index);
          if (!licenseId) throw new Error(`no id kept for license #${index}`);
          insertActivation.run({ ...activation, id: newId(), license_id: licenseId });
        }
      })();
      db.pragma('wal_checkpoint(TRUNCATE)');
      const count = db.prepare('SELECT count(*) AS n FROM licenses').get() as { n: number };
      if (count.n !== size) throw new Error(`expected ${size} licenses, found ${count.n}`);
    } finally {
      db.close();
    }
    const seedSeconds = (performance.now() - t0) / 1000;
    bulkSeconds += seedSeconds;
    bulkRows += size - (n === 0 ? 1 : sizes[n - 1]!);
    const keysFile = join(options.root, `keys-${size}.txt`);
    const sampled = shuffle([...samples[n]!].map((i) => keys.get(i)!));
    writeFileSync(keysFile, `${sampled.join('\n')}\n`);
    databases.push({
      size,
      dataDir,
      databasePath: path,
      keysFile,
      sampled: sampled.length,
      seedSeconds,
      bytes: fileBytes(path),
    });
    options.log(
      `${size.toLocaleString('en-US')} licenses in ${seedSeconds.toFixed(1)} s ` +
        `(${(fileBytes(path) / 1024 ** 2).toFixed(0)} MiB, ${sampled.length.toLocaleString('en-US')} keys sampled and activated)`,
    );
  }
  return {
    databases,
    realKey,
    seconds: (performance.now() - started) / 1000,
    rowsPerSecond: bulkRows / bulkSeconds,
  };
}
