import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { request } from 'node:http';
import { dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purchase } from './helpers/fixtures.ts';
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

interface ApiResponse {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

type Json = Record<string, unknown>;

/** One admin API call with the test token; the body (if any) is sent as JSON. */
async function api(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  harness: Harness = h,
  authorization: string = auth,
): Promise<ApiResponse> {
  const res = await fetch(`${harness.url}${path}`, {
    method,
    headers: {
      authorization,
      accept: 'application/json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Json) : {}, headers: res.headers };
}

function errorCode(res: ApiResponse): string | undefined {
  return (res.body.error as { code?: string } | undefined)?.code;
}

function uniqueName(prefix: string): string {
  return `${prefix} ${randomBytes(4).toString('hex')}`;
}

/** A raw HTTP response read in full. */
interface RawResponse {
  status: number;
  text: string;
}

/**
 * Uploads `chunks` over node:http, one write per chunk (chunked transfer encoding unless a
 * Content-Length is given). Resolves with the response even when the server answers before the body
 * is complete; a reset after the response arrived is not an error.
 */
function rawUpload(
  harness: Harness,
  authorization: string,
  path: string,
  chunks: Buffer[],
  options: { contentLength?: number } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, harness.url);
    const req = request(url, {
      method: 'POST',
      headers: {
        authorization,
        accept: 'application/json',
        'content-type': 'application/octet-stream',
        ...(options.contentLength === undefined ? {} : { 'content-length': String(options.contentLength) }),
      },
    });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    const write = async (): Promise<void> => {
      for (const chunk of chunks) {
        if (answered || req.destroyed) return;
        const ok = req.write(chunk);
        if (!ok) await new Promise<void>((r) => req.once('drain', () => r()));
        // Let the event loop run so that each chunk goes out on its own.
        await new Promise<void>((r) => setImmediate(r));
      }
      if (!req.destroyed) req.end();
    };
    write().catch(() => undefined);
  });
}

async function createProduct(body: Json): Promise<Json> {
  const res = await api('POST', '/api/v1/products', body);
  expect(res.status).toBe(201);
  return res.body;
}

/** A product with one uploaded file and an order for it. */
async function productWithOrder(email = 'buyer@example.com'): Promise<{
  slug: string;
  content: Buffer;
  order: Json;
}> {
  const product = await createProduct({ name: uniqueName('Bundle') });
  const slug = product.slug as string;
  const content = randomBytes(32 * 1024);
  const up = await fetch(`${h.url}/api/v1/products/${slug}/files?name=bundle.zip`, {
    method: 'POST',
    headers: { authorization: auth, 'content-type': 'application/octet-stream' },
    body: content,
  });
  expect(up.status).toBe(201);
  const order = await api('POST', '/api/v1/orders', { email, products: [slug] });
  expect(order.status).toBe(201);
  return { slug, content, order: order.body };
}

interface Link {
  grant_id: string;
  url: string;
  access_url: string;
  expires_at: string | null;
  downloads_left: number | null;
}

function firstLink(order: Json): Link {
  const downloads = order.downloads as Link[];
  expect(downloads.length).toBeGreaterThan(0);
  return downloads[0]!;
}

/** Every file under `dir`, as paths relative to it. */
async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

describe('admin API authentication', () => {
  it('refuses a request without a token with 401 UNAUTHORIZED', async () => {
    const res = await fetch(`${h.url}/api/v1/products`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');
  });

  it('refuses a well-formed but unknown token with 401 UNAUTHORIZED', async () => {
    const wrong = `Bearer cs_${randomBytes(32).toString('base64url')}`;
    const res = await api('GET', '/api/v1/products', undefined, {}, h, wrong);
    expect(res.status).toBe(401);
    expect(errorCode(res)).toBe('UNAUTHORIZED');
  });

  it('refuses malformed Authorization headers with 401 UNAUTHORIZED', async () => {
    const token = auth.slice('Bearer '.length);
    for (const header of [token, `Basic ${token}`, 'Bearer', `Bearer ${token} extra`, `Bearer ${token}x`]) {
      const res = await api('GET', '/api/v1/products', undefined, {}, h, header);
      expect(res.status, header).toBe(401);
      expect(errorCode(res)).toBe('UNAUTHORIZED');
    }
  });

  it('accepts a valid bearer token', async () => {
    const res = await api('GET', '/api/v1/products');
    expect(res.status).toBe(200);
    expect(Array.isArray(res.body.products)).toBe(true);
  });

  it('stores tokens only as hashes', async () => {
    const { token } = await h.ctx.tokens.create({ name: 'hash-check' });
    const rows = await h.ctx.database.db.selectFrom('api_tokens').selectAll().execute();
    const dump = JSON.stringify(rows);
    expect(dump).not.toContain(token);
    expect(dump).not.toContain(token.slice(3));
    expect(rows.map((r) => r.token_hash)).toContain(createHash('sha256').update(token).digest('hex'));
  });
});

describe('admin API products', () => {
  it('creates a product with the default limits and a slug derived from the name', async () => {
    const name = uniqueName('Über Guide');
    const res = await api('POST', '/api/v1/products', { name });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      name,
      slug: `uber-guide-${name.slice(-8)}`,
      download_limit: 5,
      link_ttl_seconds: 86400,
      access_days: 30,
      files: [],
    });
    expect(res.body.id).toEqual(expect.any(String));
  });

  it('accepts link_ttl as a duration or as seconds', async () => {
    const byDuration = await createProduct({ name: uniqueName('TTL a'), link_ttl: '15m' });
    expect(byDuration.link_ttl_seconds).toBe(900);
    const bySeconds = await createProduct({
      name: uniqueName('TTL b'),
      link_ttl: 90,
      download_limit: 0,
      access_days: 7,
    });
    expect(bySeconds).toMatchObject({ link_ttl_seconds: 90, download_limit: 0, access_days: 7 });
  });

  it('refuses a duplicate slug with 409 SLUG_TAKEN', async () => {
    const slug = `dup-${randomBytes(3).toString('hex')}`;
    await createProduct({ name: 'First', slug });
    const res = await api('POST', '/api/v1/products', { name: 'Second', slug });
    expect(res.status).toBe(409);
    expect(errorCode(res)).toBe('SLUG_TAKEN');
  });

  it('refuses an invalid slug with 400 INVALID_REQUEST naming the field', async () => {
    for (const slug of ['Bad Slug', '-lead', 'trail-', 'a/b', 'x'.repeat(65)]) {
      const res = await api('POST', '/api/v1/products', { name: 'Bad', slug });
      expect(res.status, slug).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'INVALID_REQUEST', detail: { path: 'slug' } });
    }
  });

  it('lists products and gets one by slug and by id', async () => {
    const product = await createProduct({ name: uniqueName('Listed') });
    const list = await api('GET', '/api/v1/products');
    expect(list.status).toBe(200);
    expect((list.body.products as Json[]).map((p) => p.id)).toContain(product.id);
    const bySlug = await api('GET', `/api/v1/products/${product.slug as string}`);
    expect(bySlug.status).toBe(200);
    expect(bySlug.body).toEqual(product);
    const byId = await api('GET', `/api/v1/products/${product.id as string}`);
    expect(byId.status).toBe(200);
    expect(byId.body).toEqual(product);
  });

  it('answers 404 NOT_FOUND for an unknown product', async () => {
    const res = await api('GET', '/api/v1/products/no-such-product');
    expect(res.status).toBe(404);
    expect(errorCode(res)).toBe('NOT_FOUND');
  });
});

