import { createHash, createPublicKey, verify } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LicensePolicy } from '../src/domain/licenses/license.ts';
import {
  generateLicenseKey,
  keyEntropyBits,
  normalizeLicenseKey,
} from '../src/domain/licenses/license-key.ts';
import type {
  ActivationView,
  LicenseStateView,
  LicenseView,
} from '../src/domain/licenses/license-service.ts';
import type { ProductView } from '../src/domain/products/product-service.ts';
import { createHarness, type Harness } from './helpers/harness.ts';

let h: Harness;
let auth: string;
beforeAll(async () => {
  h = await createHarness();
  auth = await h.adminAuth();
});
afterAll(async () => {
  await h?.close();
});

const DAY = 86_400_000;
const KEY_RE = /^CS(-[0-9A-HJKMNP-TV-Z]{5}){5}$/;

type Action = 'validate' | 'activate' | 'deactivate';

interface LicenseAnswer {
  valid: boolean;
  code: string;
  detail: string;
  nonce: string | number | null;
  ts: string;
  license: LicenseStateView | null;
  activation: ActivationView | null;
}

interface Signed {
  status: number;
  /** The exact bytes the server sent. */
  body: Buffer;
  /** The base64 signature from the CloudSecure-Signature header, or null when absent. */
  signature: string | null;
}

interface Bought {
  product: ProductView;
  key: string;
  licenseId: string;
  expiresAt: string | null;
}

let seq = 0;

/** A licensed product with its own policy, and one order of it: the buyer's license. */
async function buy(policy: Partial<LicensePolicy> = {}): Promise<Bought> {
  seq += 1;
  const product = await h.ctx.products.create({ name: `Licensed plugin ${seq}`, license: policy });
  const order = await h.ctx.orders.create({
    email: `buyer${seq}@example.com`,
    products: [product.slug],
    source: 'test',
  });
  const issued = order.licenses[0];
  if (!issued) throw new Error('the order issued no license');
  return { product, key: issued.key, licenseId: issued.id, expiresAt: issued.expires_at };
}

