/**
 * Signed offline license files: what software verifies with no network, given only the server's public
 * key. The client SDK implements exactly this verification; change both together.
 *
 * PAYLOAD (UTF-8 JSON, keys in this order; nothing personal: no e-mail, no name, no key):
 *   { "v": 1,
 *     "license": { "id", "key_hint" (last 4 characters of the normalized key), "product" (slug),
 *                  "item_id" (number|null), "status", "expires_at" (ISO|null = lifetime),
 *                  "activation_limit", "expiry_stops" ("updates"|"everything") },
 *     "fingerprint": string|null (the machine the file is bound to),
 *     "issued_at": ISO, "expires_at": ISO (the FILE's expiry = issued_at + ttl), "ttl": seconds }
 *
 * ARMOR
 *   enc  = base64 of the payload bytes; sig = base64 of the Ed25519 signature of exactly those bytes
 *   doc  = {"enc":"<enc>","sig":"<sig>","alg":"ed25519"}
 *   file = "-----BEGIN CLOUDSECURE LICENSE FILE-----\n"
 *          + base64(UTF-8 JSON of doc), in lines of 64 characters, "\n"-separated
 *          + "\n-----END CLOUDSECURE LICENSE FILE-----\n"
 *   All base64 is the standard alphabet with padding, and must be canonical (re-encoding the decoded
 *   bytes gives the same text), so that no character of a file can change without the file being refused.
 *
 * VERIFICATION (the first failing step decides the code)
 *   1. Find the BEGIN and END lines (CRLF and surrounding whitespace tolerated); remove whitespace from the
 *      lines between; strict base64 → JSON object with string enc, sig, alg; alg must be "ed25519";
 *      enc and sig strict base64 .......................................................... else MALFORMED
 *   2. Ed25519-verify sig (64 bytes) over the decoded enc bytes with the public key (the raw 32-byte key
 *      in base64 from GET /api/v1/licenses/public-key, or its PEM) .................... else BAD_SIGNATURE
 *   3. Parse the payload; v must be 1 and every field above present with its type ....... else MALFORMED
 *   4. now < expires_at (the file's) ...................................................... else FILE_EXPIRED
 *   5. when license.expiry_stops is "everything" and license.expires_at is set:
 *      now < license.expires_at ........................................................ else LICENSE_EXPIRED
 *      (when expiry stops only updates, the software keeps working: the file stays VALID)
 *   6. when the file is bound (fingerprint not null): the caller's fingerprint, trimmed, must equal it;
 *      no fingerprint given counts as a mismatch ................................. else FINGERPRINT_MISMATCH
 *   The result carries the payload whenever the signature held (steps 4-6 refusals included), so that
 *   software can say when its file or license expired.
 *
 * SECURITY NOTES
 *   The signing key is derived from the master key and also signs license API responses, over their exact
 *   body bytes. No response body has "v": 1 and the fields above, so none passes step 3; keep it so for
 *   any new signed response. A payload carries no nonce, so it cannot pass as a response to a client
 *   that sends one.
 *   Nothing here guards against the machine's clock being turned back; the client SDK adds that check
 *   (CLOCK_ROLLBACK: `now` well before `issued_at`) and a product check (PRODUCT_MISMATCH).
 */
import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import type { Product } from '../model.ts';
import type { License } from './license.ts';

export const LICENSE_FILE_BEGIN = '-----BEGIN CLOUDSECURE LICENSE FILE-----';
export const LICENSE_FILE_END = '-----END CLOUDSECURE LICENSE FILE-----';
export const LICENSE_FILE_ALG = 'ed25519';

/** Bounds of a file's time-to-live, in seconds: one hour to 365 days, 30 days unless asked. */
export const MIN_FILE_TTL = 3600;
export const MAX_FILE_TTL = 365 * 86_400;
export const DEFAULT_FILE_TTL = 30 * 86_400;

/** Files are small; anything larger is refused before any decoding work. */
const MAX_FILE_CHARS = 64 * 1024;
const LINE_LENGTH = 64;

export interface LicenseFilePayload {
  v: 1;
  license: {
    id: string;
    key_hint: string;
    product: string;
    item_id: number | null;
    status: License['status'];
    expires_at: string | null;
    activation_limit: number;
    expiry_stops: License['expiryStops'];
  };
  fingerprint: string | null;
  issued_at: string;
  expires_at: string;
  ttl: number;
}

export type LicenseFileCode =
  | 'VALID'
  | 'BAD_SIGNATURE'
  | 'MALFORMED'
  | 'FILE_EXPIRED'
  | 'LICENSE_EXPIRED'
  | 'FINGERPRINT_MISMATCH';

export interface LicenseFileVerification {
  valid: boolean;
  code: LicenseFileCode;
  detail: string;
  /** Present once the signature has held. */
  payload?: LicenseFilePayload;
}

/** The payload of a file for `license`, issued at `issuedAt`, valid for `ttlSeconds`. */
export function buildLicenseFilePayload(input: {
  license: License;
  product: Pick<Product, 'slug' | 'itemId'>;
  fingerprint: string | null;
  issuedAt: Date;
  ttlSeconds: number;
}): LicenseFilePayload {
  const { license, product, issuedAt, ttlSeconds } = input;
  return {
    v: 1,
    license: {
      id: license.id,
      key_hint: license.keyHint,
      product: product.slug,
      item_id: product.itemId,
      status: license.status,
      expires_at: license.expiresAt,
      activation_limit: license.activationLimit,
      expiry_stops: license.expiryStops,
    },
    fingerprint: input.fingerprint,
    issued_at: issuedAt.toISOString(),
    expires_at: new Date(issuedAt.getTime() + ttlSeconds * 1000).toISOString(),
    ttl: ttlSeconds,
  };
}

