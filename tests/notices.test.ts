import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createHarness, type Harness } from './helpers/harness.ts';
import { filesUnder } from './helpers/leaks.ts';

let h: Harness;

beforeAll(async () => {
  h = await createHarness();
  await h.ctx.messaging.brand({ name: 'Acme Plugins', logoUrl: 'https://acme.example/logo.png' });
});
afterAll(async () => {
  await h?.close();
});

async function drain(): Promise<void> {
  for (;;) {
    const pass = await h.ctx.outbox.runOnce();
    expect(pass.dead).toBe(0);
    if (pass.delivered + pass.retrying === 0) return;
  }
}

async function mailsTo(email: string): Promise<string[]> {
  const files = (await filesUnder(`${h.dataDir}/mail`)).filter((f) => f.endsWith('.eml'));
  const texts = await Promise.all(files.map((f) => readFile(f, 'utf8')));
  return texts.filter((t) => t.includes(`To: ${email}`));
}

describe('customer e-mails on the embedded default (.eml files)', () => {
  it('writes the delivery e-mail with text and HTML parts, the seller name and logo, keys and links', async () => {
    const product = await h.ctx.products.create({ name: 'Notice Plugin', license: { durationDays: null } });
    const order = await h.ctx.orders.create({
      email: 'owner@example.com',
      name: 'Olga Owner',
      products: [product.slug],
      source: 'api',
    });
    await drain();
    const [mail] = await mailsTo('owner@example.com');
    expect(mail).toBeDefined();
    expect(mail).toMatch(/Content-Type: text\/plain/);
    expect(mail).toMatch(/Content-Type: text\/html/);
    expect(mail).toContain('Acme Plugins');
    // Quoted-printable soft line breaks and HTML escaping aside, the logo is there.
    expect(mail?.replace(/=\r?\n/g, '').replace(/=3D/g, '=')).toMatch(
      /<img[^>]+acme\.example&#x2F;logo\.png/,
    );
    expect(mail).toContain(order.licenses[0]?.key);
  });

  it('queues one expiry notice per license and expiry, and a renewal earns a new one', async () => {
    const product = await h.ctx.products.create({ name: 'Expiring Plugin', license: { durationDays: 10 } });
    const order = await h.ctx.orders.create({
      email: 'expiring@example.com',
      products: [product.slug],
      source: 'api',
      notify: false,
    });
    const licenseId = order.licenses[0]?.id ?? '';
    expect(await h.ctx.notices.queueExpiryNotices(5)).toBe(0); // expires in 10 days: not yet
    h.clock.advance(6 * 86_400_000);
    expect(await h.ctx.notices.queueExpiryNotices(5)).toBe(1);
    expect(await h.ctx.notices.queueExpiryNotices(5)).toBe(0); // the hourly scan does not repeat it
    await drain();
    const notices = await mailsTo('expiring@example.com');
    expect(notices).toHaveLength(1);
    expect(notices[0]).toContain('Expiring Plugin');
    await h.ctx.licenses.renew({ licenseId, days: 3 }); // a new expiry, 7 days away
    expect(await h.ctx.notices.queueExpiryNotices(5)).toBe(0);
    h.clock.advance(3 * 86_400_000);
    expect(await h.ctx.notices.queueExpiryNotices(5)).toBe(1);
  });

  it('re-sends access links as a new e-mail each time, and e-mails the owner of a revoked license', async () => {
    const product = await h.ctx.products.create({ name: 'Resent Book', license: {} });
    const order = await h.ctx.orders.create({
      email: 'again@example.com',
      products: [product.slug],
      source: 'api',
    });
    await drain();
    await h.ctx.notices.resendLinks(order.order.id);
    await h.ctx.notices.resendLinks(order.order.id);
    await h.ctx.licenses.revoke(order.licenses[0]?.id ?? '');
    await drain();
    const mails = await mailsTo('again@example.com');
    expect(mails).toHaveLength(4);
    expect(mails.filter((m) => /revoked|ended/i.test(m))).toHaveLength(1);
    await expect(h.ctx.notices.resendLinks('01900000-0000-7000-8000-000000000000')).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });
});

describe('store webhooks under hostile input', () => {
  it('refuses oversized, non-JSON and malformed order bodies with stable codes and creates nothing', async () => {
    const h = await createHarness({ CLOUDSECURE_MAX_JSON_BYTES: '4096' });
    onTestFinished(() => h.close());
    const { id } = await h.ctx.connections.connectWooCommerce({
      storeUrl: 'https://shop.example.com',
      consumerKey: 'ck_x',
      consumerSecret: 'cs_y',
      webhookSecret: 'hostile',
      endAction: 'revoke',
      customerNote: false,
    });
    const { signWooBody } = await import('../src/adapters/woocommerce/wc-signature.ts');
    const post = (body: string, topic = 'order.updated') =>
      fetch(`${h.url}/webhooks/woocommerce/${id}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-wc-webhook-topic': topic,
          'x-wc-webhook-signature': signWooBody(body, 'hostile'),
        },
        body,
      });
    const before = (await h.ctx.orders.list({ limit: 500 })).length;
    const cases: [string, number, string][] = [
      ['x'.repeat(10_000), 413, 'PAYLOAD_TOO_LARGE'],
      ['{"id": 1, "status": ', 400, 'INVALID_REQUEST'],
      ['{"id": "drop table", "status": "processing"}', 400, 'INVALID_REQUEST'],
      [
        '{"id": 5, "status": "processing", "date_paid_gmt": "2024-01-01T00:00:00", "line_items": "nope"}',
        400,
        'INVALID_REQUEST',
      ],
      ['[]', 400, 'INVALID_REQUEST'],
    ];
    for (const [body, status, code] of cases) {
      const res = await post(body);
      expect(res.status, body.slice(0, 60)).toBe(status);
      expect(await res.json()).toMatchObject({ error: { code } });
    }
    const product = await post('{"id":7}', 'product.updated');
    expect(await product.json()).toMatchObject({ outcome: 'ignored' });
    expect(
      (await fetch(`${h.url}/webhooks/woocommerce/not-a-uuid`, { method: 'POST', body: '{}' })).status,
    ).toBe(404);
    expect((await fetch(`${h.url}/webhooks/stripe/${id}`, { method: 'POST', body: '{}' })).status).toBe(404);
    expect((await h.ctx.orders.list({ limit: 500 })).length).toBe(before);
    expect(h.logs.join('')).not.toContain('hostile');
  });
});
