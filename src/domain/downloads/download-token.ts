/**
 * Download and access link tokens.
 *
 * Format: base64url( kind(1) | grantId(16) | fileId(16, direct links only) | expires(4, unix s; 0 = none)
 *                    | mac(16) ), where mac = HMAC-SHA256(linkKey, everything before it) truncated to 128 bits.
 * A direct token is 71 characters, an access token 50. Nothing is stored: the token is verified by
 * recomputing the MAC (constant-time compare), so a tampered token and one naming nothing both end in
 * the same 404. The link key is derived from the master key (HKDF, "cloudsecure/link-token"), so
 * rotating the master key invalidates every link. 128 bits of MAC make forgery infeasible; the grant
 * is still checked (revoked, expired, limit) on every use, which is what makes links revocable.
 *
 * Package links (release downloads for licensed software, `/p/<token>`) use the same scheme:
 * base64url( 0x03 | licenseId(16) | releaseId(16) | expires(4) | scope(16) | mac(16) ), 92 characters.
 * `scope` is SHA-256 of the site or machine the link was made for (`site:example.com/`), cut to 128 bits,
 * or all zeros for none: the URL does not reveal the site, and the download re-checks that exactly that
 * site is still activated. The license itself is re-checked on every use, as grants are.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { isUUID } from '../ids.ts';

const KIND_DIRECT = 0x01;
const KIND_ACCESS = 0x02;
const KIND_PACKAGE = 0x03;
const MAC_BYTES = 16;
const SCOPE_BYTES = 16;
const NO_SCOPE = Buffer.alloc(SCOPE_BYTES);

export interface DirectLinkClaims {
  grantId: string;
  fileId: string;
  /** Unix seconds; 0 = the link itself does not expire (the grant's access period still applies). */
  expiresAt: number;
}

export interface AccessLinkClaims {
  grantId: string;
  expiresAt: number;
}

export interface PackageLinkClaims {
  licenseId: string;
  releaseId: string;
  /** Unix seconds; package links always expire. */
  expiresAt: number;
  /** scopeDigest() of the site or machine the link is for, or null when it names none. */
  scope: string | null;
}

export interface LinkSigner {
  signDirect(claims: DirectLinkClaims): string;
  signAccess(claims: AccessLinkClaims): string;
  signPackage(claims: PackageLinkClaims): string;
  /** Returns the claims of a genuine direct token, or null for anything else. */
  verifyDirect(token: string): DirectLinkClaims | null;
  verifyAccess(token: string): AccessLinkClaims | null;
  verifyPackage(token: string): PackageLinkClaims | null;
}

/** The digest a package link carries for a scope such as `site:example.com/` (hex, 128 bits). */
export function scopeDigest(scope: string): string {
  return createHash('sha256').update(scope).digest().subarray(0, SCOPE_BYTES).toString('hex');
}

function scopeBytes(scope: string | null): Buffer {
  if (scope === null) return NO_SCOPE;
  const bytes = Buffer.from(scope, 'hex');
  if (bytes.length !== SCOPE_BYTES || bytes.equals(NO_SCOPE) || bytes.toString('hex') !== scope) {
    throw new Error('scope must be a scopeDigest()');
  }
  return bytes;
}

export function createLinkSigner(linkKey: Buffer): LinkSigner {
  if (linkKey.length < 32) throw new Error('link key must be at least 32 bytes');

  function mac(body: Buffer): Buffer {
    return createHmac('sha256', linkKey).update(body).digest().subarray(0, MAC_BYTES);
  }

  function seal(kind: number, ids: string[], expiresAt: number, extra: Buffer = Buffer.alloc(0)): string {
    if (!Number.isInteger(expiresAt) || expiresAt < 0 || expiresAt > 0xffff_ffff) {
      throw new Error(`expiresAt must be unix seconds from 0 to 2^32-1: ${expiresAt}`);
    }
    const body = Buffer.alloc(1 + ids.length * 16 + 4 + extra.length);
    body[0] = kind;
    for (const [i, id] of ids.entries()) uuidToBytes(id).copy(body, 1 + i * 16);
    body.writeUInt32BE(expiresAt, 1 + ids.length * 16);
    extra.copy(body, 1 + ids.length * 16 + 4);
    return Buffer.concat([body, mac(body)]).toString('base64url');
  }

  function open(
    token: string,
    kind: number,
    idCount: number,
    extraBytes = 0,
  ): { ids: string[]; expiresAt: number; extra: Buffer } | null {
    const length = 1 + idCount * 16 + 4 + extraBytes + MAC_BYTES;
    // Length check on the text first: a hostile 1 MB "token" is refused without decoding it.
    if (token.length !== Math.ceil((length * 4) / 3) || !/^[A-Za-z0-9_-]+$/.test(token)) return null;
    const raw = Buffer.from(token, 'base64url');
    // The decoder ignores the unused low bits of the last character, so several texts decode to the
    // same bytes; only the canonical one is accepted, which keeps every token text unique.
    if (raw.length !== length || raw[0] !== kind || raw.toString('base64url') !== token) return null;
    const body = raw.subarray(0, length - MAC_BYTES);
    if (!timingSafeEqual(mac(body), raw.subarray(length - MAC_BYTES))) return null;
    const ids = Array.from({ length: idCount }, (_, i) =>
      bytesToUUID(body.subarray(1 + i * 16, 17 + i * 16)),
    );
    return {
      ids,
      expiresAt: body.readUInt32BE(1 + idCount * 16),
      extra: body.subarray(1 + idCount * 16 + 4),
    };
  }

  return {
    signDirect: (c) => seal(KIND_DIRECT, [c.grantId, c.fileId], c.expiresAt),
    signAccess: (c) => seal(KIND_ACCESS, [c.grantId], c.expiresAt),
    signPackage: (c) => seal(KIND_PACKAGE, [c.licenseId, c.releaseId], c.expiresAt, scopeBytes(c.scope)),
    verifyDirect(token) {
      const opened = open(token, KIND_DIRECT, 2);
      if (!opened) return null;
      return { grantId: opened.ids[0]!, fileId: opened.ids[1]!, expiresAt: opened.expiresAt };
    },
    verifyAccess(token) {
      const opened = open(token, KIND_ACCESS, 1);
      return opened ? { grantId: opened.ids[0]!, expiresAt: opened.expiresAt } : null;
    },
    verifyPackage(token) {
      const opened = open(token, KIND_PACKAGE, 2, SCOPE_BYTES);
      if (!opened) return null;
      return {
        licenseId: opened.ids[0]!,
        releaseId: opened.ids[1]!,
        expiresAt: opened.expiresAt,
        scope: opened.extra.equals(NO_SCOPE) ? null : opened.extra.toString('hex'),
      };
    },
  };
}

function uuidToBytes(id: string): Buffer {
  if (!isUUID(id)) throw new Error(`not a UUID: ${id}`);
  return Buffer.from(id.replaceAll('-', ''), 'hex');
}

function bytesToUUID(bytes: Buffer): string {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
