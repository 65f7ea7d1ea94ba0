import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { deriveKey, loadMasterKey, parseMasterKey } from './keys.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cloudsecure-keys-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('parseMasterKey', () => {
  const key = randomBytes(32);

  it('reads 32 bytes given as base64, with or without padding, or as base64url', () => {
    expect(parseMasterKey(key.toString('base64')).equals(key)).toBe(true);
    expect(parseMasterKey(key.toString('base64').replace(/=$/, '')).equals(key)).toBe(true);
    expect(parseMasterKey(key.toString('base64url')).equals(key)).toBe(true);
  });

  it('reads 32 bytes given as 64 hex digits in either case', () => {
    expect(parseMasterKey(key.toString('hex')).equals(key)).toBe(true);
    expect(parseMasterKey(key.toString('hex').toUpperCase()).equals(key)).toBe(true);
  });

  it('ignores surrounding whitespace such as the newline of a key file', () => {
    expect(parseMasterKey(`  ${key.toString('base64')}\n`).equals(key)).toBe(true);
  });

  it.each([
    ['16 bytes of base64', randomBytes(16).toString('base64')],
    ['31 bytes of base64', randomBytes(31).toString('base64')],
    ['33 bytes of base64', randomBytes(33).toString('base64')],
    ['62 hex digits', randomBytes(31).toString('hex')],
    ['66 hex digits', randomBytes(33).toString('hex')],
    ['an empty string', ''],
    ['a passphrase', 'correct horse battery staple'],
  ])('throws for %s', (_label, text) => {
    expect(() => parseMasterKey(text)).toThrow(/32 bytes/);
  });

  it('throws for a key with stray characters instead of decoding something else', () => {
    const b64 = key.toString('base64');
    expect(() => parseMasterKey(`${b64.slice(0, 10)}!${b64.slice(10)}`)).toThrow(/32 bytes/);
    expect(() => parseMasterKey(`${b64.slice(0, 10)} ${b64.slice(10)}`)).toThrow(/32 bytes/);
  });
});

describe('loadMasterKey', () => {
  it('generates a key into a 0600 file on first use and reuses it afterwards', () => {
    const dir = join(tempDir(), 'nested', 'data');
    const first = loadMasterKey(undefined, dir);
    expect(first.generated).toBe(true);
    expect(first.key).toHaveLength(32);
    expect(first.path).toBe(join(dir, 'master.key'));
    expect(statSync(first.path!).mode & 0o777).toBe(0o600);
    expect(parseMasterKey(readFileSync(first.path!, 'utf8')).equals(first.key)).toBe(true);

    const second = loadMasterKey(undefined, dir);
    expect(second.generated).toBe(false);
    expect(second.path).toBe(first.path);
    expect(second.key.equals(first.key)).toBe(true);
  });

  it('uses the configured key over the file and writes nothing', () => {
    const dir = tempDir();
    const configured = randomBytes(32);
    const fromConfig = loadMasterKey(configured.toString('hex'), dir);
    expect(fromConfig).toEqual({ key: configured, generated: false, path: null });
    expect(existsSync(join(dir, 'master.key'))).toBe(false);

    loadMasterKey(undefined, dir);
    expect(loadMasterKey(configured.toString('base64'), dir).key.equals(configured)).toBe(true);
  });

  it('refuses a corrupt key file instead of replacing it', () => {
    const dir = tempDir();
    const path = join(dir, 'master.key');
    writeFileSync(path, 'not a key\n');
    expect(() => loadMasterKey(undefined, dir)).toThrow(/32 bytes/);
    expect(readFileSync(path, 'utf8')).toBe('not a key\n');
  });
});

describe('deriveKey', () => {
  const master = randomBytes(32);

  it('derives a different 32-byte key for each purpose', () => {
    const link = deriveKey(master, 'link-token');
    const kek = deriveKey(master, 'secret-kek');
    expect(link).toHaveLength(32);
    expect(kek).toHaveLength(32);
    expect(link.equals(kek)).toBe(false);
    expect(link.equals(master)).toBe(false);
  });

  it('is deterministic for the same master key and purpose', () => {
    expect(deriveKey(master, 'link-token').equals(deriveKey(Buffer.from(master), 'link-token'))).toBe(true);
  });

  it('changes every derived key when the master key changes', () => {
    const other = randomBytes(32);
    expect(deriveKey(master, 'link-token').equals(deriveKey(other, 'link-token'))).toBe(false);
    expect(deriveKey(master, 'secret-kek').equals(deriveKey(other, 'secret-kek'))).toBe(false);
  });
});
