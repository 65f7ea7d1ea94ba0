import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWooBody } from '../src/adapters/woocommerce/wc-signature.ts';
import { cliFailure, cliJSON, runCLI } from './helpers/cli.ts';
import { createHarness, type Harness } from './helpers/harness.ts';
import { dumpDatabase, filesUnder, findLeaks } from './helpers/leaks.ts';

// Every credential the store integrations take, each a distinct canary.
const WC_KEY = 'ck_canary0123456789abcdef';
const WC_SECRET = 'cs_canary_fedcba9876543210';
const WC_HOOK = 'wc-hook-canary-&<"secret>';
const STRIPE_KEY = 'sk_test_canary_4f3e2d1c0b';
const STRIPE_HOOK = 'whsec_canary_a1b2c3d4e5f6';
const SMTP_PASSWORD = 'smtp-canary-pass-77';
const BREVO_KEY = 'xkeysib-canary-0f0e0d0c0b0a';
const CANARIES = [WC_KEY, WC_SECRET, WC_HOOK, STRIPE_KEY, STRIPE_HOOK, SMTP_PASSWORD, BREVO_KEY];

let h: Harness;
const outputs: string[] = [];

async function cli<T>(args: string[], stdin = ''): Promise<T> {
  const result = await runCLI(h.env, ['--json', ...args], stdin);
  outputs.push(result.stdout, result.stderr);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as T;
}

beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

