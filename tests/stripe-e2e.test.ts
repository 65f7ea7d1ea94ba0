import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { SyncResult } from '../src/domain/integrations/store-sync.ts';
import type { OutboxMessage } from '../src/domain/outbox/outbox.ts';
import { messageIdFor } from '../src/workers/outbox-handlers.ts';
import { createHarness, type Harness } from './helpers/harness.ts';
import { type StripeObject, type StripeStandIn, startStripeStandIn } from './helpers/stripe-standin.ts';

vi.setConfig({ testTimeout: 60_000 });

const SECRET_KEY = `sk_test_${randomBytes(18).toString('hex')}`;
const WEBHOOK_SECRET = `whsec_${randomBytes(18).toString('hex')}`;
const PLUGIN_PRICE = 'price_plugin_e2e';
const EBOOK_PRODUCT = 'prod_ebook_e2e';

let h: Harness;
let stripe: StripeStandIn;
let webhookUrl: string;

beforeAll(async () => {
  h = await createHarness();
  stripe = await startStripeStandIn({ secretKey: SECRET_KEY });
  const connection = await h.ctx.connections.connectStripe({
    secretKey: SECRET_KEY,
    webhookSecret: WEBHOOK_SECRET,
    apiBase: stripe.apiBase,
    endAction: 'revoke',
  });
  webhookUrl = connection.webhook_url;
  await h.ctx.products.create({ name: 'Stripe Plugin', slug: 'stripe-plugin', license: {} });
  await h.ctx.products.addFile({
    product: 'stripe-plugin',
    fileName: 'plugin.zip',
    body: Readable.from([Buffer.from('plugin bytes')]),
    contentType: 'application/zip',
  });
  await h.ctx.products.create({ name: 'Stripe E-book', slug: 'stripe-ebook' });
  await h.ctx.connections.mapProduct({ product: 'stripe-plugin', kind: 'stripe_price', value: PLUGIN_PRICE });
  await h.ctx.connections.mapProduct({
    product: 'stripe-ebook',
    kind: 'stripe_product',
    value: EBOOK_PRODUCT,
  });
});

afterAll(async () => {
  await stripe?.close();
  await h?.close();
});

/** Delivers every due outbox message; returns how many were delivered. */
async function drain(): Promise<number> {
  let delivered = 0;
  for (;;) {
    const run = await h.ctx.outbox.runOnce();
    delivered += run.delivered;
    if (run.delivered + run.retrying + run.dead === 0) return delivered;
  }
}

async function send(event: StripeObject): Promise<{ status: number; json: SyncResult & ErrorBody }> {
  const { status, body } = await stripe.sendEvent(webhookUrl, event, WEBHOOK_SECRET);
  return { status, json: JSON.parse(body) };
}

interface ErrorBody {
  error: { code: string; message: string };
}

/** A paid session buying the plugin (by price) and the e-book (by product), stored in the stand-in. */
function putSession(partial: Record<string, unknown> = {}, extraLines: StripeObject[] = []): StripeObject {
  const session = stripe.makeSession(partial);
  stripe.putSession(session, [
    stripe.makeLineItem({ price: PLUGIN_PRICE, description: 'Stripe Plugin' }),
    stripe.makeLineItem({ product: EBOOK_PRODUCT, description: 'Stripe E-book', unitAmount: 900 }),
    ...extraLines,
  ]);
  return session;
}

async function fulfil(): Promise<{ session: StripeObject; orderId: string }> {
  const session = putSession();
  const { status, json } = await send(stripe.makeEvent('checkout.session.completed', session));
  expect(status).toBe(200);
  expect(json.outcome).toBe('fulfilled');
  if (!json.order_id) throw new Error('no order id');
  return { session, orderId: json.order_id };
}

async function messagesFor(orderId: string): Promise<OutboxMessage[]> {
  return (await h.ctx.outbox.list({ limit: 1000 })).filter((m) => m.payload.orderId === orderId);
}

async function mailFiles(): Promise<string[]> {
  return readdir(join(h.dataDir, 'mail')).catch(() => []);
}

function charge(paymentIntent: unknown, refunded: boolean): Record<string, unknown> {
  return {
    id: `ch_${randomBytes(12).toString('hex')}`,
    object: 'charge',
    amount: 2800,
    amount_refunded: refunded ? 2800 : 500,
    refunded,
    payment_intent: paymentIntent,
    currency: 'eur',
  };
}

async function downloadStatus(url: string): Promise<{ status: number; code: string | undefined }> {
  const res = await fetch(url, { headers: { accept: 'application/json' } });
  const text = await res.text();
  return { status: res.status, code: res.ok ? undefined : (JSON.parse(text) as ErrorBody).error.code };
}

