import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DownloadEventView } from '../src/domain/downloads/download-service.ts';
import type { DownloadLink, GrantView } from '../src/domain/grants/grant-service.ts';
import type { OrderView } from '../src/domain/orders/order-service.ts';
import type { FileView, ProductView } from '../src/domain/products/product-service.ts';
import type { StorageDescription } from '../src/domain/storage/storage-settings.ts';
import { BIN, cliFailure, cliJSON, runCLI } from './helpers/cli.ts';
import { purchase } from './helpers/fixtures.ts';
import { createHarness, DIALECT, type Harness } from './helpers/harness.ts';

// Every CLI run is a fresh Node process compiling TypeScript: seconds each on a busy two-core machine.
vi.setConfig({ testTimeout: 120_000 });

let h: Harness;
let inputs: string;
beforeAll(async () => {
  h = await createHarness();
  inputs = join(h.dataDir, 'inputs');
  await mkdir(inputs, { recursive: true });
});
afterAll(async () => {
  await h.close();
});

const json = { accept: 'application/json' };
const DAY = 86_400_000;

function sha256(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

/** Writes `size` random bytes to a new file under the harness's inputs folder. */
async function inputFile(name: string, size: number): Promise<{ path: string; content: Buffer }> {
  const content = randomBytes(size);
  const path = join(inputs, name);
  await writeFile(path, content);
  return { path, content };
}

function unique(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** A product with one file, made in-process (for tests where the CLI is not what is under test). */
async function productWithFile(): Promise<{ product: ProductView; content: Buffer; fileName: string }> {
  const product = await h.ctx.products.create({ name: unique('Product') });
  const content = randomBytes(32 * 1024);
  const fileName = `${product.slug}.zip`;
  await h.ctx.products.addFile({
    product: product.id,
    fileName,
    body: Readable.from([content]),
    contentType: 'application/zip',
  });
  return { product, content, fileName };
}

describe('product create', () => {
  it('uploads every --file and reports each with its size and sha256, under the limits given', async () => {
    const a = await inputFile('guide.pdf', 40_000);
    const b = await inputFile('extras.zip', 1234);
    const slug = unique('limited');
    const created = await cliJSON<ProductView>(h.env, [
      'product',
      'create',
      '--name',
      'Limited Edition',
      '--slug',
      slug,
      '--file',
      a.path,
      '--file',
      b.path,
      '--download-limit',
      '3',
      '--link-ttl',
      '15m',
      '--access-days',
      '7',
    ]);
    expect(created.id).toEqual(expect.any(String));
    expect(created.slug).toBe(slug);
    expect(created.files).toEqual([
      expect.objectContaining({
        id: expect.any(String),
        name: 'guide.pdf',
        size: 40_000,
        sha256: sha256(a.content),
      }),
      expect.objectContaining({
        id: expect.any(String),
        name: 'extras.zip',
        size: 1234,
        sha256: sha256(b.content),
      }),
    ]);
    const stored = await h.ctx.products.get(slug);
    expect(stored).toMatchObject({ download_limit: 3, link_ttl_seconds: 900, access_days: 7 });
    expect(stored.files.map((f) => f.sha256)).toEqual([sha256(a.content), sha256(b.content)]);
  });

  it('defaults to 5 downloads, 24-hour links and 30 days of access', async () => {
    const created = await cliJSON<ProductView>(h.env, ['product', 'create', '--name', unique('Plain')]);
    expect(created.files).toEqual([]);
    const stored = await h.ctx.products.get(created.id);
    expect(stored).toMatchObject({ download_limit: 5, link_ttl_seconds: 86_400, access_days: 30 });
  });

  it('refuses a malformed --link-ttl with INVALID_REQUEST and creates nothing', async () => {
    const slug = unique('bad-ttl');
    const failure = await cliFailure(h.env, [
      'product',
      'create',
      '--name',
      'Bad',
      '--slug',
      slug,
      '--link-ttl',
      '2x',
    ]);
    expect(failure.code).not.toBe(0);
    expect(failure.stdout).toBe('');
    expect(failure.body.error.code).toBe('INVALID_REQUEST');
    expect(failure.body.error.message).toContain('2x');
    expect((await h.ctx.products.list()).some((p) => p.slug === slug)).toBe(false);
  });
});

describe('product add-file', () => {
  it('uploads a file to the product named by its slug', async () => {
    const slug = unique('addable');
    await cliJSON<ProductView>(h.env, ['product', 'create', '--name', 'Addable', '--slug', slug]);
    const file = await inputFile('Über Bücher.epub', 5000);
    const added = await cliJSON<FileView>(h.env, ['product', 'add-file', slug, '--file', file.path]);
    expect(added).toMatchObject({ name: 'Über Bücher.epub', size: 5000, sha256: sha256(file.content) });
    expect((await h.ctx.products.get(slug)).files.map((f) => f.id)).toEqual([added.id]);
  });

  it('prints only the JSON document on stdout and no progress bar on stderr with --json', async () => {
    const { product } = await productWithFile();
    const file = await inputFile('large.bin', 3 * 1024 * 1024);
    const result = await runCLI(h.env, ['--json', 'product', 'add-file', product.slug, '--file', file.path]);
    expect(result.code).toBe(0);
    expect(result.stdout.endsWith('\n')).toBe(true);
    expect(result.stdout.trimEnd().split('\n')).toHaveLength(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ name: 'large.bin', sha256: sha256(file.content) });
    // cli-progress draws with block characters, carriage returns, ANSI escapes and a percentage.
    for (const mark of ['█', '░', '▓', '▒', '\r', '\u001b[', '%']) expect(result.stderr).not.toContain(mark);
  });

  it('shows a progress bar while uploading when stderr is a terminal', async () => {
    const { product } = await productWithFile();
    const file = await inputFile('big.bin', 8 * 1024 * 1024);
    // `script` runs the CLI on a pseudo-terminal, as a person at a shell would.
    const command = ['node', BIN, 'product', 'add-file', product.slug, '--file', file.path]
      .map((arg) => `'${arg.replaceAll("'", "'\\''")}'`)
      .join(' ');
    const { stdout } = await promisify(execFile)('script', ['-qec', command, '/dev/null'], {
      env: { ...process.env, ...h.env },
      maxBuffer: 10 * 1024 * 1024,
    });
    expect(stdout).toContain('big.bin [');
    expect(stdout).toContain('100%');
    expect(stdout).toContain('8.0/8.0 MB');
  });
});

describe('product list', () => {
  it('lists every product as JSON with --json', async () => {
    const { product } = await productWithFile();
    const list = await cliJSON<ProductView[]>(h.env, ['product', 'list']);
    const found = list.find((p) => p.id === product.id);
    expect(found).toMatchObject({ slug: product.slug, download_limit: 5 });
    expect(found?.files).toHaveLength(1);
  });

  it('prints a human-readable table without --json', async () => {
    const { product } = await productWithFile();
    const result = await runCLI(h.env, ['product', 'list']);
    expect(result.code).toBe(0);
    expect(() => JSON.parse(result.stdout)).toThrow();
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^slug\s+id\s+files\s+limit\s+access_days$/);
    expect(lines.some((l) => l.startsWith(product.slug) && l.includes(product.id))).toBe(true);
  });
});

