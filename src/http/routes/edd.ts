import { domainToASCII, domainToUnicode } from 'node:url';
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AppContext } from '../../context.ts';
import { AppError } from '../../domain/errors.ts';
import {
  changelogHTML,
  descriptionHTML,
  type EddAction,
  type EddLicenseRequest,
  eddActivationError,
  eddCheckStatus,
  eddChecksum,
  eddLicenseFields,
  type FormParams,
  formatEddDate,
  isEddAction,
  itemNameMatches,
  parseBatchProducts,
  parseLicenseRequest,
  rawEddExpires,
  sanitizeKey,
  siteFromUserAgent,
  siteVariants,
} from '../../domain/licenses/edd.ts';
import {
  type Activation,
  checkLicense,
  DEFAULT_POLICY,
  isExpired,
  type License,
  normalizeSiteURL,
} from '../../domain/licenses/license.ts';
import { hashLicenseKey } from '../../domain/licenses/license-key.ts';
import {
  absint,
  encodeEmoji,
  encodePHPJSON,
  type PHPJSONValue,
  phpBool,
  phpURLDecode,
  phpVersionCompare,
  serializePHP,
} from '../../domain/licenses/php.ts';
import type { Product } from '../../domain/model.ts';
import type { Repositories } from '../../domain/ports.ts';
import type { ReleaseView } from '../../domain/releases/release-service.ts';
import type { AppEnv } from '../env.ts';
import { enforceLicenseRateLimit } from '../middleware/license-rate-limit.ts';

/** EDD clients send a handful of short fields; a batch of `get_version` stays far below this. */
const MAX_BODY_BYTES = 64 * 1024;

/** The request's form fields: POST body, then the query string, which wins (b.1). */
async function readParams(c: Context<AppEnv>): Promise<FormParams> {
  const params: FormParams = Object.create(null);
  const type = c.req.header('content-type') ?? '';
  if (c.req.method === 'POST' && (type === '' || /^application\/x-www-form-urlencoded/i.test(type))) {
    for (const [name, value] of new URLSearchParams(await c.req.text())) params[name] = value;
  }
  for (const [name, value] of new URL(c.req.url).searchParams) params[name] = value;
  return params;
}

/**
 * EDD Software Licensing compatible endpoint at the site root: `edd_action` requests as a GET query or
 * a form POST, always answered 200 with PHP-style JSON (shared/contracts/licensing.md, b.1–b.6).
 */
export function eddRoutes(ctx: AppContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const actions = createEddActions(ctx);
  const handle: MiddlewareHandler<AppEnv> = async (c, next) => {
    const params = await readParams(c);
    const action = sanitizeKey(params.edd_action ?? '');
    if (!isEddAction(action)) return next();
    // Beyond the allowance the answer is a 429: EDD's updater treats any non-200 as "try again in an hour".
    await enforceLicenseRateLimit(ctx, c, params.license?.trim() || undefined);
    const body = await actions[action](params, c.req.header('user-agent') ?? '');
    return c.body(encodePHPJSON(body), 200, {
      'Content-Type': 'application/json; charset=UTF-8',
      'Cache-Control': 'no-store',
    });
  };
  app.get('/', handle);
  const tooLarge = (): never => {
    throw new AppError('PAYLOAD_TOO_LARGE', { message: `Bodies may be at most ${MAX_BODY_BYTES} bytes.` });
  };
  const streamedLimit = bodyLimit({ maxSize: MAX_BODY_BYTES, onError: tooLarge });
  // A declared length is checked from the header; only chunked bodies go through the streaming limit
  // (which makes the Node adapter build a web body stream for the request).
  app.post(
    '/',
    (c, next) => {
      const declared = c.req.header('content-length');
      if (declared === undefined || c.req.header('transfer-encoding') !== undefined)
        return streamedLimit(c, next);
      if (Number(declared) > MAX_BODY_BYTES) tooLarge();
      return next();
    },
    handle,
  );
  return app;
}

type EddHandler = (params: FormParams, userAgent: string) => Promise<PHPJSONValue>;

