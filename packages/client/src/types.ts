/** The license as the server reports it (only when the key and the product both match). */
export interface LicenseState {
  status: 'active' | 'suspended' | 'revoked';
  expires_at: string | null;
  expired: boolean;
  product: string;
  item_id: number | null;
  activation_limit: number;
  active_count: number;
  /** null = unlimited. */
  activations_left: number | null;
  key_hint: string;
}

/** The activation of this site or machine, when there is one. */
export interface ActivationState {
  kind: 'site' | 'machine';
  identifier: string;
  name: string | null;
  is_local: boolean;
  activated_at: string;
  last_seen_at: string;
}

/**
 * The server's stable outcome codes. `valid: true` with `EXPIRED` means the license ran out but its
 * policy only stops updates: the software keeps working.
 */
export type LicenseCode =
  | 'VALID'
  | 'NOT_FOUND'
  | 'PRODUCT_MISMATCH'
  | 'REVOKED'
  | 'SUSPENDED'
  | 'EXPIRED'
  | 'NOT_ACTIVATED'
  | 'NO_ACTIVATIONS_LEFT'
  | 'DEACTIVATED';

/** A signed answer of /validate, /activate or /deactivate, exactly as the server sent it. */
export interface SignedLicenseResponse {
  valid: boolean;
  code: LicenseCode | (string & {});
  detail: string;
  nonce: string | number | null;
  /** The server's time of answering (ISO 8601), covered by the signature. */
  ts: string;
  license: LicenseState | null;
  activation: ActivationState | null;
}

export interface LicenseResult extends Omit<SignedLicenseResponse, 'nonce'> {
  /** true when the server was unreachable and this is the last verified answer, within the grace period. */
  offline: boolean;
}

export function isSignedLicenseResponse(value: unknown): value is SignedLicenseResponse {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.valid === 'boolean' &&
    typeof v.code === 'string' &&
    typeof v.detail === 'string' &&
    (v.nonce === null || typeof v.nonce === 'string' || typeof v.nonce === 'number') &&
    typeof v.ts === 'string' &&
    !Number.isNaN(Date.parse(v.ts)) &&
    (v.license === null || (typeof v.license === 'object' && v.license !== undefined)) &&
    (v.activation === null || (typeof v.activation === 'object' && v.activation !== undefined))
  );
}

/** The signed answer of /checkout. */
export interface CheckoutResponse {
  valid: boolean;
  code: string;
  detail: string;
  nonce: string | number | null;
  ts: string;
  certificate?: string;
}

export function isCheckoutResponse(value: unknown): value is CheckoutResponse {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.valid === 'boolean' &&
    typeof v.code === 'string' &&
    typeof v.detail === 'string' &&
    typeof v.ts === 'string' &&
    (v.certificate === undefined || typeof v.certificate === 'string')
  );
}
