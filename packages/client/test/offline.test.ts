import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, freePort, type Harness } from '../../../tests/helpers/harness.ts';
import {
  type CacheStore,
  createLicenseClient,
  LicenseClientError,
  type LicenseClientOptions,
} from '../src/index.ts';
import { buy, type InterceptingProxy, startProxy } from './support.ts';

let h: Harness;
let dir: string;
const proxies: InterceptingProxy[] = [];
beforeAll(async () => {
  h = await createHarness({ CLOUDSECURE_RATE_LIMIT_PER_MINUTE: '100000' });
  dir = await mkdtemp(join(tmpdir(), 'cloudsecure-sdk-cache-'));
});
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});
afterAll(async () => {
  await h?.close();
  await rm(dir, { recursive: true, force: true });
});

const DAY = 86_400_000;
let files = 0;

async function proxy(): Promise<InterceptingProxy> {
  const p = await startProxy(h.url);
  proxies.push(p);
  return p;
}

/** The client's own clock: the server's, moved on by `offset` when the test says so. */
function clientClock() {
  let offset = 0;
  return { now: () => h.clock.now().getTime() + offset, advance: (ms: number) => (offset += ms) };
}

function client(options: Partial<LicenseClientOptions> & { product: string; serverUrl: string }) {
  return createLicenseClient({
    publicKey: h.ctx.licenseSigner.publicKey,
    gracePeriodMs: 7 * DAY,
    ...options,
  });
}

function cachePath(): string {
  files += 1;
  return join(dir, `cache-${files}.json`);
}

interface CacheFile {
  v: 1;
  entries: Record<string, string>;
}

interface Entry {
  v: 1;
  action: string;
  nonce: string;
  body: string;
  signature: string;
}

async function readCache(path: string): Promise<CacheFile> {
  return JSON.parse(await readFile(path, 'utf8')) as CacheFile;
}

