import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LicensePolicy } from '../src/domain/licenses/license.ts';
import type { ProductView } from '../src/domain/products/product-service.ts';
import type { ReleaseView } from '../src/domain/releases/release-service.ts';
import { createHarness, type Harness } from './helpers/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

const DAY = 86_400_000;
const EXPIRES_RE = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$|^lifetime$/;
type Method = 'POST' | 'GET';
type Json = Record<string, unknown>;

interface Answer {
  status: number;
  contentType: string;
  /** The exact body text (PHP json_encode style). */
  text: string;
  json: Json;
}

/** One edd_action call at the site root: a form-encoded POST body, or the same fields as a GET query. */
async function edd(
  method: Method,
  fields: Record<string, string> | string,
  headers: Json = {},
): Promise<Answer> {
  const form = typeof fields === 'string' ? fields : new URLSearchParams(fields).toString();
  const init: RequestInit = { headers: headers as Record<string, string> };
  const res =
    method === 'GET'
      ? await fetch(`${h.url}/?${form}`, init)
      : await fetch(`${h.url}/`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8', ...init.headers },
          body: form,
        });
  const text = await res.text();
  const contentType = res.headers.get('content-type') ?? '';
  return {
    status: res.status,
    contentType,
    text,
    json: contentType.includes('json') ? JSON.parse(text) : {},
  };
}

/** The call was answered the EDD way: HTTP 200 with JSON, whatever the outcome. */
function json(answer: Answer): Json {
  expect(answer.status).toBe(200);
  expect(answer.contentType).toMatch(/^application\/json/);
  return answer.json;
}

let seq = 0;

interface Bought {
  product: ProductView;
  itemId: number;
  key: string;
  licenseId: string;
  email: string;
}

/** A licensed product with an EDD item id, and one purchase of it. */
async function buy(policy: Partial<LicensePolicy> = {}, name?: string): Promise<Bought> {
  seq += 1;
  const product = await h.ctx.products.create({
    name: name ?? `Sample Plugin ${seq}`,
    slug: `edd-plugin-${seq}`,
    license: { activationLimit: 1, durationDays: 365, ...policy },
  });
  const email = `edd-buyer${seq}@example.com`;
  const order = await h.ctx.orders.create({
    email,
    name: 'Jane Buyer',
    products: [product.slug],
    source: 'test',
  });
  const issued = order.licenses[0];
  if (!issued || product.item_id === null) throw new Error('no license or item id');
  return { product, itemId: product.item_id, key: issued.key, licenseId: issued.id, email };
}

/** Moves a license's expiry into the past, as time passing would. */
async function expire(licenseId: string): Promise<void> {
  const past = new Date(h.clock.now().getTime() - DAY).toISOString();
  await h.ctx.deps.uow.repos.licenses.update(licenseId, { expiresAt: past });
}

function fields(action: string, b: Bought, extra: Record<string, string> = {}): Record<string, string> {
  return { edd_action: action, license: b.key, item_id: String(b.itemId), ...extra };
}

async function activeSites(licenseId: string): Promise<string[]> {
  return (await h.ctx.licenses.get(licenseId)).activations.map((a) => a.identifier);
}

