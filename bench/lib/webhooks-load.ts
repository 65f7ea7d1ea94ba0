/**
 * WooCommerce deliveries for the webhooks bench: paid REST v3 orders encoded the way WooCommerce sends
 * them (`wp_json_encode`: `/` as `\/`, non-ASCII as `\uXXXX`), each with a unique order id and buyer and
 * a valid `X-WC-Webhook-Signature` over its exact bytes, all built before a run starts. They are sent by
 * a fixed number of concurrent senders over keep-alive connections (node:http), each waiting for its
 * answer before sending the next, for a fixed time or until the deliveries run out.
 */
import { createHash, createHmac } from 'node:crypto';
import { Agent, request } from 'node:http';
import { median } from './load.ts';

/** The WooCommerce product every order line carries; the bench maps it to its licensed product. */
export const WOO_PRODUCT_ID = 93;
const USER_AGENT = 'WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)';
const STORE = 'https://shop.example.com';

export interface Delivery {
  orderId: number;
  body: Buffer;
  signature: string;
  deliveryId: string;
}

/** `wp_json_encode` with default flags: `/` as `\/`, non-ASCII as lowercase `\uXXXX`. */
function wpJsonEncode(value: unknown): string {
  return (JSON.stringify(value) ?? 'null')
    .replaceAll('/', '\\/')
    .replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** WooCommerce's `*_gmt` date format: UTC without a zone suffix. */
function wooDate(date: Date): string {
  return date.toISOString().slice(0, 19);
}

/** A paid (`processing`, `date_paid_gmt` set) order of one licensed product, as the REST v3 API shows it. */
export function wooOrder(id: number, now: Date): Record<string, unknown> {
  const gmt = wooDate(now);
  const local = wooDate(new Date(now.getTime() - 3 * 3_600_000));
  const orderKey = `wc_order_${createHash('sha1').update(String(id)).digest('hex').slice(0, 13)}`;
  return {
    id,
    parent_id: 0,
    status: 'processing',
    currency: 'EUR',
    version: '9.4.2',
    prices_include_tax: true,
    date_created: local,
    date_modified: local,
    discount_total: '0.00',
    discount_tax: '0.00',
    shipping_total: '0.00',
    shipping_tax: '0.00',
    cart_tax: '9.42',
    total: '59.00',
    total_tax: '9.42',
    customer_id: 0,
    order_key: orderKey,
    billing: {
      first_name: 'Zoë',
      last_name: `Buyer ${id}`,
      company: '',
      address_1: '969 Market',
      address_2: '',
      city: 'München',
      state: '',
      postcode: '80331',
      country: 'DE',
      email: `buyer-${id}@example.com`,
      phone: '+49 89 123456',
    },
    shipping: {
      first_name: '',
      last_name: '',
      company: '',
      address_1: '',
      address_2: '',
      city: '',
      state: '',
      postcode: '',
      country: '',
      phone: '',
    },
    payment_method: 'stripe',
    payment_method_title: 'Credit card (Stripe)',
    transaction_id: `pi_${createHash('sha1').update(`pi${id}`).digest('hex').slice(0, 24)}`,
    customer_ip_address: '203.0.113.7',
    customer_user_agent: 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
    created_via: 'checkout',
    customer_note: '',
    date_completed: null,
    date_paid: local,
    cart_hash: createHash('md5').update(`cart${id}`).digest('hex'),
    number: String(id),
    meta_data: [
      { id: id * 10 + 1, key: '_stripe_customer_id', value: `cus_${id}` },
      { id: id * 10 + 2, key: 'is_vat_exempt', value: 'no' },
    ],
    line_items: [
      {
        id: id * 100 + 1,
        name: 'Bench Plugin – Single site',
        product_id: WOO_PRODUCT_ID,
        variation_id: 0,
        quantity: 1,
        tax_class: '',
        subtotal: '49.58',
        subtotal_tax: '9.42',
        total: '49.58',
        total_tax: '9.42',
        taxes: [{ id: 1, total: '9.42', subtotal: '9.42' }],
        meta_data: [],
        sku: 'bench-plugin',
        price: 49.58,
        image: { id: '', src: '' },
        parent_name: null,
      },
    ],
    tax_lines: [
      {
        id: id * 100 + 2,
        rate_code: 'DE-MWST-1',
        rate_id: 1,
        label: 'MwSt.',
        compound: false,
        tax_total: '9.42',
        shipping_tax_total: '0.00',
        rate_percent: 19,
        meta_data: [],
      },
    ],
    shipping_lines: [],
    fee_lines: [],
    coupon_lines: [],
    refunds: [],
    payment_url: `${STORE}/checkout/order-pay/${id}/?pay_for_order=true&key=${orderKey}`,
    is_editable: false,
    needs_payment: false,
    needs_processing: true,
    date_created_gmt: gmt,
    date_modified_gmt: gmt,
    date_completed_gmt: null,
    date_paid_gmt: gmt,
    currency_symbol: '€',
    _links: {
      self: [{ href: `${STORE}/wp-json/wc/v3/orders/${id}` }],
      collection: [{ href: `${STORE}/wp-json/wc/v3/orders` }],
    },
  };
}

/** `count` signed deliveries of paid orders with ids `firstId`, `firstId + 1`, … */
export function makeDeliveries(firstId: number, count: number, secret: string): Delivery[] {
  const now = new Date();
  const deliveries: Delivery[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const orderId = firstId + i;
    const body = Buffer.from(wpJsonEncode(wooOrder(orderId, now)), 'utf8');
    deliveries[i] = {
      orderId,
      body,
      signature: createHmac('sha256', secret).update(body).digest('base64'),
      // Like WooCommerce's wp_hash(id . time): 32 hex characters.
      deliveryId: createHash('md5').update(`delivery${orderId}`).digest('hex'),
    };
  }
  return deliveries;
}

/** Hands out order ids that were never sent before in this run. */
export function orderIds(start: number) {
  let next = start;
  return {
    take(count: number): number {
      const first = next;
      next += count;
      return first;
    },
  };
}

export interface LoadOptions {
  /** The delivery URL (`http://127.0.0.1:PORT/webhooks/woocommerce/ID`). */
  url: string;
  senders: number;
  /** Stop sending after this long (a run also ends when the deliveries run out). */
  seconds: number;
  /** Every correct answer is a 200 whose body contains this. */
  marker: string;
}

export interface LoadResult {
  /** Answers received (right or wrong). */
  requests: number;
  /** 200 answers containing the marker. */
  accepted: number;
  /** Answers that were not 200 or lacked the marker. */
  wrong: number;
  /** Requests that got no answer (socket errors, timeouts). */
  errors: number;
  /** From the first request sent to the last answer received. */
  seconds: number;
  perSecond: number;
  p50ms: number;
  p99ms: number;
  /** The first wrong answer or error, to show what went wrong. */
  firstProblem: string | null;
  /** True when the run ended because every prepared delivery had been sent. */
  exhausted: boolean;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** POSTs the deliveries, in order, from `senders` concurrent keep-alive connections. */
export async function sendDeliveries(deliveries: Delivery[], options: LoadOptions): Promise<LoadResult> {
  const url = new URL(options.url);
  const agent = new Agent({ keepAlive: true, maxSockets: options.senders });
  const latencies = new Float64Array(deliveries.length);
  let next = 0;
  let requests = 0;
  let accepted = 0;
  let wrong = 0;
  let errors = 0;
  let firstProblem: string | null = null;

  function post(d: Delivery): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          agent,
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            'Content-Length': d.body.length,
            'User-Agent': USER_AGENT,
            'X-WC-Webhook-Source': `${STORE}/`,
            'X-WC-Webhook-Topic': 'order.created',
            'X-WC-Webhook-Resource': 'order',
            'X-WC-Webhook-Event': 'created',
            'X-WC-Webhook-Signature': d.signature,
            'X-WC-Webhook-ID': '5',
            'X-WC-Webhook-Delivery-ID': d.deliveryId,
          },
          timeout: 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
          );
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('no answer within 30 s')));
      req.on('error', reject);
      req.end(d.body);
    });
  }

  const started = performance.now();
  const deadline = started + options.seconds * 1000;
  let finished = started;
  const sender = async (): Promise<void> => {
    while (next < deliveries.length && performance.now() < deadline) {
      const d = deliveries[next++]!;
      const t0 = performance.now();
      try {
        const answer = await post(d);
        finished = performance.now();
        latencies[requests++] = finished - t0;
        if (answer.status === 200 && answer.body.includes(options.marker)) accepted++;
        else {
          wrong++;
          firstProblem ??= `order ${d.orderId}: ${answer.status} ${answer.body.slice(0, 300)}`;
        }
      } catch (error) {
        finished = performance.now();
        errors++;
        firstProblem ??= `order ${d.orderId}: ${error instanceof Error ? error.message : String(error)}`;
      }
    }
  };
  await Promise.all(Array.from({ length: options.senders }, sender));
  agent.destroy();
  const seconds = (finished - started) / 1000;
  const sorted = latencies.slice(0, requests).sort();
  return {
    requests,
    accepted,
    wrong,
    errors,
    seconds,
    perSecond: requests / seconds,
    p50ms: percentile(sorted, 50),
    p99ms: percentile(sorted, 99),
    firstProblem,
    exhausted: next >= deliveries.length,
  };
}

/** The median of a list of runs' rates (NaN for none). */
export function medianRate(runs: { perSecond: number }[]): number {
  return median(runs.map((r) => r.perSecond));
}
