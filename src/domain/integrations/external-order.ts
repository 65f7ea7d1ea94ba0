/**
 * An order as a store platform (WooCommerce, Stripe) describes it, reduced to what fulfilment needs.
 * Adapters parse the platform's payload into this; the core decides what to do from the *state*.
 */
export interface ExternalOrder {
  /** `woocommerce:<connection id>` or `stripe:<connection id>`. */
  source: string;
  /** The platform's order id (WooCommerce order id, Stripe Checkout Session id). */
  externalId: string;
  state: ExternalOrderState;
  /** The platform's own status word, kept for reports (`processing`, `refunded`, `complete`…). */
  platformStatus: string;
  /** When the platform last changed the order (ISO UTC), to ignore stale deliveries; null if unknown. */
  modifiedAt: string | null;
  /** Absent on `order.deleted`, which carries only the id. */
  customer: ExternalCustomer | null;
  lines: ExternalLine[];
}

/**
 * - `paid`: deliver (WooCommerce `processing`/`completed` with a paid date; Stripe paid session).
 * - `pending`: not paid yet; record it, deliver nothing.
 * - `ended`: refunded, cancelled, failed or deleted; take access away per the connection's policy.
 */
export type ExternalOrderState = 'paid' | 'pending' | 'ended';

export interface ExternalCustomer {
  email: string;
  firstName: string | null;
  lastName: string | null;
}

export interface ExternalLine {
  /** Stable per line of the order (WooCommerce line item id, Stripe line item id). */
  lineId: string;
  quantity: number;
  /** What the buyer saw, for the report of unmapped lines. */
  description: string;
  /** Mapping keys to try, most specific first (variation before product before SKU). */
  keys: MappingKey[];
}

export type MappingKind =
  | 'woocommerce_variation'
  | 'woocommerce_product'
  | 'woocommerce_sku'
  | 'stripe_price'
  | 'stripe_product';

export interface MappingKey {
  kind: MappingKind;
  value: string;
}

/** What happens to grants and licenses when an order is refunded, cancelled, failed or deleted. */
export type EndAction = 'revoke' | 'suspend' | 'keep';