for (const method of ['POST', 'GET'] as const) {
  describe(`activate_license (${method})`, () => {
    it('activates a new site with the right item_id and reports the counts, expiry and checksum', async () => {
      const b = await buy({ activationLimit: 3 });
      const r = json(await edd(method, fields('activate_license', b, { url: 'https://one.example.com' })));
      expect(r).toMatchObject({
        success: true,
        license: 'valid',
        item_id: b.itemId,
        item_name: b.product.name,
        license_limit: 3,
        site_count: 1,
        activations_left: 2,
        price_id: false,
      });
      expect(r.expires).toMatch(EXPIRES_RE);
      expect(r.expires).not.toBe('lifetime');
      expect(r.checksum).toMatch(/^[0-9a-f]{32}$/);
      expect(r).not.toHaveProperty('error');
      expect(r).not.toHaveProperty('is_local');
      expect(await activeSites(b.licenseId)).toEqual(['one.example.com/']);
    });

    it('re-activates the same site at the limit idempotently', async () => {
      const b = await buy({ activationLimit: 1 });
      const call = fields('activate_license', b, { url: 'https://same.example.com' });
      expect(json(await edd(method, call))).toMatchObject({ success: true, site_count: 1 });
      const again = json(await edd(method, call));
      expect(again).toMatchObject({ success: true, license: 'valid', site_count: 1, activations_left: 0 });
    });

    it('refuses a new site at the limit with no_activations_left and max_sites', async () => {
      const b = await buy({ activationLimit: 1 });
      await edd(method, fields('activate_license', b, { url: 'https://first.example.com' }));
      const r = json(await edd(method, fields('activate_license', b, { url: 'https://second.example.com' })));
      expect(r).toMatchObject({
        success: false,
        license: 'invalid',
        error: 'no_activations_left',
        max_sites: 1,
        license_limit: 1,
        site_count: 1,
        activations_left: 0,
      });
      expect(await activeSites(b.licenseId)).toEqual(['first.example.com/']);
    });

    it('answers an unknown key with error missing and no license fields', async () => {
      const r = json(
        await edd(method, {
          edd_action: 'activate_license',
          license: 'NOPE-NOPE',
          url: 'https://x.example.com',
        }),
      );
      expect(r).toMatchObject({ success: false, license: 'invalid', error: 'missing', item_id: false });
      expect(r.checksum).toMatch(/^[0-9a-f]{32}$/);
      for (const field of ['license_limit', 'site_count', 'expires', 'activations_left']) {
        expect(r).not.toHaveProperty(field);
      }
    });

    it('refuses an expired key with error expired and its expiry', async () => {
      const b = await buy();
      await expire(b.licenseId);
      const r = json(await edd(method, fields('activate_license', b, { url: 'https://late.example.com' })));
      expect(r).toMatchObject({ success: false, license: 'invalid', error: 'expired' });
      expect(r.expires).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
      expect(await activeSites(b.licenseId)).toEqual([]);
    });

    it('refuses a suspended or revoked key with error disabled', async () => {
      const suspended = await buy();
      await h.ctx.licenses.suspend(suspended.licenseId);
      const revoked = await buy();
      await h.ctx.licenses.revoke(revoked.licenseId);
      for (const b of [suspended, revoked]) {
        const r = json(await edd(method, fields('activate_license', b, { url: 'https://d.example.com' })));
        expect(r).toMatchObject({ success: false, license: 'invalid', error: 'disabled' });
      }
    });

    it('refuses a wrong item_id with invalid_item_id and a wrong item_name with item_name_mismatch', async () => {
      const b = await buy();
      const other = await buy();
      const byId = json(
        await edd(
          method,
          fields('activate_license', b, { item_id: String(other.itemId), url: 'https://i.example.com' }),
        ),
      );
      expect(byId).toMatchObject({ success: false, error: 'invalid_item_id', item_name: other.product.name });
      const byName = json(
        await edd(method, {
          edd_action: 'activate_license',
          license: b.key,
          item_name: 'Some Other Plugin',
          url: 'https://i.example.com',
        }),
      );
      expect(byName).toMatchObject({ success: false, error: 'item_name_mismatch', item_id: false });
      expect(await activeSites(b.licenseId)).toEqual([]);
    });

    it('accepts an item_name that differs only in case and spacing (sanitize_title)', async () => {
      const b = await buy();
      const r = json(
        await edd(method, {
          edd_action: 'activate_license',
          license: b.key,
          item_name: `  sample   PLUGIN ${seq}`,
          url: 'https://n.example.com',
        }),
      );
      expect(r).toMatchObject({ success: true, license: 'valid', item_name: `sample   PLUGIN ${seq}` });
    });

    it('matches a double-encoded item_name (Sample%2520Plugin) after decoding once more', async () => {
      const b = await buy({}, `Double Encoded ${seq + 1}`);
      const r = json(
        await edd(
          method,
          `edd_action=activate_license&license=${b.key}&item_name=Double%2520Encoded%2520${seq}&url=https%3A%2F%2Fdbl.example.com`,
        ),
      );
      expect(r).toMatchObject({ success: true, license: 'valid', item_name: `Double Encoded ${seq}` });
    });

    it('decodes and trims license and url as EDD does', async () => {
      const b = await buy();
      const r = json(
        await edd(
          method,
          `edd_action=activate_license&license=%20${b.key}%20&item_id=${b.itemId}&url=https%253A%252F%252Fenc.example.com%252Fshop`,
        ),
      );
      expect(r).toMatchObject({ success: true, license: 'valid' });
      expect(await activeSites(b.licenseId)).toEqual(['enc.example.com/shop/']);
    });

    it('activates the site named in the WordPress User-Agent when url is missing', async () => {
      const b = await buy();
      const r = json(
        await edd(method, fields('activate_license', b), {
          'user-agent': 'WordPress/6.5; https://ua.example',
        }),
      );
      expect(r).toMatchObject({ success: true, license: 'valid' });
      expect(await activeSites(b.licenseId)).toEqual(['ua.example/']);
    });

    it('refuses with missing_url when there is neither url nor a WordPress User-Agent', async () => {
      const b = await buy();
      const r = json(await edd(method, fields('activate_license', b), { 'user-agent': 'curl/8.5' }));
      expect(r).toMatchObject({ success: false, license: 'invalid', error: 'missing_url', license_limit: 1 });
    });

    it('lets staging environments and local hosts activate without using up the limit', async () => {
      const b = await buy({ activationLimit: 1 });
      await edd(method, fields('activate_license', b, { url: 'https://live.example.com' }));
      const staging = json(
        await edd(
          method,
          fields('activate_license', b, { url: 'https://stage-copy.example.com', environment: 'staging' }),
        ),
      );
      expect(staging).toMatchObject({ success: true, is_local: true, site_count: 1, activations_left: 0 });
      for (const url of ['http://foo.local', 'https://dev.x.com', 'https://mysite.test']) {
        const r = json(await edd(method, fields('activate_license', b, { url })));
        expect({ url, ...r }).toMatchObject({ url, success: true, is_local: true, site_count: 1 });
      }
      const production = json(
        await edd(method, fields('activate_license', b, { url: 'https://other.example.com' })),
      );
      expect(production).toMatchObject({ success: false, error: 'no_activations_left' });
    });

    it('treats WP Engine install domains (x.wpengine.com) as staging, as EDD does', async () => {
      const b = await buy({ activationLimit: 1 });
      await edd(method, fields('activate_license', b, { url: 'https://live.example.com' }));
      const r = json(await edd(method, fields('activate_license', b, { url: 'https://x.wpengine.com' })));
      expect(r).toMatchObject({ success: true, is_local: true, site_count: 1 });
    });

    it('reports an unlimited license as activations_left "unlimited" and a lifetime one as "lifetime"', async () => {
      const b = await buy({ activationLimit: 0, durationDays: null });
      const r = json(await edd(method, fields('activate_license', b, { url: 'https://u.example.com' })));
      expect(r).toMatchObject({
        success: true,
        license_limit: 0,
        activations_left: 'unlimited',
        expires: 'lifetime',
      });
    });

    it('sends none of the buyer personal data', async () => {
      const b = await buy();
      const answer = await edd(method, fields('activate_license', b, { url: 'https://p.example.com' }));
      expect(json(answer)).toMatchObject({ customer_name: '', customer_email: '', payment_id: 0 });
      expect(answer.text).not.toContain(b.email.replace('@', ''));
      expect(answer.text).not.toContain('Jane');
    });
  });

  describe(`check_license (${method})`, () => {
    it('normalizes site URLs: activated as https://www.Example.com:8080/, checked as http://example.com', async () => {
      const b = await buy();
      await edd(method, fields('activate_license', b, { url: 'https://www.Norm-Example.com:8080/' }));
      const r = json(await edd(method, fields('check_license', b, { url: 'http://norm-example.com' })));
      expect(r).toMatchObject({ success: true, license: 'valid', site_count: 1 });
    });

    it('finds a site activated under its Unicode name when checked with its punycode name', async () => {
      const b = await buy();
      await edd(method, fields('activate_license', b, { url: 'https://bücher.example' }));
      const r = json(
        await edd(method, fields('check_license', b, { url: 'https://xn--bcher-kva.example/' })),
      );
      expect(r).toMatchObject({ license: 'valid' });
    });

    it('reports every status, with success true for all but invalid', async () => {
      const site = { url: 'https://chk.example.com' };
      const active = await buy();
      await edd(method, fields('activate_license', active, site));
      const inactive = await buy();
      const expired = await buy();
      await edd(method, fields('activate_license', expired, site));
      await expire(expired.licenseId);
      const disabled = await buy();
      await edd(method, fields('activate_license', disabled, site));
      await h.ctx.licenses.suspend(disabled.licenseId);
      const other = await buy();

      const cases: [string, Record<string, string>][] = [
        ['valid', fields('check_license', active, site)],
        ['site_inactive', fields('check_license', active, { url: 'https://elsewhere.example.com' })],
        ['inactive', fields('check_license', inactive, site)],
        ['expired', fields('check_license', expired, site)],
        ['disabled', fields('check_license', disabled, site)],
        [
          'item_name_mismatch',
          { edd_action: 'check_license', license: active.key, item_name: 'Wrong Name', ...site },
        ],
        ['invalid_item_id', fields('check_license', active, { item_id: String(other.itemId), ...site })],
        [
          'invalid',
          { edd_action: 'check_license', license: 'UNKNOWN-KEY', item_id: String(active.itemId), ...site },
        ],
      ];
      for (const [status, call] of cases) {
        const r = json(await edd(method, call));
        expect({ status, license: r.license, success: r.success }).toEqual({
          status,
          license: status,
          success: status !== 'invalid',
        });
        expect(r.checksum).toMatch(/^[0-9a-f]{32}$/);
        if (status === 'invalid') expect(r).not.toHaveProperty('license_limit');
        else {
          expect(r).toHaveProperty('license_limit');
          expect(r.expires).toMatch(EXPIRES_RE);
        }
      }
    });

    it('echoes item_id as an integer and item_name as the product title, in PHP JSON', async () => {
      const b = await buy({}, `Café Plugin ${seq + 1}`);
      const answer = await edd(method, fields('check_license', b, { url: 'https://e.example.com' }));
      expect(json(answer)).toMatchObject({ item_id: b.itemId, item_name: b.product.name });
      expect(answer.text).toContain(`"item_id":${b.itemId},`);
      expect(answer.text).toContain('Caf\\u00e9 Plugin');
    });
  });

  describe(`deactivate_license (${method})`, () => {
    it('deactivates an active site once, then fails', async () => {
      const b = await buy();
      const site = { url: 'https://off.example.com' };
      await edd(method, fields('activate_license', b, site));
      const first = json(await edd(method, fields('deactivate_license', b, site)));
      expect(first).toMatchObject({ success: true, license: 'deactivated', item_id: b.itemId });
      expect(typeof first.expires).toBe('number');
      expect(first.checksum).toMatch(/^[0-9a-f]{32}$/);
      expect(first).not.toHaveProperty('error');
      expect(await activeSites(b.licenseId)).toEqual([]);
      const second = json(await edd(method, fields('deactivate_license', b, site)));
      expect(second).toMatchObject({ success: false, license: 'failed' });
    });

    it('fails on an expired key, leaving the site active', async () => {
      const b = await buy();
      const site = { url: 'https://exp-off.example.com' };
      await edd(method, fields('activate_license', b, site));
      await expire(b.licenseId);
      const r = json(await edd(method, fields('deactivate_license', b, site)));
      expect(r).toMatchObject({ success: false, license: 'failed' });
      expect(await activeSites(b.licenseId)).toEqual(['exp-off.example.com/']);
    });

    it('fails for another product item_id, leaving the site active', async () => {
      const b = await buy();
      const other = await buy();
      const site = { url: 'https://item-off.example.com' };
      await edd(method, fields('activate_license', b, site));
      const r = json(
        await edd(method, fields('deactivate_license', b, { item_id: String(other.itemId), ...site })),
      );
      expect(r).toMatchObject({ success: false, license: 'failed' });
      expect(await activeSites(b.licenseId)).toEqual(['item-off.example.com/']);
    });

    it('answers the raw expiry: a Unix timestamp, or "lifetime"', async () => {
      const dated = await buy();
      const lifetime = await buy({ durationDays: null });
      const expiresAt = (await h.ctx.licenses.get(dated.licenseId)).expires_at;
      const site = { url: 'https://raw.example.com' };
      for (const b of [dated, lifetime]) await edd(method, fields('activate_license', b, site));
      const r1 = json(await edd(method, fields('deactivate_license', dated, site)));
      expect(r1.expires).toBe(Math.floor(Date.parse(expiresAt ?? '') / 1000));
      const r2 = json(await edd(method, fields('deactivate_license', lifetime, site)));
      expect(r2).toMatchObject({ license: 'deactivated', expires: 'lifetime' });
    });

    it('fails for an unknown key without license fields', async () => {
      const r = json(
        await edd(method, { edd_action: 'deactivate_license', license: 'NOPE', url: 'https://a.b' }),
      );
      expect(r).toMatchObject({ success: false, license: 'failed' });
      expect(r).not.toHaveProperty('expires');
    });
  });
}

