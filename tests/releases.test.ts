import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import contentDisposition from 'content-disposition';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../src/domain/errors.ts';
import type { LicensePolicy } from '../src/domain/licenses/license.ts';
import type { LicenseView } from '../src/domain/licenses/license-service.ts';
import type { ProductView } from '../src/domain/products/product-service.ts';
import type { ReleaseView } from '../src/domain/releases/release-service.ts';
import { cliFailure, cliJSON } from './helpers/cli.ts';
import { createHarness, type Harness } from './helpers/harness.ts';
import { type LocalS3, startS3rver } from './helpers/s3rver.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

const DAY = 86_400_000;
const SITE = 'https://www.shop.example.org/';

interface Fetched {
  status: number;
  headers: Headers;
  body: Buffer;
}

/** One request, body read to the end. */
async function request(url: string, init: RequestInit = {}): Promise<Fetched> {
  const res = await fetch(url, init);
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

/** The error code of a JSON error body; anything else (such as file bytes) reads as `(not an error)`. */
function errorCode(res: Fetched): string {
  try {
    return (JSON.parse(res.body.toString('utf8')) as { error: { code: string } }).error.code;
  } catch {
    return '(not an error)';
  }
}

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(error instanceof AppError)) throw new Error(`expected an AppError, got ${String(error)}`);
  return error;
}

let seq = 0;

interface Licensed {
  product: ProductView;
  key: string;
  licenseId: string;
}

/** A licensed product and one purchase of it. */
async function licensed(policy: Partial<LicensePolicy> = {}): Promise<Licensed> {
  seq += 1;
  const product = await h.ctx.products.create({
    name: `Plugin ${seq} ${randomBytes(3).toString('hex')}`,
    license: { activationLimit: 3, durationDays: null, ...policy },
  });
  const order = await h.ctx.orders.create({
    email: `buyer${seq}@example.com`,
    products: [product.slug],
    source: 'test',
  });
  const issued = order.licenses[0];
  if (!issued) throw new Error('no license issued');
  return { product, key: issued.key, licenseId: issued.id };
}

async function activate(l: Licensed, siteUrl = SITE): Promise<void> {
  const result = await h.ctx.licenses.activate({ key: l.key, product: l.product.slug, siteUrl });
  expect(result.code).toBe('VALID');
}

async function addRelease(
  product: string,
  version: string,
  fields: { content?: Buffer; requiresPHP?: string; requiresWP?: string; beta?: boolean } = {},
): Promise<{ release: ReleaseView; content: Buffer }> {
  const content = fields.content ?? randomBytes(40_000);
  const release = await h.ctx.releases.add({
    product,
    version,
    fileName: 'my-plugin.zip',
    body: Readable.from([content]),
    ...(fields.requiresPHP ? { requiresPHP: fields.requiresPHP } : {}),
    ...(fields.requiresWP ? { requiresWP: fields.requiresWP } : {}),
    ...(fields.beta === undefined ? {} : { beta: fields.beta }),
  });
  return { release, content };
}

