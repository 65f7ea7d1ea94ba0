/** A side effect of a business change, written in the same transaction and delivered later. */
export interface OutboxMessage {
  id: string;
  topic: string;
  payload: Record<string, unknown>;
  /** Stable per side effect; also sent to providers that deduplicate (Brevo, webhooks). */
  idempotencyKey: string;
  status: OutboxStatus;
  attempts: number;
  nextAttemptAt: string;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
}

/** `failed` is the dead-letter state: attempts exhausted, waiting for `outbox retry`. */
export type OutboxStatus = 'pending' | 'delivered' | 'failed';

export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 8, baseDelayMs: 5_000, maxDelayMs: 3_600_000 };

/**
 * Delay before attempt `attempts + 1`: exponential backoff with full jitter (a random point in
 * [delay/2, delay]), so a provider outage does not end in a synchronized stampede.
 */
export function nextDelayMs(
  attempts: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const delay = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(delay / 2 + random() * (delay / 2));
}

/**
 * Thrown by a handler when trying again cannot help (a 400/401/403 from a provider, a message whose
 * subject no longer exists): the message goes straight to the dead-letter state instead of retrying.
 */
export class PermanentDeliveryError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentDeliveryError';
  }
}
