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
const IV = 12;

function seal(key: Buffer, plaintext: Buffer, aad: string): [string, string] {
  const iv = randomBytes(IV);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return [iv.toString('base64url'), body.toString('base64url')];
}

function open(key: Buffer, iv: string, body: string, aad: string): Buffer {
  const ivBytes = decode(iv);
  const raw = decode(body);
  if (ivBytes.length !== IV || raw.length < TAG) throw new Error('malformed secret');
  // authTagLength pins the tag to 16 bytes: GCM would otherwise accept a truncated (4-byte) tag.
  const decipher = createDecipheriv('aes-256-gcm', key, ivBytes, { authTagLength: TAG });
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(raw.subarray(raw.length - TAG));
  return Buffer.concat([decipher.update(raw.subarray(0, raw.length - TAG)), decipher.final()]);
}

/** Strict base64url: Node's decoder skips stray characters, which would let altered text still open. */
function decode(text: string): Buffer {
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.toString('base64url') !== text) throw new Error('malformed secret');
  return bytes;
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
      const parts = ciphertext.split('.');
      const [version, dekIv, wrapped, iv, body] = parts;
      if (parts.length !== 5 || version !== 'v1' || !dekIv || !wrapped || !iv || !body) {
        throw new Error('unknown secret format');
      }
      const dek = open(kek, dekIv, wrapped, associatedData);
      return open(dek, iv, body, associatedData).toString('utf8');
    },
  };
}
