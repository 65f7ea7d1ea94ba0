/**
 * The one error type that crosses layers. Every refusal the product can give has a stable
 * SCREAMING_SNAKE code, documented in README.md, and one HTTP status (exhaustive: a new code
 * without a status fails the type check).
 */
export const HTTP_STATUS = {
  /** Input failed validation; `detail.path` names the field. */
  INVALID_REQUEST: 400,
  /** The request body is larger than the configured limit. */
  PAYLOAD_TOO_LARGE: 413,
  /** Missing or wrong admin bearer token. */
  UNAUTHORIZED: 401,
  /** Unknown resource, or a download/access token that is tampered, unknown or names nothing. */
  NOT_FOUND: 404,
  /** The grant behind a link was revoked by the seller. */
  GRANT_REVOKED: 403,
  /** Every allowed download of this file under this grant has been used. */
  DOWNLOAD_LIMIT_REACHED: 403,
  /** The grant's access period is over. */
  ACCESS_EXPIRED: 410,
  /** This particular link has expired; a fresh one can be had from the access page. */
  LINK_EXPIRED: 410,
  /** The requested byte range lies outside the file. */
  RANGE_NOT_SATISFIABLE: 416,
  /** A product slug that another product already uses. */
  SLUG_TAKEN: 409,
  /** An EDD item id that another product already uses. */
  ITEM_ID_TAKEN: 409,
  /** The product already has a release with this version. */
  RELEASE_EXISTS: 409,
  /** A package download for a license the seller revoked. */
  REVOKED: 403,
  /** A package download for a suspended license. */
  SUSPENDED: 403,
  /** A package download the expired license no longer covers (a release newer than its expiry). */
  EXPIRED: 403,
  /** A package download for a site or machine where the license is not (or no longer) activated. */
  NOT_ACTIVATED: 403,
  /** A file of a watermarked product that cannot be watermarked (e.g. a PDF with a user password). */
  WATERMARK_UNSUPPORTED: 422,
  /** The same Idempotency-Key was sent with a different request body. */
  IDEMPOTENCY_KEY_REUSED: 422,
  /** A store webhook whose signature does not verify (WooCommerce, Stripe); nothing was done. */
  WEBHOOK_SIGNATURE_INVALID: 401,
  /** A store platform or provider we depend on could not be reached; the caller may retry. */
  UPSTREAM_UNAVAILABLE: 503,
  /** Too many failed attempts from this client; retry later. */
  RATE_LIMITED: 429,
  /** The stored file cannot be read from its blob store right now. */
  FILE_UNAVAILABLE: 503,
  /** No blob storage is configured or it is misconfigured. */
  STORAGE_UNAVAILABLE: 503,
  /** A bug or an unexpected failure; details are in the server log only. */
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof HTTP_STATUS;

export interface AppErrorOptions {
  message?: string;
  detail?: Record<string, unknown>;
  cause?: unknown;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly detail: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, options: AppErrorOptions = {}) {
    super(options.message ?? defaultMessage(code), { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.detail = options.detail;
  }

  get status(): number {
    return HTTP_STATUS[this.code];
  }
}

const MESSAGES: Partial<Record<ErrorCode, string>> = {
  NOT_FOUND: 'Not found.',
  GRANT_REVOKED: 'Access to this download has been revoked.',
  DOWNLOAD_LIMIT_REACHED: 'The download limit for this file has been reached.',
  ACCESS_EXPIRED: 'Access to this download has expired.',
  LINK_EXPIRED: 'This download link has expired. Open your access page for a fresh one.',
  UNAUTHORIZED: 'A valid bearer token is required.',
  RATE_LIMITED: 'Too many attempts. Try again later.',
  INTERNAL: 'Internal error.',
};

function defaultMessage(code: ErrorCode): string {
  return MESSAGES[code] ?? code.toLowerCase().replaceAll('_', ' ');
}

export function isAppError(value: unknown): value is AppError {
  return value instanceof AppError;
}
