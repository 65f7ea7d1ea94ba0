import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for the parts of Brevo API v3 we call (contract: delivery.md §5), strict enough to
 * catch a client that drifts from it: key check, JSON only, required fields, 201/204/400 on contacts,
 * Idempotency-Key deduplication on e-mails, and injectable 429/5xx.
 */
export interface BrevoStandIn {
  /** `http://127.0.0.1:PORT/v3`, for `createBrevoClient({ apiBase })`. */
  apiBase: string;
  /** Every request in arrival order, rejected ones included. */
  requests: BrevoRequest[];
  contacts: BrevoStoredContact[];
  /** Accepted e-mails; a repeated Idempotency-Key is not recorded twice. */
  emails: BrevoStoredEmail[];
  /** The next `count` requests with a valid key fail with `status` before any other check. */
  failNext(count: number, status: 429 | 500 | 503): void;
  close(): Promise<void>;
}

export interface BrevoRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON; the raw text when it is not JSON; null when empty. */
  body: unknown;
}

export interface BrevoStoredContact {
  id: number;
  email: string;
  attributes: Record<string, unknown>;
  listIds: number[];
}

export interface BrevoStoredEmail {
  messageId: string;
  idempotencyKey: string | null;
  body: Record<string, unknown>;
}

type Reply = [status: number, body?: Record<string, unknown>];

export async function startBrevoStandIn(options: { apiKey: string }): Promise<BrevoStandIn> {
  const requests: BrevoRequest[] = [];
  const contacts: BrevoStoredContact[] = [];
  const emails: BrevoStoredEmail[] = [];
  const byIdempotencyKey = new Map<string, string>();
  const failures: (429 | 500 | 503)[] = [];

  function handle(req: IncomingMessage, raw: string, res: ServerResponse): Reply {
    if (req.headers['api-key'] !== options.apiKey) return error(401, 'unauthorized', 'Key not found');
    const failure = failures.shift();
    if (failure === 429) {
      res.setHeader('x-sib-ratelimit-limit', '10');
      res.setHeader('x-sib-ratelimit-remaining', '0');
      res.setHeader('x-sib-ratelimit-reset', '7');
      return error(429, 'too_many_requests', 'The expected rate limit is exceeded.');
    }
    if (failure) return error(failure, 'internal_error', 'Service temporarily unavailable');
    if (req.method !== 'POST') return error(405, 'method_not_allowed', 'Method not allowed');
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
      return error(400, 'bad_request', 'Content-Type must be application/json');
    }
    const body = parseJSON(raw);
    if (!isRecord(body)) return error(400, 'bad_request', 'Input must be a valid JSON object');
    if (req.url === '/v3/contacts') return createContact(body);
    if (req.url === '/v3/smtp/email') return sendEmail(body);
    return error(404, 'document_not_found', 'Invalid route');
  }

  function createContact(body: Record<string, unknown>): Reply {
    if (body.email === undefined) return error(400, 'missing_parameter', 'email is missing');
    if (typeof body.email !== 'string' || !body.email.includes('@')) {
      return error(400, 'invalid_parameter', 'Invalid email address');
    }
    const email = body.email.toLowerCase();
    const attributes = isRecord(body.attributes) ? body.attributes : {};
    const listIds = Array.isArray(body.listIds) ? body.listIds.filter((n) => typeof n === 'number') : [];
    const existing = contacts.find((c) => c.email === email);
    if (!existing) {
      contacts.push({ id: contacts.length + 1, email, attributes: { ...attributes }, listIds });
      return [201, { id: contacts.length }];
    }
    if (body.updateEnabled !== true) return error(400, 'duplicate_parameter', 'Contact already exist');
    Object.assign(existing.attributes, attributes);
    existing.listIds = [...new Set([...existing.listIds, ...listIds])];
    return [204];
  }

  function sendEmail(body: Record<string, unknown>): Reply {
    if (!isRecord(body.sender) || (typeof body.sender.email !== 'string' && body.sender.id === undefined)) {
      return error(400, 'missing_parameter', 'sender is missing');
    }
    if (!Array.isArray(body.to) || body.to.length === 0 || !body.to.every((t) => isRecord(t) && t.email)) {
      return error(400, 'missing_parameter', 'to is missing');
    }
    if (body.templateId === undefined) {
      if (typeof body.subject !== 'string') return error(400, 'missing_parameter', 'subject is missing');
      if (typeof body.htmlContent !== 'string')
        return error(400, 'missing_parameter', 'htmlContent is missing');
    }
    const key = isRecord(body.headers) ? body.headers['Idempotency-Key'] : undefined;
    const idempotencyKey = typeof key === 'string' ? key : null;
    const seen = idempotencyKey !== null ? byIdempotencyKey.get(idempotencyKey) : undefined;
    if (seen) return [201, { messageId: seen }];
    const messageId = `<${Date.now()}.${randomUUID()}@smtp-relay.mailin.fr>`;
    if (idempotencyKey !== null) byIdempotencyKey.set(idempotencyKey, messageId);
    emails.push({ messageId, idempotencyKey, body });
    return [201, { messageId }];
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const parsed = parseJSON(raw);
      requests.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: raw === '' ? null : parsed === undefined ? raw : parsed,
      });
      const [status, body] = handle(req, raw, res);
      if (body === undefined) {
        res.writeHead(status).end();
      } else {
        res
          .writeHead(status, { 'content-type': 'application/json; charset=utf-8' })
          .end(JSON.stringify(body));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    apiBase: `http://127.0.0.1:${port}/v3`,
    requests,
    contacts,
    emails,
    failNext(count, status) {
      for (let i = 0; i < count; i++) failures.push(status);
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}

function error(status: number, code: string, message: string): Reply {
  return [status, { code, message }];
}

/** undefined when the text is not JSON (JSON `null` parses to null). */
function parseJSON(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
