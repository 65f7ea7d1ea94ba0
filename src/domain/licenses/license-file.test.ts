import { generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { License } from './license.ts';
import {
  armorLicenseFile,
  buildLicenseFilePayload,
  LICENSE_FILE_BEGIN,
  LICENSE_FILE_END,
  type LicenseFilePayload,
  verifyLicenseFile,
} from './license-file.ts';

const ISSUED = new Date('2030-01-01T00:00:00.000Z');
const HOUR = 3_600_000;
const DAY = 86_400_000;

function keyPair(): { privateKey: KeyObject; raw: string; pem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64');
  return { privateKey, raw, pem: publicKey.export({ format: 'pem', type: 'spki' }).toString() };
}

const server = keyPair();
const signer = (key: KeyObject) => (data: Uint8Array) => sign(null, data, key).toString('base64');

function license(changes: Partial<License> = {}): License {
  return {
    id: '0190a1b2-0000-7000-8000-000000000001',
    productId: 'p1',
    customerId: 'c1',
    orderId: 'o1',
    status: 'active',
    expiresAt: new Date(ISSUED.getTime() + 365 * DAY).toISOString(),
    activationLimit: 3,
    expiryStops: 'updates',
    keyHint: 'WXYZ',
    createdAt: ISSUED.toISOString(),
    ...changes,
  };
}

function payload(
  input: { license?: Partial<License>; fingerprint?: string | null; ttl?: number } = {},
): LicenseFilePayload {
  return buildLicenseFilePayload({
    license: license(input.license),
    product: { slug: 'my-plugin', itemId: 42 },
    fingerprint: input.fingerprint ?? null,
    issuedAt: ISSUED,
    ttlSeconds: input.ttl ?? 30 * 86_400,
  });
}

function file(p: LicenseFilePayload = payload(), key: KeyObject = server.privateKey): string {
  return armorLicenseFile(p, signer(key));
}

/** The `{enc, sig, alg}` document inside an armored file. */
function innerDoc(text: string): Record<string, unknown> {
  const body = text.trim().split('\n').slice(1, -1).join('');
  return JSON.parse(Buffer.from(body, 'base64').toString('utf8')) as Record<string, unknown>;
}

/** Re-armors a document as-is (to forge files). */
function rearmor(doc: Record<string, unknown>): string {
  const body = Buffer.from(JSON.stringify(doc)).toString('base64');
  return `${LICENSE_FILE_BEGIN}\n${body.match(/.{1,64}/g)?.join('\n')}\n${LICENSE_FILE_END}\n`;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Sets a padding bit of `xx==` base64 (lenient decoders read the same bytes; ours must refuse it). */
function flipPaddingBit(text: string): string {
  const i = text.length - 3;
  return text.slice(0, i) + B64[B64.indexOf(text[i]!) ^ 1] + text.slice(i + 1);
}

const soon = new Date(ISSUED.getTime() + HOUR);

describe('license file format', () => {
  it('builds a payload with the license, the binding and the times, and nothing personal', () => {
    const p = payload({ fingerprint: 'machine-1', ttl: 7200 });
    expect(p).toEqual({
      v: 1,
      license: {
        id: '0190a1b2-0000-7000-8000-000000000001',
        key_hint: 'WXYZ',
        product: 'my-plugin',
        item_id: 42,
        status: 'active',
        expires_at: '2031-01-01T00:00:00.000Z',
        activation_limit: 3,
        expiry_stops: 'updates',
      },
      fingerprint: 'machine-1',
      issued_at: '2030-01-01T00:00:00.000Z',
      expires_at: '2030-01-01T02:00:00.000Z',
      ttl: 7200,
    });
    // The order of the keys is part of the format (the signature covers the exact bytes).
    expect(Object.keys(p)).toEqual(['v', 'license', 'fingerprint', 'issued_at', 'expires_at', 'ttl']);
  });

  it('armors base64 JSON of {enc, sig, alg} in 64-character lines between the BEGIN and END lines', () => {
    const p = payload();
    const text = file(p);
    const lines = text.split('\n');
    expect(lines[0]).toBe('-----BEGIN CLOUDSECURE LICENSE FILE-----');
    expect(text.endsWith('\n-----END CLOUDSECURE LICENSE FILE-----\n')).toBe(true);
    const body = lines.slice(1, -2);
    expect(body.slice(0, -1).every((l) => l.length === 64)).toBe(true);
    expect(body.at(-1)!.length).toBeGreaterThan(0);
    expect(body.at(-1)!.length).toBeLessThanOrEqual(64);
    const doc = innerDoc(text);
    expect(Object.keys(doc)).toEqual(['enc', 'sig', 'alg']);
    expect(doc.alg).toBe('ed25519');
    // enc is the exact payload bytes, and sig is a plain Ed25519 signature of those bytes.
    const bytes = Buffer.from(doc.enc as string, 'base64');
    expect(bytes.toString('utf8')).toBe(JSON.stringify(p));
    expect(verify(null, bytes, server.pem, Buffer.from(doc.sig as string, 'base64'))).toBe(true);
  });
});

describe('verifying a license file', () => {
  it('accepts a genuine file with the raw base64 public key or with its PEM', () => {
    const p = payload();
    const text = file(p);
    expect(verifyLicenseFile(text, server.raw, soon)).toEqual({
      valid: true,
      code: 'VALID',
      detail: expect.any(String),
      payload: p,
    });
    expect(verifyLicenseFile(text, server.pem, soon.getTime()).code).toBe('VALID');
  });

  it('tolerates CRLF line endings and surrounding whitespace', () => {
    const text = `\r\n  ${file().replaceAll('\n', '\r\n')}  \r\n`;
    expect(verifyLicenseFile(text, server.raw, soon).code).toBe('VALID');
  });

  it('refuses every single-character change of the armored body', () => {
    const text = file();
    const begin = LICENSE_FILE_BEGIN.length + 1;
    const end = text.length - LICENSE_FILE_END.length - 2;
    let tried = 0;
    for (let i = begin; i < end; i++) {
      const c = text[i]!;
      if (c === '\n') continue;
      for (const replacement of [c === 'A' ? 'B' : 'A', c === '+' ? '/' : '+']) {
        const tampered = text.slice(0, i) + replacement + text.slice(i + 1);
        const result = verifyLicenseFile(tampered, server.raw, soon);
        expect(result.valid, `position ${i}: ${c} → ${replacement}`).toBe(false);
        expect(['MALFORMED', 'BAD_SIGNATURE']).toContain(result.code);
        expect(result.payload).toBeUndefined();
        tried++;
      }
    }
    expect(tried).toBeGreaterThan(500);
  });

  it('refuses a changed payload carrying the original signature', () => {
    const doc = innerDoc(file(payload({ fingerprint: 'machine-1' })));
    for (const change of [
      (p: LicenseFilePayload) => ({ ...p, expires_at: '2099-01-01T00:00:00.000Z' }),
      (p: LicenseFilePayload) => ({ ...p, fingerprint: null }),
      (p: LicenseFilePayload) => ({ ...p, license: { ...p.license, expires_at: null } }),
    ]) {
      const original = JSON.parse(Buffer.from(doc.enc as string, 'base64').toString()) as LicenseFilePayload;
      const enc = Buffer.from(JSON.stringify(change(original))).toString('base64');
      const result = verifyLicenseFile(rearmor({ ...doc, enc }), server.raw, soon, 'machine-1');
      expect(result).toEqual({ valid: false, code: 'BAD_SIGNATURE', detail: expect.any(String) });
    }
    // The same bytes re-serialized differently (whitespace) no longer match the signature either.
    const spaced = JSON.stringify(JSON.parse(Buffer.from(doc.enc as string, 'base64').toString()), null, 1);
    const enc = Buffer.from(spaced).toString('base64');
    expect(verifyLicenseFile(rearmor({ ...doc, enc }), server.raw, soon).code).toBe('BAD_SIGNATURE');
  });

  it('refuses a file signed by another key', () => {
    const other = keyPair();
    expect(verifyLicenseFile(file(payload(), other.privateKey), server.raw, soon).code).toBe('BAD_SIGNATURE');
    expect(verifyLicenseFile(file(), other.pem, soon).code).toBe('BAD_SIGNATURE');
  });

  it('refuses files that are not armored, not base64, not JSON, of another algorithm or version', () => {
    const doc = innerDoc(file());
    const signed = (value: unknown): Record<string, unknown> => {
      const bytes = Buffer.from(JSON.stringify(value));
      return { enc: bytes.toString('base64'), sig: signer(server.privateKey)(bytes), alg: 'ed25519' };
    };
    const cases: [string, string][] = [
      ['empty', ''],
      ['no armor', file().split('\n').slice(1, -2).join('\n')],
      ['another armor', file().replaceAll('CLOUDSECURE LICENSE', 'MACHINE')],
      ['body not base64', `${LICENSE_FILE_BEGIN}\n!!!!\n${LICENSE_FILE_END}\n`],
      ['body not JSON', rearmor({}).replace(/\n.*\n/, `\n${Buffer.from('nope').toString('base64')}\n`)],
      ['no signature', rearmor({ enc: doc.enc, alg: 'ed25519' })],
      ['another algorithm', rearmor({ ...doc, alg: 'rsa-sha256' })],
      ['no algorithm', rearmor({ enc: doc.enc, sig: doc.sig })],
      ['enc not base64', rearmor({ ...doc, enc: `${doc.enc as string}*` })],
      ['non-canonical padding bits', rearmor({ ...doc, sig: flipPaddingBit(doc.sig as string) })],
      ['a signed payload of version 2', rearmor(signed({ ...payload(), v: 2 }))],
      ['a signed payload without its file expiry', rearmor(signed({ ...payload(), expires_at: undefined }))],
      ['a signed non-JSON payload', rearmor(signed('not an object'))],
      ['too large', `${LICENSE_FILE_BEGIN}\n${'A'.repeat(70_000)}\n${LICENSE_FILE_END}\n`],
    ];
    for (const [name, text] of cases) {
      expect(verifyLicenseFile(text, server.raw, soon).code, name).toBe('MALFORMED');
    }
  });

  it('refuses a file from the moment its own expiry is reached', () => {
    const p = payload({ ttl: 3600 });
    const text = file(p);
    const expiry = Date.parse(p.expires_at);
    expect(verifyLicenseFile(text, server.raw, expiry - 1).code).toBe('VALID');
    const expired = verifyLicenseFile(text, server.raw, expiry);
    expect(expired).toMatchObject({ valid: false, code: 'FILE_EXPIRED', payload: p });
  });

  it('refuses once the license has expired when its expiry stops everything, not when it stops updates', () => {
    const expiresAt = new Date(ISSUED.getTime() + DAY).toISOString();
    const later = ISSUED.getTime() + 2 * DAY;
    const everything = file(payload({ license: { expiresAt, expiryStops: 'everything' } }));
    expect(verifyLicenseFile(everything, server.raw, ISSUED.getTime() + DAY - 1).code).toBe('VALID');
    expect(verifyLicenseFile(everything, server.raw, later).code).toBe('LICENSE_EXPIRED');
    const updates = file(payload({ license: { expiresAt, expiryStops: 'updates' } }));
    expect(verifyLicenseFile(updates, server.raw, later).code).toBe('VALID');
    const lifetime = file(payload({ license: { expiresAt: null, expiryStops: 'everything' } }));
    expect(verifyLicenseFile(lifetime, server.raw, later).code).toBe('VALID');
  });

  it('checks the machine of a bound file, and ignores the machine for an unbound one', () => {
    const bound = file(payload({ fingerprint: 'machine-1' }));
    expect(verifyLicenseFile(bound, server.raw, soon, 'machine-1').code).toBe('VALID');
    expect(verifyLicenseFile(bound, server.raw, soon, ' machine-1\n').code).toBe('VALID');
    expect(verifyLicenseFile(bound, server.raw, soon, 'machine-2').code).toBe('FINGERPRINT_MISMATCH');
    expect(verifyLicenseFile(bound, server.raw, soon, 'MACHINE-1').code).toBe('FINGERPRINT_MISMATCH');
    expect(verifyLicenseFile(bound, server.raw, soon).code).toBe('FINGERPRINT_MISMATCH');
    expect(verifyLicenseFile(bound, server.raw, soon, null).code).toBe('FINGERPRINT_MISMATCH');
    expect(verifyLicenseFile(file(), server.raw, soon, 'any-machine').code).toBe('VALID');
  });

  it('reports the file expiry first, then the license expiry, then the machine', () => {
    const expiresAt = new Date(ISSUED.getTime() + DAY).toISOString();
    const text = file(
      payload({ license: { expiresAt, expiryStops: 'everything' }, fingerprint: 'm', ttl: 3600 }),
    );
    expect(verifyLicenseFile(text, server.raw, ISSUED.getTime() + 2 * DAY, 'x').code).toBe('FILE_EXPIRED');
    const long = file(payload({ license: { expiresAt, expiryStops: 'everything' }, fingerprint: 'm' }));
    expect(verifyLicenseFile(long, server.raw, ISSUED.getTime() + 2 * DAY, 'x').code).toBe('LICENSE_EXPIRED');
  });

  it('throws when the public key itself is unusable', () => {
    expect(() => verifyLicenseFile(file(), 'not a key', soon)).toThrow(TypeError);
    expect(() => verifyLicenseFile(file(), Buffer.alloc(31).toString('base64'), soon)).toThrow(TypeError);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    const rsaPEM = rsa.export({ format: 'pem', type: 'spki' }).toString();
    expect(() => verifyLicenseFile(file(), rsaPEM, soon)).toThrow(TypeError);
  });
});
