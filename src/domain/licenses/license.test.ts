import { describe, expect, it } from 'vitest';
import {
  type Activation,
  checkLicense,
  DEFAULT_LOCAL_PATTERNS,
  DEFAULT_POLICY,
  isExpired,
  isLocalSite,
  type License,
  licenseExpiry,
  normalizeSiteURL,
} from './license.ts';

const NOW = new Date('2025-06-01T12:00:00.000Z');
const DAY = 86_400_000;

function license(changes: Partial<License> = {}): License {
  return {
    id: '00000000-0000-4000-8000-000000000001',
    productId: 'p1',
    customerId: 'c1',
    orderId: null,
    status: 'active',
    expiresAt: new Date(NOW.getTime() + 30 * DAY).toISOString(),
    activationLimit: 1,
    expiryStops: 'updates',
    keyHint: 'ABCD',
    createdAt: NOW.toISOString(),
    ...changes,
  };
}

const activation: Activation = {
  id: 'a1',
  licenseId: '00000000-0000-4000-8000-000000000001',
  kind: 'site',
  identifier: 'example.com/',
  name: null,
  isLocal: false,
  version: null,
  createdAt: NOW.toISOString(),
  lastSeenAt: NOW.toISOString(),
};

const PAST = new Date(NOW.getTime() - DAY).toISOString();

describe('normalizeSiteURL', () => {
  it.each([
    ['https://WWW.Example.com:8443/shop', 'example.com/shop/'],
    ['http://example.com/shop/', 'example.com/shop/'],
    ['https://www.example.com', 'example.com/'],
    ['HTTP://EXAMPLE.COM/', 'example.com/'],
    ['example.com', 'example.com/'],
    ['  https://example.com/blog  ', 'example.com/blog/'],
    ['https://example.com:443/', 'example.com/'],
    ['http://localhost:8080', 'localhost/'],
    ['https://Example.com/My-Shop/', 'example.com/my-shop/'],
    ['https://sub.www.example.com/', 'sub.www.example.com/'],
  ])('normalizes %s to %s as EDD does', (raw, expected) => {
    expect(normalizeSiteURL(raw)).toBe(expected);
  });

  it('treats the same site reached by scheme, www, port and trailing slash as one', () => {
    const forms = [
      'https://WWW.Example.com:8443/shop',
      'http://example.com/shop/',
      'https://example.com/shop',
      'HTTPS://www.EXAMPLE.com/shop/',
    ];
    expect(new Set(forms.map(normalizeSiteURL))).toEqual(new Set(['example.com/shop/']));
  });

  it('drops the query, fragment, control characters and markup', () => {
    expect(normalizeSiteURL('https://example.com/?utm=1#top')).toBe('example.com/');
    expect(normalizeSiteURL('https://exa\u0000mple.com/\n')).toBe('example.com/');
    expect(normalizeSiteURL('https://example.com/<script>')).toBe('example.com/script/');
  });

  it('returns null when nothing usable is left', () => {
    expect(normalizeSiteURL('')).toBeNull();
    expect(normalizeSiteURL('   ')).toBeNull();
    expect(normalizeSiteURL('https://')).toBeNull();
    expect(normalizeSiteURL('?#')).toBeNull();
    expect(normalizeSiteURL(`https://${'a'.repeat(600)}.com/`)).toBeNull();
  });
});

describe('isLocalSite', () => {
  const local = (site: string, env?: string | null): boolean =>
    isLocalSite(site, DEFAULT_LOCAL_PATTERNS, env);

  it.each([
    'localhost/',
    '127.0.0.1/',
    'shop.localhost/',
    'shop.local/',
    'my.shop.local/',
    'mysite.test/',
    'staging.example.com/',
    'stage.example.com/wp/',
    'dev.example.com/',
  ])('counts %s as local or staging with the default patterns', (site) => {
    expect(local(site)).toBe(true);
  });

  it.each([
    'example.com/',
    'mylocal/',
    'shop.local.example.com/',
    'evil-local.com/',
    'latest.example.com/',
    'notstaging.example.com/',
    'example.com/staging.site/',
    'test.example.com/',
  ])('counts %s as a production site with the default patterns', (site) => {
    expect(local(site)).toBe(false);
  });

  it('counts the IPv6 loopback as local as normalizeSiteURL leaves it', () => {
    const site = normalizeSiteURL('http://[::1]:8080/');
    expect(site).toBe('[::1]/');
    expect(local(site ?? '')).toBe(true);
  });

  it('treats the WordPress staging, development and local environments as free, whatever the host', () => {
    expect(local('example.com/', 'staging')).toBe(true);
    expect(local('example.com/', 'Development')).toBe(true);
    expect(local('example.com/', 'local')).toBe(true);
    expect(local('example.com/', 'production')).toBe(false);
    expect(local('example.com/', '')).toBe(false);
    expect(local('example.com/', null)).toBe(false);
  });

  it('uses only the configured patterns', () => {
    expect(isLocalSite('shop.local/', [])).toBe(false);
    expect(isLocalSite('preview.example.com/', ['preview.*'])).toBe(true);
    expect(isLocalSite('box.internal/', ['*.internal'])).toBe(true);
    expect(isLocalSite('internal/', ['*.internal'])).toBe(true);
    expect(isLocalSite('qa.example.com/', ['qa.example.com'])).toBe(true);
    expect(isLocalSite('www.qa.example.com/', ['qa.example.com'])).toBe(false);
    expect(isLocalSite('shop.local/', ['*.Local', 'STAGING.*'])).toBe(true);
    expect(isLocalSite('staging.example.com/', ['*.Local', 'STAGING.*'])).toBe(true);
  });
});

