import { verify } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LicensePolicy } from '../src/domain/licenses/license.ts';
import {
  LICENSE_FILE_BEGIN,
  LICENSE_FILE_END,
  type LicenseFilePayload,
  verifyLicenseFile,
} from '../src/domain/licenses/license-file.ts';
import { normalizeLicenseKey } from '../src/domain/licenses/license-key.ts';
import type { ProductView } from '../src/domain/products/product-service.ts';
import { cliFailure, cliJSON, runCLI } from './helpers/cli.ts';
import { createHarness, type Harness } from './helpers/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

const DAY = 86_400_000;
const DAY_S = 86_400;

interface Checkout {
  valid: boolean;
  code: string;
  detail: string;
  nonce: string | number | null;
  ts: string;
  certificate?: string;
  issued_at?: string;
  expires_at?: string;
  ttl?: number;
}

interface Bought {
  product: ProductView;
  key: string;
  licenseId: string;
  email: string;
  expiresAt: string | null;
}

let seq = 0;

/** A licensed product with its own policy, and one order of it by a named buyer. */
async function buy(harness: Harness, policy: Partial<LicensePolicy> = {}): Promise<Bought> {
  seq += 1;
  const product = await harness.ctx.products.create({ name: `Offline app ${seq}`, license: policy });
  const email = `offline-buyer-${seq}@example.com`;
  const order = await harness.ctx.orders.create({
    email,
    name: `Grace Hopper ${seq}`,
    products: [product.slug],
    source: 'test',
  });
  const issued = order.licenses[0];
  if (!issued) throw new Error('the order issued no license');
  return { product, key: issued.key, licenseId: issued.id, email, expiresAt: issued.expires_at };
}