/** POSTs to a public license route; `payload` as a string is sent verbatim. */
async function send(action: Action, payload: unknown): Promise<Signed> {
  const res = await fetch(`${h.url}/api/v1/licenses/${action}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });
  const header = res.headers.get('cloudsecure-signature');
  const match = header ? /^ed25519=([A-Za-z0-9+/]+={0,2})$/.exec(header) : null;
  return {
    status: res.status,
    body: Buffer.from(await res.arrayBuffer()),
    signature: match?.[1] ?? null,
  };
}

/** A public license call that must answer 200; returns the parsed body. */
async function call(action: Action, payload: Record<string, unknown>): Promise<LicenseAnswer> {
  const res = await send(action, payload);
  expect(res.status, res.body.toString()).toBe(200);
  return JSON.parse(res.body.toString('utf8')) as LicenseAnswer;
}

async function admin(
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  authorization: string | null = auth,
): Promise<{ status: number; json: unknown }> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (authorization) headers.authorization = authorization;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${h.url}/api/v1/licenses/${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: await res.json() };
}

async function licenseView(id: string): Promise<LicenseView> {
  const res = await admin('GET', id);
  expect(res.status).toBe(200);
  return res.json as LicenseView;
}

async function lifecycle(id: string, action: 'suspend' | 'reinstate' | 'revoke'): Promise<LicenseView> {
  const res = await admin('POST', `${id}/${action}`);
  expect(res.status).toBe(200);
  return res.json as LicenseView;
}

async function renew(id: string, days: number): Promise<LicenseView> {
  const res = await admin('POST', `${id}/renew`, { days });
  expect(res.status).toBe(200);
  return res.json as LicenseView;
}

function errorCode(res: Signed): string {
  return (JSON.parse(res.body.toString('utf8')) as { error: { code: string } }).error.code;
}

async function publicKeyPEM(): Promise<string> {
  const res = await fetch(`${h.url}/api/v1/licenses/public-key`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { pem: string }).pem;
}

function verifies(pem: string, res: Signed): boolean {
  if (!res.signature) return false;
  return verify(null, res.body, pem, Buffer.from(res.signature, 'base64'));
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/** Every row of every table as JSON text, read through the application's own connection. */
async function dumpDatabase(): Promise<string> {
  const db = h.ctx.database.db;
  const tables =
    h.ctx.database.dialect === 'postgres'
      ? (
          await sql<{ name: string }>`select table_name as name from information_schema.tables
            where table_schema = current_schema() and table_type = 'BASE TABLE'`.execute(db)
        ).rows
      : (await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(db)).rows;
  const dump: Record<string, unknown[]> = {};
  for (const { name } of tables) {
    dump[name] = (await sql<Record<string, unknown>>`select * from ${sql.table(name)}`.execute(db)).rows;
  }
  return JSON.stringify(dump);
}

/** The forms a key could be written in: as issued, normalized, lower case, base64. */
function keyForms(key: string): string[] {
  const normalized = normalizeLicenseKey(key);
  return [key, key.toLowerCase(), normalized, normalized.toLowerCase(), Buffer.from(key).toString('base64')];
}

describe('license keys', () => {
  it('issues one key per licensed order in the CS-XXXXX-XXXXX-XXXXX-XXXXX-XXXXX Crockford base32 format', async () => {
    const keys: string[] = [];
    for (let i = 0; i < 10; i++) {
      const { key, product, expiresAt } = await buy({ activationLimit: 2 });
      expect(key).toMatch(KEY_RE);
      expect(product.license?.activation_limit).toBe(2);
      expect(expiresAt).toBe(new Date(h.clock.now().getTime() + 365 * DAY).toISOString());
      keys.push(key);
    }
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('generates 1,000 distinct keys of at least 120 bits in the configured format', () => {
    const format = h.config.licenseKeyFormat;
    expect(keyEntropyBits(format)).toBeGreaterThanOrEqual(120);
    const keys = Array.from({ length: 1000 }, () => generateLicenseKey(format));
    for (const key of keys) expect(key).toMatch(KEY_RE);
    expect(new Set(keys).size).toBe(1000);
  });

  it('finds a key typed in lower case, without dashes or with surrounding spaces', async () => {
    const { key, product } = await buy();
    for (const typed of [
      key.toLowerCase(),
      key.replaceAll('-', ''),
      `  ${key}  `,
      key.replaceAll('-', ' '),
    ]) {
      const answer = await call('validate', { key: typed, product: product.slug });
      expect(answer.code, typed).toBe('VALID');
    }
  });

  it('keeps no plaintext key in the database rows, the data files or the logs', async () => {
    const { key, product, licenseId } = await buy();
    await call('activate', { key, product: product.slug, site_url: 'https://keys.example.com' });
    await call('validate', { key: key.toLowerCase(), product: product.slug });
    await call('deactivate', { key, product: product.slug, site_url: 'https://keys.example.com' });
    expect((await send('validate', { key, product: product.slug, bogus: 1 })).status).toBe(400);
    expect((await send('activate', { key, product: product.slug })).status).toBe(400);
    // The seller can still show the key: it is stored encrypted.
    expect((await licenseView(licenseId)).key).toBe(key);

    const rows = await h.ctx.database.db.selectFrom('licenses').selectAll().execute();
    const row = rows.find((r) => r.id === licenseId);
    expect(row?.key_hint).toBe(normalizeLicenseKey(key).slice(-4));
    // The lookup column is a keyed hash: not a plain digest anyone could compute from a guessed key.
    expect(row?.key_hash).toMatch(/^[0-9a-f]{64}$/);
    const plainDigest = createHash('sha256').update(normalizeLicenseKey(key)).digest('hex');
    expect(row?.key_hash).not.toBe(plainDigest);

    const leaks: string[] = [];
    const check = (haystack: string | Buffer, where: string): void => {
      const text = typeof haystack === 'string' ? haystack : haystack.toString('latin1');
      for (const form of keyForms(key)) if (text.includes(form)) leaks.push(`${where}: ${form}`);
    };
    check(JSON.stringify(rows), 'licenses rows');
    check(await dumpDatabase(), `${h.ctx.database.dialect} rows`);
    const files = await filesUnder(h.dataDir);
    if (h.ctx.database.dialect === 'sqlite') expect(files.some((f) => f.endsWith('.sqlite'))).toBe(true);
    for (const file of files) check(await readFile(file), file);
    expect(h.logs.length).toBeGreaterThan(0);
    check(h.logs.join(''), 'server log');
    expect(leaks).toEqual([]);
  });
});

describe('validating a license', () => {
  it('answers VALID with the license state when no site or machine is given', async () => {
    const { key, product, expiresAt } = await buy({ activationLimit: 3 });
    const answer = await call('validate', { key, product: product.slug });
    expect(answer).toMatchObject({ valid: true, code: 'VALID', activation: null });
    expect(answer.license).toEqual({
      status: 'active',
      expires_at: expiresAt,
      expired: false,
      product: product.slug,
      item_id: product.item_id,
      activation_limit: 3,
      active_count: 0,
      activations_left: 3,
      key_hint: normalizeLicenseKey(key).slice(-4),
    });
  });

  it('answers NOT_FOUND with no license for an unknown key', async () => {
    const { product } = await buy();
    const answer = await call('validate', { key: generateLicenseKey(), product: product.slug });
    expect(answer).toMatchObject({ valid: false, code: 'NOT_FOUND', license: null, activation: null });
  });

  it("answers PRODUCT_MISMATCH, revealing nothing, for another product's slug or item id or an unknown product", async () => {
    const { key } = await buy();
    const other = await buy();
    expect(other.product.item_id).toEqual(expect.any(Number));
    for (const product of [
      other.product.slug,
      other.product.item_id,
      String(other.product.item_id),
      'no-such-product',
    ]) {
      const answer = await call('validate', { key, product });
      expect(answer, String(product)).toMatchObject({
        valid: false,
        code: 'PRODUCT_MISMATCH',
        license: null,
        activation: null,
      });
    }
    const activation = await call('activate', {
      key,
      product: other.product.slug,
      site_url: 'https://x.example.com',
    });
    expect(activation).toMatchObject({
      valid: false,
      code: 'PRODUCT_MISMATCH',
      license: null,
      activation: null,
    });
  });

  it('accepts the product as its item id, as a number or a numeric string', async () => {
    const { key, product } = await buy();
    const itemId = product.item_id;
    expect(itemId).toEqual(expect.any(Number));
    for (const ref of [itemId, String(itemId), product.id]) {
      const answer = await call('validate', { key, product: ref });
      expect(answer.code, String(ref)).toBe('VALID');
      expect(answer.license?.item_id).toBe(itemId);
    }
  });

  it('answers NOT_ACTIVATED for a site or machine that is not activated, and VALID once it is', async () => {
    const { key, product } = await buy({ activationLimit: 2 });
    const site = { key, product: product.slug, site_url: 'https://shop.example.com/' };
    const machine = { key, product: product.slug, fingerprint: 'machine-aaaa' };
    for (const scope of [site, machine]) {
      const before = await call('validate', scope);
      expect(before).toMatchObject({ valid: false, code: 'NOT_ACTIVATED', activation: null });
      expect(before.license?.status).toBe('active');
      expect((await call('activate', scope)).code).toBe('VALID');
      const after = await call('validate', { ...scope, version: '2.0.1' });
      expect(after).toMatchObject({ valid: true, code: 'VALID' });
      expect(after.activation).toMatchObject({ is_local: false });
    }
    expect((await call('validate', { ...site, site_url: 'https://other.example.com' })).code).toBe(
      'NOT_ACTIVATED',
    );
  });
});

describe('activating a license', () => {
  it('activates a site and answers with the activation and the new count', async () => {
    const { key, product } = await buy({ activationLimit: 2 });
    const answer = await call('activate', {
      key,
      product: product.slug,
      site_url: 'https://Shop.Example.com/',
      name: 'Main shop',
      version: '1.2.3',
    });
    expect(answer).toMatchObject({ valid: true, code: 'VALID' });
    expect(answer.activation).toEqual({
      kind: 'site',
      identifier: 'shop.example.com/',
      name: 'Main shop',
      is_local: false,
      activated_at: h.clock.now().toISOString(),
      last_seen_at: h.clock.now().toISOString(),
    });
    expect(answer.license).toMatchObject({ active_count: 1, activations_left: 1 });
  });

  it('is idempotent for the same site written with another scheme, case, www, port or slash', async () => {
    const { key, product, licenseId } = await buy({ activationLimit: 1 });
    const first = await call('activate', {
      key,
      product: product.slug,
      site_url: 'https://WWW.Example.com:8443/shop',
    });
    expect(first).toMatchObject({ valid: true, code: 'VALID' });
    expect(first.activation?.identifier).toBe('example.com/shop/');
    for (const site_url of ['http://example.com/shop/', 'https://WWW.Example.com:8443/shop']) {
      const again = await call('activate', { key, product: product.slug, site_url });
      expect(again).toMatchObject({ valid: true, code: 'VALID' });
      expect(again.activation?.identifier).toBe('example.com/shop/');
      expect(again.license).toMatchObject({ active_count: 1, activations_left: 0 });
    }
    const view = await licenseView(licenseId);
    expect(view.activations).toHaveLength(1);
    expect(view.events.filter((e) => e.type === 'license.activated')).toHaveLength(1);
  });

  it('refuses a second site at limit 1 with NO_ACTIVATIONS_LEFT', async () => {
    const { key, product } = await buy({ activationLimit: 1 });
    expect(
      (await call('activate', { key, product: product.slug, site_url: 'https://one.example.com' })).code,
    ).toBe('VALID');
    const second = await call('activate', {
      key,
      product: product.slug,
      site_url: 'https://two.example.com',
    });
    expect(second).toMatchObject({ valid: false, code: 'NO_ACTIVATIONS_LEFT', activation: null });
    expect(second.license).toMatchObject({ activation_limit: 1, active_count: 1, activations_left: 0 });
    expect(
      (await call('validate', { key, product: product.slug, site_url: 'https://two.example.com' })).code,
    ).toBe('NOT_ACTIVATED');
  });

  it('lets local and staging sites activate for free, without using up the limit', async () => {
    const { key, product } = await buy({ activationLimit: 1 });
    const free: Record<string, unknown>[] = [
      { site_url: 'http://localhost:8080/' },
      { site_url: 'http://127.0.0.1/wp/' },
      { site_url: 'https://shop.local' },
      { site_url: 'http://mysite.test/' },
      { site_url: 'https://staging.example.com/' },
      { site_url: 'https://preview-box.example.net/', environment: 'staging' },
    ];
    for (const scope of free) {
      const answer = await call('activate', { key, product: product.slug, ...scope });
      expect(answer, JSON.stringify(scope)).toMatchObject({ valid: true, code: 'VALID' });
      expect(answer.activation?.is_local).toBe(true);
      expect(answer.license).toMatchObject({ active_count: 0, activations_left: 1 });
    }
    const production = await call('activate', {
      key,
      product: product.slug,
      site_url: 'https://example.com',
    });
    expect(production).toMatchObject({ valid: true, code: 'VALID' });
    expect(production.activation?.is_local).toBe(false);
    expect(production.license).toMatchObject({ active_count: 1, activations_left: 0 });
    expect(
      (await call('activate', { key, product: product.slug, site_url: 'https://example.org' })).code,
    ).toBe('NO_ACTIVATIONS_LEFT');
    // The limit is reached, yet another staging copy still activates.
    const more = await call('activate', {
      key,
      product: product.slug,
      site_url: 'https://staging.example.org',
    });
    expect(more).toMatchObject({ valid: true, code: 'VALID' });
    expect(more.activation?.is_local).toBe(true);
  });

  it('counts machine fingerprints against the same limit as sites', async () => {
    const { key, product } = await buy({ activationLimit: 2 });
    const first = await call('activate', { key, product: product.slug, fingerprint: 'fp-laptop' });
    expect(first).toMatchObject({ valid: true, code: 'VALID' });
    expect(first.activation).toMatchObject({ kind: 'machine', identifier: 'fp-laptop', is_local: false });
    const again = await call('activate', { key, product: product.slug, fingerprint: 'fp-laptop' });
    expect(again).toMatchObject({ valid: true, code: 'VALID' });
    expect(again.license).toMatchObject({ active_count: 1, activations_left: 1 });
    expect(
      (await call('activate', { key, product: product.slug, site_url: 'https://example.com' })).code,
    ).toBe('VALID');
    const third = await call('activate', { key, product: product.slug, fingerprint: 'fp-desktop' });
    expect(third).toMatchObject({ valid: false, code: 'NO_ACTIVATIONS_LEFT' });
    expect(third.license).toMatchObject({ active_count: 2, activations_left: 0 });
  });

  it('never runs out of activations at limit 0 (unlimited)', async () => {
    const { key, product } = await buy({ activationLimit: 0 });
    for (let i = 1; i <= 6; i++) {
      const answer = await call('activate', {
        key,
        product: product.slug,
        site_url: `https://site${i}.example.com`,
      });
      expect(answer).toMatchObject({ valid: true, code: 'VALID' });
      expect(answer.license).toMatchObject({ activation_limit: 0, active_count: i, activations_left: null });
    }
  });

  it('needs a site_url or fingerprint to activate', async () => {
    const { key, product } = await buy();
    const res = await send('activate', { key, product: product.slug });
    expect(res.status).toBe(400);
    expect(errorCode(res)).toBe('INVALID_REQUEST');
  });
});

