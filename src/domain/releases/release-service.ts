import type { Readable } from 'node:stream';
import type { CoreDeps } from '../core-deps.ts';
import type { Requester } from '../downloads/download-service.ts';
import { scopeDigest } from '../downloads/download-token.ts';
import { AppError } from '../errors.ts';
import { normalizeSiteURL } from '../licenses/license.ts';
import type { Product } from '../model.ts';
import { sanitizeFileName } from '../products/product.ts';
import { storeBlob } from '../storage/store-blob.ts';
import {
  type AuthorizedPackage,
  authorizePackage,
  type PackageDownload,
  recordPackageDownload,
  scopeOf,
} from './package-access.ts';
import {
  compareVersions,
  isPlatformVersion,
  isPrerelease,
  isVersion,
  pickLatest,
  type Release,
} from './release.ts';

/** A published version of a licensed product's software. */
export interface ReleaseView {
  id: string;
  product: string;
  version: string;
  file_name: string;
  size: number;
  sha256: string;
  content_type: string;
  changelog: string | null;
  requires_php: string | null;
  requires_wp: string | null;
  tested: string | null;
  beta: boolean;
  created_at: string;
}

export interface AddReleaseInput {
  product: string;
  version: string;
  fileName: string;
  body: Readable;
  size?: number;
  /** Defaults to application/zip for `.zip` names, else application/octet-stream. */
  contentType?: string;
  changelog?: string;
  requiresPHP?: string;
  requiresWP?: string;
  tested?: string;
  /** Defaults to whether the version has a prerelease part (`2.0.0-beta.1`). */
  beta?: boolean;
  onProgress?: (bytesDone: number) => void;
}

export interface LatestReleaseQuery {
  productId: string;
  /** Include beta releases (the caller asked for them). */
  beta: boolean;
  /** The caller's platform versions; releases needing newer ones are skipped. */
  php?: string | undefined;
  wp?: string | undefined;
}

export interface PackageURLInput {
  licenseId: string;
  releaseId: string;
  /** The site the license is used on (any form normalizeSiteURL accepts), or null. */
  site: string | null;
  /** Or the machine fingerprint, for software that activates machines. */
  fingerprint?: string | null | undefined;
}

export interface ReleaseService {
  add(input: AddReleaseInput): Promise<ReleaseView>;
  list(product: string): Promise<ReleaseView[]>;
  /** The newest release the caller may see, or null. */
  latest(query: LatestReleaseQuery): Promise<ReleaseView | null>;
  /**
   * A short-lived signed URL (`/p/<token>`) to download a release's package for a license on a site (or
   * machine); the download re-checks the license for that site and is logged like any download.
   */
  packageURL(input: PackageURLInput): string;
  /** Verifies a package token and re-checks its license; refusals throw (and are recorded). */
  authorizePackage(token: string, requester: Requester): Promise<AuthorizedPackage>;
  /** Records one package download as a license event. */
  recordDownload(download: PackageDownload): Promise<void>;
}

/** How long a package link works: long enough for WordPress to fetch it right after the update check. */
export const PACKAGE_LINK_TTL_SECONDS = 3600;
const MAX_CHANGELOG = 200_000;

function toReleaseView(release: Release, product: Product): ReleaseView {
  return {
    id: release.id,
    product: product.slug,
    version: release.version,
    file_name: release.fileName,
    size: release.size,
    sha256: release.sha256,
    content_type: release.contentType,
    changelog: release.changelog,
    requires_php: release.requiresPHP,
    requires_wp: release.requiresWP,
    tested: release.tested,
    beta: release.beta,
    created_at: release.createdAt,
  };
}

function platform(value: string | undefined, path: string): string | null {
  if (value === undefined || value.trim() === '') return null;
  const trimmed = value.trim();
  if (!isPlatformVersion(trimmed)) {
    throw new AppError('INVALID_REQUEST', {
      message: `${path} must be a version such as 7.4 or 6.5.2.`,
      detail: { path },
    });
  }
  return trimmed;
}

function contentTypeFor(fileName: string): string {
  return /\.zip$/i.test(fileName) ? 'application/zip' : 'application/octet-stream';
}

