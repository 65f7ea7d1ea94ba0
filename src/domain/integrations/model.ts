import type { EndAction, ExternalOrderState, MappingKind } from './external-order.ts';

export type ConnectionKind = 'woocommerce' | 'stripe';

export interface WooCommerceSettings {
  storeUrl: string;
  endAction: EndAction;
  /** Write the delivery note as a customer note, so WooCommerce e-mails it to the buyer too. */
  customerNote: boolean;
}

export interface StripeSettings {
  /** Where the SDK sends API calls; null = Stripe itself (tests point it at a local stand-in). */
  apiBase: string | null;
  endAction: EndAction;
}

export type Connection =
  | { id: string; kind: 'woocommerce'; settings: WooCommerceSettings; createdAt: string }
  | { id: string; kind: 'stripe'; settings: StripeSettings; createdAt: string };

/** Credentials, stored only sealed (secret id `connection:<id>`). */
export interface WooCommerceCredentials {
  consumerKey: string;
  consumerSecret: string;
  webhookSecret: string;
}

export interface StripeCredentials {
  secretKey: string;
  webhookSecret: string;
}

/** Whether the buyer still has what the order delivered. */
export type AccessState = 'none' | 'active' | 'revoked' | 'suspended' | 'kept';

/** The last state seen of a store's order, and what we did about it. */
export interface ExternalOrderRecord {
  source: string;
  externalId: string;
  state: ExternalOrderState;
  platformStatus: string;
  modifiedAt: string | null;
  orderId: string | null;
  access: AccessState;
  /** When access was taken away (revoked/suspended) because the order ended: what a reinstatement undoes. */
  endedAt: string | null;
  updatedAt: string;
}

/** A delivered line of a store's order (so later-added lines are delivered once too). */
export interface OrderLine {
  orderId: string;
  lineId: string;
  productId: string;
  quantity: number;
  createdAt: string;
}

export interface ProductMapping {
  kind: MappingKind;
  value: string;
  productId: string;
  createdAt: string;
}

export const WEBHOOK_EVENTS = [
  'order.fulfilled',
  'license.created',
  'license.revoked',
  'download.limit_reached',
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** A seller's endpoint for our outgoing webhooks; its signing secret is sealed as `webhook:<id>`. */
export interface WebhookEndpoint {
  id: string;
  url: string;
  events: WebhookEvent[];
  createdAt: string;
}