describe('streaming file upload', () => {
  it('stores a chunked multi-megabyte body and serves it byte-identical through an order link', async () => {
    const product = await createProduct({ name: uniqueName('Big') });
    const slug = product.slug as string;
    const chunks = Array.from({ length: 48 }, () => randomBytes(64 * 1024)); // 3 MiB, no Content-Length
    const content = Buffer.concat(chunks);
    const res = await rawUpload(h, auth, `/api/v1/products/${slug}/files?name=big.bin`, chunks);
    expect(res.status).toBe(201);
    const file = JSON.parse(res.text) as Json;
    expect(file).toMatchObject({
      name: 'big.bin',
      size: content.length,
      sha256: createHash('sha256').update(content).digest('hex'),
    });

    const order = await api('POST', '/api/v1/orders', { email: 'big@example.com', products: [slug] });
    expect(order.status).toBe(201);
    const download = await fetch(firstLink(order.body).url);
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer()).equals(content)).toBe(true);
  });

  it('accepts a fetch ReadableStream body sent half-duplex', async () => {
    const product = await createProduct({ name: uniqueName('Stream') });
    const chunks = Array.from({ length: 16 }, () => randomBytes(128 * 1024));
    let i = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const chunk = chunks[i++];
        if (chunk) controller.enqueue(new Uint8Array(chunk));
        else controller.close();
      },
    });
    const init: RequestInit & { duplex: 'half' } = {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/octet-stream' },
      body,
      duplex: 'half',
    };
    const res = await fetch(`${h.url}/api/v1/products/${product.slug as string}/files?name=stream.bin`, init);
    expect(res.status).toBe(201);
    const content = Buffer.concat(chunks);
    expect(await res.json()).toMatchObject({
      size: content.length,
      sha256: createHash('sha256').update(content).digest('hex'),
    });
  });

  it('keeps path traversal and control characters out of file names and off the disk', async () => {
    const product = await createProduct({ name: uniqueName('Traversal') });
    const slug = product.slug as string;
    const filesDir = join(h.dataDir, 'files');
    const outsideBefore = (await listTree(h.dataDir)).filter((p) => !p.startsWith(`files${'/'}`));
    const parentBefore = (await readdir(dirname(h.dataDir))).sort();

    const cases: [string, string][] = [
      ['../../etc/passwd', 'passwd'],
      ['..\\..\\boot.ini', 'boot.ini'],
      ['/absolute/evil.sh', 'evil.sh'],
      ['re\u0000port\u001b[31m\u0007.pdf', 'report[31m.pdf'],
      ['line\r\nbreak.txt', 'linebreak.txt'],
      ['../..', 'file'],
      ['\u0001\u0002', 'file'],
      ['...', 'file'],
    ];
    for (const [raw, expected] of cases) {
      const res = await fetch(`${h.url}/api/v1/products/${slug}/files?name=${encodeURIComponent(raw)}`, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/octet-stream' },
        body: Buffer.from(`content of ${raw}`),
      });
      expect(res.status, JSON.stringify(raw)).toBe(201);
      const file = (await res.json()) as { name: string };
      expect(file.name).toBe(expected);
      expect(file.name).not.toMatch(/[/\\]|^\./);
      // biome-ignore lint/suspicious/noControlCharactersInRegex: asserting control characters are gone
      expect(file.name).not.toMatch(/[\u0000-\u001f\u007f]/);
    }

    const outsideAfter = (await listTree(h.dataDir)).filter((p) => !p.startsWith(`files${'/'}`));
    expect(outsideAfter).toEqual(outsideBefore);
    const parentNew = (await readdir(dirname(h.dataDir))).filter((n) => !parentBefore.includes(n));
    for (const name of ['passwd', 'boot.ini', 'etc', 'evil.sh', 'absolute']) {
      expect(parentNew).not.toContain(name);
    }
    // Objects are stored only under opaque keys: files/f/<uuid>.
    for (const stored of await listTree(filesDir)) {
      expect(stored).toMatch(/^f\/[0-9a-f-]{36}$/);
    }
  });
});

