/**
 * EDD Software Licensing compatibility: the pure half. How a WordPress plugin's `edd_action` request is read
 * (PHP's extra urldecode, trim, the User-Agent URL fallback, `item_id`/`item_name` matching) and how our
 * license state is written back in EDD's words (`license`/`error` values, `expires` formats, the md5
 * `checksum` echo, PHP `json_encode` and `serialize` output). The wire contract is
 * shared/contracts/licensing.md section (b); the I/O lives in src/http/routes/edd.ts.
 */
import { createHash } from 'node:crypto';
import type { License, LicenseCode } from './license.ts';

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

const isHex = (b: number | undefined): boolean =>
  b !== undefined && ((b >= 48 && b <= 57) || (b >= 65 && b <= 70) || (b >= 97 && b <= 102));

/**
 * PHP `urldecode` (`plus`: `+` is a space) or `rawurldecode`. Clients often encode values before putting
 * them in a form body, so EDD decodes once more after form decoding; malformed `%` sequences stay as they are.
 */
export function phpURLDecode(value: string, options: { plus: boolean }): string {
  if (!value.includes('%') && !(options.plus && value.includes('+'))) return value;
  const src = new TextEncoder().encode(value);
  const out: number[] = [];
  for (let i = 0; i < src.length; i++) {
    const b = src[i] as number;
    if (options.plus && b === 0x2b) out.push(0x20);
    else if (b === 0x25 && isHex(src[i + 1]) && isHex(src[i + 2])) {
      out.push(Number.parseInt(String.fromCharCode(src[i + 1] as number, src[i + 2] as number), 16));
      i += 2;
    } else out.push(b);
  }
  return new TextDecoder().decode(new Uint8Array(out));
}

/** PHP `absint`: the leading integer of a string, made non-negative; 0 when there is none. */
export function absint(value: string): number {
  const match = /^\s*[+-]?(\d{1,15})/.exec(value);
  return match ? Number(match[1]) : 0;
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

const ACCENT_FOLDS: Record<string, string> = {
  ß: 'ss',
  æ: 'ae',
  Æ: 'AE',
  ø: 'o',
  Ø: 'O',
  œ: 'oe',
  Œ: 'OE',
  ł: 'l',
  Ł: 'L',
  đ: 'd',
  Đ: 'D',
  ð: 'd',
  Ð: 'D',
  þ: 'th',
  Þ: 'TH',
};

/** WordPress `sanitize_title` (strip tags, remove accents, lower-case, dashes), enough to compare names. */
export function sanitizeTitle(title: string): string {
  let t = title.replace(/<[^>]*>/g, '');
  t = t
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[ßæÆøØœŒłŁđĐðÐþÞ]/g, (c) => ACCENT_FOLDS[c] ?? c);
  t = t.replace(/%(?![0-9a-fA-F]{2})/g, '').toLowerCase();
  t = t.replace(/[\u0080-\uffff]+/g, (m) => {
    try {
      return encodeURIComponent(m).toLowerCase();
    } catch {
      return ''; // a lone surrogate: not a character WordPress could have stored
    }
  });
  t = t.replace(/&.+?;/g, '').replace(/\./g, '-');
  t = t.replace(/[^%a-z0-9 _-]/g, '');
  return t
    .replace(/\s+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-+|-+$/g, '');
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

/** PHP's `(bool)` of a form value, lenient about the spellings of false. */
export function phpBool(value: string | undefined): boolean {
  const v = (value ?? '').trim().toLowerCase();
  return v !== '' && v !== '0' && v !== 'false' && v !== 'no' && v !== 'off';
}

const FORMS: [string, number][] = [
  ['dev', 0],
  ['alpha', 1],
  ['a', 1],
  ['beta', 2],
  ['b', 2],
  ['RC', 3],
  ['rc', 3],
  ['#', 4],
  ['pl', 5],
  ['p', 5],
];

function formOrder(part: string): number {
  return FORMS.find(([name]) => part.startsWith(name))?.[1] ?? -6;
}

function versionParts(v: string): string[] {
  return v
    .replace(/[-_+]/g, '.')
    .replace(/(\d)(?=[^\d.])/g, '$1.')
    .replace(/([^\d.])(?=\d)/g, '$1.')
    .split('.')
    .filter((p) => p !== '');
}

/** PHP `version_compare($a, $b)`: -1, 0 or 1 (`1.0rc1` < `1.0` < `1.0.1` < `1.0pl1`). */
export function phpVersionCompare(a: string, b: string): number {
  const pa = versionParts(a);
  const pb = versionParts(b);
  const digit = (p: string): boolean => /^\d+$/.test(p);
  const sign = (n: number): number => (n > 0 ? 1 : n < 0 ? -1 : 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined) return y !== undefined && digit(y) ? -1 : sign(formOrder('#') - formOrder(y ?? '#'));
    if (y === undefined) return digit(x) ? 1 : sign(formOrder(x) - formOrder('#'));
    const c =
      digit(x) && digit(y)
        ? sign(Number(x) - Number(y))
        : sign(formOrder(digit(x) ? '#' : x) - formOrder(digit(y) ? '#' : y));
    if (c !== 0) return c;
  }
  return 0;
}

export type PHPJSONValue =
  | string
  | number
  | boolean
  | null
  | PHPJSONValue[]
  | { [key: string]: PHPJSONValue | undefined };

function encodeString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ch = s[i] as string;
    if (ch === '"' || ch === '\\' || ch === '/') out += `\\${ch}`;
    else if (c === 8) out += '\\b';
    else if (c === 12) out += '\\f';
    else if (c === 10) out += '\\n';
    else if (c === 13) out += '\\r';
    else if (c === 9) out += '\\t';
    else if (c < 0x20 || c > 0x7e) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** PHP `json_encode` without flags, as `wp_send_json` sends it: `/` as `\/`, non-ASCII as `\uXXXX`. */
export function encodePHPJSON(value: PHPJSONValue): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return encodeString(value);
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '0';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) return `[${value.map(encodePHPJSON).join(',')}]`;
  const members = Object.entries(value).filter(
    (entry): entry is [string, PHPJSONValue] => entry[1] !== undefined,
  );
  return `{${members.map(([k, v]) => `${encodeString(k)}:${encodePHPJSON(v)}`).join(',')}}`;
}

/** PHP `serialize()` of an array of strings (`a:N:{s:len:"key";s:len:"value";…}`, UTF-8 byte lengths). */
export function serializePHP(value: Record<string, string>): string {
  const str = (s: string): string => `s:${new TextEncoder().encode(s).length}:"${s}";`;
  const entries = Object.entries(value);
  return `a:${entries.length}:{${entries.map(([k, v]) => `${str(k)}${str(v)}`).join('')}}`;
}

/** WordPress `wp_encode_emoji`: characters outside the BMP as HTML entities, as EDD sends `name`. */
export function encodeEmoji(text: string): string {
  return text.replace(/[\u{10000}-\u{10ffff}]/gu, (c) => `&#x${(c.codePointAt(0) ?? 0).toString(16)};`);
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
