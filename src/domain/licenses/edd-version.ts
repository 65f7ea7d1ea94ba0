import type { Product } from '../model.ts';
import type { Repositories } from '../ports.ts';
import type { ReleaseView } from '../releases/release-service.ts';
import {
  changelogHTML,
  descriptionHTML,
  type FormParams,
  formatEddDate,
  itemNameMatches,
  parseBatchProducts,
  siteFromUserAgent,
} from './edd.ts';
import type { EddDeps, EddHandler } from './edd-service.ts';
import { type Activation, checkLicense, DEFAULT_POLICY, type License, normalizeSiteURL } from './license.ts';
import { hashLicenseKey } from './license-key.ts';
import {
  absint,
  encodeEmoji,
  type PHPJSONValue,
  phpBool,
  phpURLDecode,
  phpVersionCompare,
  serializePHP,
} from './php.ts';

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
export function createGetVersion(
  ctx: EddDeps,
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