interface Lookup {
  license: License | undefined;
  byItemId: boolean;
  itemMatches: boolean;
  /** `item_name` as EDD echoes it: the request's, else the title of the product `item_id` names. */
  itemName: string | false;
}

function createEddActions(ctx: AppContext): Record<EddAction, EddHandler> {
  const { uow, clock, licenseLookupKey } = ctx.deps;

  async function lookup(repos: Repositories, req: EddLicenseRequest): Promise<Lookup> {
    const byItemId = req.itemId !== false && req.itemId > 0;
    const [license, named] = await Promise.all([
      req.key ? repos.licenses.findByKeyHash(hashLicenseKey(licenseLookupKey, req.key)) : undefined,
      byItemId ? repos.products.findByItemId(req.itemId as number) : undefined,
    ]);
    let itemMatches = false;
    if (license && byItemId) itemMatches = named?.id === license.productId;
    else if (license) {
      const licensed = await repos.products.findById(license.productId);
      itemMatches = licensed !== undefined && itemNameMatches(req.itemName, licensed.name);
    }
    const itemName = req.itemName !== false ? req.itemName : byItemId ? (named?.name ?? '') : false;
    return { license, byItemId, itemMatches, itemName };
  }

  async function siteCount(repos: Repositories, licenseId: string): Promise<number> {
    return (await repos.licenses.activeActivations(licenseId)).filter((a) => !a.isLocal).length;
  }

  async function fieldsOf(repos: Repositories, license: License) {
    return eddLicenseFields({
      activationLimit: license.activationLimit,
      siteCount: await siteCount(repos, license.id),
      expiresAt: license.expiresAt,
    });
  }

  /** The active site activation for `site` under any of its IDN spellings. */
  function activeSite(active: Activation[], site: string | null): Activation | undefined {
    if (!site) return undefined;
    const variants = siteVariants(site, domainToASCII, domainToUnicode);
    return active.find((a) => a.kind === 'site' && variants.includes(a.identifier));
  }

  const activate: EddHandler = async (params, userAgent) => {
    const req = parseLicenseRequest(params, userAgent);
    const checksum = eddChecksum('activate_license', req);
    const repos = uow.repos;
    const found = await lookup(repos, req);
    const head = { success: false, license: 'invalid', item_id: req.itemId, item_name: found.itemName };
    const { license } = found;
    if (!license) return { ...head, error: 'missing', checksum };
    let error: string | null = null;
    if (!req.url || !normalizeSiteURL(req.url)) error = 'missing_url';
    else if (!found.itemMatches) error = found.byItemId ? 'invalid_item_id' : 'item_name_mismatch';
    if (error) return { ...head, error, ...(await fieldsOf(repos, license)), checksum };

    const result = await ctx.licenses.activate({
      key: req.key,
      product: license.productId,
      siteUrl: req.url,
      environment: req.environment,
    });
    const state = result.license;
    const fields = state
      ? eddLicenseFields({
          activationLimit: state.activation_limit,
          siteCount: state.active_count,
          expiresAt: state.expires_at,
        })
      : await fieldsOf(repos, license);
    if (!result.valid) {
      const refusal = eddActivationError(result.code, found.byItemId);
      const maxSites = refusal === 'no_activations_left' ? { max_sites: fields.site_count } : {};
      return { ...head, error: refusal, ...maxSites, ...fields, checksum };
    }
    const local = result.activation?.is_local ? { is_local: true } : {};
    return { ...head, success: true, license: 'valid', ...local, ...fields, checksum };
  };

  const deactivate: EddHandler = async (params, userAgent) => {
    const req = parseLicenseRequest(params, userAgent);
    const checksum = eddChecksum('deactivate_license', req);
    const found = await lookup(uow.repos, req);
    const head = { item_id: req.itemId, item_name: found.itemName, checksum };
    const { license } = found;
    if (!license) return { success: false, license: 'failed', ...head };
    const fields = {
      expires: rawEddExpires(license.expiresAt),
      payment_id: 0,
      customer_name: '',
      customer_email: '',
      price_id: false,
    };
    // Expired keys cannot be deactivated (b.3), whatever expiry stops.
    const refused =
      !found.itemMatches ||
      license.status !== 'active' ||
      isExpired(license, clock.now()) ||
      !req.url ||
      !normalizeSiteURL(req.url);
    const result = refused
      ? null
      : await ctx.licenses.deactivate({
          key: req.key,
          product: license.productId,
          siteUrl: req.url,
          environment: req.environment,
        });
    const done = result?.code === 'DEACTIVATED';
    return { success: done, license: done ? 'deactivated' : 'failed', ...head, ...fields };
  };

  const check: EddHandler = async (params, userAgent) => {
    const req = parseLicenseRequest(params, userAgent);
    const checksum = eddChecksum('check_license', req);
    const repos = uow.repos;
    const found = await lookup(repos, req);
    const head = { item_id: req.itemId, item_name: found.itemName, checksum };
    const { license } = found;
    if (!license) return { success: false, license: 'invalid', ...head };
    const active = await repos.licenses.activeActivations(license.id);
    const status = eddCheckStatus({
      license,
      itemMatches: found.itemMatches,
      byItemId: found.byItemId,
      now: clock.now(),
      activeCount: active.length,
      siteActive: activeSite(active, req.url ? normalizeSiteURL(req.url) : null) !== undefined,
    });
    const fields = eddLicenseFields({
      activationLimit: license.activationLimit,
      siteCount: active.filter((a) => !a.isLocal).length,
      expiresAt: license.expiresAt,
    });
    return { success: true, license: status, ...head, ...fields };
  };

  return {
    activate_license: activate,
    deactivate_license: deactivate,
    check_license: check,
    get_version: createGetVersion(ctx, activeSite),
  };
}

