import { createHash } from 'node:crypto';
import { createBrevoClient } from '../adapters/brevo/brevo-client.ts';
import type { TemplateRenderer } from '../adapters/email/templates.ts';
import { sendWebhook } from '../adapters/webhooks/webhook-sender.ts';
import { createWooCommerceClient } from '../adapters/woocommerce/wc-client.ts';
import type { CoreDeps } from '../domain/core-deps.ts';
import { AppError } from '../domain/errors.ts';
import type { ConnectionService } from '../domain/integrations/connections.ts';
import type { MessagingSettings } from '../domain/integrations/messaging.ts';
import {
  type BrevoContactPayload,
  type EmailPayload,
  TOPICS,
  type WebhookPayload,
  type WooWritebackPayload,
} from '../domain/integrations/side-effects.ts';
import type { OrderService } from '../domain/orders/order-service.ts';
import { PermanentDeliveryError } from '../domain/outbox/outbox.ts';
import type { OutboxHandler } from '../domain/outbox/outbox-service.ts';
import { buildMailContext } from './mail-context.ts';
import type { MailTransport } from './mail-transport.ts';
import { webhookBody } from './webhook-body.ts';

export interface HandlerDeps {
  deps: CoreDeps;
  orders: OrderService;
  connections: ConnectionService;
  messaging: MessagingSettings;
  mail: MailTransport;
  templates: TemplateRenderer;
}

/** Stable per outbox message, so a redelivery after a crash is recognisably the same e-mail. */
export function messageIdFor(idempotencyKey: string, publicUrl: string): string {
  const host = new URL(publicUrl).hostname || 'cloudsecure.local';
  return `<${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 40)}@${host}>`;
}

function splitName(name: string | null): { firstName: string | null; lastName: string | null } {
  const trimmed = name?.trim() ?? '';
  if (!trimmed) return { firstName: null, lastName: null };
  const at = trimmed.lastIndexOf(' ');
  return at < 0
    ? { firstName: trimmed, lastName: null }
    : { firstName: trimmed.slice(0, at), lastName: trimmed.slice(at + 1) };
}

/** A Stripe/upstream refusal that retrying cannot fix becomes a dead letter at once. */
function permanentIfRefused(error: unknown): never {
  if (error instanceof AppError && error.code === 'NOT_FOUND') {
    throw new PermanentDeliveryError(error.message, { cause: error });
  }
  throw error;
}

