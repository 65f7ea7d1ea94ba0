/**
 * WooCommerce webhook authenticity.
 *
 * WooCommerce signs every delivery with `X-WC-Webhook-Signature: base64(HMAC-SHA256(body, secret))`, computed
 * over the exact bytes it sends (`trim(wp_json_encode($payload))`). We therefore verify the raw request bytes
 * and never a re-serialised object: `wp_json_encode` escapes `/` as `\/` and non-ASCII as `\uXXXX`, which
 * `JSON.stringify` would not reproduce. The comparison is over the decoded digest bytes, in constant time.
 *
 * The activation ping is different: it is unsigned, form-encoded (`webhook_id=N`) and carries no `X-WC-*`
 * headers. It must be answered with exactly 200, and must never be processed as an order.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Standard base64 with optional padding; anything else is not a WooCommerce signature. */
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const PING_BODY = /^webhook_id=\d+$/;

/** The signature WooCommerce would send for this body (tests and benchmarks use it to sign deliveries). */
export function signWooBody(rawBody: string | Uint8Array, secret: string): string {
  return createHmac('sha256', secret).update(rawBody).digest('base64');
}

/**
 * True when `header` is the base64 HMAC-SHA256 of `rawBody` under `secret`.
 * Never throws: a missing, malformed or wrong-length header is simply false.
 */
export function verifyWooSignature(
  rawBody: Uint8Array,
  header: string | undefined | null,
  secret: string,
): boolean {
  if (!header || secret === '') return false;
  const candidate = header.trim();
  if (!BASE64.test(candidate)) return false;
  const got = Buffer.from(candidate, 'base64');
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  // timingSafeEqual throws on a length mismatch; the length of a digest is not a secret.
  return got.length === expected.length && timingSafeEqual(got, expected);
}

/**
 * True for WooCommerce's activation ping: no signature and no topic header, and a body that is exactly
 * `webhook_id=<digits>` (surrounding whitespace ignored).
 */
export function isWooPing(
  headers: { signature: string | null; topic: string | null },
  rawBody: string,
): boolean {
  if (headers.signature || headers.topic) return false;
  return PING_BODY.test(rawBody.trim());
}
