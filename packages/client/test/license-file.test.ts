import { generateKeyPairSync, sign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyLicenseFile as serverVerify } from '../../../src/domain/licenses/license-file.ts';
import { createHarness, freePort, type Harness } from '../../../tests/helpers/harness.ts';
import { createLicenseClient, type LicenseClientOptions, verifyLicenseFile } from '../src/index.ts';
import { buy } from './support.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ CLOUDSECURE_RATE_LIMIT_PER_MINUTE: '100000' });
});
afterAll(async () => {
  await h?.close();
});

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function client(options: Partial<LicenseClientOptions> & { product: string }) {
  return createLicenseClient({
    serverUrl: h.url,
    publicKey: h.ctx.licenseSigner.publicKey,
    now: () => h.clock.now(),
    ...options,
  });
}

/** A certificate for an activated machine, and the bought license. */
async function checkedOut(ttl = 2 * 3600) {
  const bought = await buy(h);
  const app = client({ product: bought.product.slug, key: bought.key, fingerprint: 'desk-1' });
  await app.activate();
  const result = await app.checkout({ ttl });
  if (!result.valid) throw new Error(`checkout refused: ${result.code}`);
  return { ...bought, certificate: result.certificate, file: result.file };
}

/** Re-armors a document {enc, sig, alg} the way the server does. */
function armor(doc: unknown): string {
  const body = Buffer.from(JSON.stringify(doc)).toString('base64');
  const lines = body.match(/.{1,64}/g) ?? [];
  return `-----BEGIN CLOUDSECURE LICENSE FILE-----\n${lines.join('\n')}\n-----END CLOUDSECURE LICENSE FILE-----\n`;
}

function unarmor(certificate: string): { enc: string; sig: string; alg: string } {
  const body = certificate.trim().split('\n').slice(1, -1).join('');
  return JSON.parse(Buffer.from(body, 'base64').toString('utf8')) as {
    enc: string;
    sig: string;
    alg: string;
  };
}

