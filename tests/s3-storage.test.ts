import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProductView } from '../src/domain/products/product-service.ts';
import { purchase } from './helpers/fixtures.ts';
import { createHarness, type Harness } from './helpers/harness.ts';
import { type LocalS3, startS3rver } from './helpers/s3rver.ts';

const MiB = 1024 * 1024;
const json = { accept: 'application/json' };

let s3: LocalS3;
let h: Harness;
let client: S3Client;

beforeAll(async () => {
  s3 = await startS3rver();
  h = await createHarness();
  await h.ctx.storage.useS3(s3.settings);
  client = new S3Client({
    region: 'auto',
    endpoint: s3.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.settings.accessKeyId, secretAccessKey: s3.settings.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
});
afterAll(async () => {
  client?.destroy();
  await h?.close();
  await s3?.stop();
});

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function fileRow(fileId: string): Promise<{ storage: string; object_key: string }> {
  return h.ctx.database.db
    .selectFrom('files')
    .select(['storage', 'object_key'])
    .where('id', '=', fileId)
    .executeTakeFirstOrThrow();
}

async function getObject(key: string): Promise<Buffer> {
  const out = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

async function listKeys(): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: s3.bucket, ...(token ? { ContinuationToken: token } : {}) }),
    );
    for (const object of page.Contents ?? []) keys.push(object.Key!);
    token = page.NextContinuationToken;
  } while (token);
  return keys;
}

/** Every file s3rver wrote for the bucket (objects, metadata, md5s), by path relative to the bucket. */
async function bucketFiles(): Promise<string[]> {
  const entries = await readdir(join(s3.directory, s3.bucket), { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(join(s3.directory, s3.bucket).length + 1));
}

async function newProduct(input: { name?: string; downloadLimit?: number } = {}): Promise<ProductView> {
  return h.ctx.products.create({
    name: input.name ?? `S3 product ${randomBytes(4).toString('hex')}`,
    ...input,
  });
}

/** Follows nothing: the 302/303 itself is what the tests look at. */
function open(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { redirect: 'manual', ...init });
}

async function downloadsLeft(grantId: string): Promise<number | null> {
  const links = await h.ctx.grants.createLinks(grantId);
  return links[0]!.downloads_left;
}

