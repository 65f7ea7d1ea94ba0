import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUnitOfWork } from '../src/adapters/db/unit-of-work.ts';
import type { Customer, Grant, Order, Product, ProductFile } from '../src/domain/model.ts';
import type { NewDownloadEvent, Repositories, UnitOfWork } from '../src/domain/ports.ts';
import { createHarness, DIALECT, type Harness } from './helpers/harness.ts';

let h: Harness;
let uow: UnitOfWork;
let repos: Repositories;
beforeAll(async () => {
  h = await createHarness();
  uow = createUnitOfWork(h.ctx.database.db, h.ctx.database.dialect);
  repos = uow.repos;
});
afterAll(async () => {
  await h.close();
});

const T0 = Date.parse('2030-06-01T00:00:00.000Z');
const at = (ms: number): string => new Date(T0 + ms).toISOString();
const MINUTE = 60_000;

function product(changes: Partial<Product> = {}): Product {
  const id = randomUUID();
  return {
    id,
    slug: `p-${id.slice(0, 8)}`,
    name: 'Product',
    downloadLimit: 5,
    itemId: null,
    licensePolicy: null,
    watermark: null,
    linkTtlSeconds: 86_400,
    accessDays: 30,
    createdAt: at(0),
    ...changes,
  };
}

function file(productId: string, changes: Partial<ProductFile> = {}): ProductFile {
  return {
    id: randomUUID(),
    productId,
    name: 'book.pdf',
    size: 1234,
    sha256: 'a'.repeat(64),
    contentType: 'application/pdf',
    storage: 'local',
    objectKey: randomUUID(),
    createdAt: at(0),
    ...changes,
  };
}

function customer(changes: Partial<Customer> = {}): Customer {
  return { id: randomUUID(), email: `${randomUUID()}@example.com`, name: null, createdAt: at(0), ...changes };
}

function order(customerId: string, changes: Partial<Order> = {}): Order {
  return { id: randomUUID(), customerId, source: 'manual', externalId: null, createdAt: at(0), ...changes };
}

/** A product with one file, bought by a new customer: the rows a grant's usage refers to. */
async function purchased(downloadLimit = 2): Promise<{ grant: Grant; file: ProductFile }> {
  const p = product({ downloadLimit });
  const f = file(p.id);
  const c = await repos.customers.upsertByEmail(customer());
  const o = order(c.id);
  await repos.products.insert(p);
  await repos.files.insert(f);
  await repos.orders.insert(o);
  const grant: Grant = {
    id: randomUUID(),
    orderId: o.id,
    productId: p.id,
    customerId: c.id,
    downloadLimit,
    linkTtlSeconds: p.linkTtlSeconds,
    accessUntil: null,
    revokedAt: null,
    createdAt: at(0),
  };
  await repos.grants.insert(grant);
  return { grant, file: f };
}

function event(changes: Partial<NewDownloadEvent> = {}): NewDownloadEvent {
  return {
    at: at(0),
    grantId: randomUUID(),
    fileId: randomUUID(),
    orderId: randomUUID(),
    customerId: randomUUID(),
    ip: '203.0.113.9',
    userAgent: 'curl/8',
    bytes: null,
    status: 'started',
    counted: true,
    range: null,
    ...changes,
  };
}

describe(`products on ${DIALECT}`, () => {
  it('inserts a product and finds it by slug and by id', async () => {
    const p = product();
    expect(await repos.products.insert(p)).toBe(true);
    expect(await repos.products.findBySlugOrId(p.slug)).toEqual(p);
    expect(await repos.products.findBySlugOrId(p.id)).toEqual(p);
    expect(await repos.products.findById(p.id)).toEqual(p);
  });

  it('returns false instead of throwing when the slug is taken, and keeps the first product', async () => {
    const first = product();
    const second = product({ slug: first.slug, name: 'Impostor' });
    expect(await repos.products.insert(first)).toBe(true);
    expect(await repos.products.insert(second)).toBe(false);
    expect((await repos.products.findBySlugOrId(first.slug))?.id).toBe(first.id);
    expect(await repos.products.findById(second.id)).toBeUndefined();
  });
});

describe(`files on ${DIALECT}`, () => {
  it('round-trips a file size over 4 GiB as a number', async () => {
    const p = product();
    await repos.products.insert(p);
    const big = file(p.id, { size: 5_000_000_000 });
    await repos.files.insert(big);
    const found = await repos.files.findById(big.id);
    expect(found?.size).toBe(5_000_000_000);
    expect(typeof found?.size).toBe('number');
    expect(found).toEqual(big);
    expect((await repos.files.listByProduct(p.id)).map((f) => f.size)).toEqual([5_000_000_000]);
  });

  it('finds nothing for an id that is not a UUID', async () => {
    expect(await repos.files.findById("' OR 1=1 --")).toBeUndefined();
  });
});

