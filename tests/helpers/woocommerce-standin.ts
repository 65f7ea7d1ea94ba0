import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { signWooBody } from '../../src/adapters/woocommerce/wc-signature.ts';

/**
 * A WooCommerce stand-in on a loopback port: the REST v3 endpoints CloudSecure calls (orders, notes, meta),
 * with Basic auth, plus senders that deliver webhooks and pings exactly as WooCommerce does (contract §1-§2).
 */

export interface WooMeta {
  id: number;
  key: string;
  value: unknown;
}

export interface WooBilling {
  first_name: string;
  last_name: string;
  email: string;
  [extra: string]: unknown;
}

export interface WooLineItemFixture {
  id: number;
  name: string;
  product_id: number;
  variation_id: number;
  quantity: number;
  sku: string;
  [extra: string]: unknown;
}

export interface WooOrderFixture {
  id: number;
  status: string;
  date_created_gmt: string;
  date_modified_gmt: string;
  date_paid_gmt: string | null;
  billing: WooBilling;
  line_items: WooLineItemFixture[];
  meta_data: WooMeta[];
  [extra: string]: unknown;
}

/** Anything of an order may be given; line items and billing may be partial too. */
export interface WooOrderPartial {
  id?: number;
  status?: string;
  date_created_gmt?: string;
  date_modified_gmt?: string;
  date_paid_gmt?: string | null;
  billing?: Partial<WooBilling>;
  line_items?: Partial<WooLineItemFixture>[];
  meta_data?: WooMeta[];
  [extra: string]: unknown;
}

export type WooTopic = 'order.created' | 'order.updated' | 'order.deleted' | 'order.restored';

export interface WooStandIn {
  /** Store URL without a trailing slash (the webhook Source header adds one, like `home_url('/')`). */
  url: string;
  webhookId: number;
  /** Notes added through the REST API, in order. */
  notes: { orderId: string; note: string; customer_note: boolean; authorization: string }[];
  /** Every REST request received (`path` includes the query string). */
  requests: { method: string; path: string; authorization: string }[];
  /** Builds a full REST v3 order (not stored); ids are assigned from 727 upwards unless given. */
  makeOrder(partial?: WooOrderPartial): WooOrderFixture;
  /** Stores (or replaces) an order, bumping `date_modified_gmt` past every earlier change; returns the copy stored. */
  putOrder(order: WooOrderFixture): WooOrderFixture;
  order(id: number | string): WooOrderFixture | undefined;
  /** The next `count` REST calls answer `status` (e.g. 503) without doing anything. */
  failNext(count: number, status: number): void;
  sendWebhook(
    deliveryUrl: string,
    input: { order: object; topic: WooTopic; secret?: string; tamper?: boolean },
  ): Promise<{ status: number; body: string }>;
  sendPing(deliveryUrl: string): Promise<{ status: number; body: string }>;
  close(): Promise<void>;
}

export interface WooStandInOptions {
  consumerKey: string;
  consumerSecret: string;
  webhookSecret: string;
  webhookId?: number;
}

const USER_AGENT = 'WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)';

