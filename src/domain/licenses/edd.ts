/**
 * EDD Software Licensing compatibility: the pure half. How a WordPress plugin's `edd_action` request is read
 * (PHP's extra urldecode, trim, the User-Agent URL fallback, `item_id`/`item_name` matching) and how our
 * license state is written back in EDD's words (`license`/`error` values, `expires` formats, the md5
 * `checksum` echo, PHP `json_encode` and `serialize` output). The wire contract is
 * shared/contracts/licensing.md section (b); the I/O lives in src/http/routes/edd.ts.
 */
import { createHash } from 'node:crypto';
import type { License, LicenseCode } from './license.ts';
import { absint, encodePHPJSON, phpURLDecode, sanitizeTitle } from './php.ts';

/** Form parameters after form decoding; a repeated name keeps its last value, as PHP does. */
export type FormParams = Record<string, string>;

export const EDD_ACTIONS = [
  'activate_license',
  'deactivate_license',
  'check_license',
  'get_version',
] as const;
export type EddAction = (typeof EDD_ACTIONS)[number];

/** WordPress `sanitize_key`: lower-case, `[a-z0-9_-]` only. */
export function sanitizeKey(value: string): string {
  return value.toLowerCase().replace(/[^a-z0-9_-]/g, '');
}

export function isEddAction(value: string): value is EddAction {
  return (EDD_ACTIONS as readonly string[]).includes(value);
}

/** The site from a WordPress User-Agent (`WordPress/6.5; https://site.example`), or ''. */
export function siteFromUserAgent(userAgent: string): string {
  const second = userAgent.split(';')[1]?.trim() ?? '';
  return /^https?:\/\/[^\s/]/i.test(second) ? second : '';
}

/** An `activate_license` / `deactivate_license` / `check_license` request, decoded as EDD decodes it. */
export interface EddLicenseRequest {
  key: string;
  /** `absint(item_id)`, or false when absent; 0 means "not given" for matching. */
  itemId: number | false;
  itemName: string | false;
  /** The raw site URL (after the User-Agent fallback); '' when there is none. */
  url: string;
  environment: string;
}

export function parseLicenseRequest(params: FormParams, userAgent: string): EddLicenseRequest {
  const item = params.item_id;
  const name = params.item_name;
  const url = phpURLDecode(params.url ?? '', { plus: true }).trim();
  return {
    key: phpURLDecode(params.license ?? '', { plus: true }).trim(),
    itemId: item === undefined ? false : absint(item.trim()),
    itemName: name === undefined ? false : phpURLDecode(name, { plus: false }).trim(),
    url: url || siteFromUserAgent(userAgent),
    environment: (params.environment ?? '').trim() || 'production',
  };
}

/**
 * EDD's `checksum`: the request's values in the action's order, sorted by PHP `strlen` descending (a
 * stable sort; `false` counts 0, numbers their digits), md5 of their PHP JSON. An echo for debugging.
 */
export function eddChecksum(action: Exclude<EddAction, 'get_version'>, req: EddLicenseRequest): string {
  const { itemName, key, url, itemId, environment } = req;
  const values: (string | number | boolean)[] =
    action === 'activate_license'
      ? [itemName, key, url, itemId, environment]
      : action === 'deactivate_license'
        ? [itemId, itemName, key, url, environment]
        : [itemId, itemName, key, url];
  const strlen = (v: string | number | boolean): number =>
    typeof v === 'string' ? new TextEncoder().encode(v).length : v === false ? 0 : String(v).length;
  const sorted = values.map((v, i) => ({ v, i, n: strlen(v) })).sort((a, b) => b.n - a.n || a.i - b.i);
  return createHash('md5')
    .update(encodePHPJSON(sorted.map((s) => s.v)))
    .digest('hex');
}

/** `"Y-m-d H:i:s"` in UTC (the store's timezone). */
export function formatEddDate(iso: string): string {
  return new Date(iso).toISOString().slice(0, 19).replace('T', ' ');
}

/** `"Y-m-d H:i:s"` or `"lifetime"`. */
export function formatEddExpires(expiresAt: string | null): string {
  return expiresAt === null ? 'lifetime' : formatEddDate(expiresAt);
}

/** `deactivate_license` answers with the raw stored value: a Unix timestamp, or `"lifetime"`. */
export function rawEddExpires(expiresAt: string | null): number | 'lifetime' {
  return expiresAt === null ? 'lifetime' : Math.floor(Date.parse(expiresAt) / 1000);
}

/** EDD's `check_item_name`: the requested name and the product's name agree after `sanitize_title`. */
export function itemNameMatches(requested: string | false, productName: string): boolean {
  if (requested === false) return false;
  const wanted = sanitizeTitle(requested);
  return wanted !== '' && wanted === sanitizeTitle(productName);
}