async function post(
  harness: Harness,
  path: string,
  body: unknown,
): Promise<{ status: number; raw: Buffer; signature: string | null }> {
  const res = await fetch(`${harness.url}/api/v1/licenses/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(body),
  });
  const header = res.headers.get('cloudsecure-signature');
  return {
    status: res.status,
    raw: Buffer.from(await res.arrayBuffer()),
    signature: header?.replace(/^ed25519=/, '') ?? null,
  };
}

/** POST /api/v1/licenses/checkout, which must answer 200. */
async function checkout(body: Record<string, unknown>, harness = h): Promise<Checkout> {
  const res = await post(harness, 'checkout', body);
  expect(res.status, res.raw.toString()).toBe(200);
  return JSON.parse(res.raw.toString('utf8')) as Checkout;
}

async function certificate(body: Record<string, unknown>, harness = h): Promise<string> {
  const res = await checkout(body, harness);
  expect(res, res.detail).toMatchObject({ valid: true });
  return res.certificate!;
}

async function publicKey(harness = h): Promise<{ raw: string; pem: string }> {
  const res = await fetch(`${harness.url}/api/v1/licenses/public-key`);
  expect(res.status).toBe(200);
  const body = (await res.json()) as { public_key: string; pem: string };
  return { raw: body.public_key, pem: body.pem };
}

async function activate(b: Bought, fingerprint: string): Promise<void> {
  const res = await post(h, 'activate', { key: b.key, product: b.product.slug, fingerprint });
  expect(JSON.parse(res.raw.toString()), res.raw.toString()).toMatchObject({ valid: true });
}

/** The payload inside an armored file, read without verifying (to look at it, or to forge one). */
function innerDoc(text: string): { enc: string; sig: string; alg: string } {
  const body = text.trim().split('\n').slice(1, -1).join('');
  return JSON.parse(Buffer.from(body, 'base64').toString('utf8')) as {
    enc: string;
    sig: string;
    alg: string;
  };
}

function rearmor(doc: Record<string, unknown>): string {
  const body = Buffer.from(JSON.stringify(doc)).toString('base64');
  return `${LICENSE_FILE_BEGIN}\n${body.match(/.{1,64}/g)?.join('\n')}\n${LICENSE_FILE_END}\n`;
}

describe('checking out a license file', () => {
  it('issues a signed file over HTTP that verifies offline with only the public key the server publishes', async () => {
    const b = await buy(h, { activationLimit: 2, durationDays: 365, expiryStops: 'updates' });
    const key = await publicKey();
    const res = await post(h, 'checkout', { key: b.key, product: b.product.slug, nonce: 'n-42' });
    expect(res.status).toBe(200);
    // The answer is signed like every public license response, and echoes the nonce.
    expect(verify(null, res.raw, key.pem, Buffer.from(res.signature ?? '', 'base64'))).toBe(true);
    const body = JSON.parse(res.raw.toString()) as Checkout;
    expect(body).toMatchObject({ valid: true, code: 'VALID', nonce: 'n-42', ttl: 30 * DAY_S });
    expect(body.certificate).toMatch(
      /^-----BEGIN CLOUDSECURE LICENSE FILE-----\n([A-Za-z0-9+/=]{64}\n)*[A-Za-z0-9+/=]{1,64}\n-----END CLOUDSECURE LICENSE FILE-----\n$/,
    );

    const now = h.clock.now();
    const result = verifyLicenseFile(body.certificate!, key.raw, now);
    expect(result.code).toBe('VALID');
    expect(verifyLicenseFile(body.certificate!, key.pem, now).code).toBe('VALID');
    const itemId = b.product.item_id;
    expect(result.payload).toEqual({
      v: 1,
      license: {
        id: b.licenseId,
        key_hint: normalizeLicenseKey(b.key).slice(-4),
        product: b.product.slug,
        item_id: itemId,
        status: 'active',
        expires_at: b.expiresAt,
        activation_limit: 2,
        expiry_stops: 'updates',
      },
      fingerprint: null,
      issued_at: now.toISOString(),
      expires_at: new Date(now.getTime() + 30 * DAY).toISOString(),
      ttl: 30 * DAY_S,
    } satisfies LicenseFilePayload);
    expect(body.issued_at).toBe(result.payload!.issued_at);
    expect(body.expires_at).toBe(result.payload!.expires_at);
    // Without a product the license's own product is used; with its item id it matches too.
    expect(verifyLicenseFile(await certificate({ key: b.key }), key.raw, now).code).toBe('VALID');
    expect((await checkout({ key: b.key, product: itemId! })).code).toBe('VALID');
    expect((await checkout({ key: b.key, product: String(itemId) })).code).toBe('VALID');
  });

  it('puts nothing personal in the file: no e-mail, no name, no key, no customer or order', async () => {
    const b = await buy(h);
    const view = await h.ctx.licenses.get(b.licenseId);
    const file = await certificate({ key: b.key, product: b.product.slug });
    const json = Buffer.from(innerDoc(file).enc, 'base64').toString('utf8');
    const payload = JSON.parse(json) as LicenseFilePayload;
    expect(Object.keys(payload)).toEqual(['v', 'license', 'fingerprint', 'issued_at', 'expires_at', 'ttl']);
    expect(Object.keys(payload.license)).toEqual([
      'id',
      'key_hint',
      'product',
      'item_id',
      'status',
      'expires_at',
      'activation_limit',
      'expiry_stops',
    ]);
    for (const secret of [b.email, 'Grace', 'Hopper', b.key, normalizeLicenseKey(b.key), view.customer_id]) {
      expect(json).not.toContain(secret);
      expect(file).not.toContain(secret);
    }
    expect(json).not.toContain(view.order_id!);
    expect(json).not.toContain('@');
  });

  it('honours a ttl from one hour to 365 days and refuses any other', async () => {
    const b = await buy(h);
    const key = await publicKey();
    const hour = await checkout({ key: b.key, ttl: 3600 });
    expect(hour).toMatchObject({ valid: true, ttl: 3600 });
    expect(Date.parse(hour.expires_at!) - Date.parse(hour.issued_at!)).toBe(3_600_000);
    const payload = verifyLicenseFile(hour.certificate!, key.raw, h.clock.now()).payload!;
    expect(payload.ttl).toBe(3600);
    expect(payload.expires_at).toBe(hour.expires_at);
    expect((await checkout({ key: b.key, ttl: 365 * DAY_S })).ttl).toBe(365 * DAY_S);

    for (const ttl of [0, 3599, 365 * DAY_S + 1, 7200.5, '30d', -3600]) {
      const res = await post(h, 'checkout', { key: b.key, ttl });
      expect(res.status, String(ttl)).toBe(400);
      expect(JSON.parse(res.raw.toString())).toMatchObject({
        error: { code: 'INVALID_REQUEST', detail: { path: 'ttl' } },
      });
    }
    for (const body of [{}, { key: '' }, { key: b.key, fingerprint: '' }, { key: b.key, email: 'x@y.z' }]) {
      expect((await post(h, 'checkout', body)).status, JSON.stringify(body)).toBe(400);
    }
  });

  it('records each checkout as a license event', async () => {
    const b = await buy(h);
    await activate(b, 'event-machine');
    const res = await checkout({ key: b.key, fingerprint: 'event-machine', ttl: 7200 });
    const events = (await h.ctx.licenses.get(b.licenseId)).events.filter(
      (e) => e.type === 'license.checked_out',
    );
    expect(events).toHaveLength(1);
    expect(events[0]!.detail).toEqual({
      fingerprint: 'event-machine',
      ttl: 7200,
      expires_at: res.expires_at,
    });
  });
});

describe('refusing a checkout', () => {
  it('refuses unknown, revoked and suspended keys and another product, revealing nothing', async () => {
    const revoked = await buy(h);
    await h.ctx.licenses.revoke(revoked.licenseId);
    const suspended = await buy(h);
    await h.ctx.licenses.suspend(suspended.licenseId);
    const other = await buy(h);
    const mine = await buy(h);
    for (const [body, code] of [
      [{ key: 'CS-AAAAA-BBBBB-CCCCC-DDDDD-EEEEE' }, 'NOT_FOUND'],
      [{ key: revoked.key }, 'REVOKED'],
      [{ key: suspended.key, product: suspended.product.slug }, 'SUSPENDED'],
      [{ key: mine.key, product: other.product.slug }, 'PRODUCT_MISMATCH'],
      [{ key: mine.key, product: 'no-such-product' }, 'PRODUCT_MISMATCH'],
    ] as const) {
      const res = await checkout({ ...body, nonce: 5 });
      expect(Object.keys(res).sort(), code).toEqual(['code', 'detail', 'nonce', 'ts', 'valid']);
      expect(res, code).toMatchObject({ valid: false, code, nonce: 5 });
    }
    // Reinstated, the same key checks out again.
    await h.ctx.licenses.reinstate(suspended.licenseId);
    expect((await checkout({ key: suspended.key })).code).toBe('VALID');
  });

  it('refuses an expired license whose expiry stops everything, and issues one whose expiry stops updates', async () => {
    const past = new Date(h.clock.now().getTime() - DAY).toISOString();
    const everything = await buy(h, { until: past, expiryStops: 'everything' });
    expect(await checkout({ key: everything.key })).toMatchObject({ valid: false, code: 'EXPIRED' });

    const updates = await buy(h, { until: past, expiryStops: 'updates' });
    const res = await checkout({ key: updates.key });
    expect(res).toMatchObject({ valid: true, code: 'EXPIRED' });
    // The software keeps working offline; the file says when the license (for updates) expired.
    const result = verifyLicenseFile(res.certificate!, (await publicKey()).raw, h.clock.now());
    expect(result.code).toBe('VALID');
    expect(result.payload!.license).toMatchObject({ expires_at: past, expiry_stops: 'updates' });
  });

  it('binds a file only to a machine that is an active activation of the license', async () => {
    const b = await buy(h, { activationLimit: 3 });
    expect(await checkout({ key: b.key, fingerprint: 'never-activated' })).toMatchObject({
      valid: false,
      code: 'NOT_ACTIVATED',
    });
    // A site activation is not a machine, even under the same name.
    const site = await post(h, 'activate', {
      key: b.key,
      product: b.product.slug,
      site_url: 'shop.example.com',
    });
    expect(JSON.parse(site.raw.toString())).toMatchObject({ valid: true });
    expect((await checkout({ key: b.key, fingerprint: 'shop.example.com/' })).code).toBe('NOT_ACTIVATED');

    await activate(b, 'laptop-1');
    expect((await checkout({ key: b.key, fingerprint: 'laptop-1' })).code).toBe('VALID');
    await post(h, 'deactivate', { key: b.key, product: b.product.slug, fingerprint: 'laptop-1' });
    expect((await checkout({ key: b.key, fingerprint: 'laptop-1' })).code).toBe('NOT_ACTIVATED');
  });
});

describe('verifying a checked-out file offline', () => {
  let other: Harness;
  beforeAll(async () => {
    other = await createHarness();
  });
  afterAll(async () => {
    await other?.close();
  });

  it('accepts a machine-bound file only on that machine', async () => {
    const b = await buy(h);
    await activate(b, 'desktop-7f3a');
    const file = await certificate({ key: b.key, product: b.product.slug, fingerprint: ' desktop-7f3a ' });
    const key = (await publicKey()).raw;
    const now = h.clock.now();
    const bound = verifyLicenseFile(file, key, now, 'desktop-7f3a');
    expect(bound.code).toBe('VALID');
    expect(bound.payload!.fingerprint).toBe('desktop-7f3a');
    expect(verifyLicenseFile(file, key, now, 'desktop-0000')).toMatchObject({
      valid: false,
      code: 'FINGERPRINT_MISMATCH',
    });
    expect(verifyLicenseFile(file, key, now).code).toBe('FINGERPRINT_MISMATCH');
  });

  it('refuses any single-character change of the armored body, and a changed payload', async () => {
    const b = await buy(h);
    const file = await certificate({ key: b.key, ttl: 3600 });
    const key = (await publicKey()).raw;
    const now = h.clock.now();
    const start = LICENSE_FILE_BEGIN.length + 1;
    const end = file.length - LICENSE_FILE_END.length - 2;
    for (let i = start; i < end; i++) {
      const c = file[i]!;
      if (c === '\n') continue;
      const tampered = file.slice(0, i) + (c === 'Q' ? 'R' : 'Q') + file.slice(i + 1);
      expect(['MALFORMED', 'BAD_SIGNATURE'], `position ${i}`).toContain(
        verifyLicenseFile(tampered, key, now).code,
      );
    }
    // A payload edited to live longer, with the genuine signature, is refused.
    const doc = innerDoc(file);
    const payload = JSON.parse(Buffer.from(doc.enc, 'base64').toString()) as LicenseFilePayload;
    const longer = { ...payload, expires_at: '2099-01-01T00:00:00.000Z', ttl: 365 * DAY_S };
    const forged = rearmor({ ...doc, enc: Buffer.from(JSON.stringify(longer)).toString('base64') });
    expect(verifyLicenseFile(forged, key, now).code).toBe('BAD_SIGNATURE');
  });

  it("refuses a file from another server (another master key), each with the other's key", async () => {
    const mine = await buy(h);
    const theirs = await buy(other);
    const myKey = (await publicKey(h)).raw;
    const theirKey = (await publicKey(other)).raw;
    expect(theirKey).not.toBe(myKey);
    const myFile = await certificate({ key: mine.key });
    const theirFile = await certificate({ key: theirs.key }, other);
    const now = h.clock.now();
    expect(verifyLicenseFile(theirFile, theirKey, now).code).toBe('VALID');
    expect(verifyLicenseFile(theirFile, myKey, now).code).toBe('BAD_SIGNATURE');
    expect(verifyLicenseFile(myFile, theirKey, now).code).toBe('BAD_SIGNATURE');
    // And the other server does not know this server's keys.
    expect((await checkout({ key: mine.key }, other)).code).toBe('NOT_FOUND');
  });

  it("refuses a file once the clock passes the file's expiry, or the license's when it stops everything", async () => {
    const b = await buy(h);
    const key = (await publicKey()).raw;
    const res = await checkout({ key: b.key, ttl: 2 * 3600 });
    const expiry = Date.parse(res.expires_at!);
    expect(verifyLicenseFile(res.certificate!, key, expiry - 1000).code).toBe('VALID');
    expect(verifyLicenseFile(res.certificate!, key, expiry)).toMatchObject({
      valid: false,
      code: 'FILE_EXPIRED',
    });
    expect(verifyLicenseFile(res.certificate!, key, expiry + 30 * DAY).code).toBe('FILE_EXPIRED');

    const short = await buy(h, { durationDays: 1, expiryStops: 'everything' });
    const file = await certificate({ key: short.key, ttl: 30 * DAY_S });
    const now = h.clock.now().getTime();
    expect(verifyLicenseFile(file, key, now + DAY / 2).code).toBe('VALID');
    expect(verifyLicenseFile(file, key, now + 2 * DAY).code).toBe('LICENSE_EXPIRED');
  });
});

describe('license file CLI', () => {
  it('prints a file that verifies, or with --json the checkout result', async () => {
    const b = await buy(h);
    await activate(b, 'cli-machine');
    const key = await publicKey();

    const printed = await runCLI(h.env, ['license', 'file', b.key, '--fingerprint', 'cli-machine']);
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stdout.startsWith(`${LICENSE_FILE_BEGIN}\n`)).toBe(true);
    const human = verifyLicenseFile(printed.stdout, key.raw, Date.now(), 'cli-machine');
    expect(human.code).toBe('VALID');
    expect(human.payload).toMatchObject({ fingerprint: 'cli-machine', ttl: 30 * DAY_S });
    expect(human.payload!.license.id).toBe(b.licenseId);

    const json = await cliJSON<Checkout>(h.env, [
      'license',
      'file',
      b.key,
      '--product',
      b.product.slug,
      '--ttl',
      '2h',
    ]);
    expect(json).toMatchObject({ valid: true, code: 'VALID', ttl: 7200 });
    const result = verifyLicenseFile(json.certificate!, key.pem, Date.now());
    expect(result.code).toBe('VALID');
    expect(result.payload).toMatchObject({ fingerprint: null, ttl: 7200, expires_at: json.expires_at });
  });

  it('fails with the refusal code for a revoked key, a machine not activated or a bad ttl', async () => {
    const b = await buy(h);
    const unbound = await cliFailure(h.env, ['license', 'file', b.key, '--fingerprint', 'nowhere']);
    expect(unbound.code).toBe(1);
    expect(unbound.stdout).toBe('');
    expect(unbound.body.error.code).toBe('NOT_ACTIVATED');
    for (const ttl of ['59m', 'soon']) {
      const bad = await cliFailure(h.env, ['license', 'file', b.key, '--ttl', ttl]);
      expect(bad.body.error.code, ttl).toBe('INVALID_REQUEST');
    }
    await h.ctx.licenses.revoke(b.licenseId);
    const revoked = await runCLI(h.env, ['license', 'file', b.key]);
    expect(revoked.code).toBe(1);
    expect(revoked.stdout).toBe('');
    expect(revoked.stderr).toContain('error [REVOKED]');
  });
});
