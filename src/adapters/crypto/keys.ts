/**
 * The master key and what is derived from it.
 *
 * The master key is 32 random bytes, given as CLOUDSECURE_MASTER_KEY (base64 or hex) or kept in
 * `<data dir>/master.key` (mode 0600, generated on first start). It never encrypts data itself: HKDF
 * derives one sub-key per purpose, so a key used for link MACs can never be confused with the
 * key-encryption key that wraps stored credentials.
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface MasterKeySource {
  key: Buffer;
  /** True when this call generated and saved a new key. */
  generated: boolean;
  path: string | null;
}

export function parseMasterKey(text: string): Buffer {
  const trimmed = text.trim();
  // Strict formats only: Node's base64 decoder skips stray characters, so a mangled key would
  // otherwise decode to some other 32 bytes and silently break every link and stored secret.
  if (/^[0-9a-f]{64}$/i.test(trimmed)) return Buffer.from(trimmed, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(trimmed) || /^[A-Za-z0-9_-]{43}$/.test(trimmed)) {
    const key = Buffer.from(trimmed, 'base64');
    if (key.length === 32) return key;
  }
  throw new Error('the master key must be 32 bytes, given as base64 or 64 hex digits');
}

/** Returns the configured master key, or the one in the data dir, generating it on first use. */
export function loadMasterKey(configured: string | undefined, dataDir: string): MasterKeySource {
  if (configured) return { key: parseMasterKey(configured), generated: false, path: null };
  const path = join(dataDir, 'master.key');
  if (existsSync(path)) return { key: parseMasterKey(readFileSync(path, 'utf8')), generated: false, path };
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(32);
  // 'wx' fails if another process created the file first; then use theirs.
  try {
    writeFileSync(path, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      return { key: parseMasterKey(readFileSync(path, 'utf8')), generated: false, path };
    }
    throw error;
  }
  chmodSync(path, 0o600);
  return { key, generated: true, path };
}

export type KeyPurpose =
  | 'link-token'
  | 'secret-kek'
  | 'license-lookup'
  | 'license-signing'
  | 'watermark-mark';

export function deriveKey(master: Buffer, purpose: KeyPurpose): Buffer {
  return Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), `cloudsecure/${purpose}`, 32));
}
