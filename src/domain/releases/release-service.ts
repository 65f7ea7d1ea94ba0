import type { Readable } from 'node:stream';
import type { CoreDeps } from '../core-deps.ts';
import { AppError } from '../errors.ts';

/** A published version of a licensed product's software. */
export interface ReleaseView {
  id: string;
  product: string;
  version: string;
  file_name: string;
  size: number;
  sha256: string;
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
  changelog?: string;
  requiresPHP?: string;
  requiresWP?: string;
  tested?: string;
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

export interface ReleaseService {
  add(input: AddReleaseInput): Promise<ReleaseView>;
  list(product: string): Promise<ReleaseView[]>;
  /** The newest release the caller may see, or null. */
  latest(query: LatestReleaseQuery): Promise<ReleaseView | null>;
  /**
   * A short-lived signed URL (`/p/<token>`) to download a release's package for a license on a site (or
   * machine); the download re-checks the license for that site and is logged like any download.
   */
  packageURL(input: { licenseId: string; releaseId: string; site: string | null }): string;
}

/** Not implemented yet: being built (releases, get_version and package downloads). */
export function createReleaseService(_deps: CoreDeps): ReleaseService {
  const pending = (): never => {
    throw new AppError('INTERNAL', { message: 'releases are not implemented yet' });
  };
  return { add: pending, list: pending, latest: pending, packageURL: pending };
}
