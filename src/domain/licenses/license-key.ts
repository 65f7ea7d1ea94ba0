/**
 * License keys.
 *
 * Generated keys are `PREFIX-XXXXX-XXXXX-…`: groups of Crockford base32 characters from node:crypto's
 * CSPRNG (5 bits each; the format is refused below 120 bits). Keys are never stored in clear: a keyed
 * HMAC-SHA256 of the normalized key is the lookup column (a stolen database cannot be searched for a key
 * without the master-derived lookup key), and an AES-256-GCM copy lets the seller show it again. Logs and
 * views other than the buyer's own carry only the last four characters.
 */
import { createHmac, randomInt } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export interface KeyFormat {
  prefix: string;
  groups: number;
  groupLength: number;
  separator: string;
}

export const DEFAULT_KEY_FORMAT: KeyFormat = { prefix: 'CS', groups: 5, groupLength: 5, separator: '-' };

export function keyEntropyBits(format: KeyFormat): number {
  return format.groups * format.groupLength * 5;
}

export function assertKeyFormat(format: KeyFormat): KeyFormat {
  if (keyEntropyBits(format) < 120)
    throw new Error('license keys need at least 120 bits: add groups or length');
  if (!/^[A-Za-z0-9]{0,16}$/.test(format.prefix))
    throw new Error('key prefix must be 0-16 letters or digits');
  if (!/^[-_.]?$/.test(format.separator)) throw new Error('key separator must be one of - _ . or empty');
  return format;
}

export function generateLicenseKey(format: KeyFormat = DEFAULT_KEY_FORMAT): string {
  const groups = Array.from({ length: format.groups }, () =>
    Array.from({ length: format.groupLength }, () => ALPHABET[randomInt(32)]).join(''),
  );
  return [...(format.prefix ? [format.prefix] : []), ...groups].join(format.separator);
}

/**
 * The form a key is looked up by: trimmed, upper-case, separators and spaces removed, so that a buyer who
 * types it in lower case or without dashes still matches. Imported keys (e.g. EDD's md5 hex) normalize
 * the same way.
 */
export function normalizeLicenseKey(key: string): string {
  return key
    .trim()
    .toUpperCase()
    .replace(/[\s\-_.]/g, '');
}

export function hashLicenseKey(lookupKey: Buffer, key: string): string {
  return createHmac('sha256', lookupKey).update(normalizeLicenseKey(key)).digest('hex');
}

export function keyHint(key: string): string {
  return normalizeLicenseKey(key).slice(-4);
}
