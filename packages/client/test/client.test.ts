import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../../../tests/helpers/harness.ts';
import { createLicenseClient, LicenseClientError, type LicenseClientOptions } from '../src/index.ts';
import { ATTACKER_PUBLIC_KEY, buy, flipOneByte, type InterceptingProxy, startProxy } from './support.ts';

let h: Harness;
const proxies: InterceptingProxy[] = [];
beforeAll(async () => {
  // The SDK tests make many calls from one IP; the rate limits have their own tests.
  h = await createHarness({ CLOUDSECURE_RATE_LIMIT_PER_MINUTE: '100000' });
});
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});
afterAll(async () => {
  await h?.close();
});

const DAY = 86_400_000;

async function proxy(): Promise<InterceptingProxy> {
  const p = await startProxy(h.url);
  proxies.push(p);
  return p;
}

/** A client for the harness server (or `serverUrl`), on the server's clock unless told otherwise. */
function client(options: Partial<LicenseClientOptions> & { product: string }) {
  return createLicenseClient({
    serverUrl: h.url,
    publicKey: h.ctx.licenseSigner.publicKey,
    now: () => h.clock.now(),
    ...options,
  });
}

async function failure(promise: Promise<unknown>): Promise<LicenseClientError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof LicenseClientError) return error;
    throw error;
  }
  throw new Error('expected a LicenseClientError');
}

