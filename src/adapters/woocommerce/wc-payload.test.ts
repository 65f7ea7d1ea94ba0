import { describe, expect, it } from 'vitest';
import { AppError } from '../../domain/errors.ts';
import { parseWooOrder } from './wc-payload.ts';

const input = { source: 'woocommerce:1', topic: 'order.updated' };

/** The contract's §1.6 example, trimmed to what matters plus a few fields we must ignore. */
function order(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 727,
    number: '727',
    status: 'processing',
    currency: 'USD',
    date_modified_gmt: '2017-03-22T19:28:08',
    date_paid_gmt: '2017-03-22T19:28:08',
    total: '29.35',
    billing: { first_name: 'John', last_name: 'Doe', email: 'john.doe@example.com', phone: '(555) 555-5555' },
    meta_data: [{ id: 13106, key: '_download_permissions_granted', value: 'yes' }],
    line_items: [
      { id: 315, name: 'Woo Single #1', product_id: 93, variation_id: 0, quantity: 2, sku: '', price: 3 },
      {
        id: 316,
        name: 'Ship Your Idea &ndash; Color: Black, Size: M Test',
        product_id: 22,
        variation_id: 23,
        quantity: 1,
        sku: 'Bar3',
        meta_data: [{ id: 2095, key: 'pa_color', value: 'black', display_key: 'Color' }],
      },
    ],
    refunds: [{ id: 726, reason: '', total: '-10.00' }],
    ...overrides,
  };
}