describe('uploading a file to S3 storage', () => {
  it('stores a file added through the product service in the bucket, with the right size and sha256', async () => {
    const product = await newProduct();
    const content = randomBytes(3 * MiB + 17);
    const file = await h.ctx.products.addFile({
      product: product.slug,
      fileName: 'manual.pdf',
      body: Readable.from([content]),
      contentType: 'application/pdf',
    });
    expect(file.size).toBe(content.length);
    expect(file.sha256).toBe(sha256(content));
    const row = await fileRow(file.id);
    expect(row.storage).toBe('s3');
    expect(row.object_key).toMatch(/^f\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(await listKeys()).toContain(row.object_key);
    const stored = await getObject(row.object_key);
    expect(stored.length).toBe(content.length);
    expect(sha256(stored)).toBe(file.sha256);
  });

  it('streams a file uploaded through the admin API into the bucket', async () => {
    const product = await newProduct();
    const content = randomBytes(4 * MiB + 3);
    const res = await fetch(
      `${h.url}/api/v1/products/${product.slug}/files?name=${encodeURIComponent('Setup 2.0.zip')}`,
      {
        method: 'POST',
        headers: { authorization: await h.adminAuth(), 'content-type': 'application/octet-stream' },
        body: content,
      },
    );
    expect(res.status).toBe(201);
    const file = (await res.json()) as { id: string; name: string; size: number; sha256: string };
    expect(file).toMatchObject({ name: 'Setup 2.0.zip', size: content.length, sha256: sha256(content) });
    const row = await fileRow(file.id);
    expect(row.storage).toBe('s3');
    expect(await listKeys()).toContain(row.object_key);
    expect(sha256(await getObject(row.object_key))).toBe(sha256(content));
  });

  it('uploads a file bigger than the 8 MiB part size in parts, reporting increasing progress', async () => {
    const product = await newProduct();
    const content = randomBytes(20 * MiB + 5);
    const progress: number[] = [];
    const file = await h.ctx.products.addFile({
      product: product.slug,
      fileName: 'big.iso',
      body: Readable.from(
        (function* chunks() {
          for (let at = 0; at < content.length; at += 256 * 1024) yield content.subarray(at, at + 256 * 1024);
        })(),
      ),
      contentType: 'application/octet-stream',
      size: content.length,
      onProgress: (done) => progress.push(done),
    });
    expect(file.size).toBe(content.length);
    expect(file.sha256).toBe(sha256(content));
    // One report per part: 8 + 8 + 4 MiB.
    expect(progress.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < progress.length; i++) expect(progress[i]!).toBeGreaterThan(progress[i - 1]!);
    expect(progress.at(-1)).toBe(content.length);
    const stored = await getObject((await fileRow(file.id)).object_key);
    expect(stored.length).toBe(content.length);
    expect(sha256(stored)).toBe(file.sha256);
  });
});

describe('downloading a file kept in S3 storage', () => {
  it('redirects a GET with 302 to a presigned URL that serves the exact bytes from the bucket', async () => {
    const p = await purchase(h, { size: 2 * MiB, fileName: 'Über Bücher – 1.pdf' });
    const res = await open(p.url);
    expect(res.status).toBe(302);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    const location = res.headers.get('location')!;
    expect(location.startsWith(`${s3.endpoint}/${s3.bucket}/f/`)).toBe(true);

    const object = await fetch(location);
    expect(object.status).toBe(200);
    expect(Buffer.from(await object.arrayBuffer()).equals(p.content)).toBe(true);
    expect(object.headers.get('content-disposition')).toBe(
      `attachment; filename="Uber Bucher _ 1.pdf"; filename*=UTF-8''%C3%9Cber%20B%C3%BCcher%20%E2%80%93%201.pdf`,
    );
    expect(object.headers.get('content-type')).toBe('application/pdf');
  });

  it('answers the access page’s POST with 303 to the presigned URL', async () => {
    const p = await purchase(h);
    const res = await open(p.url, { method: 'POST' });
    expect(res.status).toBe(303);
    const object = await fetch(res.headers.get('location')!);
    expect(Buffer.from(await object.arrayBuffer()).equals(p.content)).toBe(true);
  });

  it('logs each redirect as a counted download and refuses once the limit is used, without redirecting', async () => {
    const p = await purchase(h, { product: { downloadLimit: 2 } });
    const agent = { 'user-agent': 'S3Test/1.0' };
    expect((await open(p.url, { headers: agent })).status).toBe(302);
    expect(await downloadsLeft(p.grantId)).toBe(1);
    expect((await open(p.url, { headers: agent })).status).toBe(302);
    expect(await downloadsLeft(p.grantId)).toBe(0);

    const refused = await open(p.url, { headers: { ...agent, ...json } });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('location')).toBeNull();
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('DOWNLOAD_LIMIT_REACHED');

    const events = await h.ctx.downloads.list({ grantId: p.grantId });
    expect(events).toHaveLength(3);
    const redirected = events.filter((e) => e.status === 'redirected');
    expect(redirected).toHaveLength(2);
    for (const e of redirected) {
      expect(e).toMatchObject({
        counted: true,
        bytes: null,
        ip: '127.0.0.1',
        user_agent: 'S3Test/1.0',
        file: 'book.pdf',
      });
    }
    expect(events.filter((e) => e.status === 'DOWNLOAD_LIMIT_REACHED')).toMatchObject([{ counted: false }]);
  });

  it('answers HEAD without counting or logging a download', async () => {
    const p = await purchase(h, { product: { downloadLimit: 1 } });
    const res = await open(p.url, { method: 'HEAD' });
    expect(res.status).toBe(302);
    expect(await downloadsLeft(p.grantId)).toBe(1);
    expect(await h.ctx.downloads.list({ grantId: p.grantId })).toHaveLength(0);
    expect((await open(p.url)).status).toBe(302);
    expect(await downloadsLeft(p.grantId)).toBe(0);
  });

  it('refuses a revoked grant with 403 before any redirect', async () => {
    const p = await purchase(h);
    await h.ctx.grants.revoke(p.grantId);
    const res = await open(p.url, { headers: json });
    expect(res.status).toBe(403);
    expect(res.headers.get('location')).toBeNull();
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('GRANT_REVOKED');
    const events = await h.ctx.downloads.list({ grantId: p.grantId });
    expect(events).toMatchObject([{ status: 'GRANT_REVOKED', counted: false }]);
  });

  it('refuses an expired link with 410 before any redirect', async () => {
    const p = await purchase(h, { product: { linkTtlSeconds: 60 } });
    h.clock.advance(61_000);
    const res = await open(p.url, { headers: json });
    expect(res.status).toBe(410);
    expect(res.headers.get('location')).toBeNull();
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('LINK_EXPIRED');
    expect(await downloadsLeft(p.grantId)).toBe(5);
  });

  it('still only presigns when the object is gone from the bucket: the bucket answers the 404', async () => {
    // The S3 path does not look the object up before redirecting (that would cost a round trip per
    // download); the buyer gets the bucket's 404 and the download is counted.
    const p = await purchase(h);
    const key = (await fileRow(p.order.downloads[0]!.file_id)).object_key;
    await client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: key }));
    const res = await open(p.url);
    expect(res.status).toBe(302);
    expect((await fetch(res.headers.get('location')!)).status).toBe(404);
  });
});

