import { AppError } from '../../domain/errors.ts';
import type { StorageKind } from '../../domain/model.ts';
import type { BlobStore, BlobStores } from '../../domain/ports.ts';
import type { StorageSettingsStore } from '../../domain/storage/storage-settings.ts';
import type { LocalBlobStore } from './local-fs.ts';
import { createS3BlobStore } from './s3.ts';

export interface CachedBlobStores extends BlobStores {
  /** Forgets the cached settings: the next lookup reads them from the database again. */
  invalidate(): void;
}

/**
 * Picks the store for each file. Settings are read from the database (so every node sees a
 * `storage use` at once, give or take the cache) and the S3 client is reused while they are unchanged.
 * The composition root calls `invalidate()` when this process saves settings, so that change takes
 * effect at once; one saved elsewhere (the CLI, another node) within `cacheMs`.
 */
export function createBlobStores(deps: {
  local: LocalBlobStore;
  settings: StorageSettingsStore;
  cacheMs?: number;
  now?: () => number;
}): CachedBlobStores {
  const cacheMs = deps.cacheMs ?? 10_000;
  const now = deps.now ?? Date.now;
  let cached: { at: number; signature: string; kind: StorageKind; s3: BlobStore | null } | null = null;
  // Bumped on every invalidation, so a load that was already running cannot put stale settings back.
  let generation = 0;

  function invalidate(): void {
    generation += 1;
    if (cached) cached.at = Number.NEGATIVE_INFINITY;
  }

  async function current(): Promise<NonNullable<typeof cached>> {
    if (cached && now() - cached.at < cacheMs) return cached;
    const started = generation;
    const settings = await deps.settings.load();
    const signature = JSON.stringify(settings);
    if (cached && cached.signature === signature) {
      if (started === generation) cached.at = now();
      return cached;
    }
    const s3 = settings.s3 ? createS3BlobStore(settings.s3) : null;
    const fresh = {
      at: started === generation ? now() : Number.NEGATIVE_INFINITY,
      signature,
      kind: settings.active,
      s3,
    };
    cached = fresh;
    return fresh;
  }

  return {
    async forKind(kind) {
      if (kind === 'local') return deps.local;
      const { s3 } = await current();
      if (!s3) {
        throw new AppError('STORAGE_UNAVAILABLE', {
          message: 'This file is in S3 storage, which is not configured.',
        });
      }
      return s3;
    },
    async active() {
      const { kind, s3 } = await current();
      return kind === 's3' && s3 ? s3 : deps.local;
    },
    invalidate,
  };
}
