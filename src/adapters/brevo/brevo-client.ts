import { PermanentDeliveryError } from '../../domain/outbox/outbox.ts';

export interface BrevoAddress {
  email: string;
  name: string | null;
}

export interface BrevoContactInput {
  email: string;
  firstName: string | null;
  lastName: string | null;
  /** Product names; sent as one comma-separated PRODUCTS attribute. */
  products: string[];
  listId: number | null;
}

export interface BrevoTemplateEmail {
  to: BrevoAddress;
  sender: BrevoAddress;
  templateId: number;
  params: Record<string, unknown>;
  idempotencyKey: string;
}

export interface BrevoEmail {
  to: BrevoAddress;
  sender: BrevoAddress;
  subject: string;
  html: string;
  text: string;
  idempotencyKey: string;
}

/** The few Brevo v3 calls we make. The outbox retries; this client never does. */
export interface BrevoClient {
  /** Creates the contact, or updates it when it exists (`updateEnabled`). */
  upsertContact(input: BrevoContactInput): Promise<void>;
  /** Sends one of the seller's Brevo templates; Brevo deduplicates on the idempotency key. */
  sendTemplateEmail(input: BrevoTemplateEmail): Promise<{ messageId: string | null }>;
  /** Sends an e-mail we rendered ourselves. */
  sendEmail(input: BrevoEmail): Promise<{ messageId: string | null }>;
}

export interface BrevoClientOptions {
  apiKey: string;
  /** Default https://api.brevo.com/v3; tests point it at the stand-in. */
  apiBase?: string | null;
  timeoutMs?: number;
}

const DEFAULT_BASE = 'https://api.brevo.com/v3';
/** Retrying these cannot help: bad request, bad key, no credit, forbidden, unknown, unprocessable. */
const PERMANENT_STATUSES = new Set([400, 401, 402, 403, 404, 422]);

export function createBrevoClient(options: BrevoClientOptions): BrevoClient {
  const base = (options.apiBase ?? DEFAULT_BASE).replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 20_000;
  // The key must never reach a message that ends up in logs or the outbox's lastError.
  const redact = (text: string): string =>
    options.apiKey ? text.replaceAll(options.apiKey, '[redacted]') : text;

  async function post(path: string, body: unknown): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: {
          'api-key': options.apiKey,
          'content-type': 'application/json',
          accept: 'application/json',
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(redact(`Brevo ${path} unreachable: ${reason}`), { cause: error });
    }
    const text = await response.text();
    const json = parseJSON(text);
    if (response.ok) return json;

    const detail = describeError(json, text);
    const message = redact(`Brevo ${path} answered HTTP ${response.status}${detail}`);
    if (PERMANENT_STATUSES.has(response.status)) throw new PermanentDeliveryError(message);
    const reset = response.headers.get('x-sib-ratelimit-reset');
    throw new Error(reset ? `${message} (rate limit resets in ${reset} s)` : message);
  }

  async function sendSMTP(body: Record<string, unknown>): Promise<{ messageId: string | null }> {
    const json = await post('/smtp/email', body);
    const messageId = isRecord(json) && typeof json.messageId === 'string' ? json.messageId : null;
    return { messageId };
  }

  return {
    async upsertContact(input) {
      const attributes: Record<string, string> = {};
      if (input.firstName !== null) attributes.FIRSTNAME = input.firstName;
      if (input.lastName !== null) attributes.LASTNAME = input.lastName;
      attributes.PRODUCTS = input.products.join(', ');
      await post('/contacts', {
        email: input.email,
        attributes,
        ...(input.listId !== null ? { listIds: [input.listId] } : {}),
        updateEnabled: true,
      });
    },
    sendTemplateEmail(input) {
      return sendSMTP({
        sender: address(input.sender),
        to: [address(input.to)],
        templateId: input.templateId,
        params: input.params,
        headers: { 'Idempotency-Key': input.idempotencyKey },
      });
    },
    sendEmail(input) {
      return sendSMTP({
        sender: address(input.sender),
        to: [address(input.to)],
        subject: input.subject,
        htmlContent: input.html,
        textContent: input.text,
        headers: { 'Idempotency-Key': input.idempotencyKey },
      });
    },
  };
}

function address(a: BrevoAddress): { email: string; name?: string } {
  return a.name !== null ? { email: a.email, name: a.name } : { email: a.email };
}

function parseJSON(text: string): unknown {
  if (text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** Brevo's `{code, message}`, or the start of whatever else came back (a proxy's HTML page). */
function describeError(json: unknown, text: string): string {
  if (isRecord(json) && (typeof json.code === 'string' || typeof json.message === 'string')) {
    return `: ${String(json.code ?? 'error')}: ${String(json.message ?? '')}`.trimEnd();
  }
  return text ? `: ${text.slice(0, 200)}` : '';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