describe('checkout.session.completed', () => {
  it('fulfils a paid session: grants, a license key, line items fetched with the secret key, one e-mail', async () => {
    const { session, orderId } = await fulfil();
    const view = await h.ctx.orders.get(orderId);
    expect(view.order).toMatchObject({ source: expect.stringMatching(/^stripe:/), external_id: session.id });
    expect(view.customer).toMatchObject({ email: 'ada@example.com', name: 'Ada Lovelace' });
    expect(view.grants.map((g) => g.product).sort()).toEqual(['stripe-ebook', 'stripe-plugin']);
    expect(view.licenses).toHaveLength(1);
    const license = view.licenses[0]!;
    expect(license).toMatchObject({ product: 'stripe-plugin', status: 'active' });

    const calls = stripe.requests.filter((r) => r.path.startsWith(`/v1/checkout/sessions/${session.id}`));
    expect(calls.map((r) => r.path)).toContain(`/v1/checkout/sessions/${session.id}/line_items`);
    for (const call of calls) expect(call.authorization).toBe(`Bearer ${SECRET_KEY}`);

    const emails = (await messagesFor(orderId)).filter((m) => m.topic === 'email');
    expect(emails).toHaveLength(1);
    expect(emails[0]).toMatchObject({ status: 'pending', payload: { template: 'order_delivered' } });
    await drain();
    const [email] = (await messagesFor(orderId)).filter((m) => m.topic === 'email');
    expect(email?.status).toBe('delivered');
    const name = `${messageIdFor(email!.idempotencyKey, h.config.publicUrl).replace(/[<>]/g, '')}.eml`;
    expect(await mailFiles()).toContain(name);
    const eml = await readFile(join(h.dataDir, 'mail', name), 'utf8');
    expect(eml).toMatch(/^To: ada@example\.com$/m);
    expect(eml).toContain(license.key);
  });

  it('is idempotent: a repeated event is a duplicate, a new event for the same session changes nothing', async () => {
    const session = putSession();
    const event = stripe.makeEvent('checkout.session.completed', session);
    const first = await send(event);
    expect(first.json.outcome).toBe('fulfilled');
    await drain();
    const messages = (await messagesFor(first.json.order_id!)).length;
    const files = (await mailFiles()).length;

    const again = await send(event);
    expect(again).toMatchObject({ status: 200, json: { outcome: 'duplicate' } });
    const other = await send(stripe.makeEvent('checkout.session.completed', session));
    expect(other).toMatchObject({
      status: 200,
      json: { outcome: 'unchanged', order_id: first.json.order_id },
    });

    expect(await drain()).toBe(0);
    expect(await messagesFor(first.json.order_id!)).toHaveLength(messages);
    expect(await mailFiles()).toHaveLength(files);
    const view = await h.ctx.orders.get(first.json.order_id!);
    expect(view.licenses).toHaveLength(1);
    expect(view.grants).toHaveLength(2);
  });

  it('delivers once when two events for one session arrive at the same time', async () => {
    const session = putSession();
    const results = await Promise.all([
      send(stripe.makeEvent('checkout.session.completed', session)),
      send(stripe.makeEvent('checkout.session.completed', session)),
    ]);
    expect(results.map((r) => r.status)).toEqual([200, 200]);
    expect(results.map((r) => r.json.outcome).sort()).toEqual(['fulfilled', 'unchanged']);
    const orders = await h.ctx.orders.list({ limit: 1000 });
    expect(orders.filter((o) => o.external_id === session.id)).toHaveLength(1);
    const emails = (await messagesFor(results[0]!.json.order_id!)).filter((m) => m.topic === 'email');
    expect(emails).toHaveLength(1);
    await drain();
  });

  it('waits for an unpaid session and fulfils it on async_payment_succeeded', async () => {
    const session = putSession({ payment_status: 'unpaid' });
    const pending = await send(stripe.makeEvent('checkout.session.completed', session));
    expect(pending).toMatchObject({ status: 200, json: { outcome: 'pending', order_id: null } });
    expect(await drain()).toBe(0);

    const paid = { ...session, payment_status: 'paid' };
    stripe.putSession(paid, [stripe.makeLineItem({ price: PLUGIN_PRICE })]);
    const succeeded = await send(stripe.makeEvent('checkout.session.async_payment_succeeded', paid));
    expect(succeeded).toMatchObject({ status: 200, json: { outcome: 'fulfilled' } });
    expect((await h.ctx.orders.get(succeeded.json.order_id!)).licenses).toHaveLength(1);
    expect(await drain()).toBeGreaterThan(0);
  });

  it('reports unmapped prices without failing the order', async () => {
    const stray = stripe.makeLineItem({ price: 'price_nobody_mapped', description: 'Mystery box' });
    const session = putSession({}, [stray]);
    const { status, json } = await send(stripe.makeEvent('checkout.session.completed', session));
    expect(status).toBe(200);
    expect(json.outcome).toBe('fulfilled');
    expect(json.delivered_lines).toHaveLength(2);
    expect(json.unmapped).toEqual([{ line_id: stray.id, description: 'Mystery box' }]);

    const onlyStray = stripe.makeSession();
    stripe.putSession(onlyStray, [stripe.makeLineItem({ price: 'price_nobody_mapped_2' })]);
    const nothing = await send(stripe.makeEvent('checkout.session.completed', onlyStray));
    expect(nothing).toMatchObject({ status: 200, json: { outcome: 'unchanged', order_id: null } });
    expect(nothing.json.unmapped).toHaveLength(1);
    await drain();
  });
});

