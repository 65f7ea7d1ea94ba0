import type { Grant, Product } from '../model.ts';

export type GrantCheck =
  | { ok: true }
  | { ok: false; code: 'GRANT_REVOKED' | 'ACCESS_EXPIRED' | 'LINK_EXPIRED' };

/**
 * The ordered rules a grant passes before any file is served: revoked beats expired, and the
 * access period beats the link's own expiry (a fresh link would not help once access is over).
 */
export function checkGrant(grant: Grant, now: Date, linkExpiresAt = 0): GrantCheck {
  if (grant.revokedAt !== null) return { ok: false, code: 'GRANT_REVOKED' };
  if (grant.accessUntil !== null && Date.parse(grant.accessUntil) <= now.getTime()) {
    return { ok: false, code: 'ACCESS_EXPIRED' };
  }
  if (linkExpiresAt !== 0 && linkExpiresAt * 1000 <= now.getTime())
    return { ok: false, code: 'LINK_EXPIRED' };
  return { ok: true };
}

/** The grant an order gives for a product, with the product's policy copied in at purchase time. */
export function planGrant(input: {
  id: string;
  orderId: string;
  customerId: string;
  product: Product;
  now: Date;
}): Grant {
  const { product, now } = input;
  return {
    id: input.id,
    orderId: input.orderId,
    productId: product.id,
    customerId: input.customerId,
    downloadLimit: product.downloadLimit,
    linkTtlSeconds: product.linkTtlSeconds,
    accessUntil: product.accessDays > 0 ? addDays(now, product.accessDays).toISOString() : null,
    revokedAt: null,
    createdAt: now.toISOString(),
  };
}

/**
 * When a fresh direct link should stop working: now + the link TTL, but never after access ends.
 * Returns unix seconds, 0 = no expiry of its own.
 */
export function linkExpiry(grant: Grant, now: Date): number {
  const candidates: number[] = [];
  if (grant.linkTtlSeconds > 0) candidates.push(Math.floor(now.getTime() / 1000) + grant.linkTtlSeconds);
  if (grant.accessUntil !== null) candidates.push(Math.floor(Date.parse(grant.accessUntil) / 1000));
  return candidates.length === 0 ? 0 : Math.min(...candidates);
}

export function downloadsLeft(grant: Grant, used: number): number | null {
  return grant.downloadLimit === 0 ? null : Math.max(0, grant.downloadLimit - used);
}

export function addDays(date: Date, days: number): Date {
  return new Date(date.getTime() + days * 86_400_000);
}

/** Resume window: a ranged request within this time of a counted download does not count again. */
export const RESUME_WINDOW_MS = 30 * 60 * 1000;