describe('deactivating a license', () => {
  it('frees the slot so that another site can activate', async () => {
    const { key, product, licenseId } = await buy({ activationLimit: 1 });
    const one = { key, product: product.slug, site_url: 'https://one.example.com' };
    const two = { key, product: product.slug, site_url: 'https://two.example.com' };
    expect((await call('activate', one)).code).toBe('VALID');
    expect((await call('activate', two)).code).toBe('NO_ACTIVATIONS_LEFT');
    const done = await call('deactivate', { ...one, site_url: 'http://www.one.example.com/' });
    expect(done).toMatchObject({ valid: true, code: 'DEACTIVATED', activation: null });
    expect(done.license).toMatchObject({ active_count: 0, activations_left: 1 });
    expect((await call('validate', one)).code).toBe('NOT_ACTIVATED');
    expect((await call('activate', two)).code).toBe('VALID');
    const view = await licenseView(licenseId);
    expect(view.activations.map((a) => a.identifier)).toEqual(['two.example.com/']);
  });

  it('re-activates a deactivated site as a new activation that counts once', async () => {
    const { key, product, licenseId } = await buy({ activationLimit: 1 });
    const site = { key, product: product.slug, site_url: 'https://again.example.com' };
    expect((await call('activate', site)).code).toBe('VALID');
    expect((await call('deactivate', site)).code).toBe('DEACTIVATED');
    h.clock.advance(60_000);
    const again = await call('activate', site);
    expect(again).toMatchObject({ valid: true, code: 'VALID' });
    expect(again.activation?.activated_at).toBe(h.clock.now().toISOString());
    expect(again.license).toMatchObject({ active_count: 1, activations_left: 0 });
    // What the activation answer said is what is stored.
    const later = await call('validate', site);
    expect(later.activation).toEqual(again.activation);
    const view = await licenseView(licenseId);
    expect(view.activations).toEqual([again.activation]);
    expect(view.events.filter((e) => e.type === 'license.activated')).toHaveLength(2);
  });

  it('answers NOT_ACTIVATED for a site or machine that is not active', async () => {
    const { key, product } = await buy();
    const never = await call('deactivate', {
      key,
      product: product.slug,
      site_url: 'https://never.example.com',
    });
    expect(never).toMatchObject({ valid: false, code: 'NOT_ACTIVATED' });
    const scope = { key, product: product.slug, fingerprint: 'fp-once' };
    expect((await call('activate', scope)).code).toBe('VALID');
    expect((await call('deactivate', scope)).code).toBe('DEACTIVATED');
    expect((await call('deactivate', scope)).code).toBe('NOT_ACTIVATED');
  });

  it('answers NOT_FOUND and PRODUCT_MISMATCH like the other calls', async () => {
    const { key, product } = await buy();
    const other = await buy();
    const unknown = await call('deactivate', {
      key: generateLicenseKey(),
      product: product.slug,
      site_url: 'https://example.com',
    });
    expect(unknown).toMatchObject({ valid: false, code: 'NOT_FOUND', license: null });
    const wrong = await call('deactivate', {
      key,
      product: other.product.slug,
      site_url: 'https://example.com',
    });
    expect(wrong).toMatchObject({ valid: false, code: 'PRODUCT_MISMATCH', license: null });
  });
});

