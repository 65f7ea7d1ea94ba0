import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createLinkSigner, scopeDigest } from '../downloads/download-token.ts';
import {
  compareVersions,
  isPrerelease,
  isVersion,
  meetsRequirement,
  pickLatest,
  type Release,
} from './release.ts';

function release(version: string, fields: Partial<Release> = {}): Release {
  return {
    id: randomUUID(),
    productId: 'p',
    version,
    fileName: 'plugin.zip',
    size: 1,
    sha256: '0'.repeat(64),
    contentType: 'application/zip',
    storage: 'local',
    objectKey: `r/${randomUUID()}`,
    changelog: null,
    requiresPHP: null,
    requiresWP: null,
    tested: null,
    beta: isPrerelease(version),
    createdAt: new Date().toISOString(),
    ...fields,
  };
}

describe('compareVersions', () => {
  it('orders by semantic precedence, not as text', () => {
    const sorted = [
      '1.10.0',
      '1.9.0',
      '2.0.0',
      '2.0.0-rc.1',
      '2.0.0-beta.2',
      '2.0.0-beta.10',
      '1.2',
      '1.2.1',
    ].sort(compareVersions);
    expect(sorted).toEqual([
      '1.2',
      '1.2.1',
      '1.9.0',
      '1.10.0',
      '2.0.0-beta.2',
      '2.0.0-beta.10',
      '2.0.0-rc.1',
      '2.0.0',
    ]);
  });

  it('treats missing numeric parts as zero', () => {
    expect(compareVersions('1.2', '1.2.0')).toBe(0);
    expect(compareVersions('1.2.0.1', '1.2')).toBe(1);
  });

  it('accepts semver-ish versions only', () => {
    for (const good of ['1.2.3', '1.2', '1.2.3.4', '1.2.3-beta.1', '0.1.0-alpha'])
      expect(isVersion(good)).toBe(true);
    for (const bad of ['1', 'v1.2.3', '1.2.3+build', '1.2.3-', '1..2', 'latest', '1.2.3 ', '1.2.3-beta..1'])
      expect(isVersion(bad)).toBe(false);
  });
});

describe('pickLatest', () => {
  it('skips betas unless asked and releases whose platform needs are not met', () => {
    const releases = [
      release('1.10.0'),
      release('1.9.0'),
      release('1.11.0', { requiresPHP: '8.1' }),
      release('1.12.0', { requiresWP: '6.5' }),
      release('2.0.0-beta.1'),
    ];
    expect(pickLatest(releases, { beta: false })?.version).toBe('1.12.0');
    expect(pickLatest(releases, { beta: true })?.version).toBe('2.0.0-beta.1');
    expect(pickLatest(releases, { beta: false, php: '7.4.33', wp: '6.4.3' })?.version).toBe('1.10.0');
    expect(pickLatest(releases, { beta: false, php: '8.1.2-1ubuntu', wp: '6.4' })?.version).toBe('1.11.0');
    expect(pickLatest([], { beta: true })).toBeNull();
  });

  it('does not hold an unreadable platform version against the caller', () => {
    expect(meetsRequirement('8.1', 'unknown')).toBe(true);
    expect(meetsRequirement('6.5', '6.5-RC1')).toBe(true);
    expect(meetsRequirement('6.5', '6.4.9')).toBe(false);
  });
});

describe('package link token', () => {
  const signer = createLinkSigner(randomBytes(32));
  const claims = {
    licenseId: randomUUID(),
    releaseId: randomUUID(),
    expiresAt: 1_900_000_000,
    scope: scopeDigest('site:example.com/'),
  };

  it('round-trips its claims, with and without a site', () => {
    expect(signer.verifyPackage(signer.signPackage(claims))).toEqual(claims);
    const bare = { ...claims, scope: null };
    expect(signer.verifyPackage(signer.signPackage(bare))).toEqual(bare);
  });

  it('is refused as any other kind of link, and other links are refused as package links', () => {
    const token = signer.signPackage(claims);
    expect(signer.verifyDirect(token)).toBeNull();
    expect(signer.verifyAccess(token)).toBeNull();
    const direct = signer.signDirect({ grantId: claims.licenseId, fileId: claims.releaseId, expiresAt: 0 });
    expect(signer.verifyPackage(direct)).toBeNull();
  });

  it('rejects any changed character', () => {
    const token = signer.signPackage(claims);
    for (let i = 0; i < token.length; i++) {
      const changed = token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
      expect(signer.verifyPackage(changed)).toBeNull();
    }
  });
});
