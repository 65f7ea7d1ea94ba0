/**
 * Where the last verified answer is kept, for when the server cannot be reached.
 *
 * Entries hold the signed body bytes and the signature exactly as received, and are re-verified with
 * the pinned key every time they are read, so an edited cache is refused rather than trusted. Entry
 * names are SHA-256 digests: the license key itself is not written as a name.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/** A custom cache (e.g. Electron's safeStorage or an app settings store). */
export interface CacheStore {
  /** The stored value, or null/undefined when there is none. */
  get(name: string): Promise<string | null | undefined> | string | null | undefined;
  /** Stores a value; null removes it. */
  set(name: string, value: string | null): Promise<void> | void;
}

export interface CachedAnswer {
  v: 1;
  action: 'validate' | 'activate';
  /** The nonce that call sent (the signed body must echo it). */
  nonce: string;
  /** The exact response bytes, base64. */
  body: string;
  /** The Ed25519 signature of those bytes, base64. */
  signature: string;
}

interface CacheFile {
  v: 1;
  entries: Record<string, string>;
}

/** Writes to one file are serialized across every client of this process that uses it. */
const queues = new Map<string, Promise<unknown>>();

/** A JSON file holding every entry (created with mode 0600, replaced atomically on each write). */
export function fileCache(file: string): CacheStore {
  const path = resolve(file);

  async function load(): Promise<CacheFile> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { v: 1, entries: {} };
      throw error;
    }
    try {
      const parsed = JSON.parse(text) as Partial<CacheFile>;
      if (parsed && typeof parsed.entries === 'object' && parsed.entries !== null) {
        return { v: 1, entries: parsed.entries };
      }
    } catch {
      // An unreadable file is treated as empty; the next answer rewrites it.
    }
    return { v: 1, entries: {} };
  }

  async function write(name: string, value: string | null): Promise<void> {
    const file = await load();
    if (value === null) delete file.entries[name];
    else file.entries[name] = value;
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeFile(tmp, JSON.stringify(file), { mode: 0o600 });
      await rename(tmp, path);
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
  }

  return {
    async get(name) {
      await queues.get(path);
      return (await load()).entries[name];
    },
    set(name, value) {
      const next = (queues.get(path) ?? Promise.resolve()).then(() => write(name, value));
      const settled = next.catch(() => undefined);
      queues.set(path, settled);
      void settled.then(() => {
        if (queues.get(path) === settled) queues.delete(path);
      });
      return next;
    },
  };
}

/** The entry name for one license on one product, site or machine. */
export function cacheName(product: string, normalizedKey: string, scope: string): string {
  return createHash('sha256')
    .update(`cloudsecure-cache/v1\n${product}\n${normalizedKey}\n${scope}`)
    .digest('hex');
}

export function parseCachedAnswer(text: string): CachedAnswer | null {
  try {
    const v = JSON.parse(text) as Partial<CachedAnswer>;
    if (
      v.v === 1 &&
      (v.action === 'validate' || v.action === 'activate') &&
      typeof v.nonce === 'string' &&
      typeof v.body === 'string' &&
      typeof v.signature === 'string'
    ) {
      return v as CachedAnswer;
    }
  } catch {
    // falls through
  }
  return null;
}
