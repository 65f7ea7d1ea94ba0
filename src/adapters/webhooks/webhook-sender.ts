import { createHmac, timingSafeEqual } from 'node:crypto';
import { PermanentDeliveryError } from '../../domain/outbox/outbox.ts';

/**
 * Outgoing webhooks to the seller's own systems. The signature scheme follows Stripe's and Standard
 * Webhooks': HMAC-SHA256 over `${id}.${timestamp}.${body}`, so a receiver can reject replays (stale
 * timestamp) and a captured signature cannot be moved to another message id.
 */

export interface SignWebhookInput {
  secret: string;
  id: string;
  /** Unix seconds. */
  timestamp: number;
  body: string;
}

/** `v1=<hex HMAC-SHA256>`; `v1=` leaves room to rotate the scheme without breaking receivers. */
export function signWebhook(input: SignWebhookInput): string {
  const mac = createHmac('sha256', input.secret).update(`${input.id}.${input.timestamp}.${input.body}`);
  return `v1=${mac.digest('hex')}`;
}

export interface VerifyWebhookInput {
  secret: string;
  id: string;
  /** The `cloudsecure-webhook-timestamp` header as received (unix seconds). */
  timestamp: string;
  /** The `cloudsecure-webhook-signature` header: one or more space-separated `v1=` values. */
  signature: string;
  body: string;
  /** Default 300 s either way. */
  toleranceSeconds?: number;
  /** Unix seconds; default the current time. */
  now?: number;
}

/** The receiver's side, for the docs and our tests. Several values are accepted during secret rotation. */
export function verifyWebhook(input: VerifyWebhookInput): boolean {
  if (!/^\d{1,12}$/.test(input.timestamp)) return false;
  const timestamp = Number(input.timestamp);
  const now = input.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - timestamp) > (input.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(signWebhook({ ...input, timestamp }));
  let valid = false;
  for (const candidate of input.signature.split(' ')) {
    const given = Buffer.from(candidate);
    // timingSafeEqual needs equal lengths; the length of a signature is no secret.
    if (given.length === expected.length && timingSafeEqual(given, expected)) valid = true;
  }
  return valid;
}

export interface SendWebhookInput {
  url: string;
  secret: string;
  /** Stable per delivery (the outbox idempotency key), so receivers can deduplicate retries. */
  id: string;
  event: string;
  body: string;
  /** Unix seconds of this attempt. */
  timestamp: number;
  timeoutMs?: number;
}

/** One delivery attempt. Throws a retryable Error, or PermanentDeliveryError on 410 Gone. */
export async function sendWebhook(input: SendWebhookInput): Promise<void> {
  // The URL may carry a token in its path or query: messages name the host only.
  const host = new URL(input.url).host;
  let response: Response;
  try {
    response = await fetch(input.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'CloudSecure-Webhooks/1',
        'cloudsecure-webhook-id': input.id,
        'cloudsecure-webhook-timestamp': String(input.timestamp),
        'cloudsecure-webhook-event': input.event,
        'cloudsecure-webhook-signature': signWebhook(input),
      },
      body: input.body,
      // A redirect could send the signed payload somewhere the seller never configured.
      redirect: 'manual',
      signal: AbortSignal.timeout(input.timeoutMs ?? 15_000),
    });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`Webhook to ${host} failed: ${reason}`, { cause: error });
  }
  await response.body?.cancel();
  if (response.status >= 200 && response.status < 300) return;
  const message = `Webhook to ${host} answered HTTP ${response.status}`;
  if (response.status === 410) throw new PermanentDeliveryError(`${message} (Gone: endpoint removed)`);
  if (response.status >= 300 && response.status < 400)
    throw new Error(`${message} (redirects are not followed)`);
  throw new Error(message);
}
