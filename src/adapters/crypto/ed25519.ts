/**
 * Ed25519 signatures for license responses and license files. The key pair is derived from the master
 * key (HKDF, "cloudsecure/license-signing"), so every node signs with the same key and nothing extra
 * needs backing up; clients pin the public key from GET /api/v1/licenses/public-key.
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign } from 'node:crypto';

// DER prefix of a PKCS#8 Ed25519 private key; the 32-byte seed follows it.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export interface Ed25519Signer {
  /** Base64 signature of exactly these bytes. */
  sign(data: Uint8Array): string;
  /** The raw 32-byte public key, base64. */
  readonly publicKey: string;
  readonly publicKeyPEM: string;
}

export function createEd25519Signer(seed: Buffer): Ed25519Signer {
  if (seed.length !== 32) throw new Error('an Ed25519 seed is 32 bytes');
  const privateKey: KeyObject = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const publicKey = createPublicKey(privateKey);
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  return {
    sign: (data) => sign(null, data, privateKey).toString('base64'),
    publicKey: raw.toString('base64'),
    publicKeyPEM: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
}