describe('upload size limit', () => {
  let small: Harness;
  let smallAuth: string;
  beforeAll(async () => {
    small = await createHarness({ CLOUDSECURE_MAX_UPLOAD_BYTES: '1000' });
    smallAuth = await small.adminAuth();
  });
  afterAll(async () => {
    await small?.close();
  });

  async function fileRows(): Promise<number> {
    return (await small.ctx.database.db.selectFrom('files').select('id').execute()).length;
  }

  it('accepts a body at the limit', async () => {
    const product = await api(
      'POST',
      '/api/v1/products',
      { name: uniqueName('Small') },
      {},
      small,
      smallAuth,
    );
    const res = await rawUpload(
      small,
      smallAuth,
      `/api/v1/products/${product.body.slug as string}/files?name=ok.bin`,
      [randomBytes(1000)],
    );
    expect(res.status).toBe(201);
  });

  it('refuses a declared Content-Length over the limit with 413 and stores nothing', async () => {
    const product = await api(
      'POST',
      '/api/v1/products',
      { name: uniqueName('Small') },
      {},
      small,
      smallAuth,
    );
    const before = await fileRows();
    const body = randomBytes(5000);
    const res = await rawUpload(
      small,
      smallAuth,
      `/api/v1/products/${product.body.slug as string}/files?name=big.bin`,
      [body],
      { contentLength: body.length },
    );
    expect(res.status).toBe(413);
    expect((JSON.parse(res.text) as { error: { code: string } }).error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(await fileRows()).toBe(before);
  });

  it('refuses a chunked body that grows over the limit with 413 and stores nothing', async () => {
    const product = await api(
      'POST',
      '/api/v1/products',
      { name: uniqueName('Small') },
      {},
      small,
      smallAuth,
    );
    const before = await fileRows();
    const chunks = Array.from({ length: 10 }, () => randomBytes(400));
    const res = await rawUpload(
      small,
      smallAuth,
      `/api/v1/products/${product.body.slug as string}/files?name=big.bin`,
      chunks,
    );
    expect(res.status).toBe(413);
    expect((JSON.parse(res.text) as { error: { code: string } }).error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(await fileRows()).toBe(before);
    // Nothing but completed objects under files/: no partial left behind.
    const stored = await listTree(join(small.dataDir, 'files')).catch(() => []);
    expect(stored.length).toBe(before);
  });
});

describe('admin API orders', () => {
  it('creates an order with customer, grants and download links', async () => {
    const { slug, order } = await productWithOrder('Ada@Example.com');
    expect(order.order).toMatchObject({ id: expect.any(String), source: 'api', external_id: null });
    expect(order.customer).toMatchObject({ email: 'ada@example.com' });
    expect(order.grants).toEqual([expect.objectContaining({ product: slug, status: 'active' })]);
    const link = firstLink(order);
    expect(link.url).toMatch(new RegExp(`^${h.url}/d/[A-Za-z0-9_-]+$`));
    expect(link.access_url).toMatch(new RegExp(`^${h.url}/a/[A-Za-z0-9_-]+$`));
    expect(Number.isNaN(Date.parse(link.expires_at ?? ''))).toBe(false);
    expect(link.downloads_left).toBe(5);
  });

  it('returns the same order with 200 for a repeated Idempotency-Key and body', async () => {
    const { slug } = await productWithOrder();
    const key = `idem-${randomBytes(6).toString('hex')}`;
    const body = { email: 'idem@example.com', products: [slug] };
    const first = await api('POST', '/api/v1/orders', body, { 'idempotency-key': key });
    expect(first.status).toBe(201);
    const again = await api('POST', '/api/v1/orders', body, { 'idempotency-key': key });
    expect(again.status).toBe(200);
    expect((again.body.order as Json).id).toBe((first.body.order as Json).id);
  });

  it('refuses the same Idempotency-Key with a different body with 422', async () => {
    const { slug } = await productWithOrder();
    const key = `idem-${randomBytes(6).toString('hex')}`;
    const first = await api(
      'POST',
      '/api/v1/orders',
      { email: 'one@example.com', products: [slug] },
      { 'idempotency-key': key },
    );
    expect(first.status).toBe(201);
    const other = await api(
      'POST',
      '/api/v1/orders',
      { email: 'two@example.com', products: [slug] },
      { 'idempotency-key': key },
    );
    expect(other.status).toBe(422);
    expect(errorCode(other)).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  it('creates exactly one order for ten concurrent requests with the same Idempotency-Key', async () => {
    const { slug } = await productWithOrder();
    const key = `idem-${randomBytes(6).toString('hex')}`;
    const body = { email: 'race@example.com', products: [slug] };
    const results = await Promise.all(
      Array.from({ length: 10 }, () => api('POST', '/api/v1/orders', body, { 'idempotency-key': key })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
    const ids = new Set(results.map((r) => (r.body.order as Json).id));
    expect(ids.size).toBe(1);
    const rows = await h.ctx.database.db
      .selectFrom('orders')
      .innerJoin('customers', 'customers.id', 'orders.customer_id')
      .where('customers.email', '=', 'race@example.com')
      .select('orders.id')
      .execute();
    expect(rows.length).toBe(1);
  });

  it('returns the same order for the same external_id', async () => {
    const { slug } = await productWithOrder();
    const external = `ext-${randomBytes(6).toString('hex')}`;
    const body = { email: 'ext@example.com', products: [slug], external_id: external };
    const first = await api('POST', '/api/v1/orders', body);
    const second = await api('POST', '/api/v1/orders', body);
    expect(first.status).toBe(201);
    expect(second.status).toBe(200);
    expect((second.body.order as Json).id).toBe((first.body.order as Json).id);
    expect((first.body.order as Json).external_id).toBe(external);
  });

  it('answers 404 for an unknown product and 400 for a bad email', async () => {
    const unknown = await api('POST', '/api/v1/orders', { email: 'x@example.com', products: ['nope-nope'] });
    expect(unknown.status).toBe(404);
    expect(errorCode(unknown)).toBe('NOT_FOUND');
    const { slug } = await productWithOrder();
    for (const email of ['not-an-email', 'a@b', 'two@@example.com', 'sp ace@example.com']) {
      const bad = await api('POST', '/api/v1/orders', { email, products: [slug] });
      expect(bad.status, email).toBe(400);
      expect(bad.body.error).toMatchObject({ code: 'INVALID_REQUEST', detail: { path: 'email' } });
    }
  });

  it('lists orders newest first with a limit and gets one by id', async () => {
    const a = await productWithOrder();
    const b = await productWithOrder();
    const list = await api('GET', '/api/v1/orders?limit=500');
    expect(list.status).toBe(200);
    const ids = (list.body.orders as Json[]).map((o) => o.id);
    expect(ids).toContain((a.order.order as Json).id);
    expect(ids).toContain((b.order.order as Json).id);
    const limited = await api('GET', '/api/v1/orders?limit=1');
    expect((limited.body.orders as Json[]).length).toBe(1);

    const id = (a.order.order as Json).id as string;
    const got = await api('GET', `/api/v1/orders/${id}`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ order: { id }, customer: a.order.customer, created: false });
    expect((got.body.downloads as Link[]).length).toBe(1);

    const missing = await api('GET', '/api/v1/orders/00000000-0000-0000-0000-000000000000');
    expect(missing.status).toBe(404);
    expect(errorCode(missing)).toBe('NOT_FOUND');
  });
});

describe('admin API grants', () => {
  it('gets a grant and revokes it so that its link answers 403', async () => {
    const { order } = await productWithOrder();
    const link = firstLink(order);
    const got = await api('GET', `/api/v1/grants/${link.grant_id}`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id: link.grant_id, status: 'active', revoked_at: null });

    const revoked = await api('POST', `/api/v1/grants/${link.grant_id}/revoke`);
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ status: 'GRANT_REVOKED', revoked_at: expect.any(String) });
    const res = await fetch(link.url, { headers: { accept: 'application/json' } });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('GRANT_REVOKED');
  });

  it('extends the access period by the given days', async () => {
    const { order } = await productWithOrder();
    const link = firstLink(order);
    const before = (await api('GET', `/api/v1/grants/${link.grant_id}`)).body.access_expires_at as string;
    const extended = await api('POST', `/api/v1/grants/${link.grant_id}/extend`, { days: 10 });
    expect(extended.status).toBe(200);
    const after = extended.body.access_expires_at as string;
    expect(Date.parse(after) - Date.parse(before)).toBe(10 * 86_400_000);
    const bad = await api('POST', `/api/v1/grants/${link.grant_id}/extend`, { days: 0 });
    expect(bad.status).toBe(400);
  });

  it('resets used downloads and mints fresh links', async () => {
    const { order, content } = await productWithOrder();
    const link = firstLink(order);
    const download = await fetch(link.url);
    expect(Buffer.from(await download.arrayBuffer()).equals(content)).toBe(true);

    const used = await api('POST', `/api/v1/grants/${link.grant_id}/links`);
    expect(used.status).toBe(200);
    expect((used.body.downloads as Link[])[0]!.downloads_left).toBe(4);

    const reset = await api('POST', `/api/v1/grants/${link.grant_id}/reset`);
    expect(reset.status).toBe(200);
    expect(reset.body).toMatchObject({ id: link.grant_id, status: 'active' });

    const fresh = await api('POST', `/api/v1/grants/${link.grant_id}/links`);
    const freshLink = (fresh.body.downloads as Link[])[0]!;
    expect(freshLink.downloads_left).toBe(5);
    const again = await fetch(freshLink.url);
    expect(again.status).toBe(200);
    expect(Buffer.from(await again.arrayBuffer()).equals(content)).toBe(true);
  });

  it('answers 404 for an unknown grant on every grant route', async () => {
    const id = '00000000-0000-0000-0000-000000000000';
    const calls: [string, string, unknown][] = [
      ['GET', `/api/v1/grants/${id}`, undefined],
      ['POST', `/api/v1/grants/${id}/revoke`, undefined],
      ['POST', `/api/v1/grants/${id}/reset`, undefined],
      ['POST', `/api/v1/grants/${id}/extend`, { days: 1 }],
      ['POST', `/api/v1/grants/${id}/links`, undefined],
    ];
    for (const [method, path, body] of calls) {
      const res = await api(method, path, body);
      expect(res.status, path).toBe(404);
      expect(errorCode(res)).toBe('NOT_FOUND');
    }
  });
});

describe('admin API download events', () => {
  it('filters download events by order, grant, customer and IP', async () => {
    const a = await productWithOrder('events-a@example.com');
    const b = await productWithOrder('events-b@example.com');
    const linkA = firstLink(a.order);
    const linkB = firstLink(b.order);
    await (await fetch(linkA.url, { headers: { 'user-agent': 'events-test/1' } })).arrayBuffer();
    await (await fetch(linkB.url)).arrayBuffer();

    const orderId = (a.order.order as Json).id as string;
    const byOrder = await api('GET', `/api/v1/downloads?order_id=${orderId}`);
    expect(byOrder.status).toBe(200);
    const events = byOrder.body.downloads as Json[];
    expect(events.length).toBe(1);
    expect(events[0]).toMatchObject({
      order_id: orderId,
      grant_id: linkA.grant_id,
      file: 'bundle.zip',
      user_agent: 'events-test/1',
      counted: true,
    });
    const ip = events[0]!.ip as string;
    expect(ip).toMatch(/127\.0\.0\.1$/);

    const byGrant = await api('GET', `/api/v1/downloads?grant_id=${linkA.grant_id}`);
    expect((byGrant.body.downloads as Json[]).map((e) => e.id)).toEqual([events[0]!.id]);

    const customerId = (a.order.customer as Json).id as string;
    const byCustomer = await api('GET', `/api/v1/downloads?customer_id=${customerId}`);
    expect((byCustomer.body.downloads as Json[]).every((e) => e.customer_id === customerId)).toBe(true);
    expect((byCustomer.body.downloads as Json[]).map((e) => e.id)).toContain(events[0]!.id);

    const byIp = await api('GET', `/api/v1/downloads?ip=${encodeURIComponent(ip)}`);
    const ipIds = (byIp.body.downloads as Json[]).map((e) => e.grant_id);
    expect(ipIds).toEqual(expect.arrayContaining([linkA.grant_id, linkB.grant_id]));

    const otherIp = await api('GET', '/api/v1/downloads?ip=203.0.113.9');
    expect(otherIp.body.downloads).toEqual([]);
  });
});

describe('health and readiness', () => {
  it('answers /healthz and /readyz without a token', async () => {
    const health = await fetch(`${h.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${h.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { database: 'ok', storage: 'ok' } });
  });
});

describe('OpenAPI document', () => {
  it('is OpenAPI 3.1 and lists every admin route with the bearer security scheme', async () => {
    const res = await fetch(`${h.url}/api/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<string, Record<string, { security?: Record<string, string[]>[] }>>;
      components: { securitySchemes: Record<string, { type: string; scheme: string }> };
    };
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(doc.components.securitySchemes.bearer).toEqual({ type: 'http', scheme: 'bearer' });
    const expected: Record<string, string[]> = {
      '/api/v1/products': ['get', 'post'],
      '/api/v1/products/{ref}': ['get'],
      '/api/v1/products/{ref}/files': ['post'],
      '/api/v1/orders': ['get', 'post'],
      '/api/v1/orders/{id}': ['get'],
      '/api/v1/grants/{id}': ['get'],
      '/api/v1/grants/{id}/revoke': ['post'],
      '/api/v1/grants/{id}/extend': ['post'],
      '/api/v1/grants/{id}/reset': ['post'],
      '/api/v1/grants/{id}/links': ['post'],
      '/api/v1/downloads': ['get'],
      '/api/v1/storage': ['get', 'put'],
    };
    for (const [path, methods] of Object.entries(expected)) {
      expect(doc.paths[path], path).toBeDefined();
      for (const method of methods) {
        const operation = doc.paths[path]![method];
        expect(operation, `${method} ${path}`).toBeDefined();
        expect(operation!.security).toEqual([{ bearer: [] }]);
      }
    }
  });
});

describe('metrics', () => {
  it('serves Prometheus metrics to admin tokens only, with route patterns instead of link tokens', async () => {
    const auth = await h.adminAuth();
    expect((await fetch(`${h.url}/metrics`)).status).toBe(401);
    const link = (await purchase(h)).url;
    await (await fetch(link)).arrayBuffer();
    const res = await fetch(`${h.url}/metrics`, { headers: { authorization: auth } });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('cloudsecure_downloads_total{outcome="served"}');
    expect(text).toContain('route="/d/:token"');
    expect(text).not.toContain(link.split('/d/')[1]!);
  });
});

describe('licensed products over the admin API', () => {
  it('creates a licensed product with an item id, updates its policy, and issues keys on orders', async () => {
    const auth = await h.adminAuth();
    const headers = { authorization: auth, 'content-type': 'application/json' };
    const slug = `plugin-${randomBytes(4).toString('hex')}`;
    const itemId = 100_000 + Math.floor(Math.random() * 1_000_000);
    const created = await fetch(`${h.url}/api/v1/products`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: 'Plugin', slug, item_id: itemId, license: { activation_limit: 2 } }),
    });
    expect(created.status).toBe(201);
    const product = (await created.json()) as {
      item_id: number;
      license: { activation_limit: number; duration_days: number };
    };
    expect(product).toMatchObject({ item_id: itemId, license: { activation_limit: 2, duration_days: 365 } });

    const taken = await fetch(`${h.url}/api/v1/products`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: 'Other', item_id: itemId, license: {} }),
    });
    expect(taken.status).toBe(409);
    expect(((await taken.json()) as { error: { code: string } }).error.code).toBe('ITEM_ID_TAKEN');

    const patched = await fetch(`${h.url}/api/v1/products/${slug}`, {
      method: 'PATCH',
      headers,
      body: JSON.stringify({ license: { activation_limit: 0, expiry_stops: 'everything' } }),
    });
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({
      license: { activation_limit: 0, expiry_stops: 'everything' },
    });

    const order = await fetch(`${h.url}/api/v1/orders`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ email: 'licensee@example.com', products: [slug] }),
    });
    const view = (await order.json()) as {
      licenses: { key: string; product: string; activation_limit: number }[];
    };
    expect(view.licenses).toHaveLength(1);
    expect(view.licenses[0]).toMatchObject({ product: slug, activation_limit: 0 });
    expect(view.licenses[0]!.key).toMatch(/^CS(-[0-9A-HJKMNP-TV-Z]{5}){5}$/);
  });
});