describe('edd_action transport', () => {
  it('prefers query parameters over the form body when both carry a field', async () => {
    const b = await buy();
    const res = await fetch(`${h.url}/?edd_action=check_license&license=${b.key}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `edd_action=activate_license&license=WRONG&item_id=${b.itemId}&url=https%3A%2F%2Fq.example.com`,
    });
    const r = (await res.json()) as Json;
    expect(r).toMatchObject({ success: true, license: 'inactive', item_id: b.itemId });
    expect(await activeSites(b.licenseId)).toEqual([]);
  });

  it('sanitizes the action name like sanitize_key', async () => {
    const b = await buy();
    const r = json(await edd('GET', fields('Check_License', b, { url: 'https://s.example.com' })));
    expect(r.license).toBe('inactive');
  });

  it('leaves the site root alone for requests without a known edd_action', async () => {
    expect((await fetch(`${h.url}/`)).status).toBe(404);
    expect((await edd('GET', { edd_action: 'something_else' })).status).toBe(404);
  });

  it('activates exactly up to the limit when many sites race for it', async () => {
    const b = await buy({ activationLimit: 2 });
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        edd('POST', fields('activate_license', b, { url: `https://race${i}.example.com` })),
      ),
    );
    expect(answers.filter((a) => json(a).success === true)).toHaveLength(2);
    expect(answers.filter((a) => a.json.error === 'no_activations_left')).toHaveLength(4);
    expect(await activeSites(b.licenseId)).toHaveLength(2);
  });
});

