import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { SMTPServer } from 'smtp-server';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { EndAction } from '../src/domain/integrations/external-order.ts';
import type { SyncResult } from '../src/domain/integrations/store-sync.ts';
import type { RunSummary } from '../src/domain/outbox/outbox-service.ts';
import { reconcileWooCommerce } from '../src/workers/reconcile.ts';
import { createHarness, type Harness } from './helpers/harness.ts';
import {
  startWooCommerceStandIn,
  type WooOrderFixture,
  type WooOrderPartial,
  type WooStandIn,
  type WooTopic,
  wooDate,
  wpJsonEncode,
} from './helpers/woocommerce-standin.ts';

/**
 * WooCommerce end to end: signed webhooks over real HTTP → order, grants and license keys → outbox →
 * e-mail to a real SMTP server and notes/meta written back to a WooCommerce stand-in.
 */

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

const CONSUMER_KEY = 'ck_e2e_0123456789';
const CONSUMER_SECRET = 'cs_e2e_abcdefghij';
const WEBHOOK_SECRET = 'my-wc-secret';
const BASIC_AUTH = `Basic ${Buffer.from(`${CONSUMER_KEY}:${CONSUMER_SECRET}`).toString('base64')}`;
/** WooCommerce product ids: two mapped to CloudSecure products, one never mapped. */
const WOO = { licensed: 101, plain: 102, unmapped: 999 } as const;
const LINES = {
  licensed: { product_id: WOO.licensed, name: 'Pro Plugin' },
  plain: { product_id: WOO.plain, name: 'Field Guide' },
  unmapped: { product_id: WOO.unmapped, name: 'Gift wrapping' },
};
const BUYER = 'jose@example.com';

interface Mail {
  to: string[];
  subject: string;
  text: string;
}

let h: Harness;
let store: WooStandIn;
let smtp: SMTPServer;
let mails: Mail[];
/** The default connection (end action `revoke`). */
let conn: { id: string; hook: string };

// ---------------------------------------------------------------------------------------------- helpers

/** The text/plain part of a raw message, transfer-decoded (nodemailer picks 7bit, QP or base64). */
function parseMail(raw: string, to: string[]): Mail {
  const head = raw.split(/\r?\n\r?\n/)[0]?.replace(/\r?\n[ \t]+/g, ' ') ?? '';
  const subject = /^Subject: (.*)$/im.exec(head)?.[1] ?? '';
  const part =
    /Content-Type: text\/plain[^\r\n]*\r?\nContent-Transfer-Encoding: ([\w-]+)\r?\n\r?\n([\s\S]*?)\r?\n--/i.exec(
      raw,
    );
  const [, encoding = '7bit', body = ''] = part ?? [];
  let text = body;
  if (/^base64$/i.test(encoding)) text = Buffer.from(body, 'base64').toString('utf8');
  if (/^quoted-printable$/i.test(encoding)) {
    const flat = body.replace(/=\r?\n/g, '');
    const bytes: number[] = [];
    for (let i = 0; i < flat.length; i++) {
      const hex = flat.slice(i + 1, i + 3);
      if (flat[i] === '=' && /^[0-9A-F]{2}$/i.test(hex)) {
        bytes.push(Number.parseInt(hex, 16));
        i += 2;
      } else bytes.push(...Buffer.from(flat[i] ?? '', 'utf8'));
    }
    text = Buffer.from(bytes).toString('utf8');
  }
  return { to, subject, text };
}

async function startSMTP(): Promise<{ server: SMTPServer; port: number }> {
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const to = session.envelope.rcptTo.map((r) => r.address);
        mails.push(parseMail(Buffer.concat(chunks).toString('utf8'), to));
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.server.address() as AddressInfo).port };
}

async function connect(endAction: EndAction = 'revoke', consumerSecret = CONSUMER_SECRET) {
  const view = await h.ctx.connections.connectWooCommerce({
    storeUrl: store.url,
    consumerKey: CONSUMER_KEY,
    consumerSecret,
    webhookSecret: WEBHOOK_SECRET,
    endAction,
    customerNote: false,
  });
  return { id: view.id, hook: `${h.url}/webhooks/woocommerce/${view.id}` };
}

