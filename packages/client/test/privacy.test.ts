import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { arch, homedir, hostname, platform, userInfo } from 'node:os';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../../../tests/helpers/harness.ts';
import { createLicenseClient, machineFingerprint } from '../src/index.ts';
import { buy, type CapturedRequest, type InterceptingProxy, startProxy } from './support.ts';

/**
 * The privacy policy: "The data shared includes your license key and site URL." PROMISES.md: the license
 * client sends only key, product, site URL or machine fingerprint, and software version.
 */
let h: Harness;
const proxies: InterceptingProxy[] = [];
beforeAll(async () => {
  h = await createHarness({ CLOUDSECURE_RATE_LIMIT_PER_MINUTE: '100000' });
});
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});
afterAll(async () => {
  await h?.close();
});

/** What each request may carry besides a per-call random nonce (and, for checkout, the file's lifetime). */
const JSON_FIELDS = new Set(['key', 'product', 'site_url', 'fingerprint', 'version', 'nonce', 'ttl']);
const FORM_FIELDS = new Set([
  'edd_action',
  'license',
  'item_id',
  'item_name',
  'url',
  'fingerprint',
  'version',
]);
/** Transport headers only: none of them can carry anything about the user. */
const HEADERS = new Set([
  'host',
  'connection',
  'content-type',
  'content-length',
  'accept',
  'accept-encoding',
  'accept-language',
  'sec-fetch-mode',
  'user-agent',
]);

async function localSecrets(): Promise<string[]> {
  const values = [hostname(), userInfo().username, homedir()];
  for (const file of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
    try {
      values.push((await readFile(file, 'utf8')).trim());
    } catch {
      // not on this system
    }
  }
  return values.filter((v) => v.length >= 3);
}

function fieldsOf(request: CapturedRequest): Record<string, string> {
  const type = String(request.headers['content-type']);
  if (type.startsWith('application/json'))
    return JSON.parse(request.body.toString('utf8')) as Record<string, string>;
  expect(type).toBe('application/x-www-form-urlencoded');
  return Object.fromEntries(new URLSearchParams(request.body.toString('utf8')));
}

function assertOnlyAllowed(
  request: CapturedRequest,
  expected: Record<string, string | number | undefined>,
  secrets: string[],
) {
  const fields = fieldsOf(request);
  const allowed = request.path === '/' ? FORM_FIELDS : JSON_FIELDS;
  for (const name of Object.keys(fields)) expect(allowed, `${request.path}: field ${name}`).toContain(name);
  expect(fields).toMatchObject(expected);
  for (const [name, value] of Object.entries(request.headers)) {
    expect(HEADERS, `${request.path}: header ${name}`).toContain(name);
    for (const secret of secrets) expect(String(value)).not.toContain(secret);
  }
  expect(request.headers['user-agent']).toBe('cloudsecure-client');
  expect(request.headers['accept-language'] ?? '*').toBe('*');
  const raw = request.body.toString('utf8');
  for (const secret of secrets) expect(raw, `${request.path} carries local data`).not.toContain(secret);
}

describe('privacy: what the SDK sends to the licensing server', () => {
  it('sends a desktop app’s key, product, hashed machine fingerprint and version, and nothing else', async () => {
    const { product, key } = await buy(h);
    await h.ctx.releases.add({
      product: product.slug,
      version: '3.0.0',
      fileName: 'app.zip',
      body: Readable.from(Buffer.from('zip')),
    });
    const p = await startProxy(h.url);
    proxies.push(p);
    const fingerprint = await machineFingerprint({ salt: product.slug });
    const app = createLicenseClient({
      serverUrl: p.url,
      publicKey: h.ctx.licenseSigner.publicKey,
      product: product.slug,
      key,
      fingerprint,
      version: '2.4.1',
      now: () => h.clock.now(),
    });
    await app.activate();
    await app.validate();
    await app.checkout({ ttl: 7200 });
    await app.checkForUpdate();
    await app.deactivate();

    expect(p.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /api/v1/licenses/activate',
      'POST /api/v1/licenses/validate',
      'POST /api/v1/licenses/checkout',
      'POST /',
      'POST /api/v1/licenses/deactivate',
    ]);
    const secrets = await localSecrets();
    const api = { key, product: product.slug, fingerprint, version: '2.4.1' };
    for (const request of p.requests) {
      const expected =
        request.path === '/'
          ? {
              edd_action: 'get_version',
              license: key,
              item_name: product.slug,
              fingerprint,
              version: '2.4.1',
            }
          : api;
      assertOnlyAllowed(request, expected, secrets);
    }
    expect(fieldsOf(p.requests[2] as CapturedRequest)).toMatchObject({ ttl: 7200 });
    for (const request of p.requests.filter((r) => r.path !== '/api/v1/licenses/checkout'))
      expect(fieldsOf(request)).not.toHaveProperty('ttl');
  });

  it('sends a web app’s key, product, site URL and version, and nothing else', async () => {
    const { product, key } = await buy(h);
    const p = await startProxy(h.url);
    proxies.push(p);
    const app = createLicenseClient({
      serverUrl: p.url,
      publicKey: h.ctx.licenseSigner.publicKey,
      product: String(product.item_id),
      key,
      siteUrl: 'https://shop.example.org/store',
      version: '1.0.0',
      now: () => h.clock.now(),
    });
    await app.activate();
    await app.validate();
    await app.checkForUpdate();
    await app.deactivate();

    expect(p.requests).toHaveLength(4);
    const secrets = await localSecrets();
    for (const request of p.requests) {
      const expected =
        request.path === '/'
          ? {
              license: key,
              item_id: String(product.item_id),
              url: 'https://shop.example.org/store',
              version: '1.0.0',
            }
          : {
              key,
              product: String(product.item_id),
              site_url: 'https://shop.example.org/store',
              version: '1.0.0',
            };
      assertOnlyAllowed(request, expected, secrets);
      expect(fieldsOf(request)).not.toHaveProperty('fingerprint');
    }
  });
});

describe('machineFingerprint', () => {
  it('is a SHA-256 digest, the same on every call, different per salt, and reveals no local identifier', async () => {
    const a = await machineFingerprint();
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(await machineFingerprint()).toBe(a);
    const salted = await machineFingerprint({ salt: 'another-product' });
    expect(salted).toMatch(/^[0-9a-f]{64}$/);
    expect(salted).not.toBe(a);
    for (const secret of await localSecrets()) expect(a).not.toContain(secret);
  });

  it.runIf(platform() === 'linux')(
    'digests exactly what the README documents: platform, architecture, host name and machine id',
    async () => {
      let id = '';
      for (const file of ['/etc/machine-id', '/var/lib/dbus/machine-id', '/etc/hostid']) {
        id = await readFile(file, 'utf8').then(
          (t) => t.trim(),
          () => '',
        );
        if (id) break;
      }
      const inputs = ['cloudsecure-fingerprint/v1', 'salt-1', platform(), arch(), hostname(), id];
      const expected = createHash('sha256').update(inputs.join('\n')).digest('hex');
      expect(await machineFingerprint({ salt: 'salt-1' })).toBe(expected);
    },
  );
});
