import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PermanentDeliveryError } from '../../domain/outbox/outbox.ts';
import { sendWebhook, signWebhook, verifyWebhook } from './webhook-sender.ts';

const SECRET = 'whsec_test_0123456789';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

const received: Received[] = [];
let server: Server;
let base: string;

beforeAll(async () => {
  // Answers with the status named in the path: /status/500, /status/302…; anything else 204.
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const status = Number(/^\/status\/(\d{3})(\?|$)/.exec(req.url ?? '')?.[1] ?? 204);
      if (status === 302) res.setHeader('location', '/elsewhere');
      res.writeHead(status).end(status === 204 ? undefined : 'nope');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  received.length = 0;
});

const now = Math.floor(Date.now() / 1000);
const delivery = {
  secret: SECRET,
  id: 'wh_01',
  event: 'order.delivered',
  body: '{"order":"1001"}',
  timestamp: now,
};

async function rejection(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(error instanceof Error)) throw new Error('expected a rejection with an Error');
  return error;
}

describe('sendWebhook', () => {
  it('posts the body with our headers and a signature the receiver can verify', async () => {
    await sendWebhook({ ...delivery, url: `${base}/hook?token=t0k` });
    const [request] = received;
    expect(request?.body).toBe(delivery.body);
    expect(request?.headers).toMatchObject({
      'content-type': 'application/json',
      'user-agent': 'CloudSecure-Webhooks/1',
      'cloudsecure-webhook-id': 'wh_01',
      'cloudsecure-webhook-timestamp': String(now),
      'cloudsecure-webhook-event': 'order.delivered',
    });
    const signature = String(request?.headers['cloudsecure-webhook-signature']);
    expect(signature).toMatch(/^v1=[0-9a-f]{64}$/);
    const check = {
      secret: SECRET,
      id: 'wh_01',
      timestamp: String(now),
      signature,
      body: request?.body ?? '',
    };
    expect(verifyWebhook(check)).toBe(true);
    expect(verifyWebhook({ ...check, body: '{"order":"1002"}' })).toBe(false);
    expect(verifyWebhook({ ...check, id: 'wh_02' })).toBe(false);
    expect(verifyWebhook({ ...check, secret: 'other' })).toBe(false);
  });

  it('a 500 is retryable and does not leak the URL', async () => {
    const error = await rejection(sendWebhook({ ...delivery, url: `${base}/status/500?token=t0k` }));
    expect(error).not.toBeInstanceOf(PermanentDeliveryError);
    expect(error.message).toContain('500');
    expect(error.message).not.toContain('t0k');
  });

  it('a 410 Gone is permanent', async () => {
    const error = await rejection(sendWebhook({ ...delivery, url: `${base}/status/410` }));
    expect(error).toBeInstanceOf(PermanentDeliveryError);
  });

  it('a 302 is a failure and is not followed', async () => {
    const error = await rejection(sendWebhook({ ...delivery, url: `${base}/status/302` }));
    expect(error).not.toBeInstanceOf(PermanentDeliveryError);
    expect(error.message).toContain('302');
    expect(received.map((r) => r.path)).toStrictEqual(['/status/302']);
  });

  it('an unreachable receiver is retryable', async () => {
    const error = await rejection(sendWebhook({ ...delivery, url: 'http://127.0.0.1:1/hook' }));
    expect(error).not.toBeInstanceOf(PermanentDeliveryError);
  });
});

describe('verifyWebhook', () => {
  const signature = signWebhook(delivery);
  const check = {
    secret: SECRET,
    id: delivery.id,
    timestamp: String(now),
    signature,
    body: delivery.body,
    now,
  };

  it('accepts any of several space-separated signatures (secret rotation)', () => {
    const old = signWebhook({ ...delivery, secret: 'old-secret' });
    expect(verifyWebhook({ ...check, signature: `${old} ${signature}` })).toBe(true);
    expect(verifyWebhook({ ...check, signature: old })).toBe(false);
  });

  it('rejects stale or future timestamps and malformed input', () => {
    expect(verifyWebhook({ ...check, now: now + 301 })).toBe(false);
    expect(verifyWebhook({ ...check, now: now - 301 })).toBe(false);
    expect(verifyWebhook({ ...check, now: now + 299 })).toBe(true);
    expect(verifyWebhook({ ...check, now: now + 3600, toleranceSeconds: 7200 })).toBe(true);
    expect(verifyWebhook({ ...check, timestamp: `${now}.0` })).toBe(false);
    expect(verifyWebhook({ ...check, signature: '' })).toBe(false);
    expect(verifyWebhook({ ...check, signature: signature.replace('v1=', 'v0=') })).toBe(false);
  });
});