describe('activate, validate and deactivate through the SDK', () => {
  it('activates a machine, validates it, frees it, and then reports it not activated', async () => {
    const { product, key } = await buy(h);
    const app = client({ product: product.slug, key, fingerprint: 'machine-a', version: '1.2.3' });

    const activated = await app.activate();
    expect(activated).toMatchObject({ valid: true, code: 'VALID', offline: false });
    expect(activated.activation).toMatchObject({ kind: 'machine', identifier: 'machine-a' });
    expect(activated.license).toMatchObject({ status: 'active', product: product.slug, active_count: 1 });
    expect(activated).not.toHaveProperty('nonce');

    expect(await app.validate()).toMatchObject({ valid: true, code: 'VALID', offline: false });
    expect(await app.deactivate()).toMatchObject({ code: 'DEACTIVATED', offline: false });
    expect(await app.validate()).toMatchObject({ valid: false, code: 'NOT_ACTIVATED' });
    expect(await app.deactivate()).toMatchObject({ valid: false, code: 'NOT_ACTIVATED' });
  });

  it('validates the license alone when the client has no fingerprint or site', async () => {
    const { product, key } = await buy(h);
    const result = await client({ product: product.slug }).validate({ key });
    expect(result).toMatchObject({ valid: true, code: 'VALID', activation: null });
    expect(result.license?.key_hint).toBe(key.replace(/-/g, '').slice(-4));
  });

  it('finds the product by its numeric item id as well as its slug', async () => {
    const { product, key } = await buy(h);
    expect(product.item_id).not.toBeNull();
    const app = client({ product: String(product.item_id), key, fingerprint: 'by-item-id' });
    expect(await app.activate()).toMatchObject({ valid: true, code: 'VALID' });
    const numeric = createLicenseClient({
      serverUrl: h.url,
      publicKey: h.ctx.licenseSigner.publicKey,
      product: product.item_id ?? 0,
      fingerprint: 'by-item-id',
      now: () => h.clock.now(),
    });
    expect(await numeric.validate({ key })).toMatchObject({ valid: true, code: 'VALID' });
  });

  it('reports NO_ACTIVATIONS_LEFT once both machines of a limit of 2 are active', async () => {
    const { product, key } = await buy(h);
    for (const fingerprint of ['m-1', 'm-2']) {
      expect(await client({ product: product.slug, key, fingerprint }).activate()).toMatchObject({
        valid: true,
      });
    }
    const third = await client({ product: product.slug, key, fingerprint: 'm-3' }).activate();
    expect(third).toMatchObject({ valid: false, code: 'NO_ACTIVATIONS_LEFT', activation: null });
    expect(third.license?.activations_left).toBe(0);
    // Re-activating a machine already active is idempotent and uses nothing up.
    expect(await client({ product: product.slug, key, fingerprint: 'm-1' }).activate()).toMatchObject({
      valid: true,
      code: 'VALID',
    });
  });

  it('reports NOT_FOUND for an unknown key and PRODUCT_MISMATCH for another product’s key', async () => {
    const mine = await buy(h);
    const other = await buy(h);
    const app = client({ product: mine.product.slug, fingerprint: 'fp' });
    expect(await app.activate({ key: 'CS-00000-00000-00000-00000-00000' })).toMatchObject({
      valid: false,
      code: 'NOT_FOUND',
      license: null,
    });
    expect(await app.validate({ key: other.key })).toMatchObject({
      valid: false,
      code: 'PRODUCT_MISMATCH',
      license: null,
    });
  });

  it('reports SUSPENDED, then VALID on reinstatement, then REVOKED', async () => {
    const { product, key, licenseId } = await buy(h);
    const app = client({ product: product.slug, key, fingerprint: 'fp-status' });
    await app.activate();
    await h.ctx.licenses.suspend(licenseId);
    expect(await app.validate()).toMatchObject({ valid: false, code: 'SUSPENDED' });
    expect(await app.activate()).toMatchObject({ valid: false, code: 'SUSPENDED' });
    await h.ctx.licenses.reinstate(licenseId);
    expect(await app.validate()).toMatchObject({ valid: true, code: 'VALID' });
    await h.ctx.licenses.revoke(licenseId);
    expect(await app.validate()).toMatchObject({ valid: false, code: 'REVOKED' });
  });

  it('keeps an expired license usable (valid, EXPIRED) when its expiry stops only updates', async () => {
    const stopsUpdates = await buy(h, { durationDays: 1, expiryStops: 'updates' });
    const stopsAll = await buy(h, { durationDays: 1, expiryStops: 'everything' });
    const a = client({ product: stopsUpdates.product.slug, key: stopsUpdates.key, fingerprint: 'fp-exp' });
    const b = client({ product: stopsAll.product.slug, key: stopsAll.key, fingerprint: 'fp-exp' });
    await a.activate();
    await b.activate();
    h.clock.advance(2 * DAY);
    expect(await a.validate()).toMatchObject({ valid: true, code: 'EXPIRED' });
    expect((await a.validate()).license?.expired).toBe(true);
    expect(await b.validate()).toMatchObject({ valid: false, code: 'EXPIRED' });
  });

  it('activates a site by its URL, normalized as the server does', async () => {
    const { product, key } = await buy(h);
    const app = client({ product: product.slug, key, siteUrl: 'https://WWW.Shop.Example.org:8443/store' });
    const result = await app.activate();
    expect(result.activation).toMatchObject({ kind: 'site', identifier: 'shop.example.org/store/' });
    expect(await app.validate()).toMatchObject({ valid: true, code: 'VALID' });
  });

  it('accepts the pinned key as a PEM as well as raw base64', async () => {
    const { product, key } = await buy(h);
    const app = client({ product: product.slug, key, publicKey: h.ctx.licenseSigner.publicKeyPEM });
    expect(await app.validate()).toMatchObject({ valid: true, code: 'VALID' });
  });

  it('throws REQUEST_REFUSED with the server’s code when the server rejects the request itself', async () => {
    const { product, key } = await buy(h);
    const error = await failure(
      client({ product: product.slug, key, fingerprint: 'x'.repeat(300) }).activate(),
    );
    expect(error).toMatchObject({ code: 'REQUEST_REFUSED', status: 400, serverCode: 'INVALID_REQUEST' });
  });

  it('does not follow a redirect, which would re-send the key elsewhere', async () => {
    const { product, key } = await buy(h);
    const target = await proxy();
    const redirector = createServer((_req, res) =>
      res.writeHead(307, { location: `${target.url}/api/v1/licenses/validate` }).end(),
    );
    await new Promise<void>((resolve) => redirector.listen(0, '127.0.0.1', resolve));
    try {
      const port = (redirector.address() as AddressInfo).port;
      const app = client({ serverUrl: `http://127.0.0.1:${port}`, product: product.slug, key });
      expect(await failure(app.validate())).toMatchObject({ code: 'REQUEST_REFUSED', status: 307 });
      expect(target.requests).toHaveLength(0);
    } finally {
      await new Promise<void>((resolve) => redirector.close(() => resolve()));
    }
  });

  it('refuses unusable options before sending anything', async () => {
    const base = { serverUrl: h.url, publicKey: h.ctx.licenseSigner.publicKey, product: 'p' };
    expect(() => createLicenseClient({ ...base, publicKey: 'not-a-key' })).toThrow(LicenseClientError);
    expect(() => createLicenseClient({ ...base, serverUrl: 'ftp://x' })).toThrow(/serverUrl/);
    expect(() => createLicenseClient({ ...base, fingerprint: 'a', siteUrl: 'https://a.example' })).toThrow(
      /not both/,
    );
    const p = await proxy();
    const app = createLicenseClient({ ...base, serverUrl: p.url });
    expect(await failure(app.validate())).toMatchObject({ code: 'CONFIG_INVALID' });
    expect(await failure(app.activate({ key: 'k' }))).toMatchObject({ code: 'CONFIG_INVALID' });
    expect(p.requests).toHaveLength(0);
  });
});

