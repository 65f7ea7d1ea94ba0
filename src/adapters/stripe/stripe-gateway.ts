import Stripe from 'stripe';
import { AppError } from '../../domain/errors.ts';
import type { ExternalLine, ExternalOrder, MappingKey } from '../../domain/integrations/external-order.ts';

export interface StripeGatewayOptions {
  secretKey: string;
  /** The endpoint's signing secret (`whsec_…`). */
  webhookSecret: string;
  /** Another API origin (a stand-in in tests), e.g. `http://127.0.0.1:4321`; null for api.stripe.com. */
  apiBase?: string | null;
  /** `stripe:<connection id>`, copied into every ExternalOrder. */
  source: string;
}

/** The part of a verified event we act on; `object` is `event.data.object`, still unvalidated. */
export interface StripeWebhookEvent {
  id: string;
  type: string;
  object: Record<string, unknown>;
}

export interface StripeGateway {
  /** Checks the `Stripe-Signature` header over the raw body (300 s tolerance); throws WEBHOOK_SIGNATURE_INVALID. */
  verify(rawBody: string, signatureHeader: string | null): StripeWebhookEvent;
  /** The Checkout Session with all its line items, as an order; throws UPSTREAM_UNAVAILABLE on API failure. */
  sessionOrder(sessionId: string): Promise<ExternalOrder>;
  /** The Checkout Session that created a PaymentIntent, or null when there is none. */
  sessionIdForPaymentIntent(paymentIntentId: string): Promise<string | null>;
}

export function createStripeGateway(options: StripeGatewayOptions): StripeGateway {
  const stripe = new Stripe(options.secretKey, {
    // Retries are the outbox's job.
    maxNetworkRetries: 0,
    timeout: 20_000,
    telemetry: false,
    ...apiBaseConfig(options.apiBase),
  });

  return {
    verify(rawBody, signatureHeader) {
      let event: Stripe.Event;
      try {
        event = stripe.webhooks.constructEvent(rawBody, signatureHeader ?? '', options.webhookSecret);
      } catch (error) {
        if (!(error instanceof Stripe.errors.StripeSignatureVerificationError)) {
          // Signed correctly, but not JSON (or a thin v2 event notification).
          throw new AppError('INVALID_REQUEST', {
            message: 'The signed Stripe payload is not a webhook event.',
          });
        }
        // The SDK's messages never contain the secret; keep the first line, drop the docs link.
        const message = error.message.split('\n')[0]?.trim();
        throw new AppError('WEBHOOK_SIGNATURE_INVALID', { message: message || 'Invalid Stripe signature.' });
      }
      const object: unknown = event.data?.object;
      if (typeof event.id !== 'string' || typeof event.type !== 'string' || !isRecord(object)) {
        throw new AppError('INVALID_REQUEST', {
          message: 'The Stripe event has no id, type or data.object.',
        });
      }
      return { id: event.id, type: event.type, object };
    },

    async sessionOrder(sessionId) {
      return callStripe(`checkout session ${sessionId}`, async () => {
        const session = await stripe.checkout.sessions.retrieve(sessionId);
        const items: Stripe.LineItem[] = [];
        for await (const item of stripe.checkout.sessions.listLineItems(sessionId, { limit: 100 })) {
          items.push(item);
        }
        return toExternalOrder(options.source, session, items);
      });
    },

    async sessionIdForPaymentIntent(paymentIntentId) {
      return callStripe(`sessions of payment intent ${paymentIntentId}`, async () => {
        const list = await stripe.checkout.sessions.list({ payment_intent: paymentIntentId, limit: 1 });
        return list.data[0]?.id ?? null;
      });
    },
  };
}

function toExternalOrder(
  source: string,
  session: Stripe.Checkout.Session,
  items: Stripe.LineItem[],
): ExternalOrder {
  const email = session.customer_details?.email ?? session.customer_email;
  if (!email) {
    throw new AppError('INVALID_REQUEST', {
      message: `Checkout session ${session.id} has no customer e-mail.`,
      detail: { sessionId: session.id },
    });
  }
  const paid =
    session.status === 'complete' &&
    (session.payment_status === 'paid' || session.payment_status === 'no_payment_required');
  return {
    source,
    externalId: session.id,
    state: paid ? 'paid' : 'pending',
    platformStatus: session.payment_status,
    modifiedAt: null,
    customer: { email, ...splitName(session.customer_details?.name ?? null) },
    lines: items.map(toExternalLine),
  };
}