describe('refunds and disputes', () => {
  it('revokes on a full refund, ignores a partial one, and a late completed event cannot undo it', async () => {
    const { session, orderId } = await fulfil();
    await drain();
    const before = await h.ctx.orders.get(orderId);
    const link = before.downloads[0]!.url;
    expect(await downloadStatus(link)).toEqual({ status: 200, code: undefined });

    const partial = await send(stripe.makeEvent('charge.refunded', charge(session.payment_intent, false)));
    expect(partial).toMatchObject({ status: 200, json: { outcome: 'ignored' } });
    expect((await h.ctx.orders.get(orderId)).licenses[0]?.status).toBe('active');

    const full = await send(stripe.makeEvent('charge.refunded', charge(session.payment_intent, true)));
    expect(full).toMatchObject({ status: 200, json: { outcome: 'revoked', order_id: orderId } });
    const after = await h.ctx.orders.get(orderId);
    expect(after.licenses[0]?.status).toBe('revoked');
    expect(after.grants.every((g) => g.status === 'GRANT_REVOKED')).toBe(true);
    expect(await downloadStatus(link)).toEqual({ status: 403, code: 'GRANT_REVOKED' });
    const revokedMail = (await messagesFor(orderId)).filter(
      (m) => m.topic === 'email' && m.payload.template === 'license_revoked',
    );
    expect(revokedMail).toHaveLength(1);

    const late = await send(stripe.makeEvent('checkout.session.completed', session));
    expect(late).toMatchObject({ status: 200, json: { outcome: 'stale' } });
    expect((await h.ctx.orders.get(orderId)).licenses[0]?.status).toBe('revoked');
    expect(await downloadStatus(link)).toEqual({ status: 403, code: 'GRANT_REVOKED' });
    await drain();
  });

  it('revokes when a dispute is lost, not when it is won', async () => {
    const { session, orderId } = await fulfil();
    const dispute = (status: string) => ({
      id: `dp_${randomBytes(12).toString('hex')}`,
      object: 'dispute',
      status,
      payment_intent: session.payment_intent,
    });
    const won = await send(stripe.makeEvent('charge.dispute.closed', dispute('won')));
    expect(won).toMatchObject({ status: 200, json: { outcome: 'ignored' } });
    const lost = await send(stripe.makeEvent('charge.dispute.closed', dispute('lost')));
    expect(lost).toMatchObject({ status: 200, json: { outcome: 'revoked', order_id: orderId } });
    expect((await h.ctx.orders.get(orderId)).licenses[0]?.status).toBe('revoked');
    await drain();
  });
});

describe('refusals', () => {
  it('answers 401 WEBHOOK_SIGNATURE_INVALID to a bad, stale or missing signature and creates nothing', async () => {
    const session = putSession();
    const event = stripe.makeEvent('checkout.session.completed', session);
    const calls = stripe.requests.length;
    const orders = (await h.ctx.orders.list({ limit: 1000 })).length;
    const outbox = (await h.ctx.outbox.list({ limit: 1000 })).length;

    const attempts = [
      await stripe.sendEvent(webhookUrl, event, WEBHOOK_SECRET, { tamper: true }),
      await stripe.sendEvent(webhookUrl, event, `whsec_${randomBytes(18).toString('hex')}`),
      await stripe.sendEvent(webhookUrl, event, WEBHOOK_SECRET, {
        timestamp: Math.floor(Date.now() / 1000) - 301,
      }),
      await fetch(webhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(event),
      }).then(async (r) => ({ status: r.status, body: await r.text() })),
    ];
    for (const attempt of attempts) {
      expect(attempt.status).toBe(401);
      expect((JSON.parse(attempt.body) as ErrorBody).error.code).toBe('WEBHOOK_SIGNATURE_INVALID');
      expect(attempt.body).not.toContain(WEBHOOK_SECRET);
    }
    expect(stripe.requests).toHaveLength(calls);
    expect(await h.ctx.orders.list({ limit: 1000 })).toHaveLength(orders);
    expect(await h.ctx.outbox.list({ limit: 1000 })).toHaveLength(outbox);

    // Nothing was recorded as processed: the properly signed event still works.
    expect((await send(event)).json.outcome).toBe('fulfilled');
    await drain();
  });

  it('answers 503 UPSTREAM_UNAVAILABLE while the Stripe API is down, so that Stripe retries the event', async () => {
    const session = putSession();
    const event = stripe.makeEvent('checkout.session.completed', session);
    stripe.failNext(1, 503);
    const down = await stripe.sendEvent(webhookUrl, event, WEBHOOK_SECRET);
    expect(down.status).toBe(503);
    expect((JSON.parse(down.body) as ErrorBody).error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(down.body).not.toContain(SECRET_KEY);
    expect(await h.ctx.orders.list({ limit: 1000 })).not.toContainEqual(
      expect.objectContaining({ external_id: session.id }),
    );

    const retried = await send(event);
    expect(retried).toMatchObject({ status: 200, json: { outcome: 'fulfilled' } });
    expect((await h.ctx.orders.get(retried.json.order_id!)).licenses).toHaveLength(1);
    await drain();
  });
});
