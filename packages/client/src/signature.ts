/**
 * Ed25519 verification against a pinned public key.
 *
 * The server signs the exact bytes of every license API body (header `CloudSecure-Signature:
 * ed25519=<base64>`) and every license file. The client trusts only the key it was built with: a key
 * fetched from the server at run time would let whoever answers in its place choose the key too.
 */
import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import { LicenseClientError } from './errors.ts';

export const SIGNATURE_HEADER = 'cloudsecure-signature';

// DER prefix of an SPKI Ed25519 public key; the raw 32-byte key follows it.
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** Accepts the raw 32-byte key in base64 (as GET /api/v1/licenses/public-key gives it) or a PEM. */
export function parsePublicKey(publicKey: string): KeyObject {
  const text = publicKey.trim();
  let key: KeyObject;
  try {
    if (text.startsWith('-----BEGIN')) {
      key = createPublicKey(text);
    } else {
      const raw = Buffer.from(text, 'base64');
      if (raw.length !== 32 || raw.toString('base64') !== text) throw new Error('not 32 bytes of base64');
      key = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
    }
  } catch (cause) {
    throw new LicenseClientError(
      'CONFIG_INVALID',
      'publicKey must be an Ed25519 key: 32 bytes base64, or PEM.',
      {
        cause,
      },
    );
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new LicenseClientError('CONFIG_INVALID', 'publicKey must be an Ed25519 key.');
  }
  return key;
}

/** Extracts the base64 signature from the header value, or null when absent or malformed. */
export function parseSignatureHeader(value: string | null | undefined): string | null {
  const match = value ? /^ed25519=([A-Za-z0-9+/]{86}==)$/.exec(value.trim()) : null;
  return match?.[1] ?? null;
}

export function verifySignature(key: KeyObject, data: Uint8Array, signature: string): boolean {
  const bytes = Buffer.from(signature, 'base64');
  if (bytes.length !== 64) return false;
  try {
    return verify(null, data, key, bytes);
  } catch {
    return false;
  }
}
