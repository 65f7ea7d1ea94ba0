/**
 * Envelope encryption for credentials at rest (R2/S3 keys, later store and Brevo keys).
 *
 * Each value gets its own random data key (DEK). The value is sealed with the DEK and the DEK is sealed
 * with the key-encryption key (KEK, derived from the master key), both with AES-256-GCM and the record
 * id as associated data, so a ciphertext copied onto another record fails to open. Stored form:
 * `v1.<iv>.<wrapped dek + tag>.<iv>.<ciphertext + tag>` in base64url. Rotating the master key only
 * re-wraps DEKs.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { SecretBox } from '../../domain/ports.ts';

const TAG = 16;

function seal(key: Buffer, plaintext: Buffer, aad: string): [string, string] {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return [iv.toString('base64url'), body.toString('base64url')];
}

function open(key: Buffer, iv: string, body: string, aad: string): Buffer {
  const raw = Buffer.from(body, 'base64url');
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(raw.subarray(raw.length - TAG));
  return Buffer.concat([decipher.update(raw.subarray(0, raw.length - TAG)), decipher.final()]);
}

export function createSecretBox(kek: Buffer): SecretBox {
  return {
    seal(plaintext, associatedData) {
      const dek = randomBytes(32);
      const [dekIv, wrapped] = seal(kek, dek, associatedData);
      const [iv, body] = seal(dek, Buffer.from(plaintext, 'utf8'), associatedData);
      return ['v1', dekIv, wrapped, iv, body].join('.');
    },
    open(ciphertext, associatedData) {
      const [version, dekIv, wrapped, iv, body] = ciphertext.split('.');
      if (version !== 'v1' || !dekIv || !wrapped || !iv || !body) throw new Error('unknown secret format');
      const dek = open(kek, dekIv, wrapped, associatedData);
      return open(dek, iv, body, associatedData).toString('utf8');
    },
  };
}
