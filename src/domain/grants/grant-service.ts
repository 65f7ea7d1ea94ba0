import type { CoreDeps } from '../core-deps.ts';
import { AppError } from '../errors.ts';
import type { Grant, Product } from '../model.ts';
import type { Repositories } from '../ports.ts';
import { addDays, checkGrant, downloadsLeft, linkExpiry } from './grant.ts';

/** One downloadable file of a grant, with a fresh direct link. */
export interface DownloadLink {
  grant_id: string;
  product: string;
  file_id: string;
  file: string;
  size: number;
  url: string;
  access_url: string;
  /** When `url` stops working (ISO), or null if only the grant's access period limits it. */
  expires_at: string | null;
  access_expires_at: string | null;
  /** null = unlimited. */
  downloads_left: number | null;
  revoked: boolean;
}

export interface GrantView {
  id: string;
  order_id: string;
  customer_id: string;
  product: string;
  download_limit: number;
  access_expires_at: string | null;
  revoked_at: string | null;
  created_at: string;
  status: 'active' | 'GRANT_REVOKED' | 'ACCESS_EXPIRED';
}

export function toGrantView(grant: Grant, product: Product, now: Date): GrantView {
  const check = checkGrant(grant, now);
  return {
    id: grant.id,
    order_id: grant.orderId,
    customer_id: grant.customerId,
    product: product.slug,
    download_limit: grant.downloadLimit,
    access_expires_at: grant.accessUntil,
    revoked_at: grant.revokedAt,
    created_at: grant.createdAt,
    status: check.ok ? 'active' : check.code === 'LINK_EXPIRED' ? 'active' : check.code,
  };
}

export function accessUrl(deps: CoreDeps, grant: Grant): string {
  return `${deps.publicUrl}/a/${deps.links.signAccess({ grantId: grant.id, expiresAt: 0 })}`;
}

/** Mints fresh direct links for every file of the grant's product. Minting never uses a download. */
export async function linksForGrant(
  deps: CoreDeps,
  repos: Repositories,
  grant: Grant,
): Promise<DownloadLink[]> {
  const product = await repos.products.findById(grant.productId);
  if (!product) throw new AppError('NOT_FOUND', { message: 'The granted product no longer exists.' });
  const [files, usage] = await Promise.all([
    repos.files.listByProduct(product.id),
    repos.grants.usage(grant.id),
  ]);
  const now = deps.clock.now();
  const expiresAt = linkExpiry(grant, now);
  const access = accessUrl(deps, grant);
  return files.map((file) => ({
    grant_id: grant.id,
    product: product.slug,
    file_id: file.id,
    file: file.name,
    size: file.size,
    url: `${deps.publicUrl}/d/${deps.links.signDirect({ grantId: grant.id, fileId: file.id, expiresAt })}`,
    access_url: access,
    expires_at: expiresAt === 0 ? null : new Date(expiresAt * 1000).toISOString(),
    access_expires_at: grant.accessUntil,
    downloads_left: downloadsLeft(grant, usage.get(file.id) ?? 0),
    revoked: grant.revokedAt !== null,
  }));
}

export interface GrantService {
  get(grantId: string): Promise<GrantView>;
  createLinks(grantId: string): Promise<DownloadLink[]>;
  revoke(grantId: string): Promise<GrantView>;
  extend(input: { grantId: string; days: number }): Promise<GrantView>;
  reset(grantId: string): Promise<GrantView>;
}

export function createGrantService(deps: CoreDeps): GrantService {
  async function load(repos: Repositories, grantId: string): Promise<{ grant: Grant; product: Product }> {
    const grant = await repos.grants.findById(grantId);
    const product = grant && (await repos.products.findById(grant.productId));
    if (!grant || !product) throw new AppError('NOT_FOUND', { message: `No grant ${grantId}.` });
    return { grant, product };
  }

  async function change(
    grantId: string,
    plan: (grant: Grant, product: Product, now: Date) => Partial<Pick<Grant, 'accessUntil' | 'revokedAt'>>,
    alsoResetUsage = false,
  ): Promise<GrantView> {
    return deps.uow.transaction(async (repos) => {
      const { grant, product } = await load(repos, grantId);
      const now = deps.clock.now();
      const changes = plan(grant, product, now);
      await repos.grants.update(grant.id, changes);
      if (alsoResetUsage) await repos.grants.resetUsage(grant.id);
      return toGrantView({ ...grant, ...changes }, product, now);
    });
  }

  return {
    async get(grantId) {
      const { grant, product } = await load(deps.uow.repos, grantId);
      return toGrantView(grant, product, deps.clock.now());
    },
    async createLinks(grantId) {
      const { grant } = await load(deps.uow.repos, grantId);
      return linksForGrant(deps, deps.uow.repos, grant);
    },
    revoke: (grantId) =>
      change(grantId, (grant, _p, now) => ({ revokedAt: grant.revokedAt ?? now.toISOString() })),
    extend({ grantId, days }) {
      if (!Number.isInteger(days) || days < 1 || days > 36_500) {
        throw new AppError('INVALID_REQUEST', { message: 'days must be a whole number from 1 to 36500.' });
      }
      return change(grantId, (grant, _p, now) => {
        if (grant.accessUntil === null) return {};
        const from = Math.max(now.getTime(), Date.parse(grant.accessUntil));
        return { accessUntil: addDays(new Date(from), days).toISOString() };
      });
    },
    // A reset gives back every download and, when access has run out, a fresh access period.
    reset: (grantId) =>
      change(
        grantId,
        (grant, product, now) =>
          grant.accessUntil !== null &&
          Date.parse(grant.accessUntil) <= now.getTime() &&
          product.accessDays > 0
            ? { accessUntil: addDays(now, product.accessDays).toISOString() }
            : {},
        true,
      ),
  };
}