/** Delivers every due outbox message (a pass at a time) and sums up what happened. */
async function drain(): Promise<RunSummary> {
  const total: RunSummary = { delivered: 0, retrying: 0, dead: 0 };
  for (;;) {
    const pass = await h.ctx.outbox.runOnce();
    if (pass.delivered + pass.retrying + pass.dead === 0) return total;
    total.delivered += pass.delivered;
    total.retrying += pass.retrying;
    total.dead += pass.dead;
  }
}

/** Sends a signed webhook like WooCommerce; it must be answered 200 with a SyncResult. */
async function send(order: object, topic: WooTopic = 'order.updated', hook = conn.hook): Promise<SyncResult> {
  const response = await store.sendWebhook(hook, { order, topic });
  expect(response.status, response.body).toBe(200);
  return JSON.parse(response.body) as SyncResult;
}

/** A paid (`processing`) order stored in the stand-in, as its webhook would carry it. */
function paidOrder(lines: WooOrderPartial['line_items'], extra: WooOrderPartial = {}): WooOrderFixture {
  return store.putOrder(
    store.makeOrder({
      status: 'processing',
      billing: { first_name: 'José', last_name: 'Müller', email: BUYER },
      line_items: lines,
      ...extra,
    }),
  );
}

/** The same order in a new state, stored with a newer date_modified_gmt. */
function change(order: WooOrderFixture, changes: WooOrderPartial): WooOrderFixture {
  return store.putOrder({ ...order, ...changes } as WooOrderFixture);
}

async function counts() {
  return {
    orders: (await h.ctx.orders.list({ limit: 100 })).length,
    outbox: (await h.ctx.outbox.list({})).length,
  };
}

