import type { CoreDeps } from '../core-deps.ts';
import { enqueueSideEffect } from '../outbox/outbox-service.ts';
import type { Repositories } from '../ports.ts';
import type { WebhookEndpoint, WebhookEvent } from './model.ts';

/**
 * The side effects of business changes, written into the outbox inside the change's own transaction.
 * Payloads carry ids only: keys and links are read (and keys opened) when the message is delivered, so
 * the outbox never holds a secret or more personal data than the order tables already do.
 */
export const TOPICS = {
  email: 'email',
  brevoContact: 'brevo.contact',
  wooWriteback: 'woocommerce.writeback',
  webhook: 'webhook',
} as const;

export type MailTemplate = 'order_delivered' | 'links_resent' | 'license_expiring' | 'license_revoked';

export interface EmailPayload {
  template: MailTemplate;
  customerId: string;
  orderId: string | null;
  licenseId: string | null;
}

export interface BrevoContactPayload {
  customerId: string;
  orderId: string;
}

export interface WooWritebackPayload {
  connectionId: string;
  externalId: string;
  orderId: string;
  kind: 'delivered' | 'revoked' | 'suspended' | 'reinstated';
}

export interface WebhookPayload {
  endpointId: string;
  event: WebhookEvent;
  /** Ids only; the body is completed at delivery. */
  data: Record<string, string | null>;
  occurredAt: string;
}

/** Settings key of the Brevo integration; present (and not disabled) means Brevo is on. */
export const BREVO_SETTING = 'brevo';

type Deps = Pick<CoreDeps, 'clock' | 'newId'>;

export async function enqueueEmail(deps: Deps, repos: Repositories, payload: EmailPayload, key: string) {
  return enqueueSideEffect(deps, repos, {
    topic: TOPICS.email,
    payload: { ...payload },
    idempotencyKey: `email:${payload.template}:${key}`,
  });
}

/** A note and meta on the WooCommerce order saying what was delivered or taken away. */
export async function enqueueWooWriteback(
  deps: Deps,
  repos: Repositories,
  payload: WooWritebackPayload,
  key: string,
): Promise<boolean> {
  return enqueueSideEffect(deps, repos, {
    topic: TOPICS.wooWriteback,
    payload: { ...payload },
    idempotencyKey: `woocommerce.writeback:${payload.kind}:${key}`,
  });
}

/** One message per endpoint that subscribed to the event (`endpoints` when the caller read them already). */
export async function emitWebhook(
  deps: Deps,
  repos: Repositories,
  event: WebhookEvent,
  data: Record<string, string | null>,
  key: string,
  endpoints?: WebhookEndpoint[],
): Promise<void> {
  const occurredAt = deps.clock.now().toISOString();
  for (const endpoint of endpoints ?? (await repos.webhookEndpoints.list())) {
    if (!endpoint.events.includes(event)) continue;
    const payload: WebhookPayload = { endpointId: endpoint.id, event, data, occurredAt };
    await enqueueSideEffect(deps, repos, {
      topic: TOPICS.webhook,
      payload: { ...payload },
      idempotencyKey: `webhook:${event}:${key}:${endpoint.id}`,
    });
  }
}

export async function brevoEnabled(repos: Repositories): Promise<boolean> {
  const raw = await repos.settings.get(BREVO_SETTING);
  return raw !== undefined && (JSON.parse(raw) as { enabled?: boolean }).enabled !== false;
}

/**
 * An order (or lines added to it) was delivered: the buyer's e-mail, Brevo contact sync, the store
 * write-back and the seller's webhooks. `deliveryKey` names this delivery, so a replay enqueues nothing.
 */
export async function onOrderDelivered(
  deps: Deps,
  repos: Repositories,
  input: {
    orderId: string;
    customerId: string;
    licenseIds: string[];
    deliveryKey: string;
    notify: boolean;
    woo?: { connectionId: string; externalId: string } | undefined;
  },
): Promise<void> {
  const { orderId, customerId, deliveryKey } = input;
  if (input.notify) {
    await enqueueEmail(
      deps,
      repos,
      { template: 'order_delivered', customerId, orderId, licenseId: null },
      deliveryKey,
    );
    if (await brevoEnabled(repos)) {
      const payload: BrevoContactPayload = { customerId, orderId };
      await enqueueSideEffect(deps, repos, {
        topic: TOPICS.brevoContact,
        payload: { ...payload },
        idempotencyKey: `brevo.contact:${deliveryKey}`,
      });
    }
  }
  if (input.woo) {
    await enqueueWooWriteback(deps, repos, { ...input.woo, orderId, kind: 'delivered' }, deliveryKey);
  }
  await emitWebhook(
    deps,
    repos,
    'order.fulfilled',
    { order_id: orderId, customer_id: customerId },
    deliveryKey,
  );
  for (const licenseId of input.licenseIds) {
    await emitWebhook(
      deps,
      repos,
      'license.created',
      { license_id: licenseId, order_id: orderId },
      licenseId,
    );
  }
}

/** Licenses were revoked or suspended (by the seller, or because their order was refunded or cancelled). */
export async function onLicenseEnded(
  deps: Deps,
  repos: Repositories,
  input: { licenseId: string; customerId: string; orderId: string | null; status: 'revoked' | 'suspended' },
): Promise<void> {
  const key = `${input.licenseId}:${deps.newId()}`;
  await enqueueEmail(
    deps,
    repos,
    {
      template: 'license_revoked',
      customerId: input.customerId,
      orderId: input.orderId,
      licenseId: input.licenseId,
    },
    key,
  );
  await emitWebhook(
    deps,
    repos,
    'license.revoked',
    { license_id: input.licenseId, order_id: input.orderId, status: input.status },
    key,
  );
}