describe('presigned download URL', () => {
  it('carries SigV4 parameters for region auto, lives at most 300 s, and exposes neither checksum mode nor the secret', async () => {
    // s3rver's default secret equals its access key id, so "the secret is not in the URL" proves nothing
    // with it. s3rver does not verify SigV4 signatures, so any secret works against it.
    const secret = 'Sec/ret+Key=NeverInURLs0123456789abcdefXYZ';
    await h.ctx.storage.useS3({ ...s3.settings, secretAccessKey: secret });
    try {
      const p = await purchase(h, { fileName: 'Année 2024 “report”.pdf' });
      const before = Date.now();
      const res = await open(p.url);
      expect(res.status).toBe(302);
      const location = res.headers.get('location')!;
      const url = new URL(location);
      const q = url.searchParams;

      expect(q.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
      expect(q.get('X-Amz-Credential')).toMatch(/^S3RVER\/\d{8}\/auto\/s3\/aws4_request$/);
      const expires = Number(q.get('X-Amz-Expires'));
      expect(Number.isInteger(expires)).toBe(true);
      expect(expires).toBeGreaterThan(0);
      expect(expires).toBeLessThanOrEqual(300);
      const date = q.get('X-Amz-Date')!;
      const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(date)!;
      expect(m).not.toBeNull();
      const signedAt = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
      expect(Math.abs(signedAt - before)).toBeLessThan(5 * 60_000);
      expect(q.get('X-Amz-Credential')!.split('/')[1]).toBe(date.slice(0, 8));
      expect(q.get('X-Amz-SignedHeaders')).toBe('host');
      expect(q.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
      expect(q.get('response-content-disposition')).toBe(
        `attachment; filename="Annee 2024 _report_.pdf"; filename*=UTF-8''Ann%C3%A9e%202024%20%E2%80%9Creport%E2%80%9D.pdf`,
      );
      expect([...q.keys()].map((k) => k.toLowerCase())).not.toContain('x-amz-checksum-mode');
      expect(location.toLowerCase()).not.toContain('checksum');
      for (const form of [secret, encodeURIComponent(secret), secret.replace(/[/+=]/g, '')]) {
        expect(location).not.toContain(form);
        expect(decodeURIComponent(location)).not.toContain(form);
      }
      expect(url.pathname).toMatch(new RegExp(`^/${s3.bucket}/f/[0-9a-f-]{36}$`));
    } finally {
      await h.ctx.storage.useS3(s3.settings);
    }
  });
});

describe('privacy of S3 storage', () => {
  it('keeps customer, order, product and file names out of object keys, object metadata and presigned URLs', async () => {
    const customer = { name: 'Zebulon Quirrelbyte', email: 'zebulon.quirrelbyte@privacy-test.example' };
    const productName = 'Marmalade Telescope Handbook';
    const fileName = 'octopus-harmonica-notes.pdf';
    const product = await newProduct({ name: productName });
    await h.ctx.products.addFile({
      product: product.slug,
      fileName,
      body: Readable.from([randomBytes(128 * 1024)]),
      contentType: 'application/pdf',
    });
    const order = await h.ctx.orders.create({
      email: customer.email,
      name: customer.name,
      products: [product.slug],
      source: 'test',
      externalId: 'WC-ORDER-99871',
    });
    const link = order.downloads[0]!;
    const res = await open(link.url);
    expect(res.status).toBe(302);
    const location = res.headers.get('location')!;

    const secrets = [
      customer.name,
      customer.email,
      order.order.id,
      order.customer.id,
      'WC-ORDER-99871',
      productName,
      product.slug,
      fileName,
      'Zebulon',
      'Quirrelbyte',
      'Marmalade',
      'octopus',
    ].map((s) => s.toLowerCase());
    const mustNotContain = (text: string, allowFileName = false): void => {
      const haystack = [text, decodeURIComponent(text)].join('\n').toLowerCase();
      for (const s of secrets) {
        if (allowFileName && (s === fileName || s === 'octopus')) continue;
        expect(haystack, `leaks "${s}"`).not.toContain(s);
      }
    };

    const key = (await fileRow(link.file_id)).object_key;
    expect(key).toMatch(/^f\/[0-9a-f-]{36}$/);
    const keys = await listKeys();
    expect(keys).toContain(key);
    for (const k of keys) mustNotContain(k);
    for (const path of await bucketFiles()) mustNotContain(path);
    for (const path of (await bucketFiles()).filter((p) => p.endsWith('metadata.json'))) {
      mustNotContain(await readFile(join(s3.directory, s3.bucket, path), 'utf8'));
    }
    const head = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key }));
    expect(head.Metadata ?? {}).toEqual({});
    mustNotContain(JSON.stringify({ ...head, $metadata: undefined }));

    // The URL names the file only where it must: the response-content-disposition the buyer's browser
    // saves it under. Nothing else in it, path or query, carries a name, an e-mail or an order id.
    const url = new URL(location);
    expect(url.searchParams.get('response-content-disposition')).toContain(fileName);
    mustNotContain(location, true);
    url.searchParams.delete('response-content-disposition');
    mustNotContain(url.toString());
  });
});

