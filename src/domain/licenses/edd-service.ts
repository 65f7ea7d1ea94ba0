/**
 * EDD Software Licensing compatibility: the use-cases behind `edd_action` (activate, deactivate,
 * check_license, get_version and its batch form), answering in EDD's words. The wire contract is
 * shared/contracts/licensing.md section (b); reading the request and writing JSON is src/http/routes/edd.ts.
 */
import { domainToASCII, domainToUnicode } from 'node:url';
/** EDD clients send a handful of short fields; a batch of `get_version` stays far below this. */
import type { CoreDeps } from '../core-deps.ts';
import type { Repositories } from '../ports.ts';
import type { ReleaseService } from '../releases/release-service.ts';
import {
  type EddAction,
  type EddLicenseRequest,
  eddActivationError,
  eddCheckStatus,
  eddChecksum,
  eddLicenseFields,
  type FormParams,
  itemNameMatches,
  parseLicenseRequest,
  rawEddExpires,
  siteVariants,
} from './edd.ts';
import { createGetVersion } from './edd-version.ts';
import { type Activation, isExpired, type License, normalizeSiteURL } from './license.ts';
import { hashLicenseKey } from './license-key.ts';
import type { LicenseService } from './license-service.ts';
import type { PHPJSONValue } from './php.ts';

export interface EddDeps {
  deps: CoreDeps;
  licenses: LicenseService;
  releases: ReleaseService;
}

export type EddHandler = (params: FormParams, userAgent: string) => Promise<PHPJSONValue>;

interface Lookup {
  license: License | undefined;
  byItemId: boolean;
  itemMatches: boolean;
  /** `item_name` as EDD echoes it: the request's, else the title of the product `item_id` names. */
  itemName: string | false;
}

export function createEddService(ctx: EddDeps): Record<EddAction, EddHandler> {
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
