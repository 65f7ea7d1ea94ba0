/** Why a license call could not produce a trustworthy answer. */
export type LicenseClientErrorCode =
  /** The options given to createLicenseClient (or a verify call) are unusable. */
  | 'CONFIG_INVALID'
  /** The server answered without a CloudSecure-Signature header. */
  | 'SIGNATURE_MISSING'
  /** The signature does not match the body under the pinned public key: altered or forged. */
  | 'SIGNATURE_INVALID'
  /** The signed body does not echo the nonce this call sent: a replayed answer. */
  | 'NONCE_MISMATCH'
  /** The signed timestamp is too far from the local clock (a stale answer, or a wrong clock). */
  | 'CLOCK_SKEW'
  /** The local clock is earlier than a time already seen from the server (clock turned back). */
  | 'CLOCK_ROLLBACK'
  /** The body is not the JSON the API defines. */
  | 'INVALID_RESPONSE'
  /** The server refused the request itself (4xx), e.g. INVALID_REQUEST; `serverCode` says why. */
  | 'REQUEST_REFUSED'
  /** Network error, timeout, 5xx or 429, and no cached answer to fall back on. */
  | 'SERVER_UNREACHABLE'
  /** The server is unreachable and the cached answer is older than the grace period. */
  | 'GRACE_PERIOD_EXPIRED'
  /** The cached answer fails verification (tampered, or belongs to another license or machine). */
  | 'CACHE_INVALID'
  /** The license file the server just issued does not verify here. */
  | 'LICENSE_FILE_INVALID';

export class LicenseClientError extends Error {
  override readonly name = 'LicenseClientError';
  readonly code: LicenseClientErrorCode;
  /** HTTP status of the answer, when there was one. */
  readonly status: number | undefined;
  /** The server's own error code (REQUEST_REFUSED), e.g. INVALID_REQUEST or RATE_LIMITED. */
  readonly serverCode: string | undefined;

  constructor(
    code: LicenseClientErrorCode,
    message: string,
    options: { status?: number; serverCode?: string; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status;
    this.serverCode = options.serverCode;
  }
}
