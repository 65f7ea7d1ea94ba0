import type { CoreDeps } from '../core-deps.ts';
import { normalizeEmail } from '../customers/email.ts';
import { AppError } from '../errors.ts';
import type { Product } from '../model.ts';
import { deliverProducts } from '../orders/deliver-products.ts';
import type { Repositories } from '../ports.ts';
import type { EndAction, ExternalLine, ExternalOrder } from './external-order.ts';
import type { AccessState, ExternalOrderRecord } from './model.ts';
import { enqueueWooWriteback, onLicenseEnded, onOrderDelivered } from './side-effects.ts';

export type SyncOutcome =
  | 'fulfilled'
  | 'lines_added'
  | 'reinstated'
  | 'unchanged'
  | 'pending'
  | 'revoked'
  | 'suspended'
  | 'kept'
  | 'stale'
  | 'duplicate';

export interface SyncResult {
  outcome: SyncOutcome;
  order_id: string | null;
  /** Lines delivered by this call. */
  delivered_lines: string[];
  /** Lines that map to no product: ignored and reported, never fatal. */
  unmapped: { line_id: string; description: string }[];
}

export interface SyncOptions {
  endAction: EndAction;
  /** A provider event id (Stripe): processed at most once. */
  eventId?: string | undefined;
  /** Set for WooCommerce orders, whose notes and meta get the delivery written back. */
  woo?: { connectionId: string } | undefined;
}

/**
 * Brings our side of a store order in line with the store's *current* state, whatever the event that
 * reported it: paid orders are delivered once (and lines added later are delivered when they appear),
 * ended orders lose access per the connection's policy, and a delivery older than the last one seen is
 * ignored. Safe to call any number of times with the same or a newer state.
 */
