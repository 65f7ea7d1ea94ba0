/**
 * Package downloads (`/p/<token>`): what `get_version` hands WordPress as `package`.
 *
 * The token (download-token.ts, kind 0x03) names a license, a release and, usually, the site or machine
 * it was made for; it lives an hour. Every use re-checks the license as EDD does at download time: the
 * token proves only that we issued it, not that the license is still good. Revoked or suspended → refused;
 * expired → refused, unless the product lets expired licenses fetch releases published before the expiry;
 * a site no longer activated → refused. Downloads and refusals are recorded as license events.
 */
import type { CoreDeps } from '../core-deps.ts';
import type { Requester } from '../downloads/download-service.ts';
import { scopeDigest } from '../downloads/download-token.ts';
import { AppError, type ErrorCode } from '../errors.ts';
import { type Activation, checkLicense, DEFAULT_POLICY, type License } from '../licenses/license.ts';
import type { ProductFile } from '../model.ts';
import { packageFile, type Release } from './release.ts';

export interface AuthorizedPackage {
  license: License;
  release: Release;
  file: ProductFile;
  /** The activation the link was made for, or null when it names no site or machine. */
  activation: Activation | null;
}

export interface PackageDownload extends AuthorizedPackage, Requester {
  /** The Range header, when the client asked for part of the file. */
  range: string | null;
  /** The bytes go out from the bucket through a presigned URL. */
  redirected: boolean;
}

/** The scope text a package link's digest is made of: `site:example.com/` or `machine:<fingerprint>`. */
export function scopeOf(activation: Pick<Activation, 'kind' | 'identifier'>): string {
  return `${activation.kind}:${activation.identifier}`;
}

function requesterDetail(requester: Requester): Record<string, unknown> {
  return { ip: requester.ip, user_agent: requester.userAgent?.slice(0, 512) ?? null };
}

export async function authorizePackage(
  deps: CoreDeps,
  token: string,
  requester: Requester,
): Promise<AuthorizedPackage> {
  const { repos } = deps.uow;
  const claims = deps.links.verifyPackage(token);
  if (!claims) throw new AppError('NOT_FOUND');
  const now = deps.clock.now();
  if (claims.expiresAt * 1000 <= now.getTime()) {
    throw new AppError('LINK_EXPIRED', {
      message: 'This package link has expired. Check for updates again for a fresh one.',
    });
  }
  const [license, release] = await Promise.all([
    repos.licenses.findById(claims.licenseId),
    repos.releases.findById(claims.releaseId),
  ]);
  if (!license || !release || release.productId !== license.productId) throw new AppError('NOT_FOUND');

  let activation: Activation | null = null;
  if (claims.scope !== null) {
    const active = await repos.licenses.activeActivations(license.id);
    activation = active.find((a) => scopeDigest(scopeOf(a)) === claims.scope) ?? null;
  }
  const check = checkLicense({
    license,
    productMatches: true,
    now,
    activation,
    requireActivation: claims.scope !== null,
  });

  let refusal: { code: ErrorCode; message: string } | null = null;
  if (!check.valid) {
    refusal = { code: refusalCode(check.code), message: check.detail };
  } else if (check.code === 'EXPIRED') {
    const product = await repos.products.findById(license.productId);
    const policy = product?.licensePolicy;
    const allowed = policy?.preExpiryReleases ?? DEFAULT_POLICY.preExpiryReleases;
    // Only releases published before the expiry stay available (Keygen's RESTRICT_ACCESS).
    if (!allowed || Date.parse(release.createdAt) >= Date.parse(license.expiresAt ?? '')) {
      refusal = {
        code: 'EXPIRED',
        message: `This license expired on ${license.expiresAt}; renew it to download version ${release.version}.`,
      };
    }
  }
  if (refusal) {
    await repos.licenses.addEvent({
      id: deps.newId(),
      licenseId: license.id,
      type: 'package.refused',
      detail: {
        code: refusal.code,
        version: release.version,
        release_id: release.id,
        site: activation?.identifier ?? null,
        ...requesterDetail(requester),
      },
      at: now.toISOString(),
    });
    throw new AppError(refusal.code, { message: refusal.message });
  }
  return { license, release, file: packageFile(release), activation };
}

function refusalCode(code: ReturnType<typeof checkLicense>['code']): ErrorCode {
  switch (code) {
    case 'REVOKED':
    case 'SUSPENDED':
    case 'EXPIRED':
    case 'NOT_ACTIVATED':
      return code;
    default:
      return 'NOT_FOUND';
  }
}

/** Records a package download (served or redirected) as an event of the license. */
export async function recordPackageDownload(deps: CoreDeps, download: PackageDownload): Promise<void> {
  const { license, release, activation } = download;
  await deps.uow.repos.licenses.addEvent({
    id: deps.newId(),
    licenseId: license.id,
    type: 'package.downloaded',
    detail: {
      version: release.version,
      release_id: release.id,
      site: activation?.identifier ?? null,
      kind: activation?.kind ?? null,
      range: download.range,
      redirected: download.redirected,
      ...requesterDetail(download),
    },
    at: deps.clock.now().toISOString(),
  });
}