describe(`customers on ${DIALECT}`, () => {
  it('returns the same customer for the same e-mail', async () => {
    const first = await repos.customers.upsertByEmail(customer({ email: 'same@example.com' }));
    const again = await repos.customers.upsertByEmail(customer({ email: 'same@example.com' }));
    expect(again.id).toBe(first.id);
    expect(await repos.customers.findById(again.id)).toEqual(first);
  });

  it('fills in a missing name but never overwrites a known one', async () => {
    const email = `${randomUUID()}@example.com`;
    const first = await repos.customers.upsertByEmail(customer({ email, name: null }));
    const named = await repos.customers.upsertByEmail(customer({ email, name: 'Ada' }));
    expect(named).toEqual({ ...first, name: 'Ada' });
    const renamed = await repos.customers.upsertByEmail(customer({ email, name: 'Eve' }));
    expect(renamed.name).toBe('Ada');
    expect((await repos.customers.findById(first.id))?.name).toBe('Ada');
  });
});

describe(`orders on ${DIALECT}`, () => {
  it('refuses a second order with the same source and external id', async () => {
    const c = await repos.customers.upsertByEmail(customer());
    const first = order(c.id, { source: 'woocommerce', externalId: 'wc-1001' });
    expect(await repos.orders.insert(first)).toBe(true);
    expect(await repos.orders.insert(order(c.id, { source: 'woocommerce', externalId: 'wc-1001' }))).toBe(
      false,
    );
    expect(await repos.orders.findByExternalId('woocommerce', 'wc-1001')).toEqual(first);
  });

  it('allows the same external id from another source, and any number of orders without one', async () => {
    const c = await repos.customers.upsertByEmail(customer());
    expect(await repos.orders.insert(order(c.id, { source: 'woocommerce', externalId: 'shared-7' }))).toBe(
      true,
    );
    expect(await repos.orders.insert(order(c.id, { source: 'stripe', externalId: 'shared-7' }))).toBe(true);
    expect(await repos.orders.insert(order(c.id, { externalId: null }))).toBe(true);
    expect(await repos.orders.insert(order(c.id, { externalId: null }))).toBe(true);
  });

  it('records an idempotency key once', async () => {
    const key = randomUUID();
    expect(await repos.orders.saveIdempotencyKey(key, 'hash-1', randomUUID(), at(0))).toBe(true);
    expect(await repos.orders.saveIdempotencyKey(key, 'hash-2', randomUUID(), at(0))).toBe(false);
    expect((await repos.orders.findIdempotencyKey(key))?.requestHash).toBe('hash-1');
  });
});

describe(`download limits on ${DIALECT}`, () => {
  it('uses downloads until the limit and then refuses without counting', async () => {
    const { grant, file: f } = await purchased(2);
    expect(await repos.grants.tryUseDownload(grant.id, f.id, 2)).toBe(true);
    expect(await repos.grants.tryUseDownload(grant.id, f.id, 2)).toBe(true);
    expect(await repos.grants.tryUseDownload(grant.id, f.id, 2)).toBe(false);
    expect(await repos.grants.tryUseDownload(grant.id, f.id, 2)).toBe(false);
    expect(await repos.grants.usage(grant.id)).toEqual(new Map([[f.id, 2]]));
  });

  it('never stops with limit 0 (unlimited)', async () => {
    const { grant, file: f } = await purchased(0);
    for (let i = 0; i < 25; i++) expect(await repos.grants.tryUseDownload(grant.id, f.id, 0)).toBe(true);
    expect(await repos.grants.usage(grant.id)).toEqual(new Map([[f.id, 25]]));
  });

  it('lets exactly `limit` of many concurrent attempts through', async () => {
    const { grant, file: f } = await purchased(5);
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        uow.transaction((trx) => trx.grants.tryUseDownload(grant.id, f.id, 5)),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(5);
    expect(await repos.grants.usage(grant.id)).toEqual(new Map([[f.id, 5]]));
  });

  it('gives the full allowance back on resetUsage', async () => {
    const { grant, file: f } = await purchased(1);
    expect(await repos.grants.tryUseDownload(grant.id, f.id, 1)).toBe(true);
    expect(await repos.grants.tryUseDownload(grant.id, f.id, 1)).toBe(false);
    await repos.grants.resetUsage(grant.id);
    expect(await repos.grants.usage(grant.id)).toEqual(new Map([[f.id, 0]]));
    expect(await repos.grants.tryUseDownload(grant.id, f.id, 1)).toBe(true);
  });

  it('updates revocation and access end of a grant', async () => {
    const { grant } = await purchased(1);
    await repos.grants.update(grant.id, { revokedAt: at(MINUTE), accessUntil: at(2 * MINUTE) });
    expect(await repos.grants.findById(grant.id)).toEqual({
      ...grant,
      revokedAt: at(MINUTE),
      accessUntil: at(2 * MINUTE),
    });
    await repos.grants.update(grant.id, { revokedAt: null });
    expect((await repos.grants.findById(grant.id))?.revokedAt).toBeNull();
  });
});

