/**
 * The webhooks baseline: the least a receiver can do and still be correct. A bare node:http server reads
 * the body, checks `X-WC-Webhook-Signature` (base64 HMAC-SHA256 of the raw bytes, compared in constant
 * time, as CloudSecure does) and stores the delivery with one INSERT into a better-sqlite3 table (same
 * pragmas as CloudSecure's SQLite: WAL, synchronous=NORMAL), then answers 200 with a small JSON body.
 * No JSON parsing, no order, grant, license or outbox rows.
 *
 * Usage: node --import tsx bench/lib/webhooks-bare.ts PORT DATABASE_PATH WEBHOOK_SECRET
 * Any GET answers 200 (readiness check).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import SQLite from 'better-sqlite3';

const [port, databasePath, secret] = process.argv.slice(2);
if (!port || !databasePath || !secret) throw new Error('usage: webhooks-bare.ts PORT DATABASE_PATH SECRET');

const db = new SQLite(databasePath);
db.pragma('journal_mode = WAL');
db.pragma('busy_timeout = 5000');
db.pragma('synchronous = NORMAL');
db.exec(
  'CREATE TABLE IF NOT EXISTS deliveries (id INTEGER PRIMARY KEY, signature TEXT NOT NULL, body TEXT NOT NULL, received_at TEXT NOT NULL)',
);
const insert = db.prepare('INSERT INTO deliveries (signature, body, received_at) VALUES (?, ?, ?)');
const OK = Buffer.from('{"outcome":"fulfilled"}');
const BAD = Buffer.from('{"error":{"code":"WEBHOOK_SIGNATURE_INVALID"}}');

function verified(body: Buffer, header: string | undefined): boolean {
  if (!header) return false;
  const got = Buffer.from(header, 'base64');
  const expected = createHmac('sha256', secret!).update(body).digest();
  return got.length === expected.length && timingSafeEqual(got, expected);
}

const server = createServer((req, res) => {
  if (req.method !== 'POST') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('ok');
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const signature = req.headers['x-wc-webhook-signature'];
    const header = Array.isArray(signature) ? signature[0] : signature;
    if (!verified(body, header)) {
      res.writeHead(401, { 'Content-Type': 'application/json', 'Content-Length': String(BAD.length) });
      res.end(BAD);
      return;
    }
    insert.run(header, body.toString('utf8'), new Date().toISOString());
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(OK.length) });
    res.end(OK);
  });
});
server.listen(Number(port), '127.0.0.1');
process.once('SIGTERM', () => {
  server.close(() => {
    db.close();
    process.exit(0);
  });
  server.closeAllConnections();
});
