import { describe, expect, it } from 'vitest';
import type { Grant, Product } from '../model.ts';
import { addDays, checkGrant, downloadsLeft, linkExpiry, planGrant } from './grant.ts';

const NOW = new Date('2030-01-01T12:00:00.000Z');
const NOW_S = NOW.getTime() / 1000;

function grant(changes: Partial<Grant> = {}): Grant {
  return {
    id: '00000000-0000-4000-8000-000000000001',
    orderId: '00000000-0000-4000-8000-000000000002',
    productId: '00000000-0000-4000-8000-000000000003',
    customerId: '00000000-0000-4000-8000-000000000004',
    downloadLimit: 5,
    linkTtlSeconds: 86_400,
    accessUntil: addDays(NOW, 30).toISOString(),
    revokedAt: null,
    createdAt: NOW.toISOString(),
    ...changes,
  };
}

const product: Product = {
  id: '00000000-0000-4000-8000-000000000003',
  slug: 'ebook',
  name: 'E-book',
  downloadLimit: 3,
  linkTtlSeconds: 900,
  accessDays: 7,
  itemId: null,
  watermark: null,
  licensePolicy: null,
  createdAt: '2029-01-01T00:00:00.000Z',
};

describe('checkGrant', () => {
  it('passes a live grant with a live link', () => {
    expect(checkGrant(grant(), NOW, NOW_S + 60)).toEqual({ ok: true });
  });

  it('reports a revoked grant before an expired access period and an expired link', () => {
    const g = grant({ revokedAt: NOW.toISOString(), accessUntil: '2000-01-01T00:00:00.000Z' });
    expect(checkGrant(g, NOW, NOW_S - 1)).toEqual({ ok: false, code: 'GRANT_REVOKED' });
  });

  it('reports an expired access period before an expired link', () => {
    const g = grant({ accessUntil: '2000-01-01T00:00:00.000Z' });
    expect(checkGrant(g, NOW, NOW_S - 1)).toEqual({ ok: false, code: 'ACCESS_EXPIRED' });
  });

  it('reports an expired link when the grant itself is fine', () => {
    expect(checkGrant(grant(), NOW, NOW_S - 1)).toEqual({ ok: false, code: 'LINK_EXPIRED' });
  });

  it('ends access exactly at accessUntil, not a millisecond later', () => {
    const g = grant({ accessUntil: NOW.toISOString() });
    expect(checkGrant(g, new Date(NOW.getTime() - 1))).toEqual({ ok: true });
    expect(checkGrant(g, NOW)).toEqual({ ok: false, code: 'ACCESS_EXPIRED' });
  });

  it('ends a link exactly at its expiry second', () => {
    expect(checkGrant(grant(), new Date(NOW.getTime() - 1), NOW_S)).toEqual({ ok: true });
    expect(checkGrant(grant(), NOW, NOW_S)).toEqual({ ok: false, code: 'LINK_EXPIRED' });
  });

  it('never expires a link with expiry 0 or a grant without accessUntil', () => {
    const far = new Date('2100-01-01T00:00:00.000Z');
    expect(checkGrant(grant({ accessUntil: null }), far, 0)).toEqual({ ok: true });
    expect(checkGrant(grant({ accessUntil: null }), far)).toEqual({ ok: true });
  });
});

describe('linkExpiry', () => {
  it('is now plus the link TTL when access lasts longer', () => {
    expect(linkExpiry(grant(), NOW)).toBe(NOW_S + 86_400);
  });

  it('never outlives the access period', () => {
    const accessUntil = new Date(NOW.getTime() + 3_600_000).toISOString();
    expect(linkExpiry(grant({ accessUntil }), NOW)).toBe(NOW_S + 3600);
  });

  it('is the end of access when the TTL is 0', () => {
    expect(linkExpiry(grant({ linkTtlSeconds: 0 }), NOW)).toBe(NOW_S + 30 * 86_400);
  });

  it('is 0 (no expiry of its own) when the TTL is 0 and access never ends', () => {
    expect(linkExpiry(grant({ linkTtlSeconds: 0, accessUntil: null }), NOW)).toBe(0);
  });

  it('is now plus the TTL when access never ends', () => {
    expect(linkExpiry(grant({ accessUntil: null, linkTtlSeconds: 90 }), NOW)).toBe(NOW_S + 90);
  });

  it('gives whole seconds when now has milliseconds', () => {
    const expiry = linkExpiry(
      grant({ accessUntil: null, linkTtlSeconds: 60 }),
      new Date(NOW.getTime() + 999),
    );
    expect(expiry).toBe(NOW_S + 60);
  });
});

describe('planGrant', () => {
  it("copies the product's policy and computes accessUntil from the purchase time", () => {
    const planned = planGrant({
      id: 'g',
      orderId: 'o',
      customerId: 'c',
      product,
      now: NOW,
    });
    expect(planned).toEqual({
      id: 'g',
      orderId: 'o',
      productId: product.id,
      customerId: 'c',
      downloadLimit: 3,
      linkTtlSeconds: 900,
      accessUntil: '2030-01-08T12:00:00.000Z',
      revokedAt: null,
      createdAt: NOW.toISOString(),
    });
  });

  it('gives access without end when the product has 0 access days', () => {
    const planned = planGrant({
      id: 'g',
      orderId: 'o',
      customerId: 'c',
      product: { ...product, accessDays: 0 },
      now: NOW,
    });
    expect(planned.accessUntil).toBeNull();
  });
});

describe('downloadsLeft', () => {
  it('is null (unlimited) when the limit is 0', () => {
    expect(downloadsLeft(grant({ downloadLimit: 0 }), 1000)).toBeNull();
  });

  it('is the limit minus what was used', () => {
    expect(downloadsLeft(grant({ downloadLimit: 5 }), 0)).toBe(5);
    expect(downloadsLeft(grant({ downloadLimit: 5 }), 4)).toBe(1);
    expect(downloadsLeft(grant({ downloadLimit: 5 }), 5)).toBe(0);
  });

  it('never goes below 0 when more were used than the limit allows now', () => {
    expect(downloadsLeft(grant({ downloadLimit: 2 }), 7)).toBe(0);
  });
});