describe('store integration commands', () => {
  let wooId = '';

  it('connects WooCommerce and prints exactly { id, webhook_url }', async () => {
    const out = await cli<Record<string, string>>([
      'woocommerce',
      'connect',
      '--store-url',
      'https://shop.example.com/',
      '--consumer-key',
      WC_KEY,
      '--consumer-secret',
      WC_SECRET,
      '--webhook-secret',
      WC_HOOK,
    ]);
    expect(Object.keys(out).sort()).toEqual(['id', 'webhook_url']);
    expect(out.webhook_url).toBe(`${h.config.publicUrl}/webhooks/woocommerce/${out.id}`);
    wooId = out.id!;

    // The running server verifies with the stored (encrypted) secret, exactly as typed.
    const body = JSON.stringify({ id: 1, status: 'pending', billing: { email: 'a@example.com' } });
    const res = await fetch(out.webhook_url!, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-wc-webhook-topic': 'order.created',
        'x-wc-webhook-signature': signWooBody(body, WC_HOOK),
      },
      body,
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ outcome: 'pending' });
  }, 60_000);

  it('connects Stripe and lists both connections with masked hints only', async () => {
    const out = await cli<Record<string, string>>([
      'stripe',
      'connect',
      '--secret-key',
      STRIPE_KEY,
      '--webhook-secret',
      STRIPE_HOOK,
      '--api-base',
      'http://127.0.0.1:9',
    ]);
    expect(Object.keys(out).sort()).toEqual(['id', 'webhook_url']);
    expect(out.webhook_url).toBe(`${h.config.publicUrl}/webhooks/stripe/${out.id}`);
    const list = await cli<{ id: string; kind: string; credentials_hint: string }[]>(['connections']);
    expect(list.map((c) => c.kind)).toEqual(['woocommerce', 'stripe']);
    expect(list[0]?.id).toBe(wooId);
    for (const c of list) expect(c.credentials_hint).toMatch(/^•+\S{0,4} \/ •+\S{0,4}$/);
  }, 60_000);

  it('maps store products, and refuses a map without a key or for an unknown product', async () => {
    await h.ctx.products.create({ name: 'Pro Plugin', slug: 'pro-plugin' });
    const mapped = await cli<{ product: string; mappings: { kind: string; value: string }[] }>([
      'product',
      'map',
      'pro-plugin',
      '--woocommerce-product',
      '93',
      '--variation',
      '94',
      '--sku',
      'PRO-1',
      '--stripe-price',
      'price_123',
    ]);
    expect(mapped.product).toBe('pro-plugin');
    expect(mapped.mappings).toEqual(
      expect.arrayContaining([
        { kind: 'woocommerce_variation', value: '94' },
        { kind: 'woocommerce_sku', value: 'PRO-1' },
        { kind: 'stripe_price', value: 'price_123' },
      ]),
    );
    expect((await cliFailure(h.env, ['product', 'map', 'pro-plugin'])).body.error.code).toBe(
      'INVALID_REQUEST',
    );
    expect((await cliFailure(h.env, ['product', 'map', 'nope', '--sku', 'X'])).body.error.code).toBe(
      'NOT_FOUND',
    );
  }, 60_000);

  it('stores the SMTP password read from stdin and the Brevo key, showing only hints', async () => {
    const mail = await cli<{ transport: string; password_hint: string }>(
      [
        'mail',
        'use',
        'smtp',
        '--host',
        '127.0.0.1',
        '--port',
        '2525',
        '--user',
        'shop',
        '--password-stdin',
        '--from',
        'Shop <shop@example.com>',
      ],
      `${SMTP_PASSWORD}\n`,
    );
    expect(mail).toMatchObject({ transport: 'smtp', password_hint: expect.stringMatching(/^•+/) });
    expect(await h.ctx.messaging.smtpPassword()).toBe(SMTP_PASSWORD);
    const brevo = await cli<{ enabled: boolean; api_key_hint: string; list_id: number | null }>([
      'brevo',
      'connect',
      '--api-key',
      BREVO_KEY,
      '--list-id',
      '7',
    ]);
    expect(brevo).toMatchObject({ enabled: true, list_id: 7, api_key_hint: expect.stringMatching(/^•+/) });
    expect(await cli(['brevo', 'disconnect'])).toEqual({ enabled: false });
    await cli(['mail', 'use', 'file']);
  }, 90_000);

  it('adds a webhook endpoint whose secret is shown once, and refuses unknown events', async () => {
    const added = await cli<{ id: string; secret: string; events: string[] }>([
      'webhook',
      'add',
      '--url',
      'https://hooks.example.com/cs',
      '--events',
      'order.fulfilled,license.revoked',
    ]);
    expect(added.secret).toMatch(/^whsec_/);
    expect(added.events).toEqual(['order.fulfilled', 'license.revoked']);
    const listed = await cli<Record<string, unknown>[]>(['webhook', 'list']);
    expect(JSON.stringify(listed)).not.toContain(added.secret);
    const bad = await cliFailure(h.env, [
      'webhook',
      'add',
      '--url',
      'https://x.example',
      '--events',
      'order.paid',
    ]);
    expect(bad.body.error.code).toBe('INVALID_REQUEST');
    expect(await cli(['webhook', 'remove', added.id])).toEqual({ id: added.id, removed: true });
  }, 60_000);

  it('leaves no credential in any form in command output, files, database rows or logs', async () => {
    const leaks: string[] = [];
    leaks.push(...findLeaks(CANARIES, Buffer.from(outputs.join('')), 'CLI output'));
    for (const file of await filesUnder(h.dataDir))
      leaks.push(...findLeaks(CANARIES, await readFile(file), file));
    leaks.push(...findLeaks(CANARIES, Buffer.from((await dumpDatabase(h.ctx)).json), 'database rows'));
    leaks.push(...findLeaks(CANARIES, Buffer.from(h.logs.join('')), 'server log'));
    expect(leaks).toEqual([]);
    // The sealed copies still open for the server itself.
    expect((await h.ctx.connections.woocommerce(wooId)).credentials).toEqual({
      consumerKey: WC_KEY,
      consumerSecret: WC_SECRET,
      webhookSecret: WC_HOOK,
    });
    expect(await h.ctx.messaging.brevoApiKey()).toBe(BREVO_KEY);
  });
});

describe('order resend and outbox work', () => {
  it('queues a links_resent e-mail and delivers it as a .eml file with `outbox work --once`', async () => {
    const product = await h.ctx.products.create({ name: 'Resend Book' });
    const order = await h.ctx.orders.create({
      email: 'resend@example.com',
      products: [product.slug],
      source: 'test',
      notify: false,
    });
    expect(
      (await h.ctx.outbox.list({})).filter((m) => m.topic === 'email' && m.status === 'pending'),
    ).toHaveLength(0);
    const queued = await cliJSON<{ order_id: string; queued: boolean }>(h.env, [
      '--json',
      'order',
      'resend',
      order.order.id,
    ]);
    expect(queued).toEqual({ order_id: order.order.id, queued: true });
    const summary = await cliJSON<{ delivered: number; dead: number }>(h.env, [
      '--json',
      'outbox',
      'work',
      '--once',
    ]);
    expect(summary.dead).toBe(0);
    expect(summary.delivered).toBeGreaterThanOrEqual(1);
    const mails = (await filesUnder(`${h.dataDir}/mail`)).filter((f) => f.endsWith('.eml'));
    const texts = await Promise.all(mails.map((f) => readFile(f, 'utf8')));
    expect(texts.some((t) => t.includes('To: resend@example.com'))).toBe(true);
  }, 90_000);
});