/** Rewrites the one entry of a cache file. */
async function editEntry(path: string, edit: (entry: Entry) => Entry): Promise<void> {
  const file = await readCache(path);
  const [name, value] = Object.entries(file.entries)[0] ?? [];
  if (!name || !value) throw new Error('the cache is empty');
  file.entries[name] = JSON.stringify(edit(JSON.parse(value) as Entry));
  await writeFile(path, JSON.stringify(file));
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

describe('offline grace period', () => {
  it('answers from the cached verified answer, flagged offline, within the grace period, then errs', async () => {
    const { product, key } = await buy(h);
    const p = await proxy();
    const clock = clientClock();
    const path = cachePath();
    const app = client({
      serverUrl: p.url,
      product: product.slug,
      key,
      fingerprint: 'fp-grace',
      cache: { path },
      now: clock.now,
    });
    await app.activate();
    const live = await app.validate();
    expect(live).toMatchObject({ valid: true, code: 'VALID', offline: false });

    p.mode = 'reset';
    const offline = await app.validate();
    expect(offline).toMatchObject({ valid: true, code: 'VALID', offline: true, ts: live.ts });
    expect(offline.license).toEqual(live.license);

    clock.advance(6 * DAY);
    p.mode = 'unavailable';
    expect(await app.validate()).toMatchObject({ valid: true, offline: true });

    clock.advance(2 * DAY);
    const expired = await failure(app.validate());
    expect(expired).toMatchObject({ code: 'GRACE_PERIOD_EXPIRED' });
    expect((expired.cause as LicenseClientError).code).toBe('SERVER_UNREACHABLE');
    // Activation and deactivation never fall back on the cache.
    expect(await failure(app.activate())).toMatchObject({ code: 'SERVER_UNREACHABLE' });
    expect(await failure(app.deactivate())).toMatchObject({ code: 'SERVER_UNREACHABLE', status: 503 });
  });

  it('falls back the same way when the server’s port is closed, or the server does not answer in time', async () => {
    const { product, key } = await buy(h);
    const path = cachePath();
    const options = { product: product.slug, key, fingerprint: 'fp-closed', cache: { path } };
    const online = client({ ...options, serverUrl: h.url, now: () => h.clock.now() });
    await online.activate();

    const closed = client({
      ...options,
      serverUrl: `http://127.0.0.1:${await freePort()}`,
      now: () => h.clock.now(),
    });
    expect(await closed.validate()).toMatchObject({ valid: true, code: 'VALID', offline: true });

    const p = await proxy();
    p.mode = 'hang';
    const slow = client({ ...options, serverUrl: p.url, timeoutMs: 200, now: () => h.clock.now() });
    expect(await slow.validate()).toMatchObject({ valid: true, offline: true });
  });

  it('throws SERVER_UNREACHABLE when nothing is cached', async () => {
    const { product, key } = await buy(h);
    const p = await proxy();
    p.mode = 'reset';
    const cached = client({ serverUrl: p.url, product: product.slug, key, cache: { path: cachePath() } });
    expect(await failure(cached.validate())).toMatchObject({ code: 'SERVER_UNREACHABLE' });
    const uncached = client({ serverUrl: p.url, product: product.slug, key });
    expect(await failure(uncached.validate())).toMatchObject({ code: 'SERVER_UNREACHABLE' });
  });

  it('keeps the latest verified answer: after a revocation, offline answers say REVOKED', async () => {
    const { product, key, licenseId } = await buy(h);
    const p = await proxy();
    const path = cachePath();
    const app = client({
      serverUrl: p.url,
      product: product.slug,
      key,
      fingerprint: 'fp-rev',
      cache: { path },
      now: () => h.clock.now(),
    });
    await app.activate();
    await h.ctx.licenses.revoke(licenseId);
    // The server answers, so the cache is not consulted even though it holds a valid answer.
    expect(await app.validate()).toMatchObject({ valid: false, code: 'REVOKED', offline: false });
    p.mode = 'reset';
    expect(await app.validate()).toMatchObject({ valid: false, code: 'REVOKED', offline: true });
  });

  it('forgets the cached answer when the machine is deactivated', async () => {
    const { product, key } = await buy(h);
    const p = await proxy();
    const path = cachePath();
    const app = client({
      serverUrl: p.url,
      product: product.slug,
      key,
      fingerprint: 'fp-forget',
      cache: { path },
      now: () => h.clock.now(),
    });
    await app.activate();
    expect(Object.keys((await readCache(path)).entries)).toHaveLength(1);
    await app.deactivate();
    expect((await readCache(path)).entries).toEqual({});
    p.mode = 'reset';
    expect(await failure(app.validate())).toMatchObject({ code: 'SERVER_UNREACHABLE' });
  });

  it('does not cache an answer that failed verification', async () => {
    const { product, key } = await buy(h);
    const p = await proxy();
    p.mode = 'drop-signature';
    const path = cachePath();
    const app = client({
      serverUrl: p.url,
      product: product.slug,
      key,
      fingerprint: 'fp-nocache',
      cache: { path },
      now: () => h.clock.now(),
    });
    expect(await failure(app.activate())).toMatchObject({ code: 'SIGNATURE_MISSING' });
    p.mode = 'reset';
    expect(await failure(app.validate())).toMatchObject({ code: 'SERVER_UNREACHABLE' });
  });

  it('works the same with a custom get/set cache, which never holds the key in clear', async () => {
    const { product, key } = await buy(h);
    const p = await proxy();
    const store = new Map<string, string>();
    const cache: CacheStore = {
      get: (name) => store.get(name),
      set: (name, value) => {
        if (value === null) store.delete(name);
        else store.set(name, value);
      },
    };
    const app = client({
      serverUrl: p.url,
      product: product.slug,
      key,
      fingerprint: 'fp-custom',
      cache,
      now: () => h.clock.now(),
    });
    await app.activate();
    expect(store.size).toBe(1);
    const stored = JSON.stringify([...store]);
    expect(stored).not.toContain(key);
    expect(stored).not.toContain(key.replace(/-/g, ''));
    p.mode = 'unavailable';
    expect(await app.validate()).toMatchObject({ valid: true, offline: true });
  });
});

describe('a tampered cache', () => {
  async function cachedClient(fingerprint: string) {
    const { product, key } = await buy(h);
    const p = await proxy();
    const path = cachePath();
    const app = client({
      serverUrl: p.url,
      product: product.slug,
      key,
      fingerprint,
      cache: { path },
      now: () => h.clock.now(),
    });
    await app.activate();
    p.mode = 'reset';
    return { app, path, product, key, proxy: p };
  }

  it('is refused when the signed answer in it was edited', async () => {
    const { app, path } = await cachedClient('fp-edit');
    expect(await app.validate()).toMatchObject({ offline: true });
    // Push the signed timestamp forward to stretch the grace period: the signature no longer holds.
    await editEntry(path, (entry) => {
      const body = JSON.parse(Buffer.from(entry.body, 'base64').toString('utf8')) as { ts: string };
      body.ts = new Date(Date.parse(body.ts) + 30 * DAY).toISOString();
      return { ...entry, body: Buffer.from(JSON.stringify(body)).toString('base64') };
    });
    expect(await failure(app.validate())).toMatchObject({ code: 'CACHE_INVALID' });
  });

  it('is refused when one byte of the stored body changes or the signature is replaced', async () => {
    const { app, path } = await cachedClient('fp-byte');
    await editEntry(path, (entry) => {
      const body = Buffer.from(entry.body, 'base64');
      body[body.length - 2] = (body[body.length - 2] ?? 0) ^ 0x01;
      return { ...entry, body: body.toString('base64') };
    });
    expect(await failure(app.validate())).toMatchObject({ code: 'CACHE_INVALID' });

    const other = await cachedClient('fp-sig');
    await editEntry(other.path, (entry) => ({ ...entry, signature: Buffer.alloc(64, 7).toString('base64') }));
    expect(await failure(other.app.validate())).toMatchObject({ code: 'CACHE_INVALID' });
  });

  it('is refused when the file is not a cache at all', async () => {
    const { app, path } = await cachedClient('fp-garbage');
    const file = await readCache(path);
    for (const name of Object.keys(file.entries)) file.entries[name] = '{"v":1,"action":"validate"}';
    await writeFile(path, JSON.stringify(file));
    expect(await failure(app.validate())).toMatchObject({ code: 'CACHE_INVALID' });
  });

  it('refuses a genuine signed answer copied from another machine’s entry', async () => {
    const { product, key } = await buy(h);
    const p = await proxy();
    const path = cachePath();
    const options = {
      serverUrl: p.url,
      product: product.slug,
      key,
      cache: { path },
      now: () => h.clock.now(),
    };
    const a = client({ ...options, fingerprint: 'machine-a' });
    const b = client({ ...options, fingerprint: 'machine-b' });
    await a.activate();
    const [nameA, valueA] = Object.entries((await readCache(path)).entries)[0] ?? [];
    await b.activate();
    const nameB = Object.keys((await readCache(path)).entries).find((n) => n !== nameA);
    if (!nameA || !valueA || !nameB) throw new Error('expected one entry per machine');
    // Machine b's entry replaced by machine a's genuine, signed VALID answer.
    await writeFile(path, JSON.stringify({ v: 1, entries: { [nameA]: valueA, [nameB]: valueA } }));
    p.mode = 'reset';
    expect(await a.validate()).toMatchObject({ valid: true, offline: true });
    expect(await failure(b.validate())).toMatchObject({ code: 'CACHE_INVALID' });
  });

  it('refuses a genuine valid answer that names no activation in place of this machine’s', async () => {
    const { product, key } = await buy(h);
    const p = await proxy();
    const path = cachePath();
    const options = {
      serverUrl: p.url,
      product: product.slug,
      key,
      cache: { path },
      now: () => h.clock.now(),
    };
    // Anyone with the key can get a signed VALID answer without activating anything.
    const unscoped = client(options);
    expect(await unscoped.validate()).toMatchObject({ valid: true, activation: null });
    const [nameNone, valueNone] = Object.entries((await readCache(path)).entries)[0] ?? [];
    const machine = client({ ...options, fingerprint: 'never-activated' });
    expect(await machine.validate()).toMatchObject({ valid: false, code: 'NOT_ACTIVATED' });
    const nameMachine = Object.keys((await readCache(path)).entries).find((n) => n !== nameNone);
    if (!nameNone || !valueNone || !nameMachine) throw new Error('expected two entries');
    await writeFile(
      path,
      JSON.stringify({ v: 1, entries: { [nameNone]: valueNone, [nameMachine]: valueNone } }),
    );
    p.mode = 'reset';
    expect(await unscoped.validate()).toMatchObject({ valid: true, offline: true });
    expect(await failure(machine.validate())).toMatchObject({ code: 'CACHE_INVALID' });
  });

  it('is not a way around the clock: an answer from the future means the clock was turned back', async () => {
    const { product, key } = await buy(h);
    const clock = clientClock();
    const p = await proxy();
    const path = cachePath();
    const app = client({ serverUrl: p.url, product: product.slug, key, cache: { path }, now: clock.now });
    await app.validate();
    p.mode = 'reset';
    clock.advance(-2 * DAY);
    expect(await failure(app.validate())).toMatchObject({ code: 'CLOCK_ROLLBACK' });
  });
});
