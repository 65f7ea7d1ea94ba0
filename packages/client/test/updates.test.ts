import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../../../tests/helpers/harness.ts';
import { compareVersions, createLicenseClient, type LicenseClientOptions } from '../src/index.ts';
import { buy } from './support.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ CLOUDSECURE_RATE_LIMIT_PER_MINUTE: '100000' });
});
afterAll(async () => {
  await h?.close();
});

function client(options: Partial<LicenseClientOptions> & { product: string }) {
  return createLicenseClient({
    serverUrl: h.url,
    publicKey: h.ctx.licenseSigner.publicKey,
    now: () => h.clock.now(),
    ...options,
  });
}

async function release(product: string, version: string, changelog: string): Promise<void> {
  const body = Buffer.from(`package ${version}`);
  await h.ctx.releases.add({
    product,
    version,
    fileName: `app-${version}.zip`,
    body: Readable.from(body),
    changelog,
  });
}

describe('update check', () => {
  it('offers the newest release with a package link to an activated site', async () => {
    const { product, key } = await buy(h);
    await release(product.slug, '1.0.0', 'First.');
    await release(product.slug, '1.1.0', 'Faster sync.');
    const site = { key, siteUrl: 'https://shop.example.org', version: '1.0.0' };
    const app = client({ product: String(product.item_id), ...site });
    await app.activate();

    const update = await app.checkForUpdate();
    expect(update).toMatchObject({ available: true, version: '1.1.0', name: product.name });
    expect(update.package).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
    expect(update.sections.changelog).toContain('Faster sync.');
    const res = await fetch(update.package ?? '');
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).toString()).toBe('package 1.1.0');

    const current = client({ product: String(product.item_id), ...site, version: '1.1.0' });
    expect(await current.checkForUpdate()).toMatchObject({ available: false, version: '1.1.0' });
    // By slug, the endpoint matches the product by name as EDD does.
    expect(await client({ product: product.slug, ...site }).checkForUpdate()).toMatchObject({
      available: true,
      version: '1.1.0',
    });
  });

  it('announces the update without a package to a site that is not activated', async () => {
    const { product, key } = await buy(h);
    await release(product.slug, '2.0.0', 'Major.');
    const app = client({
      product: String(product.item_id),
      key,
      siteUrl: 'https://other.example.org',
      version: '1.0.0',
    });
    const update = await app.checkForUpdate();
    expect(update).toMatchObject({ available: true, version: '2.0.0', package: null });
    expect(update.message).toMatch(/not active/);
  });

  it('offers a package to an activated machine, as desktop apps activate machines rather than sites', async () => {
    const { product, key } = await buy(h);
    await release(product.slug, '1.5.0', 'Desktop build.');
    const app = client({
      product: String(product.item_id),
      key,
      fingerprint: 'desk-update',
      version: '1.0.0',
    });
    await app.activate();
    const update = await app.checkForUpdate();
    expect(update).toMatchObject({ available: true, version: '1.5.0' });
    expect(update.package).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
    const res = await fetch(update.package ?? '');
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).toString()).toBe('package 1.5.0');
    const other = client({
      product: String(product.item_id),
      key,
      fingerprint: 'desk-other',
      version: '1.0.0',
    });
    expect(await other.checkForUpdate()).toMatchObject({ available: true, package: null });
  });

  it('compares versions numerically, a pre-release before its release', () => {
    expect(compareVersions('1.10.0', '1.9.2')).toBe(1);
    expect(compareVersions('2.0.0-beta.1', '2.0.0')).toBe(-1);
    expect(compareVersions('v1.2', '1.2.0')).toBe(0);
    expect(compareVersions('1.2.3', '1.2.4')).toBe(-1);
  });
});
