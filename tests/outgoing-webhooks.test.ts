import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { verifyWebhook } from '../src/adapters/webhooks/webhook-sender.ts';
import type { OrderView } from '../src/domain/orders/order-service.ts';
import { createHarness, type Harness } from './helpers/harness.ts';

vi.setConfig({ testTimeout: 60_000 });

/** One request the receiver got, with the status it answered. */
interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  status: number;
  body: WebhookBody;
  /** The server's (test) clock when it arrived, in unix seconds: what a receiver checks the timestamp against. */
  at: number;
}

interface WebhookBody {
  id: string;
  type: string;
  created_at: string;
  data: Record<string, unknown> & {
    order_id?: string;
    license?: { id: string; key?: string; status: string };
  };
}

let h: Harness;
let receiver: Server;
let base: string;
const received: Received[] = [];
/** Per path: how many of the next requests answer 500. */
const failures = new Map<string, number>();
/** Per path: the endpoint's signing secret. */
const secrets = new Map<string, string>();
let seq = 0;

beforeAll(async () => {
  h = await createHarness();
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '';
      const left = failures.get(path) ?? 0;
      failures.set(path, Math.max(0, left - 1));
      const status = left > 0 ? 500 : 204;
      const raw = Buffer.concat(chunks).toString('utf8');
      const at = Math.floor(h.clock.now().getTime() / 1000);
      received.push({ path, headers: req.headers, raw, status, body: JSON.parse(raw) as WebhookBody, at });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  await addEndpoint('/all', []);
});

afterAll(async () => {
  receiver?.closeAllConnections();
  await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
  await h?.close();
});

async function addEndpoint(path: string, events: string[]): Promise<void> {
  const endpoint = await h.ctx.messaging.addWebhook({ url: `${base}${path}`, events });
  expect(endpoint.secret).toMatch(/^whsec_/);
  secrets.set(path, endpoint.secret);
}

/** A licensed product with one file, bought once by a new buyer. */
async function buy(downloadLimit = 5): Promise<OrderView> {
  seq += 1;
  const product = await h.ctx.products.create({
    name: `Hooked Plugin ${seq}`,
    license: {},
    downloadLimit,
  });
  await h.ctx.products.addFile({
    product: product.slug,
    fileName: 'plugin.zip',
    body: Readable.from([Buffer.from('plugin bytes')]),
    contentType: 'application/zip',
  });
  return h.ctx.orders.create({ email: `buyer${seq}@example.com`, products: [product.slug], source: 'test' });
}

async function drain(): Promise<void> {
  for (;;) {
    const run = await h.ctx.outbox.runOnce();
    if (run.delivered + run.retrying + run.dead === 0) return;
  }
}

/** Accepted deliveries to `path` about this order, after checking every one's signature. */
function deliveries(path: string, orderId: string): WebhookBody[] {
  const hits = received.filter((r) => r.path === path && r.body.data.order_id === orderId);
  for (const hit of hits) expectVerified(hit);
  return hits.filter((r) => r.status < 300).map((r) => r.body);
}

function expectVerified(hit: Received): void {
  const header = (name: string) => String(hit.headers[name] ?? '');
  const secret = secrets.get(hit.path) ?? '';
  const input = {
    secret,
    id: header('cloudsecure-webhook-id'),
    timestamp: header('cloudsecure-webhook-timestamp'),
    signature: header('cloudsecure-webhook-signature'),
    body: hit.raw,
    now: hit.at,
  };
  expect(verifyWebhook(input)).toBe(true);
  expect(verifyWebhook({ ...input, body: `${hit.raw} ` })).toBe(false);
  expect(verifyWebhook({ ...input, secret: `${secret}x` })).toBe(false);
  expect(header('cloudsecure-webhook-id')).toBe(hit.body.id);
  expect(header('cloudsecure-webhook-event')).toBe(hit.body.type);
  expect(header('content-type')).toMatch(/^application\/json/);
}

