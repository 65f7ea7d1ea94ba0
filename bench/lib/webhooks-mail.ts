/**
 * The e-mail half of the webhooks bench: a local SMTP server (smtp-server, in this process, plain SMTP
 * without STARTTLS or auth) that counts what arrives and when, and the pre-rendered messages that the
 * nodemailer baseline (webhooks-mailer-bare.ts) sends.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { createTemplateRenderer, type MailContext } from '../../src/adapters/email/templates.ts';

export interface SmtpSink {
  port: number;
  /** Messages received since the last reset. */
  count(): number;
  /** Distinct Message-ID headers since the last reset (a redelivered e-mail repeats its id). */
  distinctIds(): number;
  /** Arrival times (performance.now()) of the first and last message since the last reset. */
  span(): { first: number; last: number } | null;
  /** Total message bytes since the last reset. */
  bytes(): number;
  reset(): void;
  /** Resolves once `n` messages have arrived; rejects after `timeoutMs` or when `abort` settles first. */
  waitFor(n: number, timeoutMs: number, abort?: Promise<unknown>): Promise<void>;
  close(): Promise<void>;
}

export async function startSmtpSink(): Promise<SmtpSink> {
  let received = 0;
  let bytes = 0;
  let first = 0;
  let last = 0;
  let ids = new Set<string>();
  let waiter: { n: number; resolve: () => void } | null = null;
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS', 'AUTH'],
    authOptional: true,
    logger: false,
    // Many messages per connection and several connections at once, like a real relay.
    maxClients: 100,
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const message = Buffer.concat(chunks).toString('utf8');
        const headerEnd = message.indexOf('\r\n\r\n');
        const id = /^message-id:\s*(\S+)/im.exec(headerEnd < 0 ? message : message.slice(0, headerEnd));
        const now = performance.now();
        if (received === 0) first = now;
        last = now;
        received++;
        bytes += message.length;
        ids.add(id?.[1] ?? `(none ${received})`);
        if (waiter && received >= waiter.n) waiter.resolve();
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  server.on('error', () => undefined);
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    count: () => received,
    distinctIds: () => ids.size,
    span: () => (received === 0 ? null : { first, last }),
    bytes: () => bytes,
    reset() {
      received = 0;
      bytes = 0;
      first = 0;
      last = 0;
      ids = new Set();
    },
    waitFor(n, timeoutMs, abort) {
      if (received >= n) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiter = null;
          reject(new Error(`only ${received} of ${n} e-mails arrived within ${timeoutMs / 1000} s`));
        }, timeoutMs);
        waiter = {
          n,
          resolve: () => {
            clearTimeout(timer);
            waiter = null;
            resolve();
          },
        };
        abort?.then(
          () => {
            if (!waiter) return;
            clearTimeout(timer);
            waiter = null;
            reject(new Error(`the sender stopped after ${received} of ${n} e-mails`));
          },
          () => undefined,
        );
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface PreRenderedMail {
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  messageId: string;
}

const TOKEN_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function token(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += TOKEN_ALPHABET[b & 63];
  return out;
}

/**
 * `count` order-delivery e-mails rendered with CloudSecure's own templates, one per buyer, with the same
 * shape as the real ones: one product, its access link, one download link and one license key.
 */
export function preRenderMails(input: {
  count: number;
  from: string;
  sellerName: string;
  publicUrl: string;
  productName: string;
  fileName: string;
}): PreRenderedMail[] {
  const renderer = createTemplateRenderer({ overridesDir: null });
  const expires = new Date(Date.now() + 365 * 86_400_000).toISOString();
  const mails: PreRenderedMail[] = [];
  for (let i = 0; i < input.count; i++) {
    const email = `mail-buyer-${i}@example.com`;
    const context: MailContext = {
      seller: { name: input.sellerName, logo_url: null, support_email: null },
      customer: { name: `Mail Buyer ${i}`, email },
      order: { id: `bench-order-${i}`, reference: `bench-order-${i}` },
      products: [{ name: input.productName }],
      access: [{ product: input.productName, url: `${input.publicUrl}/a/${token(43)}` }],
      downloads: [
        { product: input.productName, file: input.fileName, url: `${input.publicUrl}/d/${token(43)}` },
      ],
      licenses: [
        {
          product: input.productName,
          key: `CS-${[0, 1, 2, 3, 4].map(() => token(5).toUpperCase()).join('-')}`,
          expires_at: expires,
        },
      ],
      portal_url: null,
      license: null,
    };
    const rendered = renderer.render('order_delivered', context);
    mails.push({
      from: input.from,
      to: email,
      ...rendered,
      messageId: `<${randomBytes(20).toString('hex')}@127.0.0.1>`,
    });
  }
  return mails;
}