describe('response signatures', () => {
  it('rejects an answer whose body was altered by one byte', async () => {
    const { product, key } = await buy(h);
    const p = await proxy();
    p.mode = 'tamper';
    p.tamper = flipOneByte;
    const app = client({ serverUrl: p.url, product: product.slug, key, fingerprint: 'fp-sig' });
    expect(await failure(app.activate())).toMatchObject({ code: 'SIGNATURE_INVALID' });
    expect(await failure(app.validate())).toMatchObject({ code: 'SIGNATURE_INVALID' });
    expect(await failure(app.deactivate())).toMatchObject({ code: 'SIGNATURE_INVALID' });
  });

  it('rejects an answer rewritten from NOT_ACTIVATED to VALID', async () => {
    const { product, key } = await buy(h);
    const p = await proxy();
    p.mode = 'tamper';
    p.tamper = (body) =>
      Buffer.from(
        body.toString('utf8').replace('"valid":false', '"valid":true').replace('NOT_ACTIVATED', 'VALID'),
      );
    const app = client({ serverUrl: p.url, product: product.slug, key, fingerprint: 'never-activated' });
    expect(await failure(app.validate())).toMatchObject({ code: 'SIGNATURE_INVALID' });
  });

  it('rejects an answer without its signature header', async () => {
    const { product, key } = await buy(h);
    const p = await proxy();
    p.mode = 'drop-signature';
    const app = client({ serverUrl: p.url, product: product.slug, key, fingerprint: 'fp' });
    expect(await failure(app.validate())).toMatchObject({ code: 'SIGNATURE_MISSING' });
    // A refusal of the request itself must be signed too.
    const bad = client({ serverUrl: p.url, product: product.slug, key, fingerprint: 'y'.repeat(300) });
    expect(await failure(bad.activate())).toMatchObject({ code: 'SIGNATURE_MISSING', status: 400 });
  });

  it('rejects an answer re-signed with another key', async () => {
    const { product, key } = await buy(h);
    const p = await proxy();
    p.mode = 'foreign-signature';
    const app = client({ serverUrl: p.url, product: product.slug, key, fingerprint: 'fp' });
    expect(await failure(app.validate())).toMatchObject({ code: 'SIGNATURE_INVALID' });
  });

  it('rejects the genuine server when the pinned key is another one', async () => {
    const { product, key } = await buy(h);
    const app = client({ product: product.slug, key, publicKey: ATTACKER_PUBLIC_KEY });
    expect(await failure(app.validate())).toMatchObject({ code: 'SIGNATURE_INVALID' });
  });
});

describe('nonces and timestamps', () => {
  it('sends a fresh random nonce on every call and rejects a replay of an earlier genuine answer', async () => {
    const { product, key } = await buy(h);
    const p = await proxy();
    const app = client({ serverUrl: p.url, product: product.slug, key, fingerprint: 'fp-replay' });
    await app.activate();
    expect(await app.validate()).toMatchObject({ valid: true, code: 'VALID' });
    await app.deactivate();
    // The attacker answers the next validation with the signed VALID answer recorded before.
    p.mode = 'replay';
    expect(await failure(app.validate())).toMatchObject({ code: 'NONCE_MISMATCH' });
    p.mode = 'pass';
    expect(await app.validate()).toMatchObject({ valid: false, code: 'NOT_ACTIVATED' });

    const nonces = p.requests.map((r) => (JSON.parse(r.body.toString('utf8')) as { nonce: string }).nonce);
    expect(nonces).toHaveLength(5);
    for (const nonce of nonces) expect(nonce).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set(nonces).size).toBe(nonces.length);
  });

  it('rejects an answer signed too far from the local clock', async () => {
    const { product, key } = await buy(h);
    const ahead = client({
      product: product.slug,
      key,
      now: () => h.clock.now().getTime() + 60 * 60_000,
    });
    expect(await failure(ahead.validate())).toMatchObject({ code: 'CLOCK_SKEW' });
    const tolerant = client({
      product: product.slug,
      key,
      now: () => h.clock.now().getTime() + 60 * 60_000,
      clockToleranceMs: 2 * 60 * 60_000,
    });
    expect(await tolerant.validate()).toMatchObject({ valid: true });
  });
});