function versionError(msg: string): PHPJSONValue {
  return {
    new_version: '',
    stable_version: '',
    sections: '',
    license_check: '',
    msg,
    homepage: '',
    package: '',
    icons: [],
    banners: [],
  };
}

/** `get_version` (b.5), single and batch: update metadata, with a package link only for an active site. */
function createGetVersion(
  ctx: AppContext,
  activeSite: (active: Activation[], site: string | null) => Activation | undefined,
): EddHandler {
  const { uow, clock, licenseLookupKey, publicUrl } = ctx.deps;

  async function productNamed(repos: Repositories, name: string, license: License | undefined) {
    const licensed = license ? await repos.products.findById(license.productId) : undefined;
    if (licensed && itemNameMatches(name, licensed.name)) return licensed;
    return (await repos.products.list()).find((p) => p.licensePolicy && itemNameMatches(name, p.name));
  }

  /** The package link for `release`, or why there is none (the download re-checks all of it). */
  async function packageFor(
    repos: Repositories,
    license: License,
    product: Product,
    release: ReleaseView,
    url: string,
    fingerprint: string,
  ): Promise<{ link: string; msg?: string }> {
    // Desktop apps (the client SDK) ask with a machine fingerprint instead of a site URL.
    const active = await repos.licenses.activeActivations(license.id);
    const activation = fingerprint
      ? active.find((a) => a.kind === 'machine' && a.identifier === fingerprint)
      : activeSite(active, normalizeSiteURL(url));
    const check = checkLicense({
      license,
      productMatches: true,
      now: clock.now(),
      activation,
      requireActivation: true,
    });
    // An expired license (whose expiry stops only updates) keeps, if the product allows it, the
    // releases published before it expired; the package route applies the same rule.
    const stale =
      check.code === 'EXPIRED' &&
      (!(product.licensePolicy?.preExpiryReleases ?? DEFAULT_POLICY.preExpiryReleases) ||
        Date.parse(release.created_at) >= Date.parse(license.expiresAt ?? ''));
    if (!check.valid || stale || !activation) {
      const msg =
        check.code === 'EXPIRED'
          ? 'Your license has expired; renew it to receive this update.'
          : check.code === 'NOT_ACTIVATED'
            ? 'Your license is not active for this site or machine; activate it to receive updates.'
            : 'Your license key has been disabled.';
      return { link: '', msg };
    }
    const link = ctx.releases.packageURL({
      licenseId: license.id,
      releaseId: release.id,
      site: activation.kind === 'site' ? activation.identifier : null,
      fingerprint: activation.kind === 'machine' ? activation.identifier : null,
    });
    return { link };
  }

  async function single(params: FormParams, userAgent: string): Promise<PHPJSONValue> {
    const itemId = absint(params.item_id ?? '');
    const itemName = phpURLDecode(params.item_name || params.name || '', { plus: false }).trim();
    const key = phpURLDecode(params.license ?? '', { plus: true }).trim();
    const installed = (params.version ?? '').trim();
    const url = phpURLDecode(params.url ?? '', { plus: true }).trim() || siteFromUserAgent(userAgent);
    if (!itemId && !itemName) return versionError('No item provided');

    const repos = uow.repos;
    const license = key
      ? await repos.licenses.findByKeyHash(hashLicenseKey(licenseLookupKey, key))
      : undefined;
    const product: Product | undefined = itemId
      ? await repos.products.findByItemId(itemId)
      : await productNamed(repos, itemName, license);
    if (!product?.licensePolicy) return versionError('Item name provided does not match a valid Download');
    if (key && license?.productId !== product.id)
      return versionError(`License key is not valid for ${product.name}`);

    const beta = phpBool(params.beta);
    const php = params.php_version?.trim() || undefined;
    const wp = params.wp_version?.trim() || undefined;
    const query = { productId: product.id, beta };
    const newest = await ctx.releases.latest(query);
    const eligible = php || wp ? await ctx.releases.latest({ ...query, php, wp }) : newest;
    // Platform requirements: offer the newest release this platform can run, if it is an update at
    // all; otherwise answer with the installed version, so that nothing is offered (b.5 step 8).
    const blocked =
      newest !== null &&
      (eligible === null ||
        (eligible.id !== newest.id &&
          installed !== '' &&
          phpVersionCompare(eligible.version, installed) <= 0));
    const offered = blocked ? null : eligible;
    const stable =
      beta && offered?.beta ? await ctx.releases.latest({ ...query, beta: false, php, wp }) : offered;
    const shown = offered ?? newest;

    let link = '';
    let msg: string | undefined;
    if (!license) msg = 'No license key has been provided.';
    else if (offered)
      ({ link, msg } = await packageFor(
        repos,
        license,
        product,
        offered,
        url,
        (params.fingerprint ?? '').trim(),
      ));
    else if (blocked) msg = 'The newest release needs a newer PHP or WordPress than this site runs.';
    else if (!newest) msg = 'No release has been published yet.';

    const homepage = `${publicUrl}/`;
    const newVersion = offered?.version ?? (blocked ? installed : '');
    return {
      new_version: newVersion,
      stable_version: blocked ? installed : (stable?.version ?? newVersion),
      name: encodeEmoji(product.name),
      slug: params.slug?.trim() || product.slug,
      url: homepage,
      last_updated: shown ? formatEddDate(shown.created_at) : '',
      homepage,
      package: link,
      download_link: link,
      sections: serializePHP({
        description: descriptionHTML(product.name),
        changelog: changelogHTML(shown?.changelog ?? null),
      }),
      banners: serializePHP({ high: '', low: '' }),
      icons: serializePHP({}),
      requires: shown?.requires_wp ?? undefined,
      tested: shown?.tested ?? undefined,
      requires_php: shown?.requires_php ?? undefined,
      msg,
    };
  }

  return async (params, userAgent) => {
    const batch = parseBatchProducts(params);
    if (!batch) return single(params, userAgent);
    const shared: FormParams = Object.create(null);
    for (const [name, value] of Object.entries(params))
      if (!name.startsWith('products[')) shared[name] = value;
    const answers: Record<string, PHPJSONValue> = Object.create(null);
    for (const [slug, entry] of batch) answers[slug] = await single({ ...shared, slug, ...entry }, userAgent);
    return answers;
  };
}
