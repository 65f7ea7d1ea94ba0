/**
 * Offline verification of signed license files, the same steps as the server's
 * src/domain/licenses/license-file.ts (change both together), plus two checks only the software can make:
 * the file is for this product, and the local clock has not been turned back before the file was issued.
 *
 *   file = "-----BEGIN CLOUDSECURE LICENSE FILE-----\n" + base64(JSON {enc, sig, alg: "ed25519"}) in lines
 *          + "\n-----END CLOUDSECURE LICENSE FILE-----\n"
 *   enc  = base64 of the payload JSON bytes; sig = base64 Ed25519 signature of those bytes.
 * All base64 must be canonical, so that no character of a file can change without it being refused.
 */
import { type KeyObject, verify } from 'node:crypto';
import { parsePublicKey } from './signature.ts';

export const LICENSE_FILE_BEGIN = '-----BEGIN CLOUDSECURE LICENSE FILE-----';
export const LICENSE_FILE_END = '-----END CLOUDSECURE LICENSE FILE-----';

const MAX_FILE_CHARS = 64 * 1024;

/** What a license file says; nothing personal (no e-mail, no name, no key). */
export interface LicenseFilePayload {
  v: 1;
  license: {
    id: string;
    /** The last four characters of the normalized key. */
    key_hint: string;
    product: string;
    item_id: number | null;
    status: 'active' | 'suspended' | 'revoked';
    /** The license's expiry; null = lifetime. */
    expires_at: string | null;
    activation_limit: number;
    expiry_stops: 'updates' | 'everything';
  };
  /** The machine the file is bound to, or null. */
  fingerprint: string | null;
  issued_at: string;
  /** The file's own expiry (issued_at + ttl): check in with the server before it. */
  expires_at: string;
  ttl: number;
}

export type LicenseFileCode =
  | 'VALID'
  | 'BAD_SIGNATURE'
  | 'MALFORMED'
  | 'CLOCK_ROLLBACK'
  | 'FILE_EXPIRED'
  | 'LICENSE_EXPIRED'
  | 'FINGERPRINT_MISMATCH'
  | 'PRODUCT_MISMATCH';

export interface LicenseFileVerification {
  valid: boolean;
  code: LicenseFileCode;
  detail: string;
  /** Present once the signature has held, refusals included (to say when the file or license expired). */
  payload?: LicenseFilePayload;
}

export interface VerifyLicenseFileOptions {
  /** The pinned Ed25519 public key: 32 bytes base64, or PEM. */
  publicKey: string | KeyObject;
  /** This machine's fingerprint; a bound file needs it to match. */
  fingerprint?: string | undefined;
  /** The product (slug or item id) the software is; when given, the file must be for it. */
  product?: string | number | undefined;
  now?: Date | number | undefined;
  /** How far before `issued_at` the local clock may be (server and client clocks differ a little). */
  clockToleranceMs?: number | undefined;
}

function decodeBase64Strict(text: string): Buffer | null {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : null;
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

function unarmor(text: string): { enc: Buffer; sig: Buffer } | string {
  if (text.length > MAX_FILE_CHARS) return 'The file is too large.';
  const lines = text.trim().split(/\r?\n/);
  if (lines[0]?.trim() !== LICENSE_FILE_BEGIN || lines.at(-1)?.trim() !== LICENSE_FILE_END)
    return 'The license file armor is missing.';
  const body = decodeBase64Strict(lines.slice(1, -1).join('').replace(/\s/g, ''));
  const doc = body && parseJSON(body);
  if (!isObject(doc) || typeof doc.enc !== 'string' || typeof doc.sig !== 'string')
    return 'The license file body is not readable.';
  if (doc.alg !== 'ed25519') return `Unsupported algorithm ${JSON.stringify(doc.alg)}.`;
  const enc = decodeBase64Strict(doc.enc);
  const sig = decodeBase64Strict(doc.sig);
  if (!enc || !sig) return 'The license file body is not readable.';
  return { enc, sig };
}

function productMatches(license: LicenseFilePayload['license'], product: string | number): boolean {
  const wanted = String(product).trim();
  return license.product === wanted || (license.item_id !== null && String(license.item_id) === wanted);
}

/**
 * Verifies an armored license file with no network. Expected refusals are values (`valid: false` and a
 * code); it throws only when the public key itself is unusable.
 */
export function verifyLicenseFile(text: string, options: VerifyLicenseFileOptions): LicenseFileVerification {
  const key = typeof options.publicKey === 'string' ? parsePublicKey(options.publicKey) : options.publicKey;
  const parts = unarmor(text);
  if (typeof parts === 'string') return { valid: false, code: 'MALFORMED', detail: parts };
  let signed = false;
  try {
    signed = parts.sig.length === 64 && verify(null, parts.enc, key, parts.sig);
  } catch {
    signed = false;
  }
  if (!signed)
    return { valid: false, code: 'BAD_SIGNATURE', detail: 'The signature does not match the public key.' };
  const payload = parseJSON(parts.enc);
  if (!isPayload(payload))
    return { valid: false, code: 'MALFORMED', detail: 'The license file payload is not version 1.' };
  const now = options.now ?? Date.now();
  const at = typeof now === 'number' ? now : now.getTime();
  if (at < Date.parse(payload.issued_at) - (options.clockToleranceMs ?? 5 * 60_000))
    return {
      valid: false,
      code: 'CLOCK_ROLLBACK',
      detail: 'The local clock is earlier than the time the file was issued.',
      payload,
    };
  if (at >= Date.parse(payload.expires_at))
    return { valid: false, code: 'FILE_EXPIRED', detail: 'The license file has expired.', payload };
  const { license } = payload;
  if (
    license.expiry_stops === 'everything' &&
    license.expires_at !== null &&
    at >= Date.parse(license.expires_at)
  )
    return { valid: false, code: 'LICENSE_EXPIRED', detail: 'The license has expired.', payload };
  if (payload.fingerprint !== null && payload.fingerprint !== options.fingerprint?.trim())
    return {
      valid: false,
      code: 'FINGERPRINT_MISMATCH',
      detail: 'The license file is bound to another machine.',
      payload,
    };
  if (options.product !== undefined && !productMatches(license, options.product))
    return {
      valid: false,
      code: 'PRODUCT_MISMATCH',
      detail: 'The license file is for another product.',
      payload,
    };
  return { valid: true, code: 'VALID', detail: 'The license file is valid.', payload };
}
