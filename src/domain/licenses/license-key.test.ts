import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  assertKeyFormat,
  DEFAULT_KEY_FORMAT,
  generateLicenseKey,
  hashLicenseKey,
  keyEntropyBits,
  keyHint,
  normalizeLicenseKey,
} from './license-key.ts';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const DEFAULT_KEY_RE = /^CS(-[0-9A-HJKMNP-TV-Z]{5}){5}$/;

describe('generateLicenseKey', () => {
  it('makes keys like CS-XXXXX-XXXXX-XXXXX-XXXXX-XXXXX in Crockford base32', () => {
    for (let i = 0; i < 50; i++) expect(generateLicenseKey()).toMatch(DEFAULT_KEY_RE);
  });

  it('makes 1,000 distinct keys', () => {
    const keys = Array.from({ length: 1000 }, () => generateLicenseKey());
    expect(new Set(keys).size).toBe(1000);
  });

  it('carries at least 120 bits: 25 uniformly drawn base32 characters', () => {
    expect(keyEntropyBits(DEFAULT_KEY_FORMAT)).toBe(125);
    const counts = new Map<string, number>();
    const samples = 2000;
    for (let i = 0; i < samples; i++) {
      for (const ch of normalizeLicenseKey(generateLicenseKey()).slice(2)) {
        counts.set(ch, (counts.get(ch) ?? 0) + 1);
      }
    }
    // Every one of the 32 symbols is used, nothing else (no I, L, O, U), and evenly: a chi-square over
    // 31 degrees of freedom stays far below 100 (p < 1e-8) for a uniform source.
    expect([...counts.keys()].sort().join('')).toBe(CROCKFORD);
    const expected = (samples * 25) / 32;
    const chiSquare = [...counts.values()].reduce((sum, n) => sum + (n - expected) ** 2 / expected, 0);
    expect(chiSquare).toBeLessThan(100);
  });

  it('follows a configured prefix, grouping and separator', () => {
    const plain = generateLicenseKey({ prefix: '', groups: 4, groupLength: 8, separator: '' });
    expect(plain).toMatch(/^[0-9A-HJKMNP-TV-Z]{32}$/);
    const acme = generateLicenseKey({ prefix: 'ACME', groups: 6, groupLength: 4, separator: '_' });
    expect(acme).toMatch(/^ACME(_[0-9A-HJKMNP-TV-Z]{4}){6}$/);
  });
});

describe('assertKeyFormat', () => {
  it('accepts formats of 120 bits or more', () => {
    expect(assertKeyFormat(DEFAULT_KEY_FORMAT)).toBe(DEFAULT_KEY_FORMAT);
    const edge = { prefix: 'X', groups: 3, groupLength: 8, separator: '.' };
    expect(keyEntropyBits(edge)).toBe(120);
    expect(assertKeyFormat(edge)).toBe(edge);
  });

  it('rejects formats below 120 bits', () => {
    expect(() => assertKeyFormat({ ...DEFAULT_KEY_FORMAT, groups: 4 })).toThrow(/120 bits/);
    expect(() => assertKeyFormat({ ...DEFAULT_KEY_FORMAT, groups: 1, groupLength: 23 })).toThrow(/120 bits/);
  });

  it('rejects prefixes and separators that would make keys ambiguous', () => {
    expect(() => assertKeyFormat({ ...DEFAULT_KEY_FORMAT, prefix: 'C-S' })).toThrow(/prefix/);
    expect(() => assertKeyFormat({ ...DEFAULT_KEY_FORMAT, prefix: 'A'.repeat(17) })).toThrow(/prefix/);
    expect(() => assertKeyFormat({ ...DEFAULT_KEY_FORMAT, separator: '/' })).toThrow(/separator/);
    expect(() => assertKeyFormat({ ...DEFAULT_KEY_FORMAT, separator: '--' })).toThrow(/separator/);
  });
});

describe('hashLicenseKey', () => {
  const lookupKey = randomBytes(32);
  const key = 'CS-ABCDE-FGHJK-MNPQR-STVWX-YZ012';

  it('finds the same key typed in lower case, without dashes or with spaces', () => {
    const hash = hashLicenseKey(lookupKey, key);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    for (const typed of [
      key.toLowerCase(),
      key.replaceAll('-', ''),
      ` ${key}\n`,
      key.replaceAll('-', ' '),
      key.replaceAll('-', '_'),
      key.replaceAll('-', '.'),
    ]) {
      expect(hashLicenseKey(lookupKey, typed)).toBe(hash);
    }
  });

  it('tells different keys apart and depends on the secret lookup key', () => {
    expect(hashLicenseKey(lookupKey, key)).not.toBe(hashLicenseKey(lookupKey, `${key.slice(0, -1)}3`));
    expect(hashLicenseKey(randomBytes(32), key)).not.toBe(hashLicenseKey(lookupKey, key));
  });

  it('normalizes imported keys the same way', () => {
    expect(normalizeLicenseKey(' 0f3a-9c_e1.b2 ')).toBe('0F3A9CE1B2');
  });
});

describe('keyHint', () => {
  it('shows only the last four characters of the normalized key', () => {
    expect(keyHint('cs-abcde-fghjk-mnpqr-stvwx-yz012')).toBe('Z012');
  });
});
