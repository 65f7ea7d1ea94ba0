/**
 * The e-mail baseline: nodemailer sending pre-rendered messages straight to the SMTP server with a pooled
 * transport (pool: true, maxConnections 4, as CloudSecure's SMTP mailer is configured), all handed to the
 * pool at once. No database, no outbox, no rendering. Prints `{"sent":N,"seconds":S}` and exits.
 *
 * Usage: node --import tsx bench/lib/webhooks-mailer-bare.ts SMTP_PORT MESSAGES.json
 */
import { readFileSync } from 'node:fs';
import nodemailer from 'nodemailer';
import type { PreRenderedMail } from './webhooks-mail.ts';

const [port, messagesPath] = process.argv.slice(2);
if (!port || !messagesPath) throw new Error('usage: webhooks-mailer-bare.ts SMTP_PORT MESSAGES.json');
const messages = JSON.parse(readFileSync(messagesPath, 'utf8')) as PreRenderedMail[];

const transport = nodemailer.createTransport({
  host: '127.0.0.1',
  port: Number(port),
  secure: false,
  pool: true,
  maxConnections: 4,
  connectionTimeout: 15_000,
  socketTimeout: 30_000,
});
const started = performance.now();
await Promise.all(messages.map((m) => transport.sendMail(m)));
const seconds = (performance.now() - started) / 1000;
transport.close();
process.stdout.write(`${JSON.stringify({ sent: messages.length, seconds })}\n`);