/** What every answer about an existing key carries (b.2). Buyers' personal data is never sent. */
export interface EddLicenseFields {
  license_limit: number;
  site_count: number;
  expires: string;
  activations_left: number | 'unlimited';
  payment_id: number;
  customer_name: string;
  customer_email: string;
  price_id: false;
}

export function eddLicenseFields(state: {
  activationLimit: number;
  siteCount: number;
  expiresAt: string | null;
}): EddLicenseFields {
  const { activationLimit, siteCount } = state;
  return {
    license_limit: activationLimit,
    site_count: siteCount,
    expires: formatEddExpires(state.expiresAt),
    activations_left: activationLimit === 0 ? 'unlimited' : Math.max(0, activationLimit - siteCount),
    // Anyone holding a key (shared or leaked ones included) can call this endpoint, and no known client
    // reads these fields, so they keep EDD's shape without carrying the buyer's order, name or e-mail.
    payment_id: 0,
    customer_name: '',
    customer_email: '',
    price_id: false,
  };
}

/** `activate_license` `error` for a refusal of the license service. */
export function eddActivationError(code: LicenseCode, byItemId: boolean): string {
  switch (code) {
    case 'NOT_FOUND':
      return 'missing';
    case 'PRODUCT_MISMATCH':
      return byItemId ? 'invalid_item_id' : 'item_name_mismatch';
    case 'SUSPENDED':
    case 'REVOKED':
      return 'disabled';
    case 'EXPIRED':
      return 'expired';
    case 'NO_ACTIVATIONS_LEFT':
      return 'no_activations_left';
    default:
      return 'invalid';
  }
}

export type EddCheckStatus =
  | 'valid'
  | 'invalid'
  | 'invalid_item_id'
  | 'item_name_mismatch'
  | 'expired'
  | 'disabled'
  | 'inactive'
  | 'site_inactive';

/** `check_license`'s status, first match wins (b.4). Expiry is reported even where it stops only updates. */
export function eddCheckStatus(input: {
  license: License | undefined;
  itemMatches: boolean;
  byItemId: boolean;
  now: Date;
  /** Active activations of any kind, local ones included. */
  activeCount: number;
  siteActive: boolean;
}): EddCheckStatus {
  const { license } = input;
  if (!license) return 'invalid';
  if (!input.itemMatches) return input.byItemId ? 'invalid_item_id' : 'item_name_mismatch';
  if (license.expiresAt !== null && Date.parse(license.expiresAt) <= input.now.getTime()) return 'expired';
  if (license.status !== 'active') return 'disabled';
  if (input.activeCount === 0) return 'inactive';
  return input.siteActive ? 'valid' : 'site_inactive';
}

/** A site's IDN and punycode spellings, as `check_license` tries both (`example.com/` form). */
export function siteVariants(
  site: string,
  toASCII: (host: string) => string,
  toUnicode: (host: string) => string,
): string[] {
  const slash = site.indexOf('/');
  const host = slash < 0 ? site : site.slice(0, slash);
  const rest = slash < 0 ? '' : site.slice(slash);
  const variants = new Set([site]);
  for (const convert of [toASCII, toUnicode]) {
    const other = convert(host);
    if (other) variants.add(`${other}${rest}`);
  }
  return [...variants];
}

/** The `products[<slug>][<field>]` batch form of `get_version`, or null when the request is not a batch. */
export function parseBatchProducts(params: FormParams, max = 100): Map<string, FormParams> | null {
  const batch = new Map<string, FormParams>();
  for (const [name, value] of Object.entries(params)) {
    const match = /^products\[([^\]]*)\]\[([^\]]+)\]$/.exec(name);
    if (!match) continue;
    const [, slug = '', field = ''] = match;
    let entry = batch.get(slug);
    if (!entry) {
      if (batch.size >= max) continue;
      entry = {};
      batch.set(slug, entry);
    }
    entry[field] = value;
  }
  return batch.size > 0 ? batch : null;
}

const escapeHTML = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A changelog as HTML for the plugin-details modal: the seller's HTML as is, plain text as paragraphs. */
export function changelogHTML(text: string | null): string {
  if (!text?.trim()) return '';
  if (/^\s*</.test(text)) return text;
  return text
    .trim()
    .split(/\r?\n\s*\r?\n/)
    .map((p) => `<p>${escapeHTML(p.trim()).replace(/\r?\n/g, '<br />\n')}</p>\n`)
    .join('');
}

export function descriptionHTML(productName: string): string {
  return `<p>${escapeHTML(productName)}</p>\n`;
}
