import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWooCommerceStandIn, type WooStandIn } from '../../../tests/helpers/woocommerce-standin.ts';
import { isWooPing, signWooBody, verifyWooSignature } from './wc-signature.ts';

const SECRET = 'my-wc-secret';
const BODY = '{"id":727,"status":"processing","billing":{"email":"john.doe@example.com"}}';
const SIGNATURE = 'xfLcAhCMBwPBtJdsLMnjaMpwrm/7Ihz7mm8KOswkfxE=';
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('verifyWooSignature', () => {
  it('accepts the contract test vector', () => {
    expect(signWooBody(BODY, SECRET)).toBe(SIGNATURE);
    expect(verifyWooSignature(bytes(BODY), SIGNATURE, SECRET)).toBe(true);
  });

  it('verifies the raw bytes of a body with wp_json_encode escapes', () => {
    const body = '{"id":1,"name":"Caf\\u00e9 \\ud83d\\ude00","url":"https:\\/\\/shop.example.com\\/"}';
    expect(verifyWooSignature(bytes(body), signWooBody(bytes(body), SECRET), SECRET)).toBe(true);
    // The same JSON re-serialised is different bytes, and must not verify.
    const reencoded = JSON.stringify(JSON.parse(body));
    expect(verifyWooSignature(bytes(reencoded), signWooBody(body, SECRET), SECRET)).toBe(false);
  });

  it('rejects a tampered body, a wrong secret and a truncated signature', () => {
    expect(verifyWooSignature(bytes(BODY.replace('727', '728')), SIGNATURE, SECRET)).toBe(false);
    expect(verifyWooSignature(bytes(BODY), SIGNATURE, 'another-secret')).toBe(false);
    expect(verifyWooSignature(bytes(BODY), SIGNATURE.slice(0, 20), SECRET)).toBe(false);
  });

  it('rejects a missing, empty or garbage header without throwing', () => {
    for (const header of [undefined, null, '', '   ', 'not base64 at all!!', '%%%%', '=====', 'YWJj']) {
      expect(verifyWooSignature(bytes(BODY), header, SECRET)).toBe(false);
    }
  });

  it('rejects a hex digest of the right HMAC', () => {
    const hex = Buffer.from(SIGNATURE, 'base64').toString('hex');
    expect(verifyWooSignature(bytes(BODY), hex, SECRET)).toBe(false);
  });

  it('tolerates whitespace around the header value', () => {
    expect(verifyWooSignature(bytes(BODY), ` ${SIGNATURE} `, SECRET)).toBe(true);
  });
});

describe('isWooPing', () => {
  const none = { signature: null, topic: null };

  it('recognises the unsigned webhook_id=N body', () => {
    expect(isWooPing(none, 'webhook_id=12')).toBe(true);
    expect(isWooPing(none, ' webhook_id=5\n')).toBe(true);
  });

  it('is not a ping when WooCommerce headers are present', () => {
    expect(isWooPing({ signature: SIGNATURE, topic: null }, 'webhook_id=12')).toBe(false);
    expect(isWooPing({ signature: null, topic: 'order.updated' }, 'webhook_id=12')).toBe(false);
  });

  it('is not a ping for any other body', () => {
    for (const body of ['', 'webhook_id=', 'webhook_id=abc', 'webhook_id=1&x=2', '{"webhook_id":1}', BODY]) {
      expect(isWooPing(none, body)).toBe(false);
    }
  });
});

describe('deliveries from the WooCommerce stand-in', () => {
  let store: WooStandIn;
  let receiver: Server;
  let deliveryUrl: string;
  const received: { headers: Record<string, string | string[] | undefined>; body: Buffer }[] = [];

  beforeAll(async () => {
    store = await startWooCommerceStandIn({ consumerKey: 'ck', consumerSecret: 'cs', webhookSecret: SECRET });
    receiver = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      received.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.end('ok');
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    deliveryUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/woocommerce`;
  });

  afterAll(async () => {
    await store.close();
    await new Promise((resolve) => receiver.close(resolve));
  });

  function signatureHeaders(index: number): { signature: string | null; topic: string | null } {
    const headers = received[index]?.headers ?? {};
    const one = (name: string) => (typeof headers[name] === 'string' ? (headers[name] as string) : null);
    return { signature: one('x-wc-webhook-signature'), topic: one('x-wc-webhook-topic') };
  }

  it('sends wp_json_encode bodies with every WooCommerce header and a valid signature', async () => {
    const order = store.makeOrder({ billing: { first_name: 'Zoë 😀' }, line_items: [{ name: 'a/b' }] });
    expect((await store.sendWebhook(deliveryUrl, { order, topic: 'order.updated' })).status).toBe(200);
    const { headers, body } = received.at(-1)!;
    expect(body.toString()).toContain('"first_name":"Zo\\u00eb \\ud83d\\ude00"');
    expect(body.toString()).toContain('"name":"a\\/b"');
    expect(JSON.parse(body.toString())).toEqual(order);
    expect(headers).toMatchObject({
      'content-type': 'application/json',
      'x-wc-webhook-source': `${store.url}/`,
      'x-wc-webhook-topic': 'order.updated',
      'x-wc-webhook-resource': 'order',
      'x-wc-webhook-event': 'updated',
      'x-wc-webhook-id': '5',
    });
    expect(headers['user-agent']).toMatch(/^WooCommerce\/[\d.]+ Hookshot \(WordPress\/[\d.]+\)$/);
    expect(headers['x-wc-webhook-delivery-id']).toMatch(/^[0-9a-f]{32}$/);
    expect(verifyWooSignature(body, signatureHeaders(received.length - 1).signature, SECRET)).toBe(true);
  });

  it('sends only the id for order.deleted, and can tamper or forge', async () => {
    const order = store.makeOrder({ id: 900 });
    await store.sendWebhook(deliveryUrl, { order, topic: 'order.deleted' });
    expect(received.at(-1)?.body.toString()).toBe('{"id":900}');
    expect(
      verifyWooSignature(received.at(-1)!.body, signatureHeaders(received.length - 1).signature, SECRET),
    ).toBe(true);
    await store.sendWebhook(deliveryUrl, { order, topic: 'order.updated', tamper: true });
    await store.sendWebhook(deliveryUrl, { order, topic: 'order.updated', secret: 'forged' });
    for (const index of [received.length - 2, received.length - 1]) {
      expect(verifyWooSignature(received[index]!.body, signatureHeaders(index).signature, SECRET)).toBe(
        false,
      );
    }
  });

  it('sends an unsigned ping that isWooPing recognises', async () => {
    await store.sendPing(deliveryUrl);
    expect(received.at(-1)?.body.toString()).toBe('webhook_id=5');
    expect(isWooPing(signatureHeaders(received.length - 1), received.at(-1)!.body.toString())).toBe(true);
  });
});
