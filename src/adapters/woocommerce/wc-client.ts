/**
 * WooCommerce REST API v3 client for write-back (order notes, order meta) and reconciliation (order lists).
 *
 * Auth is HTTP Basic with the consumer key and secret, which WooCommerce accepts over HTTPS. Errors are split
 * for the outbox: a refusal that a retry cannot fix (400/401/403/404 and other 4xx, redirects) throws
 * PermanentDeliveryError; 408/429/5xx, network failures and timeouts throw a plain Error so they are retried.
 * No message ever contains the consumer secret.
 */
import { PermanentDeliveryError } from '../../domain/outbox/outbox.ts';

export interface WooCommerceClient {
  /** Adds a note to the order; a customer note makes WooCommerce email it to the buyer. */
  addNote(orderId: string, note: string, customerNote: boolean): Promise<{ id: number }>;
  /** Upserts order meta by key (`PUT /orders/{id}` with `meta_data`). */
  updateMeta(orderId: string, meta: { key: string; value: string }[]): Promise<void>;
  /** The REST v3 order object, unparsed (feed it to parseWooOrder). */
  getOrder(orderId: string): Promise<unknown>;
  /** One page of orders modified after `modifiedAfter` (ISO UTC), oldest change first. */
  listOrders(input: { modifiedAfter: string; page: number; perPage: number }): Promise<{
    orders: unknown[];
    totalPages: number;
  }>;
}

export interface WooCommerceClientOptions {
  storeUrl: string;
  consumerKey: string;
  consumerSecret: string;
  timeoutMs?: number;
}

const RETRYABLE_4XX = new Set([408, 425, 429]);

export function createWooCommerceClient(options: WooCommerceClientOptions): WooCommerceClient {
  const base = `${options.storeUrl.replace(/\/+$/, '')}/wp-json/wc/v3`;
  const authorization = `Basic ${Buffer.from(`${options.consumerKey}:${options.consumerSecret}`).toString('base64')}`;
  const timeoutMs = options.timeoutMs ?? 20_000;

  async function call(method: string, path: string, body?: unknown): Promise<Response> {
    const label = `${method} ${path.split('?')[0]}`;
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, {
        method,
        headers: {
          authorization,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        // A redirected POST turns into a GET; report it instead of following it.
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      const reason =
        error instanceof Error && error.name === 'TimeoutError'
          ? `no answer within ${timeoutMs} ms`
          : 'unreachable';
      throw new Error(`WooCommerce ${label}: ${reason}`, { cause: error });
    }
    if (response.ok) return response;
    const detail = redact(await describeError(response), options.consumerSecret);
    const message = `WooCommerce ${label}: HTTP ${response.status}${detail}`;
    const permanent =
      (response.status >= 300 && response.status < 400) ||
      (response.status >= 400 && response.status < 500 && !RETRYABLE_4XX.has(response.status));
    throw permanent ? new PermanentDeliveryError(message) : new Error(message);
  }

  async function json(response: Response, label: string): Promise<unknown> {
    try {
      return await response.json();
    } catch (error) {
      throw new Error(`WooCommerce ${label}: the response is not JSON`, { cause: error });
    }
  }

  return {
    async addNote(orderId, note, customerNote) {
      const path = `/orders/${encodeURIComponent(orderId)}/notes`;
      const created = await json(await call('POST', path, { note, customer_note: customerNote }), 'add note');
      const id = (created as { id?: unknown } | null)?.id;
      if (typeof id !== 'number') throw new Error('WooCommerce add note: the response has no note id');
      return { id };
    },
    async updateMeta(orderId, meta) {
      const response = await call('PUT', `/orders/${encodeURIComponent(orderId)}`, { meta_data: meta });
      await response.body?.cancel();
    },
    async getOrder(orderId) {
      return json(await call('GET', `/orders/${encodeURIComponent(orderId)}`), 'get order');
    },
    async listOrders(input) {
      const query = new URLSearchParams({
        modified_after: toWooGmt(input.modifiedAfter),
        // Without this WooCommerce compares modified_after with the site-local modification date.
        dates_are_gmt: 'true',
        page: String(input.page),
        per_page: String(input.perPage),
        orderby: 'modified',
        order: 'asc',
      });
      const response = await call('GET', `/orders?${query}`);
      const orders = await json(response, 'list orders');
      if (!Array.isArray(orders)) throw new Error('WooCommerce list orders: expected a JSON array');
      const totalPages = Number.parseInt(response.headers.get('x-wp-totalpages') ?? '', 10);
      return { orders, totalPages: Number.isFinite(totalPages) ? totalPages : input.page };
    },
  };
}

/** ` woocommerce_rest_…: message` from a WP REST error body, or the redirect target; empty otherwise. */
async function describeError(response: Response): Promise<string> {
  const location = response.headers.get('location');
  const text = await response.text().catch(() => '');
  if (location) return ` (redirected to ${location}; set the store URL to the final address)`;
  try {
    const body = JSON.parse(text) as { code?: unknown; message?: unknown };
    const code = typeof body.code === 'string' ? ` ${body.code.slice(0, 100)}` : '';
    const message = typeof body.message === 'string' ? `: ${body.message.slice(0, 300)}` : '';
    return `${code}${message}`;
  } catch {
    return '';
  }
}

function redact(text: string, secret: string): string {
  return secret === '' ? text : text.replaceAll(secret, '[redacted]');
}

/** WooCommerce wants `YYYY-MM-DDTHH:MM:SS`; with dates_are_gmt=true it reads it as UTC. */
function toWooGmt(iso: string): string {
  const ms = Date.parse(/(Z|[+-]\d{2}:?\d{2})$/i.test(iso) ? iso : `${iso}Z`);
  return Number.isNaN(ms) ? iso : new Date(ms).toISOString().slice(0, 19);
}
