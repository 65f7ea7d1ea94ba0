import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';

/** A Stripe API object as the stand-in stores and serves it. */
export type StripeObject = Record<string, unknown> & { id: string };

export interface StandInRequest {
  method: string;
  /** Path without the query, e.g. `/v1/checkout/sessions/cs_test_…/line_items`. */
  path: string;
  query: Record<string, string>;
  authorization: string | null;
}

export interface LineItemOptions {
  price?: string;
  product?: string;
  quantity?: number;
  description?: string;
  /** Minor units per item; 1900 by default. */
  unitAmount?: number;
}

export interface SendEventOptions {
  /** Unix seconds to sign with (default now); older than 300 s must be refused. */
  timestamp?: number;
  /** Sign the payload, then change the bytes that are sent. */
  tamper?: boolean;
}

export interface StripeStandIn {
  /** e.g. `http://127.0.0.1:41234`, for `createStripeGateway({ apiBase })`. */
  apiBase: string;
  /** Every request received, in order. */
  requests: StandInRequest[];
  putSession(session: StripeObject, lineItems: StripeObject[]): void;
  /** The next `count` requests get `status` with a Stripe error body (before the key is checked). */
  failNext(count: number, status: number): void;
  close(): Promise<void>;
  makeSession: typeof makeSession;
  makeLineItem: typeof makeLineItem;
  makeEvent: typeof makeEvent;
  sendEvent: typeof sendEvent;
}

