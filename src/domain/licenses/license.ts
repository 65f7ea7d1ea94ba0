/** How a product's purchases are licensed. Stored with the product; copied onto each license at issue. */
export interface LicensePolicy {
  /** Sites or machines that may be active at once; 0 = unlimited. Local/staging sites are free. */
  activationLimit: number;
  /** Days from purchase until expiry; null = lifetime (unless `until` is set). */
  durationDays: number | null;
  /** A fixed expiry date (ISO), overriding `durationDays`. */
  until: string | null;
  /** What expiry stops: only updates (the software keeps working), or everything. */
  expiryStops: 'updates' | 'everything';
  /** Host patterns (`*.local`, `staging.*`, exact hosts) whose activations are free. */
  localPatterns: string[];
  /**
   * Whether an expired license (whose expiry stops only updates) may still download releases published
   * before it expired. Absent in policies stored before it existed: read it with `?? true`.
   */
  preExpiryReleases: boolean;
  /**
   * A purchase of several units: one license per unit, or one license with the activation limit
   * multiplied. Absent in policies stored before it existed: read it with `?? 'licenses'`.
   */
  quantity: 'licenses' | 'multiply';
}

export const DEFAULT_LOCAL_PATTERNS = [
  'localhost',
  '127.0.0.1',
  '::1',
  '*.localhost',
  '*.local',
  '*.test',
  '*.invalid',
  '*.example',
  'staging.*',
  'stage.*',
  'dev.*',
  // Managed WordPress hosts' staging domains.
  '*.wpengine.com',
  '*.wpenginepowered.com',
  '*.kinsta.cloud',
];

export const DEFAULT_POLICY: LicensePolicy = {
  activationLimit: 1,
  durationDays: 365,
  until: null,
  expiryStops: 'updates',
  localPatterns: DEFAULT_LOCAL_PATTERNS,
  preExpiryReleases: true,
  quantity: 'licenses',
};

export type LicenseStatus = 'active' | 'suspended' | 'revoked';

export interface License {
  id: string;
  productId: string;
  customerId: string;
  orderId: string | null;
  status: LicenseStatus;
  /** null = lifetime. */
  expiresAt: string | null;
  activationLimit: number;
  expiryStops: LicensePolicy['expiryStops'];
  /** Last characters of the key, safe to show and log. */
  keyHint: string;
  createdAt: string;
}

export type ActivationKind = 'site' | 'machine';

export interface Activation {
  id: string;
  licenseId: string;
  kind: ActivationKind;
  /** The normalized site (`example.com/shop/`) or the machine fingerprint. */
  identifier: string;
  name: string | null;
  isLocal: boolean;
  version: string | null;
  createdAt: string;
  lastSeenAt: string;
}

/** Stable, machine-readable outcome of every license API call. */
export type LicenseCode =
  | 'VALID'
  | 'NOT_FOUND'
  | 'PRODUCT_MISMATCH'
  | 'REVOKED'
  | 'SUSPENDED'
  | 'EXPIRED'
  | 'NOT_ACTIVATED'
  | 'NO_ACTIVATIONS_LEFT'
  | 'DEACTIVATED';

export interface LicenseCheck {
  valid: boolean;
  code: LicenseCode;
  detail: string;
}

function refuse(code: LicenseCode, detail: string): LicenseCheck {
  return { valid: false, code, detail };
}

export function isExpired(license: License, now: Date): boolean {
  return license.expiresAt !== null && Date.parse(license.expiresAt) <= now.getTime();
}

/**
 * The rules every license call passes, in order; the first that fails decides. Status, product and
 * expiry are checked on every path (activation and package downloads included), the gap other
 * licensing servers left open. An expired license whose policy only stops updates stays usable:
 * `valid: true` with code EXPIRED, so clients can keep working and stop offering updates.
 */
export function checkLicense(input: {
  license: License | undefined;
  productMatches: boolean;
  now: Date;
  /** Whether the scope (site or machine) must be an active activation. */
  activation?: Activation | undefined | null;
  requireActivation: boolean;
}): LicenseCheck {
  const { license, now } = input;
  if (!license) return refuse('NOT_FOUND', 'No license with this key.');
  if (!input.productMatches) return refuse('PRODUCT_MISMATCH', 'This license is for another product.');
  if (license.status === 'revoked') return refuse('REVOKED', 'This license has been revoked.');
  if (license.status === 'suspended') return refuse('SUSPENDED', 'This license is suspended.');
  const expired = isExpired(license, now);
  if (expired && license.expiryStops === 'everything') return refuse('EXPIRED', 'This license has expired.');
  if (input.requireActivation && !input.activation) {
    return refuse('NOT_ACTIVATED', 'This license is not activated for this site or machine.');
  }
  if (expired)
    return { valid: true, code: 'EXPIRED', detail: 'This license has expired; updates have stopped.' };
  return { valid: true, code: 'VALID', detail: 'The license is valid.' };
}

/** The expiry of a license bought now under `policy`. */
export function licenseExpiry(policy: LicensePolicy, now: Date): string | null {
  if (policy.until) return policy.until;
  if (policy.durationDays === null || policy.durationDays === 0) return null;
  return new Date(now.getTime() + policy.durationDays * 86_400_000).toISOString();
}

/**
 * Normalizes a site URL the way EDD Software Licensing does, so both APIs agree on what a site is:
 * lower-case, no scheme, no `www.`, no port, trailing slash. `https://WWW.Example.com:8443/shop` →
 * `example.com/shop/`. Returns null when nothing usable is left.
 */
export function normalizeSiteURL(raw: string): string | null {
  let site = raw.trim().toLowerCase();
  site = site.replace('://www.', '://').replace(/^[a-z][a-z0-9+.-]*:\/\//, '');
  if (site.startsWith('www.')) site = site.slice(4);
  site = site.replace(/^([^/:?#]+|\[[^\]]+\]):\d+/, '$1');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters never belong in a site
  site = site.replace(/[?#].*$/, '').replace(/[\u0000-\u001f\u007f\s<>"'`]/g, '');
  if (!site || site.length > 500) return null;
  return site.endsWith('/') ? site : `${site}/`;
}

/** Whether a site is local or staging (its activation is free), by host pattern or WordPress environment. */
export function isLocalSite(site: string, patterns: string[], environment?: string | null): boolean {
  if (environment && ['staging', 'development', 'local'].includes(environment.toLowerCase())) return true;
  // An IPv6 host keeps its brackets through normalizeSiteURL (`[::1]/`); patterns name the bare address.
  const host = (site.split('/')[0] ?? '').replace(/^\[(.*)\]$/, '$1');
  return patterns.some((pattern) => {
    const p = pattern.toLowerCase();
    if (p.startsWith('*.')) return host.endsWith(p.slice(1)) || host === p.slice(2);
    if (p.endsWith('.*')) return host.startsWith(p.slice(0, -1));
    return host === p;
  });
}