/** `wp_json_encode` with default flags: `/` as `\/`, non-ASCII as lowercase `\uXXXX` (surrogate pairs). */
export function wpJsonEncode(value: unknown): string {
  return (JSON.stringify(value) ?? 'null')
    .replaceAll('/', '\\/')
    .replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** WooCommerce's date format for `*_gmt` fields: UTC, no zone suffix. */
export function wooDate(date: Date): string {
  return date.toISOString().slice(0, 19);
}

export function makeWooOrder(partial: WooOrderPartial & { id: number }): WooOrderFixture {
  const { billing, line_items, ...rest } = partial;
  const status = rest.status ?? 'processing';
  const now = wooDate(new Date());
  const paid = status === 'processing' || status === 'completed' ? now : null;
  return {
    parent_id: 0,
    number: String(partial.id),
    order_key: `wc_order_${createHash('sha1').update(String(partial.id)).digest('hex').slice(0, 13)}`,
    created_via: 'checkout',
    currency: 'USD',
    date_created_gmt: now,
    date_modified_gmt: now,
    date_paid_gmt: paid,
    total: '29.35',
    customer_id: 0,
    payment_method: 'bacs',
    ...rest,
    id: partial.id,
    status,
    billing: {
      first_name: 'John',
      last_name: 'Doe',
      company: '',
      country: 'US',
      email: 'john.doe@example.com',
      phone: '(555) 555-5555',
      ...billing,
    },
    line_items: (line_items ?? [{}]).map((item, index) => ({
      id: partial.id * 100 + index + 1,
      name: 'Woo Single #1',
      product_id: 93,
      variation_id: 0,
      quantity: 1,
      sku: '',
      subtotal: '6.00',
      total: '6.00',
      price: 6,
      meta_data: [],
      ...item,
    })),
    meta_data: rest.meta_data ?? [],
    refunds: rest.refunds ?? [],
  };
}

export async function startWooCommerceStandIn(options: WooStandInOptions): Promise<WooStandIn> {
  const webhookId = options.webhookId ?? 5;
  const orders = new Map<string, WooOrderFixture>();
  const notes: WooStandIn['notes'] = [];
  const requests: WooStandIn['requests'] = [];
  const failures = { count: 0, status: 503 };
  const ids = { order: 727, note: 281, meta: 13_106 };
  let lastModified = 0;
  const expectedAuth = `Basic ${Buffer.from(`${options.consumerKey}:${options.consumerSecret}`).toString('base64')}`;

  function putOrder(order: WooOrderFixture): WooOrderFixture {
    // Whole seconds, like WooCommerce, yet strictly increasing so modified_after sees every change.
    lastModified = Math.max(Math.floor(Date.now() / 1000) * 1000, lastModified + 1000);
    const stored = { ...structuredClone(order), date_modified_gmt: wooDate(new Date(lastModified)) };
    orders.set(String(order.id), stored);
    return structuredClone(stored);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const authorization = req.headers.authorization ?? '';
    requests.push({ method: req.method ?? '', path: `${url.pathname}${url.search}`, authorization });
    const raw = await readBody(req);
    if (failures.count > 0) {
      failures.count--;
      return reply(res, failures.status, wpError('stand_in_outage', 'Simulated outage.', failures.status));
    }
    if (authorization !== expectedAuth) {
      return reply(
        res,
        401,
        wpError('woocommerce_rest_authentication_error', 'Consumer secret is invalid.', 401),
      );
    }
    const match = /^\/wp-json\/wc\/v3\/orders(?:\/(\d+)(\/notes)?)?\/?$/.exec(url.pathname);
    const [, id, isNotes] = match ?? [];
    if (match && !id && req.method === 'GET') return listOrders(url.searchParams, res);
    const order = id ? orders.get(id) : undefined;
    if (!match || !id) return reply(res, 404, wpError('rest_no_route', 'No route was found.', 404));
    if (!order) return reply(res, 404, wpError('woocommerce_rest_shop_order_invalid_id', 'Invalid ID.', 404));
    if (!isNotes && req.method === 'GET') return reply(res, 200, order);
    const body = parseJson(raw);
    if (body === undefined)
      return reply(res, 400, wpError('rest_invalid_json', 'Invalid JSON body passed.', 400));
    if (isNotes && req.method === 'POST') return addNote(order, body, authorization, res);
    if (!isNotes && req.method === 'PUT') return updateOrder(order, body, res);
    return reply(res, 404, wpError('rest_no_route', 'No route was found.', 404));
  }

  function listOrders(query: URLSearchParams, res: ServerResponse): void {
    const page = Number(query.get('page') ?? '1');
    const perPage = Number(query.get('per_page') ?? '10');
    const after = query.get('modified_after');
    const afterMs = after ? Date.parse(/Z|[+-]\d\d:?\d\d$/.test(after) ? after : `${after}Z`) : 0;
    if (!(page >= 1 && perPage >= 1 && perPage <= 100 && !Number.isNaN(afterMs))) {
      reply(
        res,
        400,
        wpError('rest_invalid_param', 'Invalid parameter(s): page, per_page, modified_after', 400),
      );
      return;
    }
    const statusQuery = query.get('status') ?? 'any';
    const statuses = statusQuery === 'any' ? [] : statusQuery.split(',');
    const matching = [...orders.values()]
      .filter((o) => Date.parse(`${o.date_modified_gmt}Z`) > afterMs)
      .filter((o) => statuses.length === 0 || statuses.includes(o.status))
      .sort((a, b) => a.date_modified_gmt.localeCompare(b.date_modified_gmt) || a.id - b.id);
    if (query.get('order') === 'desc') matching.reverse();
    reply(res, 200, matching.slice((page - 1) * perPage, page * perPage), {
      'x-wp-total': String(matching.length),
      'x-wp-totalpages': String(Math.ceil(matching.length / perPage)),
    });
  }

  function addNote(
    order: WooOrderFixture,
    body: Record<string, unknown>,
    authorization: string,
    res: ServerResponse,
  ) {
    if (typeof body.note !== 'string' || body.note === '') {
      return reply(res, 400, wpError('rest_missing_callback_param', 'Missing parameter(s): note', 400));
    }
    const customerNote = body.customer_note === true;
    notes.push({ orderId: String(order.id), note: body.note, customer_note: customerNote, authorization });
    const created = wooDate(new Date());
    const id = ids.note++;
    reply(res, 201, {
      id,
      author: 'system',
      date_created: created,
      date_created_gmt: created,
      note: body.note,
      customer_note: customerNote,
      _links: { up: [{ href: `${url}/wp-json/wc/v3/orders/${order.id}` }] },
    });
  }

  function updateOrder(order: WooOrderFixture, body: Record<string, unknown>, res: ServerResponse): void {
    const next = structuredClone(order);
    for (const entry of Array.isArray(body.meta_data) ? body.meta_data : []) {
      const { id, key, value } = entry as Partial<WooMeta>;
      if (typeof key !== 'string') continue;
      const existing = next.meta_data.find((m) => (id !== undefined ? m.id === id : m.key === key));
      if (existing) Object.assign(existing, { key, value });
      else next.meta_data.push({ id: ids.meta++, key, value });
    }
    if (typeof body.status === 'string') next.status = body.status;
    reply(res, 200, putOrder(next));
  }

  async function send(deliveryUrl: string, body: string, headers: Record<string, string>) {
    const response = await fetch(deliveryUrl, { method: 'POST', body, headers, redirect: 'manual' });
    return { status: response.status, body: await response.text() };
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) =>
      reply(res, 500, wpError('stand_in_crash', String(error), 500)),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    webhookId,
    notes,
    requests,
    makeOrder: (partial = {}) => makeWooOrder({ ...partial, id: partial.id ?? ids.order++ }),
    putOrder,
    order: (id) => {
      const stored = orders.get(String(id));
      return stored && structuredClone(stored);
    },
    failNext(count, status) {
      failures.count = count;
      failures.status = status;
    },
    sendWebhook(deliveryUrl, input) {
      const [resource = 'order', event = ''] = input.topic.split('.');
      const payload =
        input.topic === 'order.deleted' ? { id: (input.order as { id?: unknown }).id } : input.order;
      const body = wpJsonEncode(payload).trim();
      const signature = signWooBody(body, input.secret ?? options.webhookSecret);
      // WooCommerce's delivery id is wp_hash(id . time()): two deliveries in one second share it.
      const deliveryId = createHash('md5')
        .update(`${webhookId}${Math.floor(Date.now() / 1000)}`)
        .digest('hex');
      return send(deliveryUrl, input.tamper ? tamper(body) : body, {
        'content-type': 'application/json',
        'user-agent': USER_AGENT,
        'x-wc-webhook-source': `${url}/`,
        'x-wc-webhook-topic': input.topic,
        'x-wc-webhook-resource': resource,
        'x-wc-webhook-event': event,
        'x-wc-webhook-signature': signature,
        'x-wc-webhook-id': String(webhookId),
        'x-wc-webhook-delivery-id': deliveryId,
      });
    },
    sendPing(deliveryUrl) {
      return send(deliveryUrl, `webhook_id=${webhookId}`, {
        'content-type': 'application/x-www-form-urlencoded',
        'user-agent': USER_AGENT,
      });
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/** Changes the body after signing while keeping it valid JSON: the order id gains a digit. */
function tamper(body: string): string {
  const changed = body.replace(/"id":(\d+)/, (_, id: string) => `"id":${id}9`);
  return changed === body ? `${body} ` : changed;
}

function wpError(code: string, message: string, status: number): object {
  return { code, message, data: { status } };
}

function reply(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', ...headers });
  res.end(wpJsonEncode(body));
}

function parseJson(raw: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(raw || '{}');
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
