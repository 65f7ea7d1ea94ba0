import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { OrderView } from '../src/domain/orders/order-service.ts';
import type { OutboxMessage } from '../src/domain/outbox/outbox.ts';
import { messageIdFor } from '../src/workers/outbox-handlers.ts';
import { type BrevoRequest, type BrevoStandIn, startBrevoStandIn } from './helpers/brevo-standin.ts';
import { createHarness, type Harness } from './helpers/harness.ts';

vi.setConfig({ testTimeout: 60_000 });

const API_KEY = `xkeysib-${randomBytes(24).toString('hex')}`;
const PRODUCT = 'Brevo Plugin';

let h: Harness;
let brevo: BrevoStandIn;
let seq = 0;

beforeAll(async () => {
  h = await createHarness();
  brevo = await startBrevoStandIn({ apiKey: API_KEY });
  await h.ctx.products.create({ name: PRODUCT, slug: 'brevo-plugin', license: {} });
  await h.ctx.products.addFile({
    product: 'brevo-plugin',
    fileName: 'plugin.zip',
    body: Readable.from([Buffer.from('plugin bytes')]),
    contentType: 'application/zip',
  });
});

afterAll(async () => {
  await brevo?.close();
  await h?.close();
});

function connect(apiKey = API_KEY) {
  return h.ctx.messaging.connectBrevo({ apiKey, listId: 7, templateId: 12, apiBase: brevo.apiBase });
}

/** One order of the licensed product for a new buyer. */
async function buy(): Promise<OrderView> {
  seq += 1;
  return h.ctx.orders.create({
    email: `ada${seq}@example.com`,
    name: 'Ada Lovelace',
    products: ['brevo-plugin'],
    source: 'test',
  });
}

/** Runs the outbox until nothing due is left. */
async function drain(): Promise<void> {
  for (;;) {
    const run = await h.ctx.outbox.runOnce();
    if (run.delivered + run.retrying + run.dead === 0) return;
  }
}

async function messagesFor(orderId: string): Promise<OutboxMessage[]> {
  return (await h.ctx.outbox.list({ limit: 1000 })).filter((m) => m.payload.orderId === orderId);
}

function requestsTo(path: string, since = 0): BrevoRequest[] {
  return brevo.requests.slice(since).filter((r) => r.path === path);
}

/** The .eml file the file transport wrote for this order's delivery e-mail, if any. */
async function emlWritten(orderId: string): Promise<boolean> {
  const email = (await messagesFor(orderId)).find((m) => m.topic === 'email');
  if (!email) return false;
  const name = `${messageIdFor(email.idempotencyKey, h.config.publicUrl).replace(/[<>]/g, '')}.eml`;
  const files = await readdir(join(h.dataDir, 'mail')).catch((): string[] => []);
  return files.includes(name);
}

describe('Brevo off', () => {
  it('sends nothing to Brevo before it is connected; the e-mail goes to the mail transport', async () => {
    const order = await buy();
    await drain();
    expect(brevo.requests).toHaveLength(0);
    expect((await messagesFor(order.order.id)).map((m) => m.topic)).toEqual(['email']);
    expect(await emlWritten(order.order.id)).toBe(true);
  });
});

