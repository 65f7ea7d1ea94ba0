/**
 * Replays, over real HTTP, what a WordPress plugin carrying EDD_SL_Plugin_Updater (v1.9.x) and the sample
 * plugin's license screen send to a store, and asserts on exactly what that PHP code reads back. The
 * client below is written from shared/contracts/licensing.md (b.2–b.4, b.7), not from the PHP source.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProductView } from '../src/domain/products/product-service.ts';
import { createHarness, freePort, type Harness } from './helpers/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

const HOUR = 3600_000;
const HOME = 'https://shop.customer-site.com';
const WP_VERSION = '6.5.2';
const PHP_VERSION = '8.2.18';

type PHPValue = string | number | boolean | null | PHPArray;
interface PHPArray {
  [key: string]: PHPValue;
}

/**
 * WordPress `maybe_unserialize` for what a store may send: a serialized array of strings (and ints) becomes
 * an array; a non-serialized value passes through; serialized data that does not parse becomes false.
 */
function maybeUnserialize(value: unknown): unknown {
  if (typeof value !== 'string' || !/^(a:\d+:\{|s:\d+:"|i:-?\d+;|b:[01];|N;)/.test(value.trim()))
    return value;
  const buf = Buffer.from(value.trim(), 'utf8');
  let pos = 0;
  const expect_ = (text: string): void => {
    if (buf.subarray(pos, pos + text.length).toString('latin1') !== text)
      throw new Error('bad serialization');
    pos += text.length;
  };
  const readUntil = (stop: string): string => {
    const end = buf.indexOf(stop, pos, 'latin1');
    if (end < 0) throw new Error('bad serialization');
    const text = buf.subarray(pos, end).toString('latin1');
    pos = end + 1;
    return text;
  };
  const read = (): PHPValue => {
    const type = buf.subarray(pos, pos + 2).toString('latin1');
    pos += 2;
    if (type === 'N;') return null;
    if (type === 'i:') return Number(readUntil(';'));
    if (type === 'b:') return readUntil(';') === '1';
    if (type === 's:') {
      const length = Number(readUntil(':'));
      expect_('"');
      const text = buf.subarray(pos, pos + length).toString('utf8');
      pos += length;
      expect_('";');
      return text;
    }
    if (type === 'a:') {
      const count = Number(readUntil(':'));
      expect_('{');
      const out: PHPArray = {};
      for (let i = 0; i < count; i++) {
        const key = read();
        if (typeof key !== 'string' && typeof key !== 'number') throw new Error('bad key');
        out[String(key)] = read();
      }
      expect_('}');
      return out;
    }
    throw new Error(`unsupported serialized type ${type}`); // objects (O:) included: never accepted
  };
  try {
    const result = read();
    return pos === buf.length ? result : false;
  } catch {
    return false;
  }
}

/** PHP `version_compare($a, $b, '<')` for the dotted numeric versions used here. */
function versionLess(a: string, b: string): boolean {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined) return true;
    if (y === undefined) return false;
    if (x !== y) return x < y;
  }
  return false;
}

/** PHP `http_build_query` of an `$api_params` array, as wp_remote_post sends a body: true → 1, false → 0. */
function buildQuery(params: Record<string, string | number | boolean>): string {
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    form.append(k, typeof v === 'boolean' ? (v ? '1' : '0') : String(v));
  return form.toString();
}

interface HTTPCall {
  url: string;
  method: string;
  contentType: string;
  userAgent: string;
  body: URLSearchParams;
}

/** What WordPress (wp_remote_post / download_url) does on the wire, with a log of every call. */
class WordPressSite {
  readonly calls: HTTPCall[] = [];
  readonly options = new Map<string, unknown>();
  constructor(
    readonly home: string,
    readonly now: () => number,
  ) {}

  async post(
    url: string,
    params: Record<string, string | number | boolean>,
  ): Promise<{ status: number; body: string }> {
    const body = buildQuery(params);
    const headers = {
      'content-type': 'application/x-www-form-urlencoded; charset=UTF-8',
      'user-agent': `WordPress/${WP_VERSION}; ${this.home}`,
    };
    this.calls.push({
      url,
      method: 'POST',
      contentType: headers['content-type'],
      userAgent: headers['user-agent'],
      body: new URLSearchParams(body),
    });
    try {
      const res = await fetch(url, { method: 'POST', headers, body });
      return { status: res.status, body: await res.text() };
    } catch {
      return { status: 0, body: '' }; // a WP_Error: connection refused, timeout, TLS failure
    }
  }
}

interface UpdaterConfig {
  version: string;
  license: string;
  item_id?: number;
  item_name?: string;
  author: string;
  beta: boolean;
}

/** The transient entry WordPress core gets for the plugin (`response[]` or `no_update[]`). */
interface UpdateEntry {
  id: string;
  slug: string;
  plugin: string;
  new_version: string;
  url: string;
  package: string;
  icons: unknown;
  banners: unknown;
  banners_rtl: unknown[];
  tested: string;
  requires: string;
  requires_php: string;
}

type VersionInfo = Record<string, unknown>;

/** EDD_SL_Plugin_Updater as the contract (b.7) describes it: what it sends, caches, reads and skips. */
class PluginUpdater {
  readonly apiURL: string;
  readonly slug: string;

  constructor(
    readonly site: WordPressSite,
    storeURL: string,
    readonly pluginFile: string,
    readonly config: UpdaterConfig,
  ) {
    this.apiURL = storeURL.endsWith('/') ? storeURL : `${storeURL}/`; // trailingslashit
    this.slug =
      pluginFile
        .split('/')
        .at(-1)
        ?.replace(/\.php$/, '') ?? '';
  }

  get name(): string {
    return this.pluginFile;
  }

  private get failureOption(): string {
    return `edd_sl_failed_http_${createHash('md5').update(this.apiURL).digest('hex')}`;
  }

  private get cacheKey(): string {
    const raw = `${this.slug}${this.config.license}${this.config.beta ? '1' : ''}`;
    return `edd_sl_${createHash('md5').update(`s:${raw.length}:"${raw}";`).digest('hex')}`;
  }

  /** get_version_from_remote: null (false) on any failure, else the decoded and unserialized answer. */
  async getVersionFromRemote(): Promise<VersionInfo | null> {
    if (this.apiURL.replace(/\/$/, '') === this.site.home.replace(/\/$/, '')) return null;
    const failedAt = this.site.options.get(this.failureOption) as number | undefined;
    if (failedAt !== undefined && this.site.now() < failedAt + HOUR) return null;
    const res = await this.site.post(this.apiURL, {
      edd_action: 'get_version',
      license: this.config.license,
      item_name: this.config.item_name ?? false,
      item_id: this.config.item_id ?? false,
      version: this.config.version,
      slug: this.slug,
      author: this.config.author,
      url: this.site.home,
      beta: this.config.beta,
      php_version: PHP_VERSION,
      wp_version: WP_VERSION,
    });
    if (res.status !== 200) {
      this.site.options.set(this.failureOption, this.site.now());
      return null;
    }
    let request: VersionInfo | null;
    try {
      request = JSON.parse(res.body) as VersionInfo;
    } catch {
      request = null;
    }
    if (!request || typeof request !== 'object' || !('sections' in request)) return null;
    request.sections = maybeUnserialize(request.sections);
    if ('banners' in request) request.banners = maybeUnserialize(request.banners);
    if ('icons' in request) request.icons = maybeUnserialize(request.icons);
    return request;
  }

  /** The cached answer; a cached failure (false) reads as empty, so both paths ask again. */
  private cached(): VersionInfo | undefined {
    const entry = this.site.options.get(this.cacheKey) as { timeout: number; value: string } | undefined;
    if (!entry || this.site.now() > entry.timeout) return undefined;
    return (JSON.parse(entry.value) as VersionInfo | null) ?? undefined;
  }

  private cache(value: VersionInfo | null): void {
    this.site.options.set(this.cacheKey, {
      timeout: this.site.now() + 3 * HOUR,
      value: JSON.stringify(value),
    });
  }

  /** pre_set_site_transient_update_plugins → check_update: a failed answer is not cached here. */
  async checkUpdate(): Promise<{
    response: Record<string, UpdateEntry>;
    no_update: Record<string, UpdateEntry>;
  }> {
    const transient = {
      response: {} as Record<string, UpdateEntry>,
      no_update: {} as Record<string, UpdateEntry>,
    };
    let info: VersionInfo | null | undefined = this.cached();
    if (info === undefined) {
      info = await this.getVersionFromRemote();
      if (info) this.cache(info);
    }
    if (!info || typeof info.new_version !== 'string') return transient;
    const str = (v: unknown): string => (typeof v === 'string' ? v : '');
    let tested = str(info.tested);
    // `tested` 6.5 becomes the running 6.5.2 when major.minor match.
    if (/^\d+\.\d+$/.test(tested) && WP_VERSION.startsWith(`${tested}.`)) tested = WP_VERSION;
    const entry: UpdateEntry = {
      id: this.name,
      slug: this.slug,
      plugin: this.name,
      new_version: info.new_version,
      url: str(info.url),
      package: str(info.package),
      icons: info.icons ?? [],
      banners: info.banners ?? [],
      banners_rtl: [],
      tested,
      requires: str(info.requires),
      requires_php: str(info.requires_php),
    };
    if (versionLess(this.config.version, info.new_version)) transient.response[this.name] = entry;
    else transient.no_update[this.name] = entry;
    return transient;
  }

  /** plugins_api for `plugin_information` (the "View details" modal): even a failure is cached. */
  async pluginsAPI(slug: string): Promise<VersionInfo | null | undefined> {
    if (slug !== this.slug) return undefined;
    const cached = this.cached();
    if (cached !== undefined) return cached;
    const info = await this.getVersionFromRemote();
    this.cache(info);
    return info;
  }
}

/** The sample plugin's license screen: activate, check and deactivate (edd-sample-plugin.php). */
async function licenseCall(
  site: WordPressSite,
  storeURL: string,
  action: 'activate_license' | 'check_license' | 'deactivate_license',
  key: string,
  itemName: string,
): Promise<Record<string, unknown>> {
  const res = await site.post(storeURL, {
    edd_action: action,
    license: key,
    // The sample encodes the name itself before the form encoding: the store must decode twice.
    item_name: encodeURIComponent(itemName),
    url: site.home,
    environment: 'production',
  });
  expect(res.status).toBe(200);
  return JSON.parse(res.body) as Record<string, unknown>;
}

interface Store {
  product: ProductView;
  key: string;
  licenseId: string;
}

let seq = 0;

async function store(): Promise<Store> {
  seq += 1;
  const product = await h.ctx.products.create({
    name: `Sample Plugin ${seq}`,
    license: { activationLimit: 2, durationDays: 365 },
  });
  const order = await h.ctx.orders.create({
    email: `wp${seq}@example.com`,
    products: [product.slug],
    source: 'test',
  });
  const issued = order.licenses[0];
  if (!issued) throw new Error('no license');
  return { product, key: issued.key, licenseId: issued.id };
}

async function publish(s: Store, version: string, extra: { tested?: string; requiresPHP?: string } = {}) {
  const bytes = randomBytes(2048);
  await h.ctx.releases.add({
    product: s.product.slug,
    version,
    fileName: `${s.product.slug}.zip`,
    body: Readable.from([bytes]),
    changelog: `<h4>${version}</h4><ul><li>Changes — naïve</li></ul>`,
    ...extra,
  });
  return bytes;
}

describe('EDD_SL_Plugin_Updater replay', () => {
  it('activates, checks, offers the update with a working package, shows details, and deactivates', async () => {
    const s = await store();
    const site = new WordPressSite(HOME, () => h.clock.now().getTime());
    const storeURL = h.url; // as compiled into the plugin, without the trailing slash

    // License screen: activation. The sample reads `license` and, on failure, `error`.
    const activated = await licenseCall(site, `${storeURL}/`, 'activate_license', s.key, s.product.name);
    expect(activated.success).toBe(true);
    expect(activated.license).toBe('valid');
    const checked = await licenseCall(site, `${storeURL}/`, 'check_license', s.key, s.product.name);
    expect(checked.license).toBe('valid');

    await publish(s, '1.0.0');
    const bytes = await publish(s, '1.1.0', { tested: '6.5', requiresPHP: '7.4' });

    const updater = new PluginUpdater(site, storeURL, 'sample-plugin/sample-plugin.php', {
      version: '1.0.0',
      license: s.key,
      item_id: s.product.item_id ?? 0,
      author: 'Seller',
      beta: false,
    });
    site.calls.length = 0;
    const transient = await updater.checkUpdate();

    // Exactly one form-encoded POST to the trailing-slash store URL, with the updater's parameters.
    expect(site.calls).toHaveLength(1);
    const call = site.calls[0]!;
    expect(call.url).toBe(`${h.url}/`);
    expect(call.method).toBe('POST');
    expect(call.contentType).toMatch(/^application\/x-www-form-urlencoded/);
    expect([...call.body.keys()]).toEqual([
      'edd_action',
      'license',
      'item_name',
      'item_id',
      'version',
      'slug',
      'author',
      'url',
      'beta',
      'php_version',
      'wp_version',
    ]);
    expect(call.body.get('item_name')).toBe('0'); // PHP false, form-encoded

    const entry = transient.response[updater.name];
    expect(transient.no_update).toEqual({});
    expect(entry).toMatchObject({
      slug: 'sample-plugin',
      plugin: 'sample-plugin/sample-plugin.php',
      new_version: '1.1.0',
      url: `${h.url}/`,
      tested: WP_VERSION,
      requires_php: '7.4',
      icons: {},
      banners: { high: '', low: '' },
    });
    expect(entry?.package).toMatch(new RegExp(`^${h.url}/p/`));

    // WordPress downloads the package right away (download_url: a plain GET).
    const download = await fetch(entry?.package ?? '');
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer()).equals(bytes)).toBe(true);

    // Within 3 hours, the cached answer is used: no request.
    h.clock.advance(HOUR);
    expect((await updater.checkUpdate()).response[updater.name]?.new_version).toBe('1.1.0');
    expect(site.calls).toHaveLength(1);

    // "View details": sections (after maybe_unserialize) feed the modal tabs.
    const details = await updater.pluginsAPI('sample-plugin');
    expect(details?.sections).toEqual({
      description: `<p>${s.product.name}</p>\n`,
      changelog: '<h4>1.1.0</h4><ul><li>Changes — naïve</li></ul>',
    });
    expect(details?.name).toBe(s.product.name);
    expect(await updater.pluginsAPI('another-plugin')).toBeUndefined();

    // After the cache expires and the plugin is updated, the entry moves to no_update (auto-updates).
    h.clock.advance(3 * HOUR);
    const updated = new PluginUpdater(site, `${storeURL}/`, 'sample-plugin/sample-plugin.php', {
      ...updater.config,
      version: '1.1.0',
    });
    const after = await updated.checkUpdate();
    expect(after.response).toEqual({});
    expect(after.no_update[updated.name]).toMatchObject({ new_version: '1.1.0' });
    expect(site.calls.at(-1)?.url).toBe(`${h.url}/`); // no double slash either

    // License screen: deactivation. The sample only tests `license === "deactivated"`.
    const deactivated = await licenseCall(site, `${storeURL}/`, 'deactivate_license', s.key, s.product.name);
    expect(deactivated.license).toBe('deactivated');
    const recheck = await licenseCall(site, `${storeURL}/`, 'check_license', s.key, s.product.name);
    expect(recheck.license).toBe('inactive');
  });

  it('announces updates without a package when the plugin has no license key yet', async () => {
    const s = await store();
    await publish(s, '2.0.0');
    const site = new WordPressSite(HOME, () => h.clock.now().getTime());
    const updater = new PluginUpdater(site, h.url, 'sample-plugin/sample-plugin.php', {
      version: '1.0.0',
      license: '',
      item_id: s.product.item_id ?? 0,
      author: 'Seller',
      beta: false,
    });
    const entry = (await updater.checkUpdate()).response[updater.name];
    expect(entry).toMatchObject({ new_version: '2.0.0', package: '' });
  });

  it('keeps (and caches) the answer for an unknown item, because sections is present even there', async () => {
    const site = new WordPressSite(HOME, () => h.clock.now().getTime());
    const updater = new PluginUpdater(site, h.url, 'gone-plugin/gone-plugin.php', {
      version: '1.0.0',
      license: '',
      item_id: 987_654_321,
      author: 'Seller',
      beta: false,
    });
    const transient = await updater.checkUpdate();
    expect(transient.response).toEqual({});
    expect(transient.no_update[updater.name]).toMatchObject({ new_version: '', package: '' });
    await updater.checkUpdate();
    expect(site.calls).toHaveLength(1);
  });

  it('backs off for an hour after a non-200 answer, then asks again', async () => {
    const site = new WordPressSite(HOME, () => h.clock.now().getTime());
    const updater = new PluginUpdater(site, `${h.url}/no-store-here`, 'sample-plugin/sample-plugin.php', {
      version: '1.0.0',
      license: 'KEY',
      item_id: 1,
      author: 'Seller',
      beta: false,
    });
    expect(await updater.checkUpdate()).toEqual({ response: {}, no_update: {} });
    expect(site.calls).toHaveLength(1);
    expect(site.calls[0]?.url).toBe(`${h.url}/no-store-here/`);
    h.clock.advance(HOUR / 2);
    await updater.checkUpdate();
    expect(await updater.pluginsAPI('sample-plugin')).toBeNull();
    expect(site.calls).toHaveLength(1);
    h.clock.advance(HOUR);
    await updater.checkUpdate();
    expect(site.calls).toHaveLength(2);
  });

  it('backs off after a transport error (nothing listening) just as after a non-200', async () => {
    const site = new WordPressSite(HOME, () => h.clock.now().getTime());
    const updater = new PluginUpdater(
      site,
      `http://127.0.0.1:${await freePort()}`,
      'sample-plugin/sample-plugin.php',
      {
        version: '1.0.0',
        license: 'KEY',
        item_id: 1,
        author: 'Seller',
        beta: false,
      },
    );
    expect(await updater.checkUpdate()).toEqual({ response: {}, no_update: {} });
    await updater.checkUpdate();
    expect(site.calls).toHaveLength(1);
  });

  it('never calls the store when the store is the site itself', async () => {
    const site = new WordPressSite(h.url, () => h.clock.now().getTime());
    const updater = new PluginUpdater(site, `${h.url}/`, 'sample-plugin/sample-plugin.php', {
      version: '1.0.0',
      license: '',
      item_id: 1,
      author: 'Seller',
      beta: false,
    });
    await updater.checkUpdate();
    expect(site.calls).toHaveLength(0);
  });

  it('serves the theme updater, which sends name instead of item_name', async () => {
    const s = await store();
    await publish(s, '3.1.0');
    const site = new WordPressSite(HOME, () => h.clock.now().getTime());
    await licenseCall(site, `${h.url}/`, 'activate_license', s.key, s.product.name);
    const res = await site.post(`${h.url}/`, {
      edd_action: 'get_version',
      license: s.key,
      name: s.product.name,
      slug: 'sample-theme',
      version: '3.0.0',
      author: 'Seller',
      beta: false,
      item_id: false,
      php_version: PHP_VERSION,
      wp_version: WP_VERSION,
    });
    expect(res.status).toBe(200);
    const info = JSON.parse(res.body) as VersionInfo;
    expect(info).toMatchObject({ new_version: '3.1.0', url: `${h.url}/`, slug: 'sample-theme' });
    expect(String(info.package)).toMatch(new RegExp(`^${h.url}/p/`));
    expect(maybeUnserialize(info.sections)).toMatchObject({ changelog: expect.stringContaining('3.1.0') });
  });
});
