import type { CoreDeps } from '../core-deps.ts';
import { AppError } from '../errors.ts';
import { checkLicense, type LicenseCode } from './license.ts';
import {
  armorLicenseFile,
  buildLicenseFilePayload,
  DEFAULT_FILE_TTL,
  MAX_FILE_TTL,
  MIN_FILE_TTL,
} from './license-file.ts';
import { hashLicenseKey } from './license-key.ts';
import { findProductRef } from './license-service.ts';

/** Signs bytes with the server's Ed25519 license key (base64 signature). */
export interface LicenseSigner {
  sign(data: Uint8Array): string;
  readonly publicKey: string;
}

export interface CheckoutInput {
  key: string;
  /** Product slug, id or item id; when given, the license must be for it. */
  product?: string | undefined;
  /** Binds the file to this machine, which must be an active activation of the license. */
  fingerprint?: string | undefined;
  /** How long the file stays valid before the software must check in again, in seconds. */
  ttlSeconds?: number | undefined;
  /** The software's version, recorded on the machine's activation. */
  version?: string | undefined;
}

/** A file was issued: VALID, or EXPIRED when the license has expired but its expiry stops only updates. */
export interface CheckoutIssued {
  valid: true;
  code: 'VALID' | 'EXPIRED';
  detail: string;
  certificate: string;
  issued_at: string;
  /** The file's own expiry (issued_at + ttl); the license's is inside the certificate. */
  expires_at: string;
  ttl: number;
}

/** No file: the same codes and rules as validate (NOT_FOUND, PRODUCT_MISMATCH, REVOKED, …). */
export interface CheckoutRefused {
  valid: false;
  code: LicenseCode;
  detail: string;
}

export type CheckoutResult = CheckoutIssued | CheckoutRefused;

export interface LicenseFileService {
  /** An armored, Ed25519-signed license file that software can verify with no network. */
  checkout(input: CheckoutInput): Promise<CheckoutResult>;
}

function assertTTL(ttl: number): number {
  if (!Number.isInteger(ttl) || ttl < MIN_FILE_TTL || ttl > MAX_FILE_TTL) {
    throw new AppError('INVALID_REQUEST', {
      message: `ttl must be a whole number of seconds from ${MIN_FILE_TTL} (1 hour) to ${MAX_FILE_TTL} (365 days).`,
      detail: { path: 'ttl' },
    });
  }
  return ttl;
}

export function createLicenseFileService(deps: CoreDeps, signer: LicenseSigner): LicenseFileService {
  return {
    async checkout(input) {
      const ttl = assertTTL(input.ttlSeconds ?? DEFAULT_FILE_TTL);
      const fingerprint = input.fingerprint?.trim() ?? null;
      if (fingerprint === '')
        throw new AppError('INVALID_REQUEST', {
          message: 'fingerprint must not be empty.',
          detail: { path: 'fingerprint' },
        });
      return deps.uow.transaction(async (repos): Promise<CheckoutResult> => {
        const [license, product] = await Promise.all([
          repos.licenses.findByKeyHash(hashLicenseKey(deps.licenseLookupKey, input.key)),
          input.product === undefined ? undefined : findProductRef(repos, input.product),
        ]);
        const activation =
          license && fingerprint !== null
            ? await repos.licenses.findActiveActivation(license.id, 'machine', fingerprint)
            : undefined;
        const now = deps.clock.now();
        const check = checkLicense({
          license,
          productMatches: input.product === undefined || product?.id === license?.productId,
          now,
          activation,
          requireActivation: fingerprint !== null,
        });
        if (!license || !check.valid) return { valid: false, code: check.code, detail: check.detail };
        const licensed =
          product?.id === license.productId ? product : await repos.products.findById(license.productId);
        if (!licensed) throw new AppError('INTERNAL', { message: `License ${license.id} has no product.` });
        const payload = buildLicenseFilePayload({
          license,
          product: licensed,
          fingerprint,
          issuedAt: now,
          ttlSeconds: ttl,
        });
        const certificate = armorLicenseFile(payload, (bytes) => signer.sign(bytes));
        if (activation)
          await repos.licenses.touchActivation(
            activation.id,
            now.toISOString(),
            input.version?.slice(0, 50) ?? null,
          );
        await repos.licenses.addEvent({
          id: deps.newId(),
          licenseId: license.id,
          type: 'license.checked_out',
          detail: { fingerprint, ttl, expires_at: payload.expires_at },
          at: now.toISOString(),
        });
        return {
          valid: true,
          code: check.code === 'EXPIRED' ? 'EXPIRED' : 'VALID',
          detail:
            check.code === 'EXPIRED'
              ? 'License file issued; the license has expired, so updates have stopped.'
              : 'License file issued.',
          certificate,
          issued_at: payload.issued_at,
          expires_at: payload.expires_at,
          ttl,
        };
      });
    },
  };
}
