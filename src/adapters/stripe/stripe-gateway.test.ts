import { createServer } from 'node:http';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  makeEvent,
  makeLineItem,
  makeSession,
  type StripeStandIn,
  startStripeStandIn,
} from '../../../tests/helpers/stripe-standin.ts';
import { AppError } from '../../domain/errors.ts';
import { createStripeGateway, type StripeWebhookEvent, stripeEventAction } from './stripe-gateway.ts';

const SECRET_KEY = 'sk_test_51StandInSecretKeyForTests0000abcd';
const WEBHOOK_SECRET = 'whsec_test_secret';

function sign(payload: string, timestamp?: number): string {
  return Stripe.webhooks.generateTestHeaderString({
    payload,
    secret: WEBHOOK_SECRET,
    ...(timestamp === undefined ? {} : { timestamp }),
  });
}

async function appError(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(error instanceof AppError)) throw new Error(`expected an AppError, got ${String(error)}`);
  return error;
}

describe('Stripe webhook signatures', () => {
  const gateway = createStripeGateway({
    secretKey: SECRET_KEY,
    webhookSecret: WEBHOOK_SECRET,
    source: 'stripe:1',
  });

  it('matches the contract vector', () => {
    const payload = '{"id":"evt_test_1","object":"event","type":"checkout.session.completed"}';
    expect(sign(payload, 1_700_000_000)).toBe(
      't=1700000000,v1=ca796b857b81e24d595a4c37abf88d2fafb533a32ede6ce4cfc9b0e892a35b08',
    );
  });

  it('accepts a freshly signed payload and returns the event view', () => {
    const session = makeSession();
    const payload = JSON.stringify(makeEvent('checkout.session.completed', session, 'evt_fresh'));
    const event = gateway.verify(payload, sign(payload));
    expect(event.id).toBe('evt_fresh');
    expect(event.type).toBe('checkout.session.completed');
    expect(event.object.id).toBe(session.id);
  });

  const now = (): number => Math.floor(Date.now() / 1000);

  it('refuses a correctly signed body that is not an event with INVALID_REQUEST', () => {
    for (const payload of ['not json', '{"id":"evt_1","type":"x"}']) {
      expect(() => gateway.verify(payload, sign(payload))).toThrow(
        expect.objectContaining({ code: 'INVALID_REQUEST' }),
      );
    }
  });

  it('accepts a signature that is a few minutes old', () => {
    const payload = JSON.stringify(makeEvent('charge.refunded', { id: 'ch_1' }));
    expect(gateway.verify(payload, sign(payload, now() - 200)).type).toBe('charge.refunded');
  });
  const cases: [string, (payload: string) => [body: string, header: string | null]][] = [
    ['a tampered body', (p) => [p.replace('"livemode":false', '"livemode":true'), sign(p)]],
    ['a timestamp older than 300 s', (p) => [p, sign(p, now() - 301)]],
    ['a missing header', (p) => [p, null]],
    ['a garbage header', (p) => [p, 'garbage']],
    ['a wrong signature', (p) => [p, sign(p).replace(/v1=\w+/, 'v1=00')]],
    [
      'another secret',
      (p) => [p, Stripe.webhooks.generateTestHeaderString({ payload: p, secret: 'whsec_x' })],
    ],
  ];

  it.each(cases)('refuses %s with WEBHOOK_SIGNATURE_INVALID', (_name, build) => {
    const [body, header] = build(JSON.stringify(makeEvent('checkout.session.completed', makeSession())));
    let caught: unknown;
    try {
      gateway.verify(body, header);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(AppError);
    expect((caught as AppError).code).toBe('WEBHOOK_SIGNATURE_INVALID');
    expect((caught as AppError).message).not.toContain(WEBHOOK_SECRET);
  });
});

describe('Stripe API calls against the stand-in', () => {
  let standIn: StripeStandIn;
  let gateway: ReturnType<typeof createStripeGateway>;

  beforeAll(async () => {
    standIn = await startStripeStandIn({ secretKey: SECRET_KEY });
    gateway = createStripeGateway({
      secretKey: SECRET_KEY,
      webhookSecret: WEBHOOK_SECRET,
      apiBase: standIn.apiBase,
      source: 'stripe:7',
    });
  });
  afterAll(() => standIn.close());

  it('maps a paid session with all of its 130 line items (paginated)', async () => {
    const session = makeSession({
      customer_details: { email: 'grace@example.com', name: 'Grace Brewster Hopper' },
    });
    const items = Array.from({ length: 130 }, (_, i) =>
      makeLineItem({
        price: `price_${i}`,
        product: `prod_${i}`,
        quantity: 1 + (i % 3),
        description: `Item ${i}`,
      }),
    );
    standIn.putSession(session, items);
    const order = await gateway.sessionOrder(session.id);
    expect(order).toMatchObject({
      source: 'stripe:7',
      externalId: session.id,
      state: 'paid',
      platformStatus: 'paid',
      modifiedAt: null,
      customer: { email: 'grace@example.com', firstName: 'Grace Brewster', lastName: 'Hopper' },
    });
    expect(order.lines).toHaveLength(130);
    expect(order.lines[129]).toEqual({
      lineId: items[129]?.id,
      quantity: 1,
      description: 'Item 129',
      keys: [
        { kind: 'stripe_price', value: 'price_129' },
        { kind: 'stripe_product', value: 'prod_129' },
      ],
    });
    const pages = standIn.requests.filter((r) => r.path === `/v1/checkout/sessions/${session.id}/line_items`);
    expect(pages.map((r) => r.query.starting_after)).toEqual([undefined, items[99]?.id]);
    expect(pages[0]?.authorization).toBe(`Bearer ${SECRET_KEY}`);
  });

  it('maps an unpaid session as pending, with the prefill e-mail and a one-word name', async () => {
    const session = makeSession({
      payment_status: 'unpaid',
      customer_email: 'cher@example.com',
      customer_details: { email: null, name: 'Cher' },
    });
    standIn.putSession(session, [
      {
        ...makeLineItem({ product: 'prod_x' }),
        price: { id: 'price_x', product: { id: 'prod_x', object: 'product' } },
      },
    ]);
    const order = await gateway.sessionOrder(session.id);
    expect(order.state).toBe('pending');
    expect(order.platformStatus).toBe('unpaid');
    expect(order.customer).toEqual({ email: 'cher@example.com', firstName: 'Cher', lastName: null });
    expect(order.lines[0]?.keys).toEqual([
      { kind: 'stripe_price', value: 'price_x' },
      { kind: 'stripe_product', value: 'prod_x' },
    ]);
  });

  it('treats an expired or open session as pending and a free complete one as paid', async () => {
    const expired = makeSession({ status: 'expired', payment_status: 'unpaid' });
    const free = makeSession({ payment_status: 'no_payment_required', amount_total: 0 });
    standIn.putSession(expired, []);
    standIn.putSession(free, [makeLineItem()]);
    expect((await gateway.sessionOrder(expired.id)).state).toBe('pending');
    expect((await gateway.sessionOrder(free.id)).state).toBe('paid');
  });

  it('refuses a session without any e-mail', async () => {
    const session = makeSession({ customer_details: null, customer_email: null });
    standIn.putSession(session, []);
    expect((await appError(gateway.sessionOrder(session.id))).code).toBe('INVALID_REQUEST');
  });

  it('reports an unknown session as an upstream 404 that is not retryable', async () => {
    const error = await appError(gateway.sessionOrder('cs_test_missing'));
    expect(error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(error.message).toContain('404');
    expect(error.detail).toMatchObject({ status: 404, code: 'resource_missing', retryable: false });
  });

  it('reports 5xx and 429 as retryable upstream failures', async () => {
    const session = makeSession();
    standIn.putSession(session, []);
    standIn.failNext(1, 503);
    const unavailable = await appError(gateway.sessionOrder(session.id));
    expect(unavailable.detail).toMatchObject({ status: 503, retryable: true });
    standIn.failNext(1, 429);
    expect((await appError(gateway.sessionOrder(session.id))).detail).toMatchObject({ retryable: true });
    expect((await gateway.sessionOrder(session.id)).externalId).toBe(session.id);
  });

  it('reports a wrong secret key without revealing it', async () => {
    const wrongKey = 'sk_test_51WrongKeyWrongKeyWrongKey9999wxyz';
    const wrong = createStripeGateway({
      secretKey: wrongKey,
      webhookSecret: WEBHOOK_SECRET,
      apiBase: standIn.apiBase,
      source: 'stripe:7',
    });
    const error = await appError(wrong.sessionOrder(makeSession().id));
    expect(error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(error.message).toContain('401');
    expect(JSON.stringify({ message: error.message, detail: error.detail })).not.toContain('wxyz');
    expect(error.message).not.toContain(wrongKey);
    // The stand-in answers as Stripe does: the key masked but for its prefix and last four characters.
    const raw = await fetch(`${standIn.apiBase}/v1/checkout/sessions/cs_x`, {
      headers: { Authorization: `Bearer ${wrongKey}` },
    });
    const body = await raw.text();
    expect(raw.status).toBe(401);
    expect(body).toMatch(/Invalid API Key provided: sk_test_\*+wxyz/);
    expect(body).not.toContain(wrongKey);
  });

  it('signs and posts events like Stripe (sendEvent)', async () => {
    const receiver = createServer((req, res) => {
      let raw = '';
      req.on('data', (chunk: Buffer) => {
        raw += chunk.toString('utf8');
      });
      req.on('end', () => {
        try {
          const event = gateway.verify(raw, req.headers['stripe-signature']?.toString() ?? null);
          res.writeHead(200).end(event.id);
        } catch (error) {
          res.writeHead(error instanceof AppError ? error.status : 500).end();
        }
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const address = receiver.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hooks/stripe`;
    try {
      const event = standIn.makeEvent('checkout.session.completed', makeSession(), 'evt_sent');
      expect(await standIn.sendEvent(url, event, WEBHOOK_SECRET)).toEqual({ status: 200, body: 'evt_sent' });
      expect((await standIn.sendEvent(url, event, WEBHOOK_SECRET, { tamper: true })).status).toBe(401);
      const old = Math.floor(Date.now() / 1000) - 301;
      expect((await standIn.sendEvent(url, event, WEBHOOK_SECRET, { timestamp: old })).status).toBe(401);
    } finally {
      receiver.closeAllConnections();
      await new Promise((resolve) => receiver.close(resolve));
    }
  });

  it('reports an unreachable API as retryable', async () => {
    const closed = await startStripeStandIn({ secretKey: SECRET_KEY });
    await closed.close();
    const offline = createStripeGateway({
      secretKey: SECRET_KEY,
      webhookSecret: WEBHOOK_SECRET,
      apiBase: closed.apiBase,
      source: 'stripe:7',
    });
    const error = await appError(offline.sessionIdForPaymentIntent('pi_1'));
    expect(error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(error.detail).toMatchObject({ status: null, retryable: true });
  });

  it('finds the session of a payment intent, or null', async () => {
    const session = makeSession({ payment_intent: 'pi_lookup_1' });
    standIn.putSession(session, []);
    expect(await gateway.sessionIdForPaymentIntent('pi_lookup_1')).toBe(session.id);
    expect(await gateway.sessionIdForPaymentIntent('pi_unknown')).toBeNull();
    const last = standIn.requests.at(-1);
    expect(last).toMatchObject({
      path: '/v1/checkout/sessions',
      query: { payment_intent: 'pi_unknown', limit: '1' },
    });
  });
});

describe('stripeEventAction', () => {
  const event = (type: string, object: Record<string, unknown>): StripeWebhookEvent => ({
    id: 'evt_1',
    type,
    object,
  });

  it.each([
    ['checkout.session.completed', { id: 'cs_1' }, { kind: 'fulfil', sessionId: 'cs_1' }],
    ['checkout.session.async_payment_succeeded', { id: 'cs_2' }, { kind: 'fulfil', sessionId: 'cs_2' }],
    ['checkout.session.completed', { id: 42 }, { kind: 'ignore', reason: 'session without id' }],
    [
      'checkout.session.async_payment_failed',
      { id: 'cs_3' },
      { kind: 'ignore', reason: 'async payment failed' },
    ],
    ['checkout.session.expired', { id: 'cs_4' }, { kind: 'ignore', reason: 'session expired' }],
    ['charge.refunded', { refunded: true, payment_intent: 'pi_1' }, { kind: 'end', paymentIntentId: 'pi_1' }],
    [
      'charge.refunded',
      { refunded: true, payment_intent: { id: 'pi_2' } },
      { kind: 'end', paymentIntentId: 'pi_2' },
    ],
    [
      'charge.refunded',
      { refunded: false, payment_intent: 'pi_1' },
      { kind: 'ignore', reason: 'partial refund' },
    ],
    [
      'charge.refunded',
      { refunded: true, payment_intent: null },
      { kind: 'ignore', reason: 'refunded charge without payment intent' },
    ],
    [
      'charge.dispute.closed',
      { status: 'lost', payment_intent: 'pi_3' },
      { kind: 'end', paymentIntentId: 'pi_3' },
    ],
    [
      'charge.dispute.closed',
      { status: 'won', payment_intent: 'pi_3' },
      { kind: 'ignore', reason: 'dispute closed as won' },
    ],
    [
      'customer.created',
      { id: 'cus_1' },
      { kind: 'ignore', reason: 'unhandled event type customer.created' },
    ],
  ] as const)('%s %j → %j', (type, object, expected) => {
    expect(stripeEventAction(event(type, object))).toEqual(expected);
  });
});