// get_version ----------------------------------------------------------------------------------------------

async function release(
  b: Bought,
  version: string,
  options: { beta?: boolean; requiresPHP?: string; changelog?: string } = {},
): Promise<{ view: ReleaseView; bytes: Buffer }> {
  const bytes = randomBytes(4096);
  const view = await h.ctx.releases.add({
    product: b.product.slug,
    version,
    fileName: 'plugin.zip',
    body: Readable.from([bytes]),
    changelog: options.changelog ?? `<p>${version}: changes.</p>\n`,
    ...(options.requiresPHP ? { requiresPHP: options.requiresPHP } : {}),
    ...(options.beta !== undefined ? { beta: options.beta } : {}),
  });
  return { view, bytes };
}

function versionCall(b: Bought, extra: Record<string, string> = {}): Record<string, string> {
  return {
    edd_action: 'get_version',
    license: b.key,
    item_id: String(b.itemId),
    version: '1.0.0',
    slug: 'sample-plugin',
    url: 'https://upd.example.com',
    beta: '0',
    php_version: '8.2.0',
    wp_version: '6.5.2',
    ...extra,
  };
}

/** A PHP-serialized array of strings, read back (what maybe_unserialize gives the updater). */
function unserialize(value: unknown): Record<string, string> {
  expect(typeof value).toBe('string');
  const text = value as string;
  const out: Record<string, string> = {};
  const buf = Buffer.from(text, 'utf8');
  const head = /^a:(\d+):\{/.exec(text);
  expect(head).not.toBeNull();
  let pos = Buffer.byteLength(head?.[0] ?? '');
  const readString = (): string => {
    const m = /^s:(\d+):"/.exec(buf.subarray(pos, pos + 32).toString('latin1'));
    if (!m) throw new Error(`not a serialized string at ${pos}: ${text}`);
    const start = pos + m[0].length;
    const end = start + Number(m[1]);
    if (buf.subarray(end, end + 2).toString('latin1') !== '";')
      throw new Error(`bad length at ${pos}: ${text}`);
    pos = end + 2;
    return buf.subarray(start, end).toString('utf8');
  };
  for (let i = 0; i < Number(head?.[1]); i++) {
    const k = readString();
    out[k] = readString();
  }
  expect(buf.subarray(pos).toString('utf8')).toBe('}');
  return out;
}

for (const method of ['POST', 'GET'] as const) {
  describe(`get_version (${method})`, () => {
    it('offers the newest release with a package link for an activated site', async () => {
      const b = await buy();
      await edd(method, fields('activate_license', b, { url: 'https://upd.example.com' }));
      await release(b, '1.1.0');
      await release(b, '2.3.1', { changelog: '<p>2.3.1: bug fix.</p>\n' });
      const answer = await edd(method, versionCall(b));
      const r = json(answer);
      expect(r).toMatchObject({
        new_version: '2.3.1',
        stable_version: '2.3.1',
        name: b.product.name,
        slug: 'sample-plugin',
        homepage: `${h.url}/`,
        url: `${h.url}/`,
      });
      expect(r.package).toMatch(new RegExp(`^${h.url}/p/`));
      expect(r.download_link).toBe(r.package);
      expect(r.last_updated).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
      expect(unserialize(r.sections)).toEqual({
        description: `<p>${b.product.name}</p>\n`,
        changelog: '<p>2.3.1: bug fix.</p>\n',
      });
      expect(unserialize(r.banners)).toEqual({ high: '', low: '' });
      expect(r.icons).toBe('a:0:{}');
      expect(answer.text).toContain('"package":"http:\\/\\/127.0.0.1');
    });

    it('announces the update without a package when no license is given', async () => {
      const b = await buy();
      await release(b, '1.5.0');
      const r = json(await edd(method, versionCall(b, { license: '' })));
      expect(r).toMatchObject({
        new_version: '1.5.0',
        package: '',
        download_link: '',
        msg: 'No license key has been provided.',
      });
      expect(unserialize(r.sections)).toHaveProperty('changelog');
    });

    it('answers a product without releases with an empty new_version, sections included', async () => {
      const b = await buy();
      const r = json(await edd(method, versionCall(b)));
      expect(r).toMatchObject({ new_version: '', package: '', msg: 'No release has been published yet.' });
      expect(unserialize(r.sections).changelog).toBe('');
    });

    it('gives no package to a site the license is not activated on, or to a suspended license', async () => {
      const b = await buy();
      await release(b, '1.5.0');
      const notActive = json(await edd(method, versionCall(b)));
      expect(notActive).toMatchObject({ new_version: '1.5.0', package: '' });
      expect(notActive.msg).toEqual(expect.any(String));
      await edd(method, fields('activate_license', b, { url: 'https://upd.example.com' }));
      await h.ctx.licenses.suspend(b.licenseId);
      expect(json(await edd(method, versionCall(b)))).toMatchObject({ new_version: '1.5.0', package: '' });
    });

    it('gives an expired license no package for a release published after the expiry', async () => {
      const b = await buy();
      await edd(method, fields('activate_license', b, { url: 'https://upd.example.com' }));
      await expire(b.licenseId);
      await release(b, '3.0.0');
      const r = json(await edd(method, versionCall(b)));
      expect(r).toMatchObject({ new_version: '3.0.0', package: '' });
      expect(String(r.msg)).toMatch(/expired/);
    });

    it('answers an unknown item, a missing item and a foreign key with the error shape, sections included', async () => {
      const b = await buy();
      const other = await buy();
      const shapes = [
        [versionCall(b, { item_id: '99999999' }), 'Item name provided does not match a valid Download'],
        [versionCall(b, { item_id: '', item_name: '' }), 'No item provided'],
        [
          versionCall(b, { item_id: String(other.itemId) }),
          `License key is not valid for ${other.product.name}`,
        ],
        [versionCall(b, { license: 'UNKNOWN-KEY' }), `License key is not valid for ${b.product.name}`],
      ] as const;
      for (const [call, msg] of shapes) {
        const answer = await edd(method, call);
        expect(json(answer)).toEqual({
          new_version: '',
          stable_version: '',
          sections: '',
          license_check: '',
          msg,
          homepage: '',
          package: '',
          icons: [],
          banners: [],
        });
        expect(answer.text).toContain('"sections":""');
      }
    });

    it('finds the item by item_name (or the theme updater name) when item_id is absent or false', async () => {
      const b = await buy();
      await release(b, '1.2.0');
      const variants: Record<string, string>[] = [
        { item_id: '0', item_name: b.product.name.toLowerCase() },
        { item_id: 'false', item_name: encodeURIComponent(b.product.name) },
        { item_id: '', name: b.product.name },
      ];
      for (const extra of variants) {
        expect(json(await edd(method, versionCall(b, { ...extra, license: '' })))).toMatchObject({
          new_version: '1.2.0',
          name: b.product.name,
        });
      }
    });

    it('offers a newer beta only when beta=1 is asked for', async () => {
      const b = await buy();
      await edd(method, fields('activate_license', b, { url: 'https://upd.example.com' }));
      await release(b, '2.0.0');
      await release(b, '2.1.0-beta.1', { changelog: '<p>beta</p>\n' });
      const beta = json(await edd(method, versionCall(b, { beta: '1' })));
      expect(beta).toMatchObject({ new_version: '2.1.0-beta.1', stable_version: '2.0.0' });
      expect(unserialize(beta.sections).changelog).toBe('<p>beta</p>\n');
      expect(beta.package).not.toBe('');
      const stable = json(await edd(method, versionCall(b, { beta: '' })));
      expect(stable).toMatchObject({ new_version: '2.0.0', stable_version: '2.0.0' });
    });

    it('answers with the installed version when the site PHP is below the requirement', async () => {
      const b = await buy();
      await edd(method, fields('activate_license', b, { url: 'https://upd.example.com' }));
      await release(b, '2.0.0', { requiresPHP: '8.1' });
      const r = json(await edd(method, versionCall(b, { version: '1.4.2', php_version: '7.4.33' })));
      expect(r).toMatchObject({ new_version: '1.4.2', package: '', requires_php: '8.1' });
      expect(r).toHaveProperty('sections');
      const ok = json(await edd(method, versionCall(b, { version: '1.4.2', php_version: '8.1.0' })));
      expect(ok).toMatchObject({ new_version: '2.0.0', requires_php: '8.1' });
    });

    it('answers the batch form with one get_version answer per slug', async () => {
      const a = await buy();
      const c = await buy();
      await release(a, '1.0.1');
      await release(c, '4.0.0');
      const r = json(
        await edd(method, {
          edd_action: 'get_version',
          url: 'https://upd.example.com',
          'products[plugin-a][item_id]': String(a.itemId),
          'products[plugin-a][license]': a.key,
          'products[plugin-a][version]': '1.0.0',
          'products[plugin-c][item_id]': String(c.itemId),
          'products[plugin-c][version]': '3.0.0',
        }),
      );
      expect(Object.keys(r)).toEqual(['plugin-a', 'plugin-c']);
      expect(r['plugin-a']).toMatchObject({ new_version: '1.0.1', slug: 'plugin-a', name: a.product.name });
      expect(r['plugin-c']).toMatchObject({
        new_version: '4.0.0',
        slug: 'plugin-c',
        package: '',
        msg: 'No license key has been provided.',
      });
    });
  });
}

describe('package download from get_version', () => {
  it('serves the package to the activated site and refuses tampered, expired-license and stale links', async () => {
    const b = await buy();
    await edd('POST', fields('activate_license', b, { url: 'https://pkg.example.com' }));
    const { bytes } = await release(b, '5.0.0');
    const call = versionCall(b, { url: 'https://pkg.example.com' });
    const link = String(json(await edd('POST', call)).package);

    const served = await fetch(link);
    expect(served.status).toBe(200);
    expect(Buffer.from(await served.arrayBuffer()).equals(bytes)).toBe(true);

    const last = link.at(-1) === 'A' ? 'B' : 'A';
    const tampered = await fetch(`${link.slice(0, -1)}${last}`);
    expect(tampered.status).toBeGreaterThanOrEqual(400);
    expect(((await tampered.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');

    h.clock.advance(2 * 3600_000);
    const stale = await fetch(link);
    expect(stale.status).toBeGreaterThanOrEqual(400);
    expect(((await stale.json()) as { error: { code: string } }).error.code).toBe('LINK_EXPIRED');

    const fresh = String(json(await edd('POST', call)).package);
    await expire(b.licenseId);
    const expired = await fetch(fresh);
    expect(expired.status).toBeGreaterThanOrEqual(400);
    expect(((await expired.json()) as { error: { code: string } }).error.code).toBe('EXPIRED');
  });
});