describe('order create', () => {
  it('grants every product and hands out links that download the exact bytes', async () => {
    const a = await productWithFile();
    const b = await productWithFile();
    const view = await cliJSON<OrderView>(h.env, [
      'order',
      'create',
      '--email',
      'ada@example.com',
      '--name',
      'Ada Lovelace',
      '--product',
      a.product.slug,
      '--product',
      b.product.slug,
      '--external-id',
      unique('woo'),
    ]);
    expect(view.order.id).toEqual(expect.any(String));
    expect(view.customer).toMatchObject({ email: 'ada@example.com', name: 'Ada Lovelace' });
    expect(view.downloads).toHaveLength(2);
    for (const source of [a, b]) {
      const d = view.downloads.find((link) => link.product === source.product.slug);
      if (!d) throw new Error(`no download for ${source.product.slug}`);
      expect(d).toMatchObject({
        grant_id: expect.any(String),
        product: source.product.slug,
        file: source.fileName,
        downloads_left: 5,
      });
      expect(d.url.startsWith(`${h.url}/d/`)).toBe(true);
      expect(d.access_url.startsWith(`${h.url}/a/`)).toBe(true);
      expect(Date.parse(d.expires_at ?? '')).toBeGreaterThan(Date.now());
      const res = await fetch(d.url);
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(source.content)).toBe(true);
    }
  });

  it('returns the same order when the same --external-id is recorded twice', async () => {
    const { product } = await productWithFile();
    const args = ['order', 'create', '--email', 'twice@example.com', '--product', product.slug];
    const externalId = unique('ext');
    const first = await cliJSON<OrderView>(h.env, [...args, '--external-id', externalId]);
    const second = await cliJSON<OrderView>(h.env, [...args, '--external-id', externalId]);
    expect(second.order.id).toBe(first.order.id);
    expect(second.downloads.map((d) => d.grant_id)).toEqual(first.downloads.map((d) => d.grant_id));
  });

  it('refuses a malformed e-mail address with INVALID_REQUEST', async () => {
    const { product } = await productWithFile();
    const failure = await cliFailure(h.env, [
      'order',
      'create',
      '--email',
      'not-an-email',
      '--product',
      product.slug,
    ]);
    expect(failure.code).not.toBe(0);
    expect(failure.stdout).toBe('');
    expect(failure.body.error.code).toBe('INVALID_REQUEST');
  });
});