describe(`download events on ${DIALECT}`, () => {
  it('finds a counted download from the same IP at or after the given time only', async () => {
    const e = event({ at: at(10 * MINUTE) });
    await repos.downloads.insert(e);
    const has = (ip: string | null, since: string, fileId = e.fileId): Promise<boolean> =>
      repos.downloads.hasCountedSince(e.grantId, fileId, ip, since);
    expect(await has(e.ip, at(0))).toBe(true);
    expect(await has(e.ip, at(10 * MINUTE))).toBe(true);
    expect(await has(e.ip, at(10 * MINUTE + 1))).toBe(false);
    expect(await has('203.0.113.10', at(0))).toBe(false);
    expect(await has(null, at(0))).toBe(false);
    expect(await has(e.ip, at(0), randomUUID())).toBe(false);
  });

  it('ignores downloads that were not counted', async () => {
    const e = event({ counted: false, range: 'bytes=0-99' });
    await repos.downloads.insert(e);
    expect(await repos.downloads.hasCountedSince(e.grantId, e.fileId, e.ip, at(-MINUTE))).toBe(false);
  });

  it('stores bytes over 4 GiB and the outcome when a download finishes', async () => {
    const e = event();
    const id = await repos.downloads.insert(e);
    await repos.downloads.finish(id, 5_000_000_000, 'completed');
    const [stored] = await repos.downloads.list({ grantId: e.grantId });
    expect(stored).toEqual({ ...e, id, bytes: 5_000_000_000, status: 'completed' });
  });

  it('erases only the IPs of events older than the cut-off', async () => {
    const grantId = randomUUID();
    const old1 = await repos.downloads.insert(event({ grantId, at: at(-2 * MINUTE) }));
    const old2 = await repos.downloads.insert(event({ grantId, at: at(-MINUTE), ip: '2001:db8::5' }));
    const recent = await repos.downloads.insert(event({ grantId, at: at(0) }));
    const cutoff = at(-30_000);
    const changed = await repos.downloads.forgetIpsBefore(cutoff);
    expect(changed).toBeGreaterThanOrEqual(2);
    const ips = new Map((await repos.downloads.list({ grantId })).map((e) => [e.id, e.ip]));
    expect(ips).toEqual(
      new Map([
        [old1, null],
        [old2, null],
        [recent, '203.0.113.9'],
      ]),
    );
    expect(await repos.downloads.forgetIpsBefore(cutoff)).toBe(0);
  });

  it('filters the log by order, customer and IP', async () => {
    const orderId = randomUUID();
    const customerId = randomUUID();
    await repos.downloads.insert(event({ orderId, customerId, ip: '198.51.100.1', at: at(1) }));
    await repos.downloads.insert(event({ orderId, customerId, ip: '198.51.100.2', at: at(2) }));
    expect((await repos.downloads.list({ orderId })).map((e) => e.ip)).toEqual([
      '198.51.100.2',
      '198.51.100.1',
    ]);
    expect(await repos.downloads.list({ customerId, ip: '198.51.100.1' })).toHaveLength(1);
  });
});

describe(`settings, secrets and tokens on ${DIALECT}`, () => {
  it('upserts a setting', async () => {
    const key = `test.${randomUUID()}`;
    expect(await repos.settings.get(key)).toBeUndefined();
    await repos.settings.set(key, 'one');
    await repos.settings.set(key, 'two');
    expect(await repos.settings.get(key)).toBe('two');
  });

  it('upserts a secret in place', async () => {
    const id = randomUUID();
    await repos.secrets.upsert({ id, purpose: 'storage', ciphertext: 'v1.a', hint: '••••1' });
    await repos.secrets.upsert({ id, purpose: 'storage', ciphertext: 'v1.b', hint: '••••2' });
    expect(await repos.secrets.findById(id)).toEqual({
      id,
      purpose: 'storage',
      ciphertext: 'v1.b',
      hint: '••••2',
    });
  });

  it('finds an API token by its hash only', async () => {
    const token = { id: randomUUID(), name: 'ci', createdAt: at(0) };
    const hash = randomUUID().replaceAll('-', '');
    await repos.tokens.insert(token, hash);
    expect(await repos.tokens.findByHash(hash)).toEqual(token);
    expect(await repos.tokens.findByHash(hash.toUpperCase())).toBeUndefined();
  });
});

describe(`unit of work on ${DIALECT}`, () => {
  it('rolls back every write of a failed transaction', async () => {
    const p = product();
    await expect(
      uow.transaction(async (trx) => {
        await trx.products.insert(p);
        await trx.settings.set(`tx.${p.id}`, 'x');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await repos.products.findById(p.id)).toBeUndefined();
    expect(await repos.settings.get(`tx.${p.id}`)).toBeUndefined();
  });
});

describe(`migrations on ${DIALECT}`, () => {
  it('applies nothing when run again', async () => {
    expect(await h.ctx.database.migrate()).toEqual([]);
    expect(await h.ctx.database.migrate()).toEqual([]);
  });
});