describe('checkLicense', () => {
  function check(input: Partial<Parameters<typeof checkLicense>[0]>) {
    return checkLicense({
      license: license(),
      productMatches: true,
      now: NOW,
      activation: null,
      requireActivation: false,
      ...input,
    });
  }

  it('answers NOT_FOUND, invalid, when there is no license', () => {
    expect(check({ license: undefined, productMatches: false })).toMatchObject({
      valid: false,
      code: 'NOT_FOUND',
    });
  });

  it('answers PRODUCT_MISMATCH before anything about the license state', () => {
    const revoked = license({ status: 'revoked', expiresAt: PAST, expiryStops: 'everything' });
    expect(check({ license: revoked, productMatches: false, requireActivation: true })).toMatchObject({
      valid: false,
      code: 'PRODUCT_MISMATCH',
    });
  });

  it('lets revoked beat expired and a missing activation', () => {
    const revoked = license({ status: 'revoked', expiresAt: PAST, expiryStops: 'everything' });
    expect(check({ license: revoked, requireActivation: true })).toMatchObject({
      valid: false,
      code: 'REVOKED',
    });
  });

  it('lets suspended beat expired and a missing activation', () => {
    const suspended = license({ status: 'suspended', expiresAt: PAST, expiryStops: 'everything' });
    expect(check({ license: suspended, requireActivation: true })).toMatchObject({
      valid: false,
      code: 'SUSPENDED',
    });
  });

  it('lets an expiry that stops everything beat a missing activation', () => {
    const expired = license({ expiresAt: PAST, expiryStops: 'everything' });
    expect(check({ license: expired, requireActivation: true })).toMatchObject({
      valid: false,
      code: 'EXPIRED',
    });
    expect(check({ license: expired, activation, requireActivation: true })).toMatchObject({
      valid: false,
      code: 'EXPIRED',
    });
  });

  it('checks the activation before an expiry that only stops updates', () => {
    const expired = license({ expiresAt: PAST, expiryStops: 'updates' });
    expect(check({ license: expired, requireActivation: true })).toMatchObject({
      valid: false,
      code: 'NOT_ACTIVATED',
    });
    expect(check({ license: expired, activation, requireActivation: true })).toMatchObject({
      valid: true,
      code: 'EXPIRED',
    });
    expect(check({ license: expired })).toMatchObject({ valid: true, code: 'EXPIRED' });
  });

  it('answers NOT_ACTIVATED when a scope is required and none is active', () => {
    expect(check({ requireActivation: true })).toMatchObject({ valid: false, code: 'NOT_ACTIVATED' });
  });

  it('answers VALID for an active license, with or without an activation', () => {
    expect(check({})).toEqual({ valid: true, code: 'VALID', detail: expect.any(String) });
    expect(check({ activation, requireActivation: true })).toMatchObject({ valid: true, code: 'VALID' });
    expect(check({ license: license({ expiresAt: null }) })).toMatchObject({ valid: true, code: 'VALID' });
  });

  it('treats a license as expired from the exact instant of its expiry', () => {
    const edge = license({ expiresAt: NOW.toISOString(), expiryStops: 'everything' });
    expect(isExpired(edge, NOW)).toBe(true);
    expect(isExpired(edge, new Date(NOW.getTime() - 1))).toBe(false);
    expect(check({ license: edge })).toMatchObject({ valid: false, code: 'EXPIRED' });
    expect(check({ license: edge, now: new Date(NOW.getTime() - 1) })).toMatchObject({ code: 'VALID' });
  });
});

describe('licenseExpiry', () => {
  it('adds the policy days to the purchase time', () => {
    expect(licenseExpiry({ ...DEFAULT_POLICY, durationDays: 1 }, NOW)).toBe('2025-06-02T12:00:00.000Z');
    expect(licenseExpiry({ ...DEFAULT_POLICY, durationDays: 365 }, NOW)).toBe(
      new Date(NOW.getTime() + 365 * DAY).toISOString(),
    );
  });

  it('uses a fixed date over the days', () => {
    const until = '2026-01-01T00:00:00.000Z';
    expect(licenseExpiry({ ...DEFAULT_POLICY, durationDays: 30, until }, NOW)).toBe(until);
  });

  it('gives lifetime licenses no expiry', () => {
    expect(licenseExpiry({ ...DEFAULT_POLICY, durationDays: null, until: null }, NOW)).toBeNull();
    expect(licenseExpiry({ ...DEFAULT_POLICY, durationDays: 0, until: null }, NOW)).toBeNull();
  });
});
