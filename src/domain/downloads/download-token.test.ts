import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createLinkSigner } from './download-token.ts';

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

const signer = createLinkSigner(randomBytes(32));
const direct = { grantId: randomUUID(), fileId: randomUUID(), expiresAt: 1_900_000_000 };
const access = { grantId: randomUUID(), expiresAt: 1_900_000_000 };

/** Every text that differs from `token` in exactly one character (all 63 alternatives per position). */
function* singleCharacterChanges(token: string): Generator<string> {
  for (let i = 0; i < token.length; i++) {
    for (const c of BASE64URL) {
      if (c !== token[i]) yield token.slice(0, i) + c + token.slice(i + 1);
    }
  }
}

describe('signing and verifying links', () => {
  it('round-trips the claims of a direct link', () => {
    expect(signer.verifyDirect(signer.signDirect(direct))).toEqual(direct);
  });

  it('round-trips the claims of an access link', () => {
    expect(signer.verifyAccess(signer.signAccess(access))).toEqual(access);
  });

  it('makes a direct token of at most 100 URL-safe characters', () => {
    const token = signer.signDirect(direct);
    expect(token.length).toBeLessThanOrEqual(100);
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(encodeURIComponent(token)).toBe(token);
  });

  it('round-trips an expiry of 0 (no expiry of its own) and the largest storable time', () => {
    for (const expiresAt of [0, 4_294_967_295]) {
      expect(signer.verifyDirect(signer.signDirect({ ...direct, expiresAt }))?.expiresAt).toBe(expiresAt);
      expect(signer.verifyAccess(signer.signAccess({ ...access, expiresAt }))?.expiresAt).toBe(expiresAt);
    }
  });

  it('returns ids in canonical lower case even when signed from upper case', () => {
    const upper = { ...direct, grantId: direct.grantId.toUpperCase() };
    expect(signer.verifyDirect(signer.signDirect(upper))?.grantId).toBe(direct.grantId);
  });

  it('gives different tokens for different files of the same grant', () => {
    const other = signer.signDirect({ ...direct, fileId: randomUUID() });
    expect(other).not.toBe(signer.signDirect(direct));
  });
});

describe('refusing forged links', () => {
  it('rejects a direct token with any single character changed, at every position', () => {
    const token = signer.signDirect(direct);
    let tried = 0;
    for (const changed of singleCharacterChanges(token)) {
      tried++;
      if (signer.verifyDirect(changed) !== null) throw new Error(`accepted a changed token: ${changed}`);
    }
    expect(tried).toBe(token.length * 63);
  });

  it('rejects an access token with any single character changed, at every position', () => {
    const token = signer.signAccess(access);
    for (const changed of singleCharacterChanges(token)) {
      if (signer.verifyAccess(changed) !== null) throw new Error(`accepted a changed token: ${changed}`);
    }
  });

  it('rejects truncated and extended tokens', () => {
    const token = signer.signDirect(direct);
    for (let n = 0; n < token.length; n++) expect(signer.verifyDirect(token.slice(0, n))).toBeNull();
    for (const extra of ['A', 'AA', 'AAAA', '=', '==', '.', token]) {
      expect(signer.verifyDirect(token + extra)).toBeNull();
    }
  });

  it('rejects padding, whitespace and non-URL-safe characters around a genuine token', () => {
    const token = signer.signDirect(direct);
    for (const variant of [` ${token}`, `${token}\n`, token.replace(/^./, '+'), token.replace(/^./, '/')]) {
      expect(signer.verifyDirect(variant)).toBeNull();
    }
  });

  it('rejects a token signed with another key', () => {
    const other = createLinkSigner(randomBytes(32));
    expect(signer.verifyDirect(other.signDirect(direct))).toBeNull();
    expect(signer.verifyAccess(other.signAccess(access))).toBeNull();
  });

  it('does not accept a direct token as an access token, or the reverse', () => {
    expect(signer.verifyAccess(signer.signDirect(direct))).toBeNull();
    expect(signer.verifyDirect(signer.signAccess(access))).toBeNull();
  });

  it('rejects a 1 MB string without throwing', () => {
    const huge = 'A'.repeat(1024 * 1024);
    expect(signer.verifyDirect(huge)).toBeNull();
    expect(signer.verifyAccess(huge)).toBeNull();
  });

  it('rejects empty and non-base64 input', () => {
    for (const junk of ['', '%00', '../../etc/passwd', '\u0000'.repeat(71), 'é'.repeat(71)]) {
      expect(signer.verifyDirect(junk)).toBeNull();
      expect(signer.verifyAccess(junk)).toBeNull();
    }
  });
});

describe('misuse by the caller', () => {
  it('throws when an id is not a UUID', () => {
    expect(() => signer.signDirect({ ...direct, fileId: 'not-a-uuid' })).toThrow(/UUID/);
    expect(() => signer.signDirect({ ...direct, grantId: `${direct.grantId}0` })).toThrow(/UUID/);
    expect(() => signer.signAccess({ ...access, grantId: '' })).toThrow(/UUID/);
  });

  it('throws when the expiry cannot be stored in the token', () => {
    for (const expiresAt of [-1, 1.5, 2 ** 32, Number.NaN]) {
      expect(() => signer.signDirect({ ...direct, expiresAt })).toThrow(/expiresAt/);
    }
  });

  it('throws when the key is shorter than 32 bytes', () => {
    expect(() => createLinkSigner(randomBytes(31))).toThrow(/32 bytes/);
    expect(() => createLinkSigner(Buffer.alloc(0))).toThrow(/32 bytes/);
  });
});