export function createOutboxHandlers(h: HandlerDeps): Record<string, OutboxHandler> {
  const { deps } = h;

  async function brevoClient() {
    const settings = await h.messaging.brevo();
    if (!settings?.enabled) return null;
    const apiKey = await h.messaging.brevoApiKey();
    if (!apiKey) return null;
    return { settings, client: createBrevoClient({ apiKey, apiBase: settings.apiBase }) };
  }

  return {
    async [TOPICS.email](message) {
      const payload = message.payload as unknown as EmailPayload;
      const transport = await h.mail.current();
      const { customer, context } = await buildMailContext(deps, h.orders, transport.settings, payload);
      const brevo = payload.template === 'order_delivered' ? await brevoClient() : null;
      const sender = {
        email: transport.settings.from.replace(/^.*<([^>]+)>.*$/, '$1'),
        name: context.seller.name,
      };
      const to = { email: customer.email, name: customer.name };
      if (brevo?.settings.templateId) {
        // Only these fields leave the server for Brevo (privacy policy: name, e-mail, purchase, keys).
        await brevo.client.sendTemplateEmail({
          to,
          sender,
          templateId: brevo.settings.templateId,
          // A digest: stable across retries for Brevo's deduplication, but no internal id leaves the server.
          idempotencyKey: createHash('sha256').update(message.idempotencyKey).digest('hex'),
          params: {
            name: customer.name ?? '',
            products: context.products.map((p) => p.name),
            keys: context.licenses.map((l) => ({ product: l.product, key: l.key })),
            links: context.access.map((a) => ({ product: a.product, url: a.url })),
          },
        });
        return;
      }
      const rendered = h.templates.render(payload.template, context);
      await transport.mailer.send({
        to: customer.email,
        subject: rendered.subject,
        text: rendered.text,
        html: rendered.html,
        messageId: messageIdFor(message.idempotencyKey, deps.publicUrl),
      });
    },

    async [TOPICS.brevoContact](message) {
      const payload = message.payload as unknown as BrevoContactPayload;
      const brevo = await brevoClient();
      if (!brevo) return; // Turned off since: nothing may go to Brevo.
      const customer = await deps.uow.repos.customers.findById(payload.customerId);
      if (!customer) throw new PermanentDeliveryError(`customer ${payload.customerId} no longer exists`);
      const products: string[] = [];
      for (const grant of await deps.uow.repos.grants.listByOrder(payload.orderId)) {
        const product = await deps.uow.repos.products.findById(grant.productId);
        if (product && !products.includes(product.name)) products.push(product.name);
      }
      await brevo.client.upsertContact({
        email: customer.email,
        ...splitName(customer.name),
        products,
        listId: brevo.settings.listId,
      });
    },

    async [TOPICS.wooWriteback](message) {
      const payload = message.payload as unknown as WooWritebackPayload;
      const { connection, credentials } = await h.connections
        .woocommerce(payload.connectionId)
        .catch(permanentIfRefused);
      const client = createWooCommerceClient({
        storeUrl: connection.settings.storeUrl,
        consumerKey: credentials.consumerKey,
        consumerSecret: credentials.consumerSecret,
      });
      const at = deps.clock.now().toISOString();
      // The meta says where access stands *now*, not what this message was about: write-backs of one order
      // can be delivered out of order (retries, parallel lanes), and the last one must not be stale.
      const record = await deps.uow.repos.externalOrders.findByOrder(payload.orderId);
      const status = !record ? payload.kind : record.access === 'active' ? 'delivered' : record.access;
      // Meta first: it is an upsert, so a retry after a failed note repeats nothing visible.
      await client.updateMeta(payload.externalId, [
        { key: 'cloudsecure_delivery_status', value: status },
        { key: 'cloudsecure_order_id', value: payload.orderId },
        { key: `cloudsecure_${payload.kind}_at`, value: at },
      ]);
      const note =
        payload.kind === 'delivered'
          ? await deliveryNote(h, payload.orderId)
          : payload.kind === 'reinstated'
            ? 'CloudSecure: access restored (downloads and license keys work again).'
            : `CloudSecure: access ${payload.kind} (downloads stopped, license keys ${payload.kind}).`;
      await client.addNote(
        payload.externalId,
        note,
        payload.kind === 'delivered' && connection.settings.customerNote,
      );
    },

    async [TOPICS.webhook](message) {
      const payload = message.payload as unknown as WebhookPayload;
      const found = await h.messaging.webhookEndpoint(payload.endpointId);
      if (!found) return; // The endpoint was removed: nobody is waiting for this event any more.
      const body = await webhookBody(deps, message.idempotencyKey, payload);
      await sendWebhook({
        url: found.endpoint.url,
        secret: found.secret,
        id: message.idempotencyKey,
        event: payload.event,
        body: JSON.stringify(body),
        timestamp: Math.floor(deps.clock.now().getTime() / 1000),
      });
    },
  };
}

async function deliveryNote(h: HandlerDeps, orderId: string): Promise<string> {
  const view = await h.orders.get(orderId).catch(permanentIfRefused);
  const lines = ['CloudSecure delivered this order.'];
  const access = [...new Map(view.downloads.map((d) => [d.access_url, d.product])).entries()];
  for (const [url, product] of access) lines.push(`${product}: ${url}`);
  for (const license of view.licenses) lines.push(`License key (${license.product}): ${license.key}`);
  return lines.join('\n');
}