describe('Brevo on', () => {
  it('upserts one contact and sends one template e-mail carrying only name, e-mail, purchase and keys', async () => {
    await connect();
    const since = brevo.requests.length;
    const order = await buy();
    await drain();
    const license = order.licenses[0]!;
    const accessUrl = order.downloads[0]!.access_url;

    const contacts = requestsTo('/v3/contacts', since);
    const emails = requestsTo('/v3/smtp/email', since);
    expect(contacts).toHaveLength(1);
    expect(emails).toHaveLength(1);
    expect(brevo.requests.slice(since)).toHaveLength(2);
    for (const request of [...contacts, ...emails]) expect(request.headers['api-key']).toBe(API_KEY);

    expect(contacts[0]!.body).toStrictEqual({
      email: order.customer.email,
      attributes: { FIRSTNAME: 'Ada', LASTNAME: 'Lovelace', PRODUCTS: PRODUCT },
      listIds: [7],
      updateEnabled: true,
    });
    const emailMessage = (await messagesFor(order.order.id)).find((m) => m.topic === 'email')!;
    expect(emails[0]!.body).toStrictEqual({
      sender: { email: 'no-reply@localhost', name: 'CloudSecure' },
      to: [{ email: order.customer.email, name: 'Ada Lovelace' }],
      templateId: 12,
      params: {
        name: 'Ada Lovelace',
        products: [PRODUCT],
        keys: [{ product: PRODUCT, key: license.key }],
        links: [{ product: PRODUCT, url: accessUrl }],
      },
      headers: { 'Idempotency-Key': expect.any(String) },
    });
    // A digest of the outbox key: stable across retries, no internal id in it.
    expect(brevo.emails.at(-1)?.idempotencyKey).toBe(
      createHash('sha256').update(emailMessage.idempotencyKey).digest('hex'),
    );
    // Brevo was the transport: no .eml was written as well.
    expect(await emlWritten(order.order.id)).toBe(false);
  });

  // Privacy promise (PROMISES.md "Brevo … send only those fields"): not even our internal ids leave.
  it('sends no internal id (order, customer, license, grant) to Brevo', async () => {
    await connect();
    const since = brevo.requests.length;
    const order = await buy();
    await drain();
    const sent = JSON.stringify(brevo.requests.slice(since).map((r) => r.body));
    const ids = [order.order.id, order.customer.id, order.licenses[0]!.id, order.grants[0]!.id];
    for (const id of ids) expect(sent).not.toContain(id);
  });

  it('keeps a message pending after a 429 and delivers it once later, without a second e-mail', async () => {
    await connect();
    const since = brevo.requests.length;
    const accepted = brevo.emails.length;
    // Both Brevo messages of the order (contact and e-mail) go out in the same pass, in no fixed order:
    // failing two requests makes sure the e-mail is among the refused ones.
    brevo.failNext(2, 429);
    const order = await buy();
    expect(await h.ctx.outbox.runOnce()).toEqual({ delivered: 0, retrying: 2, dead: 0 });
    expect(await h.ctx.outbox.runOnce()).toEqual({ delivered: 0, retrying: 0, dead: 0 });
    const waiting = await messagesFor(order.order.id);
    expect(waiting.map((m) => m.status)).toEqual(['pending', 'pending']);
    for (const m of waiting) expect(m.lastError).toMatch(/HTTP 429/);

    h.clock.advance(10 * 60_000);
    await drain();
    expect((await messagesFor(order.order.id)).map((m) => m.status)).toEqual(['delivered', 'delivered']);
    expect(brevo.emails).toHaveLength(accepted + 1);
    const attempts = requestsTo('/v3/smtp/email', since);
    expect(attempts).toHaveLength(2);
    const keys = attempts.map((r) => (r.body as { headers: Record<string, string> }).headers);
    expect(keys[0]).toStrictEqual(keys[1]);
    expect(brevo.contacts.filter((c) => c.email === order.customer.email)).toHaveLength(1);
  });

  it('dead-letters at once on 401 (wrong key) and never writes the key into errors or logs', async () => {
    const wrongKey = `xkeysib-${randomBytes(24).toString('hex')}`;
    await connect(wrongKey);
    const since = brevo.requests.length;
    const accepted = brevo.emails.length;
    const order = await buy();
    expect(await h.ctx.outbox.runOnce()).toEqual({ delivered: 0, retrying: 0, dead: 2 });
    const dead = await messagesFor(order.order.id);
    expect(dead.map((m) => m.status)).toEqual(['failed', 'failed']);
    for (const m of dead) {
      expect(m.lastError).toMatch(/HTTP 401/);
      expect(m.lastError).not.toContain(wrongKey);
    }
    expect(requestsTo('/v3/smtp/email', since)[0]?.headers['api-key']).toBe(wrongKey);
    expect(brevo.emails).toHaveLength(accepted);
    expect(h.logs.join('')).not.toContain(wrongKey);
    expect(h.logs.join('')).not.toContain(API_KEY);
  });

  it('sends nothing more to Brevo once disconnected, even for messages queued while it was on', async () => {
    await connect();
    const queued = await buy();
    expect((await messagesFor(queued.order.id)).map((m) => m.topic).sort()).toEqual([
      'brevo.contact',
      'email',
    ]);
    await h.ctx.messaging.disconnectBrevo();
    const since = brevo.requests.length;
    const fresh = await buy();
    await drain();
    expect(brevo.requests.slice(since)).toHaveLength(0);
    expect((await messagesFor(fresh.order.id)).map((m) => m.topic)).toEqual(['email']);
    for (const order of [queued, fresh]) {
      expect((await messagesFor(order.order.id)).every((m) => m.status === 'delivered')).toBe(true);
      expect(await emlWritten(order.order.id)).toBe(true);
    }
  });
});