describe('outgoing webhooks', () => {
  it('announces a fulfilled order and its new license, with the key, signed', async () => {
    const order = await buy();
    await drain();
    const events = deliveries('/all', order.order.id);
    expect(events.map((e) => e.type).sort()).toEqual(['license.created', 'order.fulfilled']);
    const fulfilled = events.find((e) => e.type === 'order.fulfilled')!;
    expect(fulfilled.data).toMatchObject({
      order_id: order.order.id,
      customer_id: order.customer.id,
      customer: { email: order.customer.email },
    });
    const created = events.find((e) => e.type === 'license.created')!;
    expect(created.data.license).toMatchObject({ id: order.licenses[0]!.id, key: order.licenses[0]!.key });
    expect(created.created_at).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('announces a revoked license once, without its key', async () => {
    const order = await buy();
    await drain();
    await h.ctx.licenses.revoke(order.licenses[0]!.id);
    await drain();
    await h.ctx.licenses.revoke(order.licenses[0]!.id); // already revoked: nothing new to announce
    await drain();
    const revoked = deliveries('/all', order.order.id).filter((e) => e.type === 'license.revoked');
    expect(revoked).toHaveLength(1);
    expect(revoked[0]!.data.license).toMatchObject({ id: order.licenses[0]!.id, status: 'revoked' });
    expect(revoked[0]!.data.license).not.toHaveProperty('key');
    expect(JSON.stringify(revoked[0])).not.toContain(order.licenses[0]!.key);
  });

  it('announces a used-up download limit once, however many refused attempts follow', async () => {
    const order = await buy(1);
    await drain();
    const link = order.downloads[0]!.url;
    const statuses: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      const res = await fetch(link, { headers: { accept: 'application/json' } });
      await res.arrayBuffer();
      statuses.push(res.status);
    }
    expect(statuses).toEqual([200, 403, 403, 403]);
    await drain();
    const limited = deliveries('/all', order.order.id).filter((e) => e.type === 'download.limit_reached');
    expect(limited).toHaveLength(1);
    expect(limited[0]!.data).toMatchObject({
      grant_id: order.grants[0]!.id,
      file_id: order.downloads[0]!.file_id,
    });
    expect(JSON.stringify(limited[0])).not.toContain('127.0.0.1');
  });

  it('sends an endpoint only the events it subscribed to', async () => {
    await addEndpoint('/revocations', ['license.revoked']);
    const order = await buy();
    await h.ctx.licenses.revoke(order.licenses[0]!.id);
    await drain();
    expect(deliveries('/revocations', order.order.id).map((e) => e.type)).toEqual(['license.revoked']);
    expect(
      deliveries('/all', order.order.id)
        .map((e) => e.type)
        .sort(),
    ).toEqual(['license.created', 'license.revoked', 'order.fulfilled']);
  });

  it('retries an endpoint that answered 500, later, with the same delivery id, and delivers once', async () => {
    await addEndpoint('/flaky', ['order.fulfilled']);
    failures.set('/flaky', 1);
    const order = await buy();
    await drain();
    const attempts = () =>
      received.filter((r) => r.path === '/flaky' && r.body.data.order_id === order.order.id);
    expect(attempts().map((r) => r.status)).toEqual([500]);
    const [message] = (await h.ctx.outbox.list({ status: 'pending', limit: 1000 })).filter(
      (m) => m.topic === 'webhook' && m.lastError?.includes('HTTP 500'),
    );
    expect(message?.lastError).not.toContain(secrets.get('/flaky'));

    h.clock.advance(10 * 60_000);
    await drain();
    expect(attempts().map((r) => r.status)).toEqual([500, 204]);
    const [first, second] = attempts();
    expect(second!.headers['cloudsecure-webhook-id']).toBe(first!.headers['cloudsecure-webhook-id']);
    expect(second!.body.id).toBe(first!.body.id);
    expect(deliveries('/flaky', order.order.id)).toHaveLength(1);
    expect((await h.ctx.outbox.list({ limit: 1000 })).find((m) => m.id === message!.id)).toMatchObject({
      status: 'delivered',
      attempts: 2,
    });

    h.clock.advance(60 * 60_000);
    await drain();
    expect(attempts()).toHaveLength(2);
  });
});