/** Plays the few Stripe API calls the gateway makes: sessions, their line items, sessions by payment intent. */
export async function startStripeStandIn(options: { secretKey: string }): Promise<StripeStandIn> {
  const sessions = new Map<string, { session: StripeObject; lineItems: StripeObject[] }>();
  const requests: StandInRequest[] = [];
  const failures = { count: 0, status: 500 };

  function route(req: IncomingMessage): [status: number, body: object] {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const authorization = req.headers.authorization ?? null;
    requests.push({
      method: req.method ?? '',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      authorization,
    });
    if (failures.count > 0) {
      failures.count--;
      const type = failures.status === 429 ? 'rate_limit_error' : 'api_error';
      return [failures.status, stripeError(type, `Stand-in failure (HTTP ${failures.status}).`)];
    }
    if (authorization !== `Bearer ${options.secretKey}`) {
      const key = authorization?.replace(/^Bearer\s+/i, '') ?? '';
      const message = key
        ? `Invalid API Key provided: ${maskKey(key)}`
        : 'You did not provide an API key. You need to provide your API key in the Authorization header.';
      return [401, stripeError('invalid_request_error', message)];
    }
    const parts = url.pathname.split('/').filter(Boolean);
    if (req.method !== 'GET' || parts[0] !== 'v1' || parts[1] !== 'checkout' || parts[2] !== 'sessions') {
      const message = `Unrecognized request URL (${req.method}: ${url.pathname}).`;
      return [404, stripeError('invalid_request_error', message)];
    }
    const limit = Math.min(Math.max(Number(url.searchParams.get('limit') ?? 10) || 10, 1), 100);
    const sessionId = parts[3];
    if (sessionId === undefined) {
      const paymentIntent = url.searchParams.get('payment_intent');
      const matching = [...sessions.values()]
        .map((entry) => entry.session)
        .filter((session) => !paymentIntent || objectId(session.payment_intent) === paymentIntent);
      return [200, listPage(matching, limit, url.searchParams.get('starting_after'), url.pathname)];
    }
    const entry = sessions.get(sessionId);
    if (!entry || parts.length > 5 || (parts[4] !== undefined && parts[4] !== 'line_items')) {
      const body = stripeError('invalid_request_error', `No such checkout.session: '${sessionId}'`);
      return [404, { error: { ...body.error, code: 'resource_missing', param: 'session' } }];
    }
    if (parts[4] === undefined) return [200, entry.session];
    return [200, listPage(entry.lineItems, limit, url.searchParams.get('starting_after'), url.pathname)];
  }

  const server = createServer((req, res) => {
    const [status, body] = route(req);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Request-Id': `req_${randomId(14)}` });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    apiBase: `http://127.0.0.1:${port}`,
    requests,
    putSession(session, lineItems) {
      sessions.set(session.id, { session, lineItems });
    },
    failNext(count, status) {
      failures.count = count;
      failures.status = status;
    },
    async close() {
      // The SDK keeps sockets alive; they would hold close() open.
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
    makeSession,
    makeLineItem,
    makeEvent,
    sendEvent,
  };
}

/** A paid, complete Checkout Session (payment mode, EUR) with a fresh id; `partial` overrides top-level fields. */
export function makeSession(partial: Record<string, unknown> = {}): StripeObject {
  const created = Math.floor(Date.now() / 1000);
  return {
    id: `cs_test_${randomId(58)}`,
    object: 'checkout.session',
    amount_subtotal: 1900,
    amount_total: 1900,
    cancel_url: 'https://shop.example.com/cancel',
    client_reference_id: null,
    created,
    currency: 'eur',
    customer: null,
    customer_creation: 'if_required',
    customer_details: {
      address: { city: null, country: 'DE', line1: null, line2: null, postal_code: null, state: null },
      email: 'ada@example.com',
      name: 'Ada Lovelace',
      phone: null,
      tax_exempt: 'none',
      tax_ids: [],
    },
    customer_email: null,
    expires_at: created + 86_400,
    invoice: null,
    livemode: false,
    metadata: {},
    mode: 'payment',
    payment_intent: `pi_${randomId(24)}`,
    payment_link: null,
    payment_method_types: ['card'],
    payment_status: 'paid',
    status: 'complete',
    subscription: null,
    success_url: 'https://shop.example.com/thanks?session_id={CHECKOUT_SESSION_ID}',
    url: null,
    ...partial,
  };
}

/** A Checkout line item (`object: 'item'`) whose price names its product by id. */
export function makeLineItem(options: LineItemOptions = {}): StripeObject {
  const quantity = options.quantity ?? 1;
  const unitAmount = options.unitAmount ?? 1900;
  const price = options.price ?? `price_${randomId(24)}`;
  return {
    id: `li_${randomId(24)}`,
    object: 'item',
    amount_discount: 0,
    amount_subtotal: unitAmount * quantity,
    amount_tax: 0,
    amount_total: unitAmount * quantity,
    currency: 'eur',
    description: options.description ?? 'E-book',
    price: {
      id: price,
      object: 'price',
      active: true,
      billing_scheme: 'per_unit',
      created: Math.floor(Date.now() / 1000),
      currency: 'eur',
      livemode: false,
      lookup_key: null,
      metadata: {},
      nickname: null,
      product: options.product ?? `prod_${randomId(14)}`,
      recurring: null,
      tax_behavior: 'unspecified',
      type: 'one_time',
      unit_amount: unitAmount,
      unit_amount_decimal: String(unitAmount),
    },
    quantity,
  };
}

/** A snapshot event envelope as Stripe posts it to an endpoint. */
export function makeEvent(type: string, object: object, id = `evt_${randomId(24)}`): StripeObject {
  return {
    id,
    object: 'event',
    api_version: Stripe.API_VERSION,
    created: Math.floor(Date.now() / 1000),
    data: { object },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
  };
}

/** Signs `event` with the SDK's own test helper and POSTs the exact bytes, as Stripe would. */
export async function sendEvent(
  webhookUrl: string,
  event: object,
  webhookSecret: string,
  options: SendEventOptions = {},
): Promise<{ status: number; body: string }> {
  const payload = JSON.stringify(event);
  const header = Stripe.webhooks.generateTestHeaderString({
    payload,
    secret: webhookSecret,
    ...(options.timestamp === undefined ? {} : { timestamp: options.timestamp }),
  });
  const sent = options.tamper ? `${payload.slice(0, -1)},"tampered":true}` : payload;
  const response = await fetch(webhookUrl, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Stripe-Signature': header },
    body: sent,
  });
  return { status: response.status, body: await response.text() };
}

function listPage(all: StripeObject[], limit: number, startingAfter: string | null, url: string): object {
  const start = startingAfter ? all.findIndex((item) => item.id === startingAfter) + 1 : 0;
  const data = all.slice(start, start + limit);
  return { object: 'list', data, has_more: start + limit < all.length, url };
}

function objectId(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && 'id' in value && typeof value.id === 'string')
    return value.id;
  return null;
}

/** Like Stripe: keep the `sk_test_` prefix and the last four characters. */
function maskKey(key: string): string {
  const prefix = /^(sk|rk|pk)_(test|live)_/.exec(key)?.[0] ?? '';
  const rest = key.slice(prefix.length);
  if (rest.length <= 4) return `${prefix}****`;
  return `${prefix}${'*'.repeat(rest.length - 4)}${rest.slice(-4)}`;
}

function stripeError(type: string, message: string): { error: Record<string, unknown> } {
  return { error: { message, type } };
}

function randomId(length: number): string {
  return randomBytes(length).toString('base64url').replace(/[-_]/g, 'x').slice(0, length);
}