/** Signs and armors a payload; `sign` returns the base64 Ed25519 signature of exactly the given bytes. */
export function armorLicenseFile(payload: LicenseFilePayload, sign: (data: Uint8Array) => string): string {
  const bytes = Buffer.from(JSON.stringify(payload), 'utf8');
  const doc = { enc: bytes.toString('base64'), sig: sign(bytes), alg: LICENSE_FILE_ALG };
  const body = Buffer.from(JSON.stringify(doc), 'utf8').toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < body.length; i += LINE_LENGTH) lines.push(body.slice(i, i + LINE_LENGTH));
  return `${LICENSE_FILE_BEGIN}\n${lines.join('\n')}\n${LICENSE_FILE_END}\n`;
}

/** Standard base64 with padding, refused unless canonical (no ignored characters or padding bits). */
function decodeBase64Strict(text: string): Buffer | null {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : null;
}

/** The raw 32-byte Ed25519 public key in base64, or a PEM (SPKI) key. Throws on anything else. */
export function licensePublicKey(key: string): KeyObject {
  const text = key.trim();
  let object: KeyObject;
  if (text.startsWith('-----BEGIN')) {
    object = createPublicKey(text);
  } else {
    const raw = decodeBase64Strict(text);
    if (raw?.length !== 32) throw new TypeError('the public key must be 32 bytes of base64, or a PEM');
    object = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') },
      format: 'jwk',
    });
  }
  if (object.asymmetricKeyType !== 'ed25519') throw new TypeError('the public key is not an Ed25519 key');
  return object;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJSON(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}

const isTime = (v: unknown): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v));
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

function isPayload(value: unknown): value is LicenseFilePayload {
  if (!isObject(value) || value.v !== 1 || !isObject(value.license)) return false;
  const l = value.license;
  return (
    typeof l.id === 'string' &&
    typeof l.key_hint === 'string' &&
    typeof l.product === 'string' &&
    (l.item_id === null || isCount(l.item_id)) &&
    (l.status === 'active' || l.status === 'suspended' || l.status === 'revoked') &&
    (l.expires_at === null || isTime(l.expires_at)) &&
    isCount(l.activation_limit) &&
    (l.expiry_stops === 'updates' || l.expiry_stops === 'everything') &&
    (value.fingerprint === null || typeof value.fingerprint === 'string') &&
    isTime(value.issued_at) &&
    isTime(value.expires_at) &&
    isCount(value.ttl)
  );
}

/** The signed bytes of an armored file, or why they cannot be had. */
function unarmor(text: string): { enc: Buffer; sig: Buffer } | string {
  if (text.length > MAX_FILE_CHARS) return 'The file is too large.';
  const lines = text.trim().split(/\r?\n/);
  if (lines[0]?.trim() !== LICENSE_FILE_BEGIN || lines.at(-1)?.trim() !== LICENSE_FILE_END)
    return 'The license file armor is missing.';
  const body = decodeBase64Strict(lines.slice(1, -1).join('').replace(/\s/g, ''));
  const doc = body && parseJSON(body);
  if (!isObject(doc) || typeof doc.enc !== 'string' || typeof doc.sig !== 'string')
    return 'The license file body is not readable.';
  if (doc.alg !== LICENSE_FILE_ALG) return `Unsupported algorithm ${JSON.stringify(doc.alg)}.`;
  const enc = decodeBase64Strict(doc.enc);
  const sig = decodeBase64Strict(doc.sig);
  if (!enc || !sig) return 'The license file body is not readable.';
  return { enc, sig };
}

/**
 * Verifies an armored license file offline (see the header for the steps). Throws only when the public
 * key itself is unusable, which is a mistake in the calling software, not in the file.
 */
export function verifyLicenseFile(
  text: string,
  publicKey: string | KeyObject,
  now: Date | number,
  fingerprint?: string | null,
): LicenseFileVerification {
  const key = typeof publicKey === 'string' ? licensePublicKey(publicKey) : publicKey;
  const parts = unarmor(text);
  if (typeof parts === 'string') return { valid: false, code: 'MALFORMED', detail: parts };
  if (parts.sig.length !== 64 || !verify(null, parts.enc, key, parts.sig))
    return { valid: false, code: 'BAD_SIGNATURE', detail: 'The signature does not match this public key.' };
  const payload = parseJSON(parts.enc);
  if (!isPayload(payload))
    return { valid: false, code: 'MALFORMED', detail: 'The license file payload is not version 1.' };
  const at = typeof now === 'number' ? now : now.getTime();
  if (at >= Date.parse(payload.expires_at))
    return { valid: false, code: 'FILE_EXPIRED', detail: 'The license file has expired.', payload };
  const { license } = payload;
  if (
    license.expiry_stops === 'everything' &&
    license.expires_at !== null &&
    at >= Date.parse(license.expires_at)
  )
    return { valid: false, code: 'LICENSE_EXPIRED', detail: 'The license has expired.', payload };
  if (payload.fingerprint !== null && payload.fingerprint !== fingerprint?.trim())
    return {
      valid: false,
      code: 'FINGERPRINT_MISMATCH',
      detail: 'The license file is bound to another machine.',
      payload,
    };
  return { valid: true, code: 'VALID', detail: 'The license file is valid.', payload };
}
