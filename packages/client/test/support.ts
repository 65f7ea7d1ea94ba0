/**
 * Test support for the SDK: a man-in-the-middle HTTP proxy in front of the real server (it records every
 * request and can alter, strip, replay or drop answers), and licensed purchases made through the
 * server's own services.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LicensePolicy } from '../../../src/domain/licenses/license.ts';
import type { ProductView } from '../../../src/domain/products/product-service.ts';
import type { Harness } from '../../../tests/helpers/harness.ts';

export interface CapturedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface CapturedResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * pass: forward as is. tamper: forward, then rewrite the answer's body with `tamper` (signature kept).
 * drop-signature: remove the signature header. foreign-signature: re-sign the body with another key.
 * replay: forward, but answer with the last answer passed on the same path. unavailable: 503 without
 * forwarding. reset: destroy the connection. hang: never answer.
 */
export type ProxyMode =
  | 'pass'
  | 'tamper'
  | 'drop-signature'
  | 'foreign-signature'
  | 'replay'
  | 'unavailable'
  | 'reset'
  | 'hang';

export interface InterceptingProxy {
  url: string;
  mode: ProxyMode;
  tamper: (body: Buffer) => Buffer;
  /** Every request the client made through the proxy, as received. */
  requests: CapturedRequest[];
  close(): Promise<void>;
}

const attacker = generateKeyPairSync('ed25519');

function forward(target: URL, captured: CapturedRequest): Promise<CapturedResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: captured.method,
        path: captured.path,
        headers: { ...captured.headers, host: target.host },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const headers: Record<string, string> = {};
          for (const [name, value] of Object.entries(res.headers)) {
            if (typeof value === 'string') headers[name] = value;
          }
          resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks) });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(captured.body);
  });
}

export async function startProxy(targetUrl: string): Promise<InterceptingProxy> {
  const target = new URL(targetUrl);
  const last = new Map<string, CapturedResponse>();
  const proxy: InterceptingProxy = {
    url: '',
    mode: 'pass',
    tamper: (body) => body,
    requests: [],
    close: async () => undefined,
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const captured: CapturedRequest = {
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      proxy.requests.push(captured);
      const mode = proxy.mode;
      if (mode === 'hang') return;
      if (mode === 'reset') return req.socket.destroy();
      if (mode === 'unavailable') return res.writeHead(503, { 'content-type': 'text/plain' }).end('down');
      let answer = await forward(target, captured);
      if (mode === 'pass') last.set(captured.path, answer);
      if (mode === 'replay') answer = last.get(captured.path) ?? answer;
      const headers = { ...answer.headers };
      let body = answer.body;
      if (mode === 'tamper') body = proxy.tamper(body);
      if (mode === 'drop-signature') delete headers['cloudsecure-signature'];
      if (mode === 'foreign-signature')
        headers['cloudsecure-signature'] =
          `ed25519=${sign(null, body, attacker.privateKey).toString('base64')}`;
      delete headers['transfer-encoding'];
      headers['content-length'] = String(body.length);
      res.writeHead(answer.status, headers).end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return proxy;
}

/** The public key of a key pair the server does not have. */
export const ATTACKER_PUBLIC_KEY = attacker.publicKey
  .export({ format: 'der', type: 'spki' })
  .subarray(-32)
  .toString('base64');

export interface Bought {
  product: ProductView;
  key: string;
  licenseId: string;
}

let seq = 0;

/** A licensed product with its own policy, and one order of it: the buyer's license. */
export async function buy(h: Harness, policy: Partial<LicensePolicy> = {}): Promise<Bought> {
  seq += 1;
  const product = await h.ctx.products.create({
    name: `SDK app ${seq} ${Math.random().toString(36).slice(2, 8)}`,
    license: { activationLimit: 2, ...policy },
  });
  const order = await h.ctx.orders.create({
    email: `sdk-buyer${seq}@example.com`,
    products: [product.slug],
    source: 'test',
  });
  const issued = order.licenses[0];
  if (!issued) throw new Error('the order issued no license');
  return { product, key: issued.key, licenseId: issued.id };
}

/** Flips the case of the first letter of the `detail` text: one byte, and the JSON stays valid. */
export function flipOneByte(body: Buffer): Buffer {
  const copy = Buffer.from(body);
  const at = copy.indexOf('"detail":"') + '"detail":"'.length;
  copy[at] = (copy[at] ?? 0) ^ 0x20;
  return copy;
}
