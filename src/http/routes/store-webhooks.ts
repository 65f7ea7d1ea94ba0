import { Hono } from 'hono';
import {
  createStripeGateway,
  type StripeGateway,
  stripeEventAction,
} from '../../adapters/stripe/stripe-gateway.ts';
import { parseWooOrder } from '../../adapters/woocommerce/wc-payload.ts';
import { isWooPing, verifyWooSignature } from '../../adapters/woocommerce/wc-signature.ts';
import type { AppContext } from '../../context.ts';
import { AppError } from '../../domain/errors.ts';
import { isUUID } from '../../domain/ids.ts';
import type { AppEnv } from '../env.ts';
import { limitBody } from '../middleware/body-limit.ts';

/**
 * Store webhooks. Both verify a signature over the raw bytes before anything else and answer only after
 * the resulting state is committed (order, grants, licenses and outbox rows in one transaction). They
 * never answer 3xx: WooCommerce counts a redirect as delivered.
 */
export function storeWebhookRoutes(ctx: AppContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const limit = limitBody(ctx.config.maxJsonBytes, 'Bodies');
  const gateways = new Map<string, StripeGateway>();

  function connectionId(raw: string): string {
    if (!isUUID(raw)) throw new AppError('NOT_FOUND', { message: 'No such connection.' });
    return raw;
  }

  app.post('/webhooks/woocommerce/:connection', limit, async (c) => {
    const id = connectionId(c.req.param('connection'));
    const { connection, credentials } = await ctx.connections.woocommerce(id);
    const raw = new Uint8Array(await c.req.arrayBuffer());
    const signature = c.req.header('x-wc-webhook-signature') ?? null;
    const topic = c.req.header('x-wc-webhook-topic') ?? null;
    // WooCommerce activates a webhook only after its unsigned ping gets exactly 200.
    if (isWooPing({ signature, topic }, Buffer.from(raw).toString('utf8'))) return c.body(null, 200);
    if (!verifyWooSignature(raw, signature, credentials.webhookSecret)) {
      throw new AppError('WEBHOOK_SIGNATURE_INVALID', {
        message: 'X-WC-Webhook-Signature does not match the body.',
      });
    }
    if (topic !== null && !topic.startsWith('order.')) {
      return c.json({ outcome: 'ignored', reason: `topic ${topic} is not about orders` });
    }
    let json: unknown;
    try {
      json = JSON.parse(Buffer.from(raw).toString('utf8'));
    } catch {
      throw new AppError('INVALID_REQUEST', { message: 'The webhook body is not JSON.' });
    }
    const order = parseWooOrder(json, { source: `woocommerce:${id}`, topic });
    const result = await ctx.storeSync.sync(order, {
      endAction: connection.settings.endAction,
      woo: { connectionId: id },
    });
    if (result.unmapped.length > 0) {
      ctx.logger.warn(
        { connection: id, order: order.externalId, unmapped: result.unmapped },
        'unmapped line items',
      );
    }
    return c.json(result);
  });

  app.post('/webhooks/stripe/:connection', limit, async (c) => {
    const id = connectionId(c.req.param('connection'));
    const { connection, credentials } = await ctx.connections.stripe(id);
    let gateway = gateways.get(id);
    if (!gateway) {
      gateway = createStripeGateway({
        ...credentials,
        apiBase: connection.settings.apiBase,
        source: `stripe:${id}`,
      });
      gateways.set(id, gateway);
    }
    const event = gateway.verify(await c.req.text(), c.req.header('stripe-signature') ?? null);
    const action = stripeEventAction(event);
    if (action.kind === 'ignore') return c.json({ outcome: 'ignored', reason: action.reason });
    const sessionId =
      action.kind === 'fulfil'
        ? action.sessionId
        : await gateway.sessionIdForPaymentIntent(action.paymentIntentId);
    if (!sessionId) return c.json({ outcome: 'ignored', reason: 'no Checkout Session for this payment' });
    // Line items are not in the event: the session is read from the API (a failure answers 503, and
    // Stripe retries the event for days).
    const order = await gateway.sessionOrder(sessionId);
    const result = await ctx.storeSync.sync(
      action.kind === 'end' ? { ...order, state: 'ended', platformStatus: event.type } : order,
      { endAction: connection.settings.endAction, eventId: event.id },
    );
    if (result.unmapped.length > 0) {
      ctx.logger.warn(
        { connection: id, session: sessionId, unmapped: result.unmapped },
        'unmapped line items',
      );
    }
    return c.json(result);
  });

  return app;
}