describe('license lifecycle', () => {
  it('refuses a suspended license on every path until it is reinstated', async () => {
    const { key, product, licenseId } = await buy({ activationLimit: 2 });
    const site = { key, product: product.slug, site_url: 'https://example.com' };
    expect((await call('activate', site)).code).toBe('VALID');

    expect((await lifecycle(licenseId, 'suspend')).status).toBe('suspended');
    const validate = await call('validate', { key, product: product.slug });
    expect(validate).toMatchObject({ valid: false, code: 'SUSPENDED' });
    expect(validate.license?.status).toBe('suspended');
    expect(await call('validate', site)).toMatchObject({ valid: false, code: 'SUSPENDED' });
    expect(
      await call('activate', { key, product: product.slug, site_url: 'https://second.example.com' }),
    ).toMatchObject({ valid: false, code: 'SUSPENDED', activation: null });
    expect(await call('deactivate', site)).toMatchObject({ valid: false, code: 'SUSPENDED' });

    expect((await lifecycle(licenseId, 'reinstate')).status).toBe('active');
    expect(await call('validate', site)).toMatchObject({ valid: true, code: 'VALID' });
    expect(
      (await call('activate', { key, product: product.slug, site_url: 'https://second.example.com' })).code,
    ).toBe('VALID');
  });

  it('refuses a revoked license on every path', async () => {
    const { key, product, licenseId } = await buy();
    const site = { key, product: product.slug, site_url: 'https://example.com' };
    expect((await call('activate', site)).code).toBe('VALID');
    expect((await lifecycle(licenseId, 'revoke')).status).toBe('revoked');
    expect(await call('validate', { key, product: product.slug })).toMatchObject({
      valid: false,
      code: 'REVOKED',
    });
    expect(await call('validate', site)).toMatchObject({ valid: false, code: 'REVOKED' });
    expect(await call('activate', site)).toMatchObject({ valid: false, code: 'REVOKED' });
    expect(await call('deactivate', site)).toMatchObject({ valid: false, code: 'REVOKED' });
  });

  it('records every change as an event on the license', async () => {
    const { key, product, licenseId } = await buy();
    const site = { key, product: product.slug, site_url: 'https://events.example.com' };
    await call('activate', site);
    await call('deactivate', site);
    await lifecycle(licenseId, 'suspend');
    await lifecycle(licenseId, 'reinstate');
    await renew(licenseId, 30);
    await lifecycle(licenseId, 'revoke');
    const view = await licenseView(licenseId);
    expect(view.events.map((e) => e.type)).toEqual([
      'license.created',
      'license.activated',
      'license.deactivated',
      'license.suspended',
      'license.reinstated',
      'license.renewed',
      'license.revoked',
    ]);
    expect(view.events[1]?.detail).toMatchObject({ kind: 'site', identifier: 'events.example.com/' });
    expect(view).toMatchObject({ id: licenseId, key, product: product.slug, status: 'revoked' });
  });

  it('renews by extending the same key, never issuing a new one', async () => {
    const { key, product, licenseId, expiresAt } = await buy({ durationDays: 365 });
    const renewed = await renew(licenseId, 30);
    expect(renewed.key).toBe(key);
    expect(renewed.id).toBe(licenseId);
    expect(renewed.expires_at).toBe(new Date(Date.parse(expiresAt ?? '') + 30 * DAY).toISOString());
    const answer = await call('validate', { key, product: product.slug });
    expect(answer.license?.expires_at).toBe(renewed.expires_at);
  });

  it('answers 404 for an unknown license id and 400 for a bad renewal', async () => {
    const { licenseId } = await buy();
    expect((await admin('GET', '00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await admin('POST', '00000000-0000-4000-8000-000000000000/suspend')).status).toBe(404);
    expect((await admin('POST', `${licenseId}/renew`, { days: 0 })).status).toBe(400);
    expect((await admin('POST', `${licenseId}/renew`, { days: 'ten' })).status).toBe(400);
  });
});

describe('license expiry', () => {
  it('keeps an expired license usable but refuses new activations when expiry only stops updates', async () => {
    const { key, product, licenseId } = await buy({
      durationDays: 1,
      expiryStops: 'updates',
      activationLimit: 3,
    });
    const site = { key, product: product.slug, site_url: 'https://example.com' };
    expect((await call('activate', site)).code).toBe('VALID');
    h.clock.advance(2 * DAY);

    const plain = await call('validate', { key, product: product.slug });
    expect(plain).toMatchObject({ valid: true, code: 'EXPIRED' });
    expect(plain.license?.expired).toBe(true);
    expect(await call('validate', site)).toMatchObject({ valid: true, code: 'EXPIRED' });
    expect(await call('validate', { ...site, site_url: 'https://new.example.com' })).toMatchObject({
      valid: false,
      code: 'NOT_ACTIVATED',
    });
    const activation = await call('activate', { ...site, site_url: 'https://new.example.com' });
    expect(activation).toMatchObject({ valid: false, code: 'EXPIRED', activation: null });
    expect(activation.license?.active_count).toBe(1);
    // A buyer can still free a site of an expired license.
    expect(await call('deactivate', site)).toMatchObject({ code: 'DEACTIVATED' });

    const renewed = await renew(licenseId, 30);
    expect(renewed.key).toBe(key);
    expect(renewed.expires_at).toBe(new Date(h.clock.now().getTime() + 30 * DAY).toISOString());
    expect(await call('validate', { key, product: product.slug })).toMatchObject({
      valid: true,
      code: 'VALID',
    });
    expect((await call('activate', { ...site, site_url: 'https://new.example.com' })).code).toBe('VALID');
  });

  it('refuses an expired license everywhere when expiry stops everything, until it is renewed', async () => {
    const { key, product, licenseId } = await buy({ durationDays: 1, expiryStops: 'everything' });
    const site = { key, product: product.slug, site_url: 'https://example.com' };
    expect((await call('activate', site)).code).toBe('VALID');
    h.clock.advance(2 * DAY);

    const plain = await call('validate', { key, product: product.slug });
    expect(plain).toMatchObject({ valid: false, code: 'EXPIRED' });
    expect(plain.license).toMatchObject({ status: 'active', expired: true });
    expect(await call('validate', site)).toMatchObject({ valid: false, code: 'EXPIRED' });
    expect(await call('activate', { ...site, site_url: 'https://new.example.com' })).toMatchObject({
      valid: false,
      code: 'EXPIRED',
    });

    await renew(licenseId, 10);
    expect(await call('validate', site)).toMatchObject({ valid: true, code: 'VALID' });
  });

  it('gives lifetime licenses no expiry and fixed-date licenses that date', async () => {
    const lifetime = await buy({ durationDays: null, expiryStops: 'everything' });
    expect(lifetime.expiresAt).toBeNull();
    const until = new Date(h.clock.now().getTime() + 3 * DAY).toISOString();
    const fixed = await buy({ until, expiryStops: 'everything' });
    expect(fixed.expiresAt).toBe(until);

    h.clock.advance(4 * DAY);
    const forever = await call('validate', { key: lifetime.key, product: lifetime.product.slug });
    expect(forever).toMatchObject({ valid: true, code: 'VALID' });
    expect(forever.license).toMatchObject({ expires_at: null, expired: false });
    expect(await call('validate', { key: fixed.key, product: fixed.product.slug })).toMatchObject({
      valid: false,
      code: 'EXPIRED',
    });
    // Renewing a lifetime license changes nothing.
    expect((await renew(lifetime.licenseId, 30)).expires_at).toBeNull();
  });
});

describe('license response signatures', () => {
  it('publishes the Ed25519 public key as raw base64 and as PEM', async () => {
    const res = await fetch(`${h.url}/api/v1/licenses/public-key`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { algorithm: string; public_key: string; pem: string };
    expect(body.algorithm).toBe('ed25519');
    const key = createPublicKey(body.pem);
    expect(key.asymmetricKeyType).toBe('ed25519');
    const raw = key.export({ format: 'der', type: 'spki' }).subarray(-32);
    expect(body.public_key).toBe(raw.toString('base64'));
    expect(Buffer.from(body.public_key, 'base64')).toHaveLength(32);
  });

  it('signs the exact body of successes and refusals of validate, activate and deactivate', async () => {
    const pem = await publicKeyPEM();
    const { key, product } = await buy({ activationLimit: 1 });
    const one = { key, product: product.slug, site_url: 'https://one.example.com' };
    const two = { key, product: product.slug, site_url: 'https://two.example.com' };
    const cases: [Action, Record<string, unknown>, string][] = [
      ['validate', { key, product: product.slug }, 'VALID'],
      ['validate', one, 'NOT_ACTIVATED'],
      ['validate', { key: generateLicenseKey(), product: product.slug }, 'NOT_FOUND'],
      ['activate', one, 'VALID'],
      ['activate', two, 'NO_ACTIVATIONS_LEFT'],
      ['deactivate', two, 'NOT_ACTIVATED'],
      ['deactivate', one, 'DEACTIVATED'],
    ];
    for (const [action, payload, code] of cases) {
      const res = await send(action, payload);
      expect(res.status).toBe(200);
      expect((JSON.parse(res.body.toString('utf8')) as LicenseAnswer).code).toBe(code);
      expect(res.signature, `${action} ${code}`).not.toBeNull();
      expect(verifies(pem, res), `${action} ${code}`).toBe(true);
    }
  });

  it('signs the 400 answer to a malformed or invalid body', async () => {
    const pem = await publicKeyPEM();
    for (const action of ['validate', 'activate', 'deactivate'] as const) {
      for (const body of ['{"key":', '[]', JSON.stringify({ key: 'x' })]) {
        const res = await send(action, body);
        expect(res.status, `${action} ${body}`).toBe(400);
        expect(errorCode(res)).toBe('INVALID_REQUEST');
        expect(verifies(pem, res), `${action} ${body}`).toBe(true);
      }
    }
  });

  it('fails verification when a single byte of the body changes', async () => {
    const pem = await publicKeyPEM();
    const { key, product } = await buy();
    const res = await send('validate', { key, product: product.slug, nonce: 'n-1' });
    expect(verifies(pem, res)).toBe(true);
    const text = res.body.toString('utf8');
    const forged = Buffer.from(text.replace('"valid":true', '"valid":fals'), 'utf8');
    expect(forged.length).toBe(res.body.length);
    expect(verifies(pem, { ...res, body: forged })).toBe(false);
    for (const at of [0, Math.floor(res.body.length / 2), res.body.length - 1]) {
      const flipped = Buffer.from(res.body);
      flipped[at] = (flipped[at] ?? 0) ^ 0x01;
      expect(verifies(pem, { ...res, body: flipped }), `byte ${at}`).toBe(false);
    }
  });

  it('echoes the nonce, string or number, and a timestamp, so a response cannot be replayed', async () => {
    const pem = await publicKeyPEM();
    const { key, product } = await buy();
    const first = await send('validate', { key, product: product.slug, nonce: 'a1b2c3' });
    const parsed = JSON.parse(first.body.toString('utf8')) as LicenseAnswer;
    expect(parsed.nonce).toBe('a1b2c3');
    expect(parsed.ts).toBe(h.clock.now().toISOString());

    const numeric = await call('activate', {
      key,
      product: product.slug,
      fingerprint: 'fp-nonce',
      nonce: 1715000000,
    });
    expect(numeric.nonce).toBe(1715000000);
    expect(Number.isNaN(Date.parse(numeric.ts))).toBe(false);
    expect(
      (await call('deactivate', { key, product: product.slug, fingerprint: 'fp-nonce', nonce: 7 })).nonce,
    ).toBe(7);
    expect((await call('validate', { key, product: product.slug })).nonce).toBeNull();

    // The signature of one answer does not cover an answer to a different nonce.
    const second = await send('validate', { key, product: product.slug, nonce: 'd4e5f6' });
    expect(verifies(pem, second)).toBe(true);
    expect(verifies(pem, { ...second, signature: first.signature })).toBe(false);
  });
});

describe('license API input', () => {
  it('answers 400 INVALID_REQUEST, never 500, to bad requests', async () => {
    const { key, product } = await buy();
    const slug = product.slug;
    const bad: [string, unknown][] = [
      ['missing key', { product: slug }],
      ['missing product', { key }],
      ['empty key', { key: '', product: slug }],
      ['product zero', { key, product: 0 }],
      ['product negative', { key, product: -4 }],
      ['product object', { key, product: { id: 1 } }],
      ['key too long', { key: 'A'.repeat(201), product: slug }],
      ['site and fingerprint', { key, product: slug, site_url: 'https://example.com', fingerprint: 'fp' }],
      ['unknown field', { key, product: slug, email: 'buyer@example.com' }],
      ['site that normalizes to nothing', { key, product: slug, site_url: 'https://' }],
      ['blank site', { key, product: slug, site_url: '   ' }],
      ['site of only a query', { key, product: slug, site_url: '?#' }],
      ['empty fingerprint', { key, product: slug, fingerprint: '' }],
      ['blank fingerprint', { key, product: slug, fingerprint: '  \t ' }],
      ['nonce object', { key, product: slug, nonce: { a: 1 } }],
      ['not JSON', '{"key":'],
      ['array', '[]'],
      ['null', 'null'],
    ];
    for (const action of ['validate', 'activate', 'deactivate'] as const) {
      for (const [label, body] of bad) {
        const res = await send(action, body);
        expect(res.status, `${action}: ${label}: ${res.body.toString()}`).toBe(400);
        expect(errorCode(res), `${action}: ${label}`).toBe('INVALID_REQUEST');
      }
    }
    const unknownField = await send('validate', { key, product: slug, email: 'buyer@example.com' });
    expect(JSON.parse(unknownField.body.toString()).error.detail.path).toBe('email');
    const emptySite = await send('activate', { key, product: slug, site_url: 'https://' });
    expect(JSON.parse(emptySite.body.toString()).error.detail.path).toBe('site_url');
  });

  it('needs no bearer token on the public routes, and one on the admin routes', async () => {
    const { key, product, licenseId } = await buy();
    // send() carries no Authorization header.
    expect((await send('validate', { key, product: product.slug })).status).toBe(200);
    expect((await send('activate', { key, product: product.slug, fingerprint: 'fp-auth' })).status).toBe(200);
    expect((await send('deactivate', { key, product: product.slug, fingerprint: 'fp-auth' })).status).toBe(
      200,
    );
    expect((await fetch(`${h.url}/api/v1/licenses/public-key`)).status).toBe(200);

    for (const [method, path, body] of [
      ['GET', licenseId, undefined],
      ['POST', `${licenseId}/suspend`, undefined],
      ['POST', `${licenseId}/reinstate`, undefined],
      ['POST', `${licenseId}/revoke`, undefined],
      ['POST', `${licenseId}/renew`, { days: 30 }],
    ] as const) {
      const res = await admin(method, path, body, null);
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(res.json).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    }
    expect((await admin('POST', `${licenseId}/revoke`, undefined, 'Bearer cs_not-a-real-token')).status).toBe(
      401,
    );
    // None of the refused calls changed the license.
    const view = await licenseView(licenseId);
    expect(view.status).toBe('active');
    expect(view.events.map((e) => e.type)).toEqual([
      'license.created',
      'license.activated',
      'license.deactivated',
    ]);
  });
});

describe('concurrent activations', () => {
  it('lets exactly 3 of 12 concurrent activations of different sites through at limit 3', async () => {
    const { key, product, licenseId } = await buy({ activationLimit: 3 });
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        call('activate', { key, product: product.slug, site_url: `https://race${i}.example.com/` }),
      ),
    );
    const codes = answers.map((a) => a.code);
    expect(codes.filter((c) => c === 'VALID')).toHaveLength(3);
    expect(codes.filter((c) => c === 'NO_ACTIVATIONS_LEFT')).toHaveLength(9);
    const view = await licenseView(licenseId);
    expect(view.activations).toHaveLength(3);
    const winners = answers.filter((a) => a.code === 'VALID').map((a) => a.activation?.identifier);
    expect(view.activations.map((a) => a.identifier).sort()).toEqual([...winners].sort());
    expect((await call('validate', { key, product: product.slug })).license).toMatchObject({
      active_count: 3,
      activations_left: 0,
    });
  });

  it('makes one activation of a site that activates 12 times at once', async () => {
    const { key, product, licenseId } = await buy({ activationLimit: 1 });
    const answers = await Promise.all(
      Array.from({ length: 12 }, () =>
        call('activate', { key, product: product.slug, site_url: 'https://same.example.com' }),
      ),
    );
    expect(answers.map((a) => a.code)).toEqual(Array(12).fill('VALID'));
    const view = await licenseView(licenseId);
    expect(view.activations).toHaveLength(1);
    expect(view.events.filter((e) => e.type === 'license.activated')).toHaveLength(1);
  });
});

describe('license transfer', () => {
  it('moves the license to another customer with the same key and activations, and records it', async () => {
    const product = await h.ctx.products.create({
      name: `Transfer ${Date.now()}`,
      license: { activationLimit: 2 },
    });
    const order = await h.ctx.orders.create({
      email: 'seller-to@example.com',
      products: [product.slug],
      source: 'test',
    });
    const issued = order.licenses[0]!;
    await h.ctx.licenses.activate({
      key: issued.key,
      product: product.slug,
      siteUrl: 'https://kept.example.org',
    });
    const auth = await h.adminAuth();
    const res = await fetch(`${h.url}/api/v1/licenses/${issued.id}/transfer`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'New.Owner@Example.com', name: 'New Owner' }),
    });
    expect(res.status).toBe(200);
    const moved = (await res.json()) as {
      key: string;
      customer_id: string;
      activations: unknown[];
      events: { type: string }[];
    };
    expect(moved.key).toBe(issued.key);
    expect(moved.customer_id).not.toBe(order.customer.id);
    expect(moved.activations).toHaveLength(1);
    expect(moved.events.map((e) => e.type)).toContain('license.transferred');
    const bad = await fetch(`${h.url}/api/v1/licenses/${issued.id}/transfer`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'nope' }),
    });
    expect(bad.status).toBe(400);
  });
});

