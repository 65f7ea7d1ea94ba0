import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWooCommerceStandIn, type WooStandIn } from '../../../tests/helpers/woocommerce-standin.ts';
import { PermanentDeliveryError } from '../../domain/outbox/outbox.ts';
import { createWooCommerceClient, type WooCommerceClient } from './wc-client.ts';

const KEY = 'ck_test_key';
const SECRET = 'cs_super_secret_value';

let store: WooStandIn;
let client: WooCommerceClient;

beforeAll(async () => {
  store = await startWooCommerceStandIn({ consumerKey: KEY, consumerSecret: SECRET, webhookSecret: 'whsec' });
  // A trailing slash on the store URL must not produce `//wp-json`.
  client = createWooCommerceClient({ storeUrl: `${store.url}/`, consumerKey: KEY, consumerSecret: SECRET });
});

afterAll(() => store.close());

async function rejection(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof Error)) throw new Error('expected the call to fail');
  return error;
}

describe('WooCommerce client', () => {
  it('adds an order note with Basic auth', async () => {
    const order = store.putOrder(store.makeOrder());
    const { id } = await client.addNote(String(order.id), 'Delivered 1 download link', false);
    expect(id).toBeGreaterThan(0);
    expect(store.notes.at(-1)).toEqual({
      orderId: String(order.id),
      note: 'Delivered 1 download link',
      customer_note: false,
      authorization: `Basic ${Buffer.from(`${KEY}:${SECRET}`).toString('base64')}`,
    });
    expect(store.requests.at(-1)).toMatchObject({
      method: 'POST',
      path: `/wp-json/wc/v3/orders/${order.id}/notes`,
    });
  });

  it('upserts order meta by key', async () => {
    const order = store.putOrder(
      store.makeOrder({ meta_data: [{ id: 1, key: 'cloudsecure_delivery_status', value: 'pending' }] }),
    );
    await client.updateMeta(String(order.id), [
      { key: 'cloudsecure_delivery_status', value: 'sent' },
      { key: 'cloudsecure_access_url', value: 'https://dl.example.com/a/xyz' },
    ]);
    expect(store.order(order.id)?.meta_data).toEqual([
      { id: 1, key: 'cloudsecure_delivery_status', value: 'sent' },
      { id: expect.any(Number), key: 'cloudsecure_access_url', value: 'https://dl.example.com/a/xyz' },
    ]);
  });

  it('gets one order and pages through modified orders, oldest first', async () => {
    // Every later putOrder is modified strictly after this marker.
    const since = `${store.putOrder(store.makeOrder()).date_modified_gmt}Z`;
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push(store.putOrder(store.makeOrder()).id);
    expect(await client.getOrder(String(ids[0]))).toMatchObject({ id: ids[0], status: 'processing' });

    const seen: unknown[] = [];
    let page = 1;
    let totalPages = 1;
    do {
      const result = await client.listOrders({ modifiedAfter: since, page, perPage: 2 });
      seen.push(...result.orders);
      totalPages = result.totalPages;
      page++;
    } while (page <= totalPages);
    expect(totalPages).toBeGreaterThanOrEqual(3);
    const seenIds = seen.map((o) => (o as { id: number }).id);
    expect(seenIds.filter((id) => ids.includes(id))).toEqual(ids);
    const query = new URL(store.requests.at(-1)?.path ?? '', store.url).searchParams;
    expect(Object.fromEntries(query)).toMatchObject({
      orderby: 'modified',
      order: 'asc',
      dates_are_gmt: 'true',
    });
  });

  it('turns a refused login into a PermanentDeliveryError that keeps the secret out', async () => {
    const wrong = createWooCommerceClient({
      storeUrl: store.url,
      consumerKey: KEY,
      consumerSecret: 'cs_wrong_secret',
    });
    const error = await rejection(wrong.addNote('727', 'x', false));
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect(error.message).toContain('401');
    expect(error.message).toContain('woocommerce_rest_authentication_error');
    expect(error.message).toContain('Consumer secret is invalid.');
    expect(error.message).not.toContain('cs_wrong_secret');
  });

  it('reports an unknown order as permanent', async () => {
    const error = await rejection(client.getOrder('999999'));
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect(error.message).toContain('404');
    expect(error.message).toContain('woocommerce_rest_shop_order_invalid_id');
  });

  it('treats an outage as retryable', async () => {
    const order = store.putOrder(store.makeOrder());
    store.failNext(1, 503);
    const error = await rejection(client.addNote(String(order.id), 'x', false));
    expect(error).not.toBeInstanceOf(PermanentDeliveryError);
    expect(error.message).toContain('503');
    expect(error.message).not.toContain(SECRET);
    // The outage is over: the same call now succeeds.
    await expect(client.addNote(String(order.id), 'x', true)).resolves.toEqual({ id: expect.any(Number) });
  });

  it('treats an unreachable store as retryable', async () => {
    const gone = await startWooCommerceStandIn({
      consumerKey: KEY,
      consumerSecret: SECRET,
      webhookSecret: 'w',
    });
    await gone.close();
    const offline = createWooCommerceClient({ storeUrl: gone.url, consumerKey: KEY, consumerSecret: SECRET });
    const error = await rejection(offline.getOrder('1'));
    expect(error).not.toBeInstanceOf(PermanentDeliveryError);
    expect(error.message).toContain('unreachable');
  });
});