async function licenseEvents(licenseId: string): Promise<LicenseView['events']> {
  return (await h.ctx.licenses.get(licenseId)).events;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

describe('release add', () => {
  it('stores the package with its size and sha256 and lists releases oldest first', async () => {
    const { product } = await licensed();
    const first = await addRelease(product.slug, '1.0.0');
    const second = await addRelease(product.id, '1.1.0');
    expect(first.release).toMatchObject({
      product: product.slug,
      version: '1.0.0',
      file_name: 'my-plugin.zip',
      content_type: 'application/zip',
      size: first.content.length,
      sha256: sha256(first.content),
      beta: false,
    });
    const list = await h.ctx.releases.list(product.slug);
    expect(list.map((r) => r.version)).toEqual(['1.0.0', '1.1.0']);
    expect(list[1]).toEqual(second.release);
  });

  it('refuses a version the product already has with RELEASE_EXISTS (409), 1.2 and 1.2.0 alike', async () => {
    const { product } = await licensed();
    await addRelease(product.slug, '1.2.0');
    const again = await rejection(addRelease(product.slug, '1.2.0'));
    expect([again.code, again.status]).toEqual(['RELEASE_EXISTS', 409]);
    expect((await rejection(addRelease(product.slug, '1.2'))).code).toBe('RELEASE_EXISTS');
    expect((await h.ctx.releases.list(product.slug)).length).toBe(1);
  });

  it('refuses versions and requirements that are not versions', async () => {
    const { product } = await licensed();
    for (const version of ['latest', 'v1.2.3', '1', '1.2.3+build.5']) {
      const error = await rejection(addRelease(product.slug, version));
      expect([error.code, error.detail?.path]).toEqual(['INVALID_REQUEST', 'version']);
    }
    const php = await rejection(addRelease(product.slug, '1.0.0', { requiresPHP: 'eight' }));
    expect([php.code, php.detail?.path]).toEqual(['INVALID_REQUEST', 'requires_php']);
    expect(await h.ctx.releases.list(product.slug)).toEqual([]);
  });

  it('marks prerelease versions as beta unless told otherwise', async () => {
    const { product } = await licensed();
    expect((await addRelease(product.slug, '2.0.0-beta.1')).release.beta).toBe(true);
    expect((await addRelease(product.slug, '2.0.0-rc.1', { beta: false })).release.beta).toBe(false);
    expect((await addRelease(product.slug, '1.9.0', { beta: true })).release.beta).toBe(true);
  });
});

describe('release CLI', () => {
  it('adds a release from a file with changelog and requirements, and lists it as JSON', async () => {
    const { product } = await licensed();
    const content = randomBytes(300_000);
    const file = join(h.dataDir, `pkg-${seq}.zip`);
    const changelogFile = join(h.dataDir, `changelog-${seq}.html`);
    await writeFile(file, content);
    await writeFile(changelogFile, '<h4>1.4.0</h4><ul><li>Fixed a bug.</li></ul>');
    const added = await cliJSON<ReleaseView>(h.env, [
      'release',
      'add',
      product.slug,
      '--version',
      '1.4.0',
      '--file',
      file,
      '--changelog',
      changelogFile,
      '--requires-php',
      '7.4',
      '--requires-wp',
      '6.2',
      '--tested',
      '6.5.2',
      '--beta',
    ]);
    expect(added).toMatchObject({
      product: product.slug,
      version: '1.4.0',
      file_name: `pkg-${seq}.zip`,
      content_type: 'application/zip',
      size: content.length,
      sha256: sha256(content),
      changelog: '<h4>1.4.0</h4><ul><li>Fixed a bug.</li></ul>',
      requires_php: '7.4',
      requires_wp: '6.2',
      tested: '6.5.2',
      beta: true,
    });
    const listed = await cliJSON<ReleaseView[]>(h.env, ['release', 'list', product.slug]);
    expect(listed).toEqual([added]);
    expect(await h.ctx.releases.list(product.slug)).toEqual([added]);
  });

  it('reports a duplicate version or a missing product as a JSON error with exit status 1', async () => {
    const { product } = await licensed();
    const file = join(h.dataDir, `dup-${seq}.zip`);
    await writeFile(file, randomBytes(1000));
    await cliJSON(h.env, ['release', 'add', product.slug, '--version', '3.0.0', '--file', file]);
    const duplicate = await cliFailure(h.env, [
      'release',
      'add',
      product.slug,
      '--version',
      '3.0.0',
      '--file',
      file,
    ]);
    expect([duplicate.code, duplicate.body.error.code, duplicate.stdout]).toEqual([1, 'RELEASE_EXISTS', '']);
    const missing = await cliFailure(h.env, ['release', 'list', 'no-such-product']);
    expect([missing.code, missing.body.error.code]).toEqual([1, 'NOT_FOUND']);
  });
});

describe('latest release', () => {
  it('picks the newest by semantic version, not by date', async () => {
    const { product } = await licensed();
    await addRelease(product.slug, '1.10.0');
    await addRelease(product.slug, '1.9.0');
    h.clock.advance(1000);
    await addRelease(product.slug, '1.2.0');
    expect((await h.ctx.releases.latest({ productId: product.id, beta: false }))?.version).toBe('1.10.0');
  });

  it('offers a beta only to callers that ask for betas', async () => {
    const { product } = await licensed();
    await addRelease(product.slug, '1.0.0');
    await addRelease(product.slug, '1.1.0-beta.1');
    expect((await h.ctx.releases.latest({ productId: product.id, beta: false }))?.version).toBe('1.0.0');
    expect((await h.ctx.releases.latest({ productId: product.id, beta: true }))?.version).toBe(
      '1.1.0-beta.1',
    );
  });

  it('skips releases whose PHP or WordPress requirements the caller does not meet', async () => {
    const { product } = await licensed();
    await addRelease(product.slug, '1.0.0', { requiresPHP: '7.2', requiresWP: '5.8' });
    await addRelease(product.slug, '1.1.0', { requiresPHP: '8.1' });
    await addRelease(product.slug, '1.2.0', { requiresWP: '6.5' });
    const latest = async (php?: string, wp?: string): Promise<string | undefined> =>
      (await h.ctx.releases.latest({ productId: product.id, beta: false, php, wp }))?.version;
    expect(await latest()).toBe('1.2.0');
    expect(await latest('7.4.33', '6.4.3')).toBe('1.0.0');
    expect(await latest('8.2.1', '6.4.3')).toBe('1.1.0');
    expect(await latest('8.2.1', '6.5')).toBe('1.2.0');
    expect(await latest('7.0', '5.0')).toBeUndefined();
  });

  it('is null for a product without releases', async () => {
    const { product } = await licensed();
    expect(await h.ctx.releases.latest({ productId: product.id, beta: true })).toBeNull();
  });
});

describe('package download', () => {
  it('serves the exact bytes to an active license on an activated site and records it', async () => {
    const l = await licensed();
    await activate(l);
    const { release, content } = await addRelease(l.product.slug, '1.0.0');
    const url = h.ctx.releases.packageURL({ licenseId: l.licenseId, releaseId: release.id, site: SITE });
    expect(url.startsWith(`${h.config.publicUrl}/p/`)).toBe(true);
    const res = await request(url, {
      headers: { 'user-agent': 'WordPress/6.5.2; https://shop.example.org' },
    });
    expect(res.status).toBe(200);
    expect(res.body.equals(content)).toBe(true);
    expect(res.headers.get('content-type')).toBe('application/zip');
    expect(res.headers.get('content-length')).toBe(String(content.length));
    expect(contentDisposition.parse(res.headers.get('content-disposition') ?? '').parameters.filename).toBe(
      'my-plugin.zip',
    );
    const downloaded = (await licenseEvents(l.licenseId)).filter((e) => e.type === 'package.downloaded');
    expect(downloaded).toHaveLength(1);
    expect(downloaded[0]!.detail).toMatchObject({
      version: '1.0.0',
      release_id: release.id,
      site: 'shop.example.org/',
      ip: '127.0.0.1',
      user_agent: 'WordPress/6.5.2; https://shop.example.org',
      redirected: false,
    });
  });

  it('answers a byte range and does not record a HEAD request', async () => {
    const l = await licensed();
    await activate(l);
    const { release, content } = await addRelease(l.product.slug, '1.0.0');
    const url = h.ctx.releases.packageURL({ licenseId: l.licenseId, releaseId: release.id, site: SITE });
    const head = await request(url, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length')]).toEqual([200, String(content.length)]);
    const part = await request(url, { headers: { range: 'bytes=100-199' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 100-199/${content.length}`);
    expect(part.body.equals(content.subarray(100, 200))).toBe(true);
    const downloaded = (await licenseEvents(l.licenseId)).filter((e) => e.type === 'package.downloaded');
    expect(downloaded.map((e) => e.detail.range)).toEqual(['bytes=100-199']);
  });

  it('refuses a revoked or suspended license with 403, and serves again once reinstated', async () => {
    const l = await licensed();
    await activate(l);
    const { release } = await addRelease(l.product.slug, '1.0.0');
    const url = h.ctx.releases.packageURL({ licenseId: l.licenseId, releaseId: release.id, site: SITE });
    await h.ctx.licenses.suspend(l.licenseId);
    const suspended = await request(url);
    expect([suspended.status, errorCode(suspended)]).toEqual([403, 'SUSPENDED']);
    await h.ctx.licenses.reinstate(l.licenseId);
    expect((await request(url)).status).toBe(200);
    await h.ctx.licenses.revoke(l.licenseId);
    const revoked = await request(url);
    expect([revoked.status, errorCode(revoked)]).toEqual([403, 'REVOKED']);
    const refused = (await licenseEvents(l.licenseId)).filter((e) => e.type === 'package.refused');
    expect(refused.map((e) => e.detail.code)).toEqual(['SUSPENDED', 'REVOKED']);
  });

  it('refuses a site the license is not activated on, or no longer is', async () => {
    const l = await licensed();
    await activate(l);
    const { release } = await addRelease(l.product.slug, '1.0.0');
    const elsewhere = h.ctx.releases.packageURL({
      licenseId: l.licenseId,
      releaseId: release.id,
      site: 'https://other.example.net',
    });
    const other = await request(elsewhere);
    expect([other.status, errorCode(other)]).toEqual([403, 'NOT_ACTIVATED']);

    // The same site written another way is the same site.
    const url = h.ctx.releases.packageURL({
      licenseId: l.licenseId,
      releaseId: release.id,
      site: 'http://SHOP.example.org:8080',
    });
    expect((await request(url)).status).toBe(200);
    const result = await h.ctx.licenses.deactivate({ key: l.key, product: l.product.slug, siteUrl: SITE });
    expect(result.code).toBe('DEACTIVATED');
    const gone = await request(url);
    expect([gone.status, errorCode(gone)]).toEqual([403, 'NOT_ACTIVATED']);
  });

  it('lets an expired license download releases published before it expired, and only those', async () => {
    const l = await licensed({ durationDays: 30 });
    await activate(l);
    const before = await addRelease(l.product.slug, '1.0.0');
    h.clock.advance(31 * DAY);
    const after = await addRelease(l.product.slug, '1.1.0');
    const urlOf = (releaseId: string): string =>
      h.ctx.releases.packageURL({ licenseId: l.licenseId, releaseId, site: SITE });

    const old = await request(urlOf(before.release.id));
    expect(old.status).toBe(200);
    expect(old.body.equals(before.content)).toBe(true);
    const newer = await request(urlOf(after.release.id));
    expect([newer.status, errorCode(newer)]).toEqual([403, 'EXPIRED']);

    await h.ctx.products.update({ product: l.product.slug, license: { preExpiryReleases: false } });
    const strict = await request(urlOf(before.release.id));
    expect([strict.status, errorCode(strict)]).toEqual([403, 'EXPIRED']);

    await h.ctx.licenses.renew({ licenseId: l.licenseId, days: 365 });
    expect((await request(urlOf(after.release.id))).status).toBe(200);
  });

  it('refuses even older releases when expiry stops everything', async () => {
    const l = await licensed({ durationDays: 30, expiryStops: 'everything' });
    await activate(l);
    const { release } = await addRelease(l.product.slug, '1.0.0');
    h.clock.advance(31 * DAY);
    const url = h.ctx.releases.packageURL({ licenseId: l.licenseId, releaseId: release.id, site: SITE });
    const res = await request(url);
    expect([res.status, errorCode(res)]).toEqual([403, 'EXPIRED']);
  });

  it('answers 404 to a tampered token or one for another product, and 410 once the link expired', async () => {
    const l = await licensed();
    await activate(l);
    const { release } = await addRelease(l.product.slug, '1.0.0');
    const url = h.ctx.releases.packageURL({ licenseId: l.licenseId, releaseId: release.id, site: SITE });
    const token = url.slice(url.lastIndexOf('/') + 1);
    const i = 10;
    const tampered = `${h.url}/p/${token.slice(0, i)}${token[i] === 'A' ? 'B' : 'A'}${token.slice(i + 1)}`;
    const bad = await request(tampered);
    expect([bad.status, errorCode(bad)]).toEqual([404, 'NOT_FOUND']);
    expect((await request(`${h.url}/p/not-a-token`)).status).toBe(404);

    const other = await licensed();
    const foreign = await addRelease(other.product.slug, '9.0.0');
    const mismatch = await request(
      h.ctx.releases.packageURL({ licenseId: l.licenseId, releaseId: foreign.release.id, site: SITE }),
    );
    expect([mismatch.status, errorCode(mismatch)]).toEqual([404, 'NOT_FOUND']);

    h.clock.advance(3601 * 1000);
    const expired = await request(url);
    expect([expired.status, errorCode(expired)]).toEqual([410, 'LINK_EXPIRED']);
    expect((await licenseEvents(l.licenseId)).filter((e) => e.type.startsWith('package.'))).toEqual([]);
  });

  it('serves a link made for a machine fingerprint while that machine is activated', async () => {
    const l = await licensed();
    const fingerprint = 'machine-7f3a9c';
    const result = await h.ctx.licenses.activate({ key: l.key, product: l.product.slug, fingerprint });
    expect(result.code).toBe('VALID');
    const { release, content } = await addRelease(l.product.slug, '1.0.0');
    const url = h.ctx.releases.packageURL({
      licenseId: l.licenseId,
      releaseId: release.id,
      site: null,
      fingerprint,
    });
    const res = await request(url);
    expect(res.status).toBe(200);
    expect(res.body.equals(content)).toBe(true);
    const events = (await licenseEvents(l.licenseId)).filter((e) => e.type === 'package.downloaded');
    expect(events[0]!.detail).toMatchObject({ kind: 'machine', site: fingerprint });
  });
});

describe('package download from S3 storage', () => {
  let s3: LocalS3;
  let hs: Harness;
  beforeAll(async () => {
    s3 = await startS3rver();
    hs = await createHarness();
    await hs.ctx.storage.useS3(s3.settings);
  });
  afterAll(async () => {
    await hs?.close();
    await s3?.stop();
  });

  it('redirects to a presigned URL that yields the package, and records the download', async () => {
    const product = await hs.ctx.products.create({ name: 'S3 plugin', license: { durationDays: null } });
    const order = await hs.ctx.orders.create({
      email: 's3@example.com',
      products: [product.slug],
      source: 'test',
    });
    const issued = order.licenses[0]!;
    await hs.ctx.licenses.activate({ key: issued.key, product: product.slug, siteUrl: SITE });
    const content = randomBytes(70_000);
    const release = await hs.ctx.releases.add({
      product: product.slug,
      version: '1.0.0',
      fileName: 'my-plugin.zip',
      body: Readable.from([content]),
    });
    const url = hs.ctx.releases.packageURL({ licenseId: issued.id, releaseId: release.id, site: SITE });
    const res = await fetch(url, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const location = res.headers.get('location') ?? '';
    expect(location.startsWith(s3.endpoint)).toBe(true);
    expect(location).toContain('X-Amz-Expires=300');
    const fetched = await request(location);
    expect(fetched.status).toBe(200);
    expect(fetched.body.equals(content)).toBe(true);
    const events = (await hs.ctx.licenses.get(issued.id)).events.filter(
      (e) => e.type === 'package.downloaded',
    );
    expect(events.map((e) => e.detail.redirected)).toEqual([true]);
  });
});