describe('switching storage back to local disk', () => {
  it('sends new uploads to local disk while files already in S3 still redirect to the bucket', async () => {
    const inS3 = await purchase(h);
    expect((await fileRow(inS3.order.downloads[0]!.file_id)).storage).toBe('s3');
    await h.ctx.storage.useLocal();
    try {
      const local = await purchase(h);
      const row = await fileRow(local.order.downloads[0]!.file_id);
      expect(row.storage).toBe('local');
      expect(await listKeys()).not.toContain(row.object_key);
      const localBytes = await readFile(join(h.dataDir, 'files', row.object_key));
      expect(localBytes.equals(local.content)).toBe(true);

      const streamed = await open(local.url);
      expect(streamed.status).toBe(200);
      expect(Buffer.from(await streamed.arrayBuffer()).equals(local.content)).toBe(true);

      const redirected = await open(inS3.url);
      expect(redirected.status).toBe(302);
      const object = await fetch(redirected.headers.get('location')!);
      expect(Buffer.from(await object.arrayBuffer()).equals(inS3.content)).toBe(true);
    } finally {
      await h.ctx.storage.useS3(s3.settings);
    }
  });
});

describe('readiness with S3 storage', () => {
  it('reports storage ok while the bucket is reachable', async () => {
    const res = await fetch(`${h.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready', checks: { database: 'ok', storage: 'ok' } });
  });

  it('reports storage unavailable with 503 when S3 points to a closed port', async () => {
    await h.ctx.storage.useS3({ ...s3.settings, endpoint: 'http://127.0.0.1:9' });
    try {
      const res = await fetch(`${h.url}/readyz`);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({
        status: 'unavailable',
        checks: { database: 'ok', storage: 'unavailable' },
      });
    } finally {
      await h.ctx.storage.useS3(s3.settings);
    }
    expect((await fetch(`${h.url}/readyz`)).status).toBe(200);
  });
});
