/**
 * Turning bytes from the server (or from the cache) into an answer the software may act on. An answer is
 * trusted only when its Ed25519 signature holds under the pinned key, it echoes the nonce sent with the
 * call that produced it, and its signed timestamp is plausible: fresh for a live answer, within the grace
 * period for a cached one.
 */
import type { KeyObject } from 'node:crypto';
import type { CachedAnswer } from './cache.ts';
import { LicenseClientError } from './errors.ts';
import { parseSignatureHeader, verifySignature } from './signature.ts';
import type { RawAnswer } from './transport.ts';
import { isSignedLicenseResponse, type SignedLicenseResponse } from './types.ts';

function parseBody(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Verifies the signature of any answer (errors included); returns the base64 signature. */
export function verifyRaw(key: KeyObject, raw: RawAnswer): string {
  const signature = parseSignatureHeader(raw.signatureHeader);
  if (!signature) {
    throw new LicenseClientError('SIGNATURE_MISSING', 'The answer carries no CloudSecure-Signature.', {
      status: raw.status,
    });
  }
  if (!verifySignature(key, raw.body, signature)) {
    throw new LicenseClientError('SIGNATURE_INVALID', 'The answer is not signed by the pinned key.', {
      status: raw.status,
    });
  }
  return signature;
}

/** A signed non-200 answer: the server refused the request itself. */
export function refusal(raw: RawAnswer): LicenseClientError {
  const body = parseBody(raw.body) as { error?: { code?: unknown; message?: unknown } } | undefined;
  const serverCode = typeof body?.error?.code === 'string' ? body.error.code : undefined;
  const message = typeof body?.error?.message === 'string' ? body.error.message : `HTTP ${raw.status}`;
  return new LicenseClientError('REQUEST_REFUSED', message, {
    status: raw.status,
    ...(serverCode ? { serverCode } : {}),
  });
}

/** A parsed, signed 200 body that echoes `nonce` and was signed within `toleranceMs` of `now`. */
export function acceptLive<T extends { nonce: string | number | null; ts: string }>(
  bytes: Uint8Array,
  check: (value: unknown) => value is T,
  expect: { nonce: string; now: number; toleranceMs: number },
): T {
  const body = parseBody(bytes);
  if (!check(body)) throw new LicenseClientError('INVALID_RESPONSE', 'The answer is not a license response.');
  if (body.nonce !== expect.nonce) {
    throw new LicenseClientError('NONCE_MISMATCH', 'The answer does not echo this call’s nonce: replayed.');
  }
  const skew = Math.abs(expect.now - Date.parse(body.ts));
  if (!(skew <= expect.toleranceMs)) {
    throw new LicenseClientError(
      'CLOCK_SKEW',
      `The answer was signed at ${body.ts}, ${Math.round(skew / 1000)} s from the local clock.`,
    );
  }
  return body;
}

/** What a cached answer must be about: this product, this key, this site or machine. */
export interface Binding {
  product: string;
  keyHint: string;
  /** The normalized site or trimmed fingerprint; null when the client has no scope. */
  identifier: string | null;
}

function bound(response: SignedLicenseResponse, binding: Binding): boolean {
  const { license, activation } = response;
  if (license) {
    const product = license.product === binding.product || String(license.item_id) === binding.product;
    if (!product || license.key_hint !== binding.keyHint) return false;
  }
  // A client with a site or machine accepts a valid answer only if it is about that activation: anyone
  // with the key can obtain a signed valid answer that names no activation at all.
  if (binding.identifier === null) return activation === null;
  return activation ? activation.identifier === binding.identifier : !response.valid;
}

/**
 * Re-verifies a cached answer from scratch. Its signature and nonce must hold as when it was received,
 * and it must be about this license here: a genuinely signed answer copied from another license or
 * machine is refused too. Returns it with its age by the signed timestamp (never by a cache field).
 */
export function acceptCached(
  key: KeyObject,
  entry: CachedAnswer,
  binding: Binding,
): { response: SignedLicenseResponse; signedAt: number } {
  const bytes = Buffer.from(entry.body, 'base64');
  if (!verifySignature(key, bytes, entry.signature)) {
    throw new LicenseClientError('CACHE_INVALID', 'The cached answer’s signature does not hold: tampered.');
  }
  const body = parseBody(bytes);
  if (!isSignedLicenseResponse(body) || body.nonce !== entry.nonce || !bound(body, binding)) {
    throw new LicenseClientError('CACHE_INVALID', 'The cached answer is not this license’s.');
  }
  return { response: body, signedAt: Date.parse(body.ts) };
}