function parseError(json: unknown, topic: string | null = 'order.updated'): AppError {
  try {
    parseWooOrder(json, { source: 'woocommerce:1', topic });
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected the payload to be refused');
}

describe('parseWooOrder', () => {
  it('maps a paid processing order with its customer and lines', () => {
    expect(parseWooOrder(order(), input)).toEqual({
      source: 'woocommerce:1',
      externalId: '727',
      state: 'paid',
      platformStatus: 'processing',
      modifiedAt: '2017-03-22T19:28:08.000Z',
      customer: { email: 'john.doe@example.com', firstName: 'John', lastName: 'Doe' },
      lines: [
        {
          lineId: '315',
          quantity: 2,
          description: 'Woo Single #1',
          keys: [{ kind: 'woocommerce_product', value: '93' }],
        },
        {
          lineId: '316',
          quantity: 1,
          description: 'Ship Your Idea – Color: Black, Size: M Test',
          keys: [
            { kind: 'woocommerce_variation', value: '23' },
            { kind: 'woocommerce_product', value: '22' },
            { kind: 'woocommerce_sku', value: 'Bar3' },
          ],
        },
      ],
    });
  });

  it.each([
    ['completed', '2017-03-22T19:28:08', 'paid'],
    ['processing', null, 'pending'],
    ['completed', null, 'pending'],
    ['pending', null, 'pending'],
    ['on-hold', null, 'pending'],
    ['checkout-draft', null, 'pending'],
    ['wc-custom-shipped', '2017-03-22T19:28:08', 'pending'],
    ['refunded', '2017-03-22T19:28:08', 'ended'],
    ['cancelled', null, 'ended'],
    ['failed', null, 'ended'],
    ['trash', '2017-03-22T19:28:08', 'ended'],
  ])('status %s with date_paid_gmt %s is %s', (status, paid, state) => {
    const parsed = parseWooOrder(order({ status, date_paid_gmt: paid }), input);
    expect(parsed.state).toBe(state);
    expect(parsed.platformStatus).toBe(status);
  });

  it('treats order.deleted and a bare {id} payload as ended and deleted', () => {
    const expected = {
      source: 'woocommerce:1',
      externalId: '727',
      state: 'ended',
      platformStatus: 'deleted',
      modifiedAt: null,
      customer: null,
      lines: [],
    };
    expect(parseWooOrder({ id: 727 }, { ...input, topic: 'order.deleted' })).toEqual(expected);
    expect(parseWooOrder({ id: '727' }, { ...input, topic: null })).toEqual(expected);
    expect(parseWooOrder(order(), { ...input, topic: 'order.deleted' })).toEqual(expected);
  });

  it('reads *_gmt dates as UTC and tolerates missing or zoned ones', () => {
    const at = (date_modified_gmt: unknown) => parseWooOrder(order({ date_modified_gmt }), input).modifiedAt;
    expect(at('2024-01-31T23:59:59')).toBe('2024-01-31T23:59:59.000Z');
    expect(at('2024-01-31 23:59:59')).toBe('2024-01-31T23:59:59.000Z');
    expect(at('2024-02-01T01:59:59+02:00')).toBe('2024-01-31T23:59:59.000Z');
    expect(at(null)).toBeNull();
    expect(at(undefined)).toBeNull();
    // An older delivery compares lower, so the caller can ignore it.
    expect(at('2024-01-31T23:59:58')! < at('2024-01-31T23:59:59')!).toBe(true);
  });

  it('accepts numbers sent as strings and decodes HTML entities in names', () => {
    const parsed = parseWooOrder(
      order({
        id: '728',
        billing: { first_name: 'Ren&eacute; &amp; Co', last_name: '', email: ' rene@example.com ' },
        line_items: [{ id: '9', name: 'A &lt;b&gt; &#039;x&#039; &amp;lt;', product_id: '5', quantity: '3' }],
      }),
      input,
    );
    expect(parsed.externalId).toBe('728');
    expect(parsed.customer).toEqual({
      email: 'rene@example.com',
      firstName: 'Ren&eacute; & Co',
      lastName: null,
    });
    expect(parsed.lines).toEqual([
      {
        lineId: '9',
        quantity: 3,
        description: "A <b> 'x' &lt;",
        keys: [{ kind: 'woocommerce_product', value: '5' }],
      },
    ]);
  });

  it('keeps the characters that wp_json_encode escaped, since JSON.parse decodes them', () => {
    const raw =
      '{"id":1,"status":"pending","billing":{"first_name":"Jos\\u00e9","email":"a\\/b@example.com"}}';
    const parsed = parseWooOrder(JSON.parse(raw), input);
    expect(parsed.customer).toEqual({ email: 'a/b@example.com', firstName: 'José', lastName: null });
  });

  it('allows an unpaid draft without an email but not a paid order', () => {
    const draft = parseWooOrder(
      order({ status: 'checkout-draft', date_paid_gmt: null, billing: { email: '' } }),
      input,
    );
    expect(draft.customer).toBeNull();
    expect(parseError(order({ billing: { email: '' } })).detail).toEqual({ path: 'billing.email' });
  });

  it.each([
    ['a non-object', 'nonsense', '(root)'],
    ['a missing id', { status: 'processing' }, 'id'],
    ['a negative id', { id: -1, status: 'processing' }, 'id'],
    ['a zero id on delete', { id: 0 }, 'id'],
    ['a missing status', { id: 1, billing: { email: 'a@example.com' } }, 'status'],
    [
      'a zero quantity',
      order({ line_items: [{ id: 1, name: 'x', product_id: 2, quantity: 0 }] }),
      'line_items.0.quantity',
    ],
    [
      'a fractional quantity',
      order({ line_items: [{ id: 1, product_id: 2, quantity: 1.5 }] }),
      'line_items.0.quantity',
    ],
    ['an unreadable date', order({ date_modified_gmt: 'yesterday' }), 'date_modified_gmt'],
    ['a malformed email', order({ billing: { email: 'not an email' } }), 'billing.email'],
  ])('refuses %s with INVALID_REQUEST naming the field', (_name, json, path) => {
    const error = parseError(json);
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.detail).toEqual({ path });
    expect(error.message).toContain(path);
  });

  it('never echoes the payload in its error message', () => {
    const error = parseError(
      order({ billing: { email: 'secret-person@example.com' }, date_modified_gmt: 'x' }),
    );
    expect(error.message).not.toContain('secret-person');
    expect(error.message).not.toContain('"x"');
  });
});