describe('link create', () => {
  it('mints a fresh working link for an existing grant without using a download', async () => {
    const p = await purchase(h, { product: { downloadLimit: 3 } });
    const { downloads } = await cliJSON<{ downloads: DownloadLink[] }>(h.env, ['link', 'create', p.grantId]);
    expect(downloads).toHaveLength(1);
    expect(downloads[0]).toMatchObject({ grant_id: p.grantId, downloads_left: 3 });
    expect(downloads[0]!.url).not.toBe(p.url);
    const res = await fetch(downloads[0]!.url);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(p.content)).toBe(true);
  });
});

describe('grant revoke', () => {
  it('makes every link of the grant answer 403 GRANT_REVOKED', async () => {
    const p = await purchase(h);
    const revoked = await cliJSON<GrantView>(h.env, ['grant', 'revoke', p.grantId]);
    expect(revoked).toMatchObject({ id: p.grantId, status: 'GRANT_REVOKED', revoked_at: expect.any(String) });
    const res = await fetch(p.url, { headers: json });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('GRANT_REVOKED');
  });
});

describe('grant extend', () => {
  it('moves access_expires_at later by the given number of days', async () => {
    const p = await purchase(h);
    const before = (await h.ctx.grants.get(p.grantId)).access_expires_at;
    const extended = await cliJSON<GrantView>(h.env, ['grant', 'extend', p.grantId, '--days', '10']);
    expect(Date.parse(extended.access_expires_at ?? '') - Date.parse(before ?? '')).toBe(10 * DAY);
    expect((await h.ctx.grants.get(p.grantId)).access_expires_at).toBe(extended.access_expires_at);
  });
});

describe('grant reset', () => {
  it('gives back the downloads already used', async () => {
    const p = await purchase(h, { product: { downloadLimit: 3 } });
    const res = await fetch(p.url);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect((await h.ctx.grants.createLinks(p.grantId))[0]!.downloads_left).toBe(2);
    await cliJSON<GrantView>(h.env, ['grant', 'reset', p.grantId]);
    const { downloads } = await cliJSON<{ downloads: DownloadLink[] }>(h.env, ['link', 'create', p.grantId]);
    expect(downloads[0]!.downloads_left).toBe(3);
  });
});

describe('downloads list', () => {
  it('shows the download of an order and of a grant with time, IP, user agent, file, bytes and outcome', async () => {
    const p = await purchase(h, { fileName: 'logged.pdf', size: 10_000 });
    const other = await purchase(h);
    for (const url of [p.url, other.url]) {
      const res = await fetch(url, { headers: { 'user-agent': 'cli-test/1.0' } });
      await res.arrayBuffer();
    }
    // The outcome is recorded when the response stream ends, just after the client has the bytes.
    await expect
      .poll(async () => (await h.ctx.downloads.list({ grantId: p.grantId }))[0]?.status)
      .toBe('completed');
    const expected = {
      at: expect.any(String),
      ip: '127.0.0.1',
      user_agent: 'cli-test/1.0',
      file: 'logged.pdf',
      bytes: 10_000,
      status: 'completed',
    };
    const byOrder = await cliJSON<DownloadEventView[]>(h.env, [
      'downloads',
      'list',
      '--order',
      p.order.order.id,
    ]);
    expect(byOrder).toEqual([expect.objectContaining(expected)]);
    expect(Number.isNaN(Date.parse(byOrder[0]!.at))).toBe(false);
    const byGrant = await cliJSON<DownloadEventView[]>(h.env, ['downloads', 'list', '--grant', p.grantId]);
    expect(byGrant).toEqual([expect.objectContaining(expected)]);
  });
});