export function createReleaseService(deps: CoreDeps): ReleaseService {
  const { uow } = deps;

  async function findProduct(ref: string): Promise<Product> {
    const product = await uow.repos.products.findBySlugOrId(ref);
    if (!product) throw new AppError('NOT_FOUND', { message: `No product "${ref}".` });
    return product;
  }

  function exists(version: string, product: Product): AppError {
    return new AppError('RELEASE_EXISTS', {
      message: `${product.slug} already has a release ${version}.`,
      detail: { path: 'version' },
    });
  }

  return {
    async add(input) {
      const version = input.version.trim();
      if (!isVersion(version)) {
        throw new AppError('INVALID_REQUEST', {
          message: 'version must look like 1.2.3 or 1.2.3-beta.1.',
          detail: { path: 'version' },
        });
      }
      const requiresPHP = platform(input.requiresPHP, 'requires_php');
      const requiresWP = platform(input.requiresWP, 'requires_wp');
      const tested = platform(input.tested, 'tested');
      if (input.changelog !== undefined && input.changelog.length > MAX_CHANGELOG) {
        throw new AppError('INVALID_REQUEST', {
          message: `changelog may be at most ${MAX_CHANGELOG} characters.`,
          detail: { path: 'changelog' },
        });
      }
      const product = await findProduct(input.product);
      // Refuse before uploading; `1.2` and `1.2.0` are the same version to clients, so both count.
      const existing = await uow.repos.releases.listByProduct(product.id);
      if (existing.some((r) => compareVersions(r.version, version) === 0)) throw exists(version, product);

      const fileName = sanitizeFileName(input.fileName);
      const contentType = input.contentType ?? contentTypeFor(fileName);
      const store = await deps.blobs.active();
      const blob = await storeBlob(store, `r/${deps.newId()}`, input.body, {
        contentType: contentType,
        size: input.size,
        onProgress: input.onProgress,
      });
      const release: Release = {
        id: deps.newId(),
        productId: product.id,
        version,
        fileName,
        size: blob.size,
        sha256: blob.sha256,
        contentType,
        storage: blob.storage,
        objectKey: blob.objectKey,
        changelog: input.changelog ?? null,
        requiresPHP,
        requiresWP,
        tested,
        beta: input.beta ?? isPrerelease(version),
        createdAt: deps.clock.now().toISOString(),
      };
      // The unique (product, version) key settles two uploads of the same version racing each other.
      if (!(await uow.repos.releases.insert(release))) {
        await store.remove(blob.objectKey).catch(() => undefined);
        throw exists(version, product);
      }
      return toReleaseView(release, product);
    },

    async list(ref) {
      const product = await findProduct(ref);
      const releases = await uow.repos.releases.listByProduct(product.id);
      return releases.map((r) => toReleaseView(r, product));
    },

    async latest(query) {
      const [product, releases] = await Promise.all([
        uow.repos.products.findById(query.productId),
        uow.repos.releases.listByProduct(query.productId),
      ]);
      const best = pickLatest(releases, query);
      return best && product ? toReleaseView(best, product) : null;
    },

    packageURL({ licenseId, releaseId, site, fingerprint }) {
      let scope: string | null = null;
      if (site !== null && site !== undefined && site !== '') {
        const identifier = normalizeSiteURL(site);
        if (!identifier) {
          throw new AppError('INVALID_REQUEST', {
            message: 'The site URL is not usable.',
            detail: { path: 'url' },
          });
        }
        scope = scopeOf({ kind: 'site', identifier });
      } else if (fingerprint) {
        scope = scopeOf({ kind: 'machine', identifier: fingerprint.trim() });
      }
      const expiresAt = Math.floor(deps.clock.now().getTime() / 1000) + PACKAGE_LINK_TTL_SECONDS;
      const token = deps.links.signPackage({
        licenseId,
        releaseId,
        expiresAt,
        scope: scope === null ? null : scopeDigest(scope),
      });
      return `${deps.publicUrl}/p/${token}`;
    },

    authorizePackage: (token, requester) => authorizePackage(deps, token, requester),
    recordDownload: (download) => recordPackageDownload(deps, download),
  };
}
