import type { CoreDeps } from '../core-deps.ts';
import { AppError } from '../errors.ts';

/** Signs bytes with the server's Ed25519 license key (base64 signature). */
export interface LicenseSigner {
  sign(data: Uint8Array): string;
  readonly publicKey: string;
}

export interface CheckoutInput {
  key: string;
  product?: string | undefined;
  fingerprint?: string | undefined;
  /** How long the file stays valid before the software must check in again, in seconds. */
  ttlSeconds?: number | undefined;
}

export interface LicenseFileService {
  /** An armored, Ed25519-signed license file that software can verify with no network. */
  checkout(
    input: CheckoutInput,
  ): Promise<{ certificate: string; issued_at: string; expires_at: string | null; ttl: number }>;
}

/** Not implemented yet: being built (signed offline license files). */
export function createLicenseFileService(_deps: CoreDeps, _signer: LicenseSigner): LicenseFileService {
  return {
    checkout: async () => {
      throw new AppError('INTERNAL', { message: 'license files are not implemented yet' });
    },
  };
}