export function createStoreSync(deps: CoreDeps) {
  async function mapLines(repos: Repositories, lines: ExternalLine[]) {
    const mapped = await repos.mappings.find(lines.flatMap((l) => l.keys));
    const products = new Map<string, Product | undefined>();
    const found: { line: ExternalLine; product: Product }[] = [];
    const unmapped: SyncResult['unmapped'] = [];
    for (const line of lines) {
      const productId = line.keys.map((k) => mapped.get(`${k.kind}:${k.value}`)).find(Boolean);
      if (productId && !products.has(productId)) {
        products.set(productId, await repos.products.findById(productId));
      }
      const product = productId ? products.get(productId) : undefined;
      if (product) found.push({ line, product });
      else unmapped.push({ line_id: line.lineId, description: line.description });
    }
    return { found, unmapped };
  }

  async function fulfil(
    repos: Repositories,
    order: ExternalOrder,
    record: ExternalOrderRecord,
    options: SyncOptions,
    now: Date,
  ): Promise<SyncResult> {
    const { found, unmapped } = await mapLines(repos, order.lines);
    let orderId = record.orderId;
    let customerId: string;
    if (orderId) {
      const existing = await repos.orders.findById(orderId);
      if (!existing) throw new AppError('INTERNAL', { message: `order ${orderId} is missing` });
      customerId = existing.customerId;
    } else {
      if (found.length === 0) return { outcome: 'unchanged', order_id: null, delivered_lines: [], unmapped };
      if (!order.customer) {
        throw new AppError('INVALID_REQUEST', { message: 'A paid order without a customer e-mail.' });
      }
      const name = [order.customer.firstName, order.customer.lastName].filter(Boolean).join(' ').trim();
      const customer = await repos.customers.upsertByEmail({
        id: deps.newId(),
        email: normalizeEmail(order.customer.email),
        name: name || null,
        createdAt: now.toISOString(),
      });
      orderId = deps.newId();
      customerId = customer.id;
      await repos.orders.insert({
        id: orderId,
        customerId,
        source: order.source,
        externalId: order.externalId,
        createdAt: now.toISOString(),
      });
    }
    const delivered = new Set((await repos.orderLines.listByOrder(orderId)).map((l) => l.lineId));
    const fresh = found.filter(({ line }) => !delivered.has(line.lineId));
    const reinstated = record.access === 'revoked' || record.access === 'suspended';
    if (reinstated) await reinstate(repos, orderId, record.endedAt, now);
    for (const { line, product } of fresh) {
      await repos.orderLines.insert({
        orderId,
        lineId: line.lineId,
        productId: product.id,
        quantity: line.quantity,
        createdAt: now.toISOString(),
      });
    }
    const licenseIds = await deliverProducts(deps, repos, {
      orderId,
      customerId,
      lines: fresh.map(({ line, product }) => ({ product, quantity: line.quantity })),
      now,
    });
    if (fresh.length > 0) {
      await onOrderDelivered(deps, repos, {
        orderId,
        customerId,
        licenseIds,
        deliveryKey: `${orderId}:${fresh.map(({ line }) => line.lineId).join(',')}`,
        notify: true,
        woo: options.woo && { connectionId: options.woo.connectionId, externalId: order.externalId },
      });
    }
    record.orderId = orderId;
    record.access = 'active';
    const outcome: SyncOutcome =
      delivered.size === 0 && fresh.length > 0
        ? 'fulfilled'
        : fresh.length > 0
          ? 'lines_added'
          : reinstated
            ? 'reinstated'
            : 'unchanged';
    return { outcome, order_id: orderId, delivered_lines: fresh.map(({ line }) => line.lineId), unmapped };
  }

  /** Gives back exactly what the order's end took away, not what the seller revoked by hand. */
  async function reinstate(repos: Repositories, orderId: string, endedAt: string | null, now: Date) {
    for (const grant of await repos.grants.listByOrder(orderId)) {
      if (grant.revokedAt && grant.revokedAt === endedAt)
        await repos.grants.update(grant.id, { revokedAt: null });
    }
    for (const license of await repos.licenses.listByOrder(orderId)) {
      if (license.status === 'active') continue;
      const last = (await repos.licenses.events(license.id)).at(-1);
      if (!last || last.at !== endedAt || last.detail.by !== 'store') continue;
      await repos.licenses.update(license.id, { status: 'active' });
      await repos.licenses.addEvent({
        id: deps.newId(),
        licenseId: license.id,
        type: 'license.reinstated',
        detail: { reason: 'order paid again', by: 'store' },
        at: now.toISOString(),
      });
    }
  }

  async function end(
    repos: Repositories,
    order: ExternalOrder,
    record: ExternalOrderRecord,
    options: SyncOptions,
    now: Date,
  ): Promise<SyncResult> {
    const orderId = record.orderId;
    const result: SyncResult = { outcome: 'unchanged', order_id: orderId, delivered_lines: [], unmapped: [] };
    if (!orderId || record.access !== 'active') return result;
    if (options.endAction === 'keep') {
      record.access = 'kept';
      return { ...result, outcome: 'kept' };
    }
    const status = options.endAction === 'revoke' ? 'revoked' : 'suspended';
    for (const grant of await repos.grants.listByOrder(orderId)) {
      if (!grant.revokedAt) await repos.grants.update(grant.id, { revokedAt: now.toISOString() });
    }
    for (const license of await repos.licenses.listByOrder(orderId)) {
      if (license.status === status || license.status === 'revoked') continue;
      await repos.licenses.update(license.id, { status });
      await repos.licenses.addEvent({
        id: deps.newId(),
        licenseId: license.id,
        type: `license.${status}`,
        detail: { reason: `order ${order.platformStatus}`, by: 'store' },
        at: now.toISOString(),
      });
      await onLicenseEnded(deps, repos, {
        licenseId: license.id,
        customerId: license.customerId,
        orderId,
        status,
      });
    }
    record.access = status;
    record.endedAt = now.toISOString();
    return { ...result, outcome: status };
  }

  return {
    sync(order: ExternalOrder, options: SyncOptions): Promise<SyncResult> {
      return deps.uow.transaction(async (repos) => {
        const now = deps.clock.now();
        if (
          options.eventId &&
          !(await repos.processedEvents.insert(order.source, options.eventId, now.toISOString()))
        ) {
          return { outcome: 'duplicate', order_id: null, delivered_lines: [], unmapped: [] };
        }
        const record = await repos.externalOrders.claim(order.source, order.externalId, now.toISOString());
        // A delivery older than the last one seen says nothing new. Without timestamps (Stripe, whose
        // events arrive in any order) an ended order stays ended: a late "completed" must not undo a refund.
        const older = order.modifiedAt && record.modifiedAt && order.modifiedAt < record.modifiedAt;
        const reopened = !order.modifiedAt && record.state === 'ended' && order.state !== 'ended';
        if (older || reopened) {
          return { outcome: 'stale', order_id: record.orderId, delivered_lines: [], unmapped: [] };
        }
        const previousAccess: AccessState = record.access;
        const result =
          order.state === 'paid'
            ? await fulfil(repos, order, record, options, now)
            : order.state === 'ended'
              ? await end(repos, order, record, options, now)
              : { outcome: 'pending' as const, order_id: record.orderId, delivered_lines: [], unmapped: [] };
        const changed = previousAccess !== record.access;
        if (options.woo && result.order_id && changed && result.outcome !== 'fulfilled') {
          const kind =
            record.access === 'active' ? 'reinstated' : record.access === 'kept' ? null : record.access;
          if (kind && kind !== 'none') {
            await enqueueWooWriteback(
              deps,
              repos,
              {
                connectionId: options.woo.connectionId,
                externalId: order.externalId,
                orderId: result.order_id,
                kind,
              },
              `${result.order_id}:${now.getTime()}`,
            );
          }
        }
        await repos.externalOrders.update({
          ...record,
          state: order.state,
          platformStatus: order.platformStatus,
          modifiedAt: order.modifiedAt ?? record.modifiedAt,
          updatedAt: now.toISOString(),
        });
        return result;
      });
    },
  };
}

export type StoreSync = ReturnType<typeof createStoreSync>;