describe('orders for several units of a licensed product', () => {
  it('issues one license per unit, or one license with the limit multiplied, per the product setting', async () => {
    const each = await h.ctx.products.create({
      name: `Units ${Date.now()}`,
      license: { activationLimit: 2 },
    });
    const multiplied = await h.ctx.products.create({
      name: `Seats ${Date.now()}`,
      license: { activationLimit: 2, quantity: 'multiply' },
    });
    const auth = await h.adminAuth();
    const res = await fetch(`${h.url}/api/v1/orders`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        email: 'agency@example.com',
        products: [
          { product: each.slug, quantity: 3 },
          { product: multiplied.slug, quantity: 5 },
        ],
      }),
    });
    expect(res.status).toBe(201);
    const order = (await res.json()) as {
      licenses: { key: string; product: string; activation_limit: number }[];
      grants: unknown[];
    };
    expect(order.grants).toHaveLength(2);
    const perUnit = order.licenses.filter((l) => l.product === each.slug);
    expect(perUnit).toHaveLength(3);
    expect(new Set(perUnit.map((l) => l.key)).size).toBe(3);
    expect(perUnit.every((l) => l.activation_limit === 2)).toBe(true);
    expect(order.licenses.filter((l) => l.product === multiplied.slug)).toEqual([
      expect.objectContaining({ activation_limit: 10 }),
    ]);
  });
});