async function validateLicense(key: string): Promise<{ valid: boolean; code: string }> {
  const response = await fetch(`${h.url}/api/v1/licenses/validate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ key, product: 'pro-plugin' }),
  });
  return (await response.json()) as { valid: boolean; code: string };
}

async function getJSON(url: string): Promise<{ status: number; code: string | undefined }> {
  const response = await fetch(url, { headers: { accept: 'application/json' } });
  const body = (await response.json()) as { error?: { code: string } };
  return { status: response.status, code: body.error?.code };
}

function meta(orderId: number, key: string): unknown {
  return store.order(orderId)?.meta_data.find((m) => m.key === key)?.value;
}

beforeEach(async () => {
  mails = [];
  h = await createHarness();
  store = await startWooCommerceStandIn({
    consumerKey: CONSUMER_KEY,
    consumerSecret: CONSUMER_SECRET,
    webhookSecret: WEBHOOK_SECRET,
  });
  const mail = await startSMTP();
  smtp = mail.server;
  await h.ctx.messaging.useSMTP({
    host: '127.0.0.1',
    port: mail.port,
    secure: false,
    user: null,
    password: null,
    from: 'Shop <shop@example.com>',
  });
  conn = await connect();
  await h.ctx.products.create({ name: 'Pro Plugin', slug: 'pro-plugin', license: {} });
  await h.ctx.products.create({ name: 'Field Guide', slug: 'field-guide' });
  await h.ctx.products.addFile({
    product: 'field-guide',
    fileName: 'field-guide.pdf',
    body: Readable.from([Buffer.from('%PDF-1.7 field guide')]),
    contentType: 'application/pdf',
  });
  await h.ctx.connections.mapProduct({
    product: 'pro-plugin',
    kind: 'woocommerce_product',
    value: String(WOO.licensed),
  });
  await h.ctx.connections.mapProduct({
    product: 'field-guide',
    kind: 'woocommerce_product',
    value: String(WOO.plain),
  });
});

afterEach(async () => {
  await h?.close(); // closes the pooled SMTP connections first, so the server can stop
  await store?.close();
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
});

// -------------------------------------------------------------------------------------------- scenarios

describe('WooCommerce webhooks: authenticity', () => {
  it('answers the unsigned activation ping with exactly 200 and creates nothing', async () => {
    const ping = await store.sendPing(conn.hook);
    expect(ping).toEqual({ status: 200, body: '' });
    expect(await counts()).toEqual({ orders: 0, outbox: 0 });
  });

  it('verifies the raw bytes (\\/ and \\u00e9 escapes), and refuses wrong, tampered, unsigned and unknown', async () => {
    const order = paidOrder([LINES.plain], {
      meta_data: [{ id: 1, key: '_landing_page', value: 'https://shop.example.com/café/?ref=a/b' }],
    });
    // What goes over the wire is WordPress JSON: the signature covers these escapes, not JSON.stringify.
    const wire = wpJsonEncode(order);
    expect(wire).toContain('"first_name":"Jos\\u00e9"');
    expect(wire).toContain('https:\\/\\/shop.example.com\\/caf\\u00e9\\/');
    const wrong = await store.sendWebhook(conn.hook, { order, topic: 'order.updated', secret: 'not-it' });
    const tampered = await store.sendWebhook(conn.hook, { order, topic: 'order.updated', tamper: true });
    const unsigned = await fetch(conn.hook, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-wc-webhook-topic': 'order.updated' },
      body: JSON.stringify(order),
    });
    const bare = await fetch(conn.hook, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(order),
    });
    const missing = [unsigned, bare].map(async (r) => ({ status: r.status, body: await r.text() }));
    for (const refused of [wrong, tampered, ...(await Promise.all(missing))]) {
      expect(refused.status).toBe(401);
      expect(JSON.parse(refused.body)).toMatchObject({ error: { code: 'WEBHOOK_SIGNATURE_INVALID' } });
    }
    const unknown = await store.sendWebhook(`${h.url}/webhooks/woocommerce/${randomUUID()}`, {
      order,
      topic: 'order.updated',
    });
    expect(unknown.status).toBe(404);
    expect(await counts()).toEqual({ orders: 0, outbox: 0 });

    const result = await send(order);
    expect(result.outcome).toBe('fulfilled');
    const view = await h.ctx.orders.get(result.order_id ?? '');
    expect(view.customer).toMatchObject({ email: BUYER, name: 'José Müller' });
    expect(view.order.external_id).toBe(String(order.id));
  });
});

describe('WooCommerce order lifecycle', () => {
  it('pending → processing delivers once (e-mail, note, meta); a replay changes nothing; refunded revokes', async () => {
    const pending = store.putOrder(
      store.makeOrder({
        status: 'pending',
        billing: { first_name: 'José', last_name: 'Müller', email: BUYER },
        line_items: [LINES.licensed, LINES.plain],
      }),
    );
    expect(pending.date_paid_gmt).toBeNull();
    expect(await send(pending, 'order.created')).toMatchObject({ outcome: 'pending', order_id: null });
    expect(await drain()).toEqual({ delivered: 0, retrying: 0, dead: 0 });
    expect(await counts()).toEqual({ orders: 0, outbox: 0 });

    const paid = change(pending, { status: 'processing', date_paid_gmt: wooDate(new Date()) });
    const fulfilled = await send(paid);
    expect(fulfilled.outcome).toBe('fulfilled');
    expect(fulfilled.delivered_lines).toHaveLength(2);
    const view = await h.ctx.orders.get(fulfilled.order_id ?? '');
    expect(view.grants.map((g) => g.product).sort()).toEqual(['field-guide', 'pro-plugin']);
    expect(view.licenses).toHaveLength(1);
    const key = view.licenses[0]?.key ?? '';
    const accessUrl = view.downloads[0]?.access_url ?? '';
    expect(accessUrl).toMatch(new RegExp(`^${h.url}/a/`));

    await drain();
    expect(mails).toHaveLength(1);
    expect(mails[0]?.to).toEqual([BUYER]);
    expect(mails[0]?.text).toContain(key);
    expect(mails[0]?.text).toContain(accessUrl);
    expect(store.notes).toHaveLength(1);
    expect(store.notes[0]).toMatchObject({
      orderId: String(paid.id),
      customer_note: false,
      authorization: BASIC_AUTH,
    });
    expect(store.requests.every((r) => r.authorization === BASIC_AUTH)).toBe(true);
    expect(store.notes[0]?.note).toContain(key);
    expect(store.notes[0]?.note).toContain(accessUrl);
    expect(meta(paid.id, 'cloudsecure_delivery_status')).toBe('delivered');

    expect((await send(paid)).outcome).toBe('unchanged');
    expect(await drain()).toEqual({ delivered: 0, retrying: 0, dead: 0 });
    expect(mails).toHaveLength(1);
    expect(store.notes).toHaveLength(1);

    const refunded = change(paid, { status: 'refunded' });
    expect((await send(refunded)).outcome).toBe('revoked');
    expect(await validateLicense(key)).toMatchObject({ valid: false, code: 'REVOKED' });
    expect(await getJSON(accessUrl)).toEqual({ status: 403, code: 'GRANT_REVOKED' });
    await drain();
    expect(mails).toHaveLength(2);
    expect(mails[1]).toMatchObject({ to: [BUYER], subject: 'Your access to Pro Plugin has ended' });
    expect(store.notes).toHaveLength(2);
    expect(store.notes[1]?.note).toMatch(/access revoked/);
    expect(meta(paid.id, 'cloudsecure_delivery_status')).toBe('revoked');
  });

  it('a refunded order paid again gets back only what the refund took, and the store is told', async () => {
    const order = paidOrder([LINES.licensed, LINES.licensed]);
    const delivered = await send(order);
    const view = await h.ctx.orders.get(delivered.order_id ?? '');
    expect(view.licenses).toHaveLength(2);
    const [kept, byHand] = view.licenses;
    // The seller revokes one key by hand (abuse) before the refund: paying again must not revive it.
    await h.ctx.licenses.revoke(byHand?.id ?? '');
    expect((await send(change(order, { status: 'refunded' }))).outcome).toBe('revoked');
    const again = change(order, { status: 'processing' });
    expect((await send(again)).outcome).toBe('reinstated');
    expect(await validateLicense(kept?.key ?? '')).toMatchObject({ valid: true });
    expect(await validateLicense(byHand?.key ?? '')).toMatchObject({ valid: false, code: 'REVOKED' });
    const after = await h.ctx.orders.get(delivered.order_id ?? '');
    expect(after.grants.map((g) => g.status)).toEqual(['active', 'active']);
    await drain();
    // The meta tells where access stands now, whatever order the write-backs were delivered in.
    expect(meta(order.id, 'cloudsecure_delivery_status')).toBe('delivered');
    expect(store.notes.some((n) => /access restored/.test(n.note))).toBe(true);
  });

  it('order.deleted ({"id":N}) revokes, or suspends on a connection whose end action is suspend', async () => {
    const order = paidOrder([LINES.licensed]);
    const delivered = await send(order);
    const deleted = await send({ id: order.id }, 'order.deleted');
    expect(deleted).toMatchObject({ outcome: 'revoked', order_id: delivered.order_id });

    const suspending = await connect('suspend');
    const other = paidOrder([LINES.licensed]);
    const second = await send(other, 'order.updated', suspending.hook);
    expect(second.outcome).toBe('fulfilled');
    const ended = await send({ id: other.id }, 'order.deleted', suspending.hook);
    expect(ended.outcome).toBe('suspended');
    const key = (await h.ctx.orders.get(second.order_id ?? '')).licenses[0]?.key ?? '';
    expect(await validateLicense(key)).toMatchObject({ valid: false, code: 'SUSPENDED' });
    const firstKey = (await h.ctx.orders.get(delivered.order_id ?? '')).licenses[0]?.key ?? '';
    expect(await validateLicense(firstKey)).toMatchObject({ valid: false, code: 'REVOKED' });
  });

  it('delivers lines added to a paid order later, and only those', async () => {
    const first = paidOrder([LINES.plain]);
    const initial = await send(first);
    expect(initial.outcome).toBe('fulfilled');
    await drain();
    expect(mails).toHaveLength(1);

    const grown = change(first, {
      line_items: [
        ...first.line_items,
        { ...first.line_items[0]!, ...LINES.licensed, id: first.id * 100 + 2 },
      ],
    });
    const added = await send(grown);
    expect(added).toMatchObject({ outcome: 'lines_added', order_id: initial.order_id });
    expect(added.delivered_lines).toEqual([String(first.id * 100 + 2)]);
    const view = await h.ctx.orders.get(initial.order_id ?? '');
    expect(view.grants.map((g) => g.product).sort()).toEqual(['field-guide', 'pro-plugin']);
    expect(view.licenses).toHaveLength(1);
    await drain();
    expect(mails).toHaveLength(2);
    expect(mails[1]?.text).toContain(view.licenses[0]?.key ?? '');
    expect(store.notes).toHaveLength(2);
  });

  it('ignores and reports unmapped line items; an order of only unmapped lines creates nothing', async () => {
    const mixed = paidOrder([LINES.plain, LINES.unmapped]);
    const result = await send(mixed);
    expect(result.outcome).toBe('fulfilled');
    expect(result.delivered_lines).toEqual([String(mixed.line_items[0]?.id)]);
    expect(result.unmapped).toEqual([
      { line_id: String(mixed.line_items[1]?.id), description: 'Gift wrapping' },
    ]);

    const before = await counts();
    const onlyUnmapped = paidOrder([LINES.unmapped]);
    const nothing = await send(onlyUnmapped);
    expect(nothing).toMatchObject({ outcome: 'unchanged', order_id: null, delivered_lines: [] });
    expect(nothing.unmapped).toHaveLength(1);
    expect(await counts()).toEqual(before);
  });

  it('ignores a delivery older than the last one seen: a late "processing" cannot undo a refund', async () => {
    const paid = paidOrder([LINES.licensed, LINES.plain]);
    const delivered = await send(paid);
    const refunded = change(paid, { status: 'refunded' });
    expect((await send(refunded)).outcome).toBe('revoked');
    expect(refunded.date_modified_gmt > paid.date_modified_gmt).toBe(true);

    expect(await send(paid)).toMatchObject({ outcome: 'stale', order_id: delivered.order_id });
    const view = await h.ctx.orders.get(delivered.order_id ?? '');
    expect(view.grants.every((g) => g.status === 'GRANT_REVOKED')).toBe(true);
    expect(await validateLicense(view.licenses[0]?.key ?? '')).toMatchObject({ code: 'REVOKED' });
    expect(await getJSON(view.downloads[0]?.access_url ?? '')).toEqual({
      status: 403,
      code: 'GRANT_REVOKED',
    });
  });
});

describe('WooCommerce reconciliation and store outages', () => {
  it('delivers a paid order whose webhook never came, once', async () => {
    const missed = paidOrder([LINES.licensed, LINES.plain]);
    const first = await reconcileWooCommerce(h.ctx.deps, h.ctx.connections, h.ctx.storeSync, conn.id);
    expect(first).toMatchObject({ orders: 1, errors: 0, outcomes: { fulfilled: 1 } });
    await drain();
    expect(mails).toHaveLength(1);
    expect(store.notes).toHaveLength(1);
    expect(meta(missed.id, 'cloudsecure_delivery_status')).toBe('delivered');

    const again = await reconcileWooCommerce(h.ctx.deps, h.ctx.connections, h.ctx.storeSync, conn.id);
    expect(again.outcomes.fulfilled ?? 0).toBe(0);
    expect(again.errors).toBe(0);
    expect(await drain()).toEqual({ delivered: 0, retrying: 0, dead: 0 });
    expect(mails).toHaveLength(1);
    expect((await h.ctx.orders.list({ limit: 100 })).length).toBe(1);
  });

  it('retries the write-back through a 503 outage with backoff, then delivers it once', async () => {
    const order = paidOrder([LINES.plain]);
    await send(order);
    store.failNext(1, 503);
    expect(await drain()).toMatchObject({ retrying: 1 });
    expect(mails).toHaveLength(1); // the e-mail does not wait for the store
    const [waiting] = (await h.ctx.outbox.list({ status: 'pending' })).filter(
      (m) => m.topic === 'woocommerce.writeback',
    );
    expect(waiting).toMatchObject({ attempts: 1, lastError: expect.stringContaining('503') });
    expect(store.notes).toHaveLength(0);

    h.clock.advance(60_000);
    expect(await drain()).toEqual({ delivered: 1, retrying: 0, dead: 0 });
    expect(store.notes).toHaveLength(1);
    expect(meta(order.id, 'cloudsecure_delivery_status')).toBe('delivered');
    expect(await h.ctx.outbox.list({ status: 'pending' })).toEqual([]);
  });

  it('dead-letters a write-back the store refuses with 401, and outbox retry puts it back', async () => {
    const misconfigured = await connect('revoke', 'cs_wrong_secret');
    await send(paidOrder([LINES.plain]), 'order.updated', misconfigured.hook);
    expect(await drain()).toMatchObject({ delivered: 1, dead: 1 });
    const [dead] = await h.ctx.outbox.list({ status: 'failed' });
    expect(dead).toMatchObject({ topic: 'woocommerce.writeback', status: 'failed' });
    expect(dead?.lastError).toContain('401');
    expect(dead?.lastError).not.toContain('cs_wrong_secret');
    expect(store.notes).toHaveLength(0);

    const retried = await h.ctx.outbox.retry(dead?.id ?? '');
    expect(retried).toMatchObject({ id: dead?.id, status: 'pending', attempts: 0 });
    expect(await drain()).toMatchObject({ dead: 1 });
  });
});