describe('token create', () => {
  it('prints a bearer token that authenticates the admin API', async () => {
    const { token } = await cliJSON<{ token: string }>(h.env, ['token', 'create', '--name', 'ci']);
    expect(token).toEqual(expect.any(String));
    const res = await fetch(`${h.url}/api/v1/products`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { products: ProductView[] };
    expect(Array.isArray(body.products)).toBe(true);
    const without = await fetch(`${h.url}/api/v1/products`);
    expect(without.status).toBe(401);
  });
});

describe('migrate', () => {
  it('reports an up-to-date database as JSON', async () => {
    const result = await cliJSON<{ dialect: string; applied: string[]; status: string }>(h.env, ['migrate']);
    expect(result).toEqual({ dialect: DIALECT, applied: [], status: 'up to date' });
  });
});

describe('usage errors with --json', () => {
  it('answers an unknown command with a JSON error on stderr, nothing on stdout and a failing status', async () => {
    const failure = await cliFailure(h.env, ['frobnicate']);
    expect(failure.code).not.toBe(0);
    expect(failure.stdout).toBe('');
    expect(failure.body.error.code).toBe('INVALID_REQUEST');
    expect(failure.body.error.message).toContain('frobnicate');
  });

  it('answers a missing required option with a JSON error naming the option', async () => {
    const failure = await cliFailure(h.env, ['product', 'create']);
    expect(failure.code).not.toBe(0);
    expect(failure.stdout).toBe('');
    expect(failure.body.error.code).toBe('INVALID_REQUEST');
    expect(failure.body.error.message).toContain('--name');
  });

  it('answers an unknown grant with NOT_FOUND', async () => {
    const failure = await cliFailure(h.env, ['grant', 'revoke', '00000000-0000-4000-8000-000000000000']);
    expect(failure.code).not.toBe(0);
    expect(failure.stdout).toBe('');
    expect(failure.body.error.code).toBe('NOT_FOUND');
  });
});

// Last, because it switches where uploads go for the whole harness (and switches back).
describe('storage use', () => {
  it('stores S3 settings with the secret read from stdin and shows only a masked hint', async () => {
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    try {
      const use = await runCLI(
        h.env,
        [
          '--json',
          'storage',
          'use',
          's3',
          '--endpoint',
          'http://127.0.0.1:9',
          '--bucket',
          'b',
          '--access-key-id',
          'AK',
          '--secret-access-key-stdin',
        ],
        `${secret}\n`,
      );
      expect(use.code).toBe(0);
      expect(use.stdout).not.toContain(secret);
      expect(JSON.parse(use.stdout)).toMatchObject({ active: 's3' });

      const show = await runCLI(h.env, ['--json', 'storage', 'show']);
      expect(show.code).toBe(0);
      expect(show.stdout).not.toContain(secret);
      expect(show.stdout).not.toContain(secret.slice(0, 8));
      const described = JSON.parse(show.stdout) as StorageDescription;
      expect(described).toEqual({
        active: 's3',
        s3: {
          endpoint: 'http://127.0.0.1:9',
          bucket: 'b',
          region: 'auto',
          force_path_style: false,
          credentials_hint: expect.stringContaining('••••'),
        },
      });
      // The sealed secret still opens: the stored settings carry it for the S3 client.
      expect((await h.ctx.storage.load()).s3?.secretAccessKey).toBe(secret);
    } finally {
      const local = await cliJSON<StorageDescription>(h.env, ['storage', 'use', 'local']);
      expect(local.active).toBe('local');
    }
    expect((await h.ctx.storage.describe()).active).toBe('local');
  });
});
