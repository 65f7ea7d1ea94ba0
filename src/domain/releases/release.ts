import type { ProductFile, StorageKind } from '../model.ts';

/** A published version of a product's software, with its package file. */
export interface Release {
  id: string;
  productId: string;
  version: string;
  /** The package's name as shown to the client (never used as a storage path). */
  fileName: string;
  size: number;
  sha256: string;
  contentType: string;
  storage: StorageKind;
  /** Opaque object key (`r/<uuid>`). */
  objectKey: string;
  changelog: string | null;
  requiresPHP: string | null;
  requiresWP: string | null;
  tested: string | null;
  beta: boolean;
  /** When it was published: an expired license may still fetch releases published before its expiry. */
  createdAt: string;
}

/** `MAJOR.MINOR[.PATCH[.BUILD]]`, optionally `-prerelease` (`1.2.3`, `2.0.0-beta.1`); no build metadata. */
const VERSION_RE = /^(\d{1,9}(?:\.\d{1,9}){1,3})(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/;
/** Platform requirements (`7.4`, `6.5.2`). */
const PLATFORM_RE = /^\d{1,9}(?:\.\d{1,9}){0,3}$/;

interface ParsedVersion {
  numbers: number[];
  prerelease: string[];
}

export function isVersion(value: string): boolean {
  return value.length <= 64 && VERSION_RE.test(value);
}

export function isPlatformVersion(value: string): boolean {
  return value.length <= 40 && PLATFORM_RE.test(value);
}

export function isPrerelease(version: string): boolean {
  return VERSION_RE.exec(version)?.[2] !== undefined;
}

function parse(version: string): ParsedVersion | null {
  const match = VERSION_RE.exec(version);
  if (!match) return null;
  return { numbers: match[1]!.split('.').map(Number), prerelease: match[2]?.split('.') ?? [] };
}

function compareNumbers(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/** SemVer 2.0 §11 precedence for prerelease identifiers; none at all ranks above any prerelease. */
function comparePrerelease(a: string[], b: string[]): number {
  if (a.length === 0 || b.length === 0) return Math.sign(b.length - a.length);
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    const xNumeric = /^\d+$/.test(x);
    const yNumeric = /^\d+$/.test(y);
    if (xNumeric && yNumeric) return Math.sign(Number(x) - Number(y));
    if (xNumeric !== yNumeric) return xNumeric ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return Math.sign(a.length - b.length);
}

/**
 * Orders release versions by semantic precedence (`1.10.0` > `1.9.0`, `2.0.0` > `2.0.0-rc.1`); missing
 * numeric parts count as 0, so `1.2` equals `1.2.0`. Throws on a string that is not a version.
 */
export function compareVersions(a: string, b: string): number {
  const x = parse(a);
  const y = parse(b);
  if (!x || !y) throw new Error(`not a version: ${x ? b : a}`);
  return compareNumbers(x.numbers, y.numbers) || comparePrerelease(x.prerelease, y.prerelease);
}

/**
 * The numeric parts of a platform version as clients report it (`8.1.2-1ubuntu`, `6.5-RC1`), or null
 * when it has none.
 */
function platformNumbers(value: string): number[] | null {
  const match = /^\s*v?(\d{1,9}(?:\.\d{1,9}){0,3})/.exec(value);
  return match ? match[1]!.split('.').map(Number) : null;
}

/** Whether a platform the caller runs meets a release's requirement; unknown versions are not held against it. */
export function meetsRequirement(required: string | null, actual: string | undefined): boolean {
  if (!required || actual === undefined) return true;
  const have = platformNumbers(actual);
  const need = platformNumbers(required);
  return !have || !need || compareNumbers(have, need) >= 0;
}

/**
 * The newest release (by semantic version, not by date) the caller may see: betas only when asked for,
 * and only releases whose PHP and WordPress requirements the caller's versions meet, when it gives them.
 */
export function pickLatest(
  releases: readonly Release[],
  query: { beta: boolean; php?: string | undefined; wp?: string | undefined },
): Release | null {
  let best: Release | null = null;
  for (const release of releases) {
    if (release.beta && !query.beta) continue;
    if (!meetsRequirement(release.requiresPHP, query.php)) continue;
    if (!meetsRequirement(release.requiresWP, query.wp)) continue;
    if (!best || compareVersions(release.version, best.version) > 0) best = release;
  }
  return best;
}

/** A release's package in the shape the download helpers serve. */
export function packageFile(release: Release): ProductFile {
  return {
    id: release.id,
    productId: release.productId,
    name: release.fileName,
    size: release.size,
    sha256: release.sha256,
    contentType: release.contentType,
    storage: release.storage,
    objectKey: release.objectKey,
    createdAt: release.createdAt,
  };
}