function toExternalLine(item: Stripe.LineItem): ExternalLine {
  const keys: MappingKey[] = [];
  if (item.price) {
    keys.push({ kind: 'stripe_price', value: item.price.id });
    const product = item.price.product;
    keys.push({ kind: 'stripe_product', value: typeof product === 'string' ? product : product.id });
  }
  return { lineId: item.id, quantity: item.quantity ?? 1, description: item.description ?? '', keys };
}

/** "Ada King Lovelace" → first "Ada King", last "Lovelace"; a single word is the first name. */
function splitName(name: string | null): { firstName: string | null; lastName: string | null } {
  const trimmed = name?.trim();
  if (!trimmed) return { firstName: null, lastName: null };
  const cut = trimmed.lastIndexOf(' ');
  if (cut < 0) return { firstName: trimmed, lastName: null };
  return { firstName: trimmed.slice(0, cut).trim(), lastName: trimmed.slice(cut + 1) };
}

/**
 * Translates SDK errors. Stripe's own messages for 401/403 echo a masked key, so those get ours.
 * `detail.retryable` tells an outbox handler whether trying again can help (network, 429, 5xx).
 */
async function callStripe<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (!(error instanceof Stripe.errors.StripeError)) throw error;
    const status = error.statusCode ?? null;
    const retryable = status === null || status === 429 || status >= 500;
    let message: string;
    if (error instanceof Stripe.errors.StripeConnectionError || status === null) {
      message = `Stripe could not be reached while fetching ${what}.`;
    } else if (status === 401 || status === 403) {
      message = `Stripe refused the API key (HTTP ${status}) while fetching ${what}.`;
    } else if (status === 404) {
      message = `Stripe does not know ${what} (HTTP 404).`;
    } else {
      message = `Stripe answered HTTP ${status} while fetching ${what}.`;
    }
    throw new AppError('UPSTREAM_UNAVAILABLE', {
      message,
      detail: { upstream: 'stripe', status, code: error.code ?? null, retryable },
    });
  }
}

function apiBaseConfig(
  apiBase: string | null | undefined,
): Pick<Stripe.StripeConfig, 'host' | 'port' | 'protocol'> {
  if (!apiBase) return {};
  const url = new URL(apiBase);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`Stripe API base must be http(s), got ${url.protocol}`);
  }
  const protocol = url.protocol === 'http:' ? 'http' : 'https';
  return { host: url.hostname, port: url.port || (protocol === 'http' ? 80 : 443), protocol };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What a verified Stripe event asks of us. */
export type StripeEventAction =
  | { kind: 'fulfil'; sessionId: string }
  | { kind: 'end'; paymentIntentId: string }
  | { kind: 'ignore'; reason: string };

/**
 * Decides from the event alone; the session's current state is fetched later (events can arrive late,
 * twice or out of order). A `completed` session may still be unpaid: sessionOrder() then says `pending`.
 */
export function stripeEventAction(event: StripeWebhookEvent): StripeEventAction {
  const object = event.object;
  switch (event.type) {
    case 'checkout.session.completed':
    case 'checkout.session.async_payment_succeeded': {
      const sessionId = nonEmptyString(object.id);
      return sessionId ? { kind: 'fulfil', sessionId } : { kind: 'ignore', reason: 'session without id' };
    }
    case 'checkout.session.async_payment_failed':
      return { kind: 'ignore', reason: 'async payment failed' };
    case 'checkout.session.expired':
      return { kind: 'ignore', reason: 'session expired' };
    case 'charge.refunded':
      // `refunded` stays false on a partial refund.
      if (object.refunded !== true) return { kind: 'ignore', reason: 'partial refund' };
      return endAction(object.payment_intent, 'refunded charge');
    case 'charge.dispute.closed':
      if (object.status !== 'lost')
        return { kind: 'ignore', reason: `dispute closed as ${String(object.status)}` };
      return endAction(object.payment_intent, 'lost dispute');
    default:
      return { kind: 'ignore', reason: `unhandled event type ${event.type}` };
  }
}

function endAction(paymentIntent: unknown, what: string): StripeEventAction {
  // An expanded payment_intent is an object with an id.
  const id = nonEmptyString(isRecord(paymentIntent) ? paymentIntent.id : paymentIntent);
  return id
    ? { kind: 'end', paymentIntentId: id }
    : { kind: 'ignore', reason: `${what} without payment intent` };
}

function nonEmptyString(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}