describe('offline license files', () => {
  it('checks out a file bound to this machine and verifies it later with no network', async () => {
    const { product, key, certificate, file } = await checkedOut();
    expect(certificate).toMatch(/^-----BEGIN CLOUDSECURE LICENSE FILE-----\n/);
    expect(file).toMatchObject({ valid: true, code: 'VALID' });
    expect(file.payload).toMatchObject({
      fingerprint: 'desk-1',
      ttl: 7200,
      license: { product: product.slug, item_id: product.item_id, status: 'active', key_hint: key.slice(-4) },
    });
    // Later, offline: the server is gone, the file alone proves the license.
    const offline = createLicenseClient({
      serverUrl: `http://127.0.0.1:${await freePort()}`,
      publicKey: h.ctx.licenseSigner.publicKey,
      product: String(product.item_id),
      fingerprint: 'desk-1',
      now: () => h.clock.now().getTime() + HOUR,
    });
    expect(offline.verifyLicenseFile(certificate)).toMatchObject({ valid: true, code: 'VALID' });
    expect(
      verifyLicenseFile(certificate, {
        publicKey: h.ctx.licenseSigner.publicKeyPEM,
        fingerprint: 'desk-1',
        product: product.slug,
        now: h.clock.now(),
      }),
    ).toMatchObject({ valid: true, code: 'VALID' });
  });

  it('answers valid:false with the server’s code when the machine is not activated or the key unknown', async () => {
    const { product, key } = await buy(h);
    const app = client({ product: product.slug, key, fingerprint: 'never-activated' });
    expect(await app.checkout()).toEqual({ valid: false, code: 'NOT_ACTIVATED', detail: expect.any(String) });
    expect(await app.checkout({ key: 'CS-00000-00000-00000-00000-00000' })).toMatchObject({
      valid: false,
      code: 'NOT_FOUND',
    });
  });

  it('issues an unbound file to a client without a fingerprint, with the default time-to-live', async () => {
    const { product, key } = await buy(h);
    const result = await client({ product: product.slug, key }).checkout();
    expect(result.valid && result.file.payload).toMatchObject({ fingerprint: null, ttl: 30 * 86_400 });
  });

  it('refuses the file on another machine, for another product, after it expires, or with the clock turned back', async () => {
    const { product, certificate } = await checkedOut();
    const at = (ms: number) => h.clock.now().getTime() + ms;
    const options = {
      publicKey: h.ctx.licenseSigner.publicKey,
      product: product.slug,
      fingerprint: 'desk-1',
    };
    expect(verifyLicenseFile(certificate, { ...options, fingerprint: 'desk-2' }).code).toBe(
      'FINGERPRINT_MISMATCH',
    );
    expect(verifyLicenseFile(certificate, { ...options, fingerprint: undefined }).code).toBe(
      'FINGERPRINT_MISMATCH',
    );
    expect(verifyLicenseFile(certificate, { ...options, product: 'another-app' }).code).toBe(
      'PRODUCT_MISMATCH',
    );
    const expired = verifyLicenseFile(certificate, { ...options, now: at(2 * HOUR) });
    expect(expired).toMatchObject({ valid: false, code: 'FILE_EXPIRED' });
    expect(expired.payload?.expires_at).toBeDefined();
    expect(verifyLicenseFile(certificate, { ...options, now: at(-DAY) }).code).toBe('CLOCK_ROLLBACK');
  });

  it('refuses a license that expired when its expiry stops everything, but not one that stops only updates', async () => {
    for (const [expiryStops, code] of [
      ['everything', 'LICENSE_EXPIRED'],
      ['updates', 'VALID'],
    ] as const) {
      const { product, key } = await buy(h, { durationDays: 1, expiryStops });
      const result = await client({ product: product.slug, key }).checkout({ ttl: 7 * 86_400 });
      if (!result.valid) throw new Error(result.code);
      const later = verifyLicenseFile(result.certificate, {
        publicKey: h.ctx.licenseSigner.publicKey,
        now: h.clock.now().getTime() + 2 * DAY,
      });
      expect(later.code, expiryStops).toBe(code);
    }
  });

  it('refuses a file altered by one character, re-signed by another key, or not a license file', async () => {
    const { certificate } = await checkedOut();
    const options = { publicKey: h.ctx.licenseSigner.publicKey, fingerprint: 'desk-1' };

    const doc = unarmor(certificate);
    const payload = JSON.parse(Buffer.from(doc.enc, 'base64').toString('utf8')) as { fingerprint: string };
    payload.fingerprint = 'desk-2';
    const moved = armor({ ...doc, enc: Buffer.from(JSON.stringify(payload)).toString('base64') });
    expect(verifyLicenseFile(moved, { ...options, fingerprint: 'desk-2' }).code).toBe('BAD_SIGNATURE');

    const attacker = generateKeyPairSync('ed25519');
    const bytes = Buffer.from(JSON.stringify(payload));
    const forged = armor({
      enc: bytes.toString('base64'),
      sig: sign(null, bytes, attacker.privateKey).toString('base64'),
      alg: 'ed25519',
    });
    expect(verifyLicenseFile(forged, { ...options, fingerprint: 'desk-2' }).code).toBe('BAD_SIGNATURE');

    const lines = certificate.split('\n');
    const line = lines[1] ?? '';
    lines[1] = `${line.slice(0, 10)}${line[10] === 'A' ? 'B' : 'A'}${line.slice(11)}`;
    expect(verifyLicenseFile(lines.join('\n'), options).valid).toBe(false);

    expect(verifyLicenseFile('hello', options).code).toBe('MALFORMED');
    expect(verifyLicenseFile(armor({ ...doc, alg: 'none' }), options).code).toBe('MALFORMED');
  });

  it('agrees with the server’s own verifier on every outcome', async () => {
    const { product, certificate } = await checkedOut();
    const key = h.ctx.licenseSigner.publicKey;
    const lines = certificate.split('\n');
    lines[2] = (lines[2] ?? '').replace(/^./, (c) => (c === 'Q' ? 'R' : 'Q'));
    const cases: { text: string; fingerprint?: string; now: number }[] = [
      { text: certificate, fingerprint: 'desk-1', now: h.clock.now().getTime() },
      { text: certificate, fingerprint: 'desk-9', now: h.clock.now().getTime() },
      { text: certificate, now: h.clock.now().getTime() },
      { text: certificate, fingerprint: 'desk-1', now: h.clock.now().getTime() + 3 * HOUR },
      { text: lines.join('\n'), fingerprint: 'desk-1', now: h.clock.now().getTime() },
      { text: certificate.replace('BEGIN', 'BEGUN'), fingerprint: 'desk-1', now: h.clock.now().getTime() },
    ];
    for (const c of cases) {
      const ours = verifyLicenseFile(c.text, {
        publicKey: key,
        fingerprint: c.fingerprint,
        product: product.slug,
        now: c.now,
      });
      const theirs = serverVerify(c.text, key, c.now, c.fingerprint);
      expect({ valid: ours.valid, code: ours.code, payload: ours.payload }).toEqual({
        valid: theirs.valid,
        code: theirs.code,
        payload: theirs.payload,
      });
    }
  });
});
