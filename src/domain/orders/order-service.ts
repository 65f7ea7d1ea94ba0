import type { CoreDeps } from '../core-deps.ts';
import { normalizeEmail } from '../customers/email.ts';
import { AppError } from '../errors.ts';
import { type DownloadLink, type GrantView, linksForGrant, toGrantView } from '../grants/grant-service.ts';
import { onOrderDelivered } from '../integrations/side-effects.ts';
import { findProductRef, type IssuedLicense, toIssuedLicense } from '../licenses/license-service.ts';
import type { Customer, Order, Product } from '../model.ts';
import type { Repositories } from '../ports.ts';
import { deliverProducts } from './deliver-products.ts';

export interface CreateOrderInput {
  email: string;
  name?: string | undefined;
  /** Product refs (slug, id or item id), each optionally with a quantity (default 1). */
  products: (string | { product: string; quantity: number })[];
  /** Where the order came from: `cli`, `api`, later `woocommerce:<id>`, `stripe:<id>`. */
  source: string;
  /** The store's own order id; the same (source, externalId) always yields the same order. */
  externalId?: string | undefined;
  /** An Idempotency-Key with a hash of the request it came with. */
  idempotency?: { key: string; requestHash: string } | undefined;
  /** E-mail the buyer their keys and links (default true). */
  notify?: boolean | undefined;
}

export interface CustomerView {
  id: string;
  email: string;
  name: string | null;
}

export interface OrderView {
  order: { id: string; source: string; external_id: string | null; created_at: string };
  customer: CustomerView;
  grants: GrantView[];
  downloads: DownloadLink[];
  /** License keys for licensed products, in full: this view is for the seller and the buyer. */
  licenses: IssuedLicense[];
  /** False when an existing order was returned for a repeated external id or idempotency key. */
  created: boolean;
}

export interface OrderService {
  create(input: CreateOrderInput): Promise<OrderView>;
  get(orderId: string): Promise<OrderView>;
  list(options: { limit: number; before?: string | undefined }): Promise<OrderView['order'][]>;
}

export function createOrderService(deps: CoreDeps): OrderService {
  async function view(repos: Repositories, order: Order, created: boolean): Promise<OrderView> {
    const customer = await repos.customers.findById(order.customerId);
    if (!customer) throw new AppError('INTERNAL', { message: `order ${order.id} has no customer` });
    const grants = await repos.grants.listByOrder(order.id);
    const now = deps.clock.now();
    const grantViews: GrantView[] = [];
    const downloads: DownloadLink[] = [];
    for (const grant of grants) {
      const product = await repos.products.findById(grant.productId);
      if (!product) continue;
      grantViews.push(toGrantView(grant, product, now));
      downloads.push(...(await linksForGrant(deps, repos, grant)));
    }
    const licenses: IssuedLicense[] = [];
    for (const license of await repos.licenses.listByOrder(order.id)) {
      licenses.push(await toIssuedLicense(deps, repos, license));
    }
    return {
      order: {
        id: order.id,
        source: order.source,
        external_id: order.externalId,
        created_at: order.createdAt,
      },
      customer: toCustomerView(customer),
      grants: grantViews,
      downloads,
      licenses,
      created,
    };
  }

  async function existing(repos: Repositories, input: CreateOrderInput): Promise<Order | undefined> {
    if (input.idempotency) {
      const seen = await repos.orders.findIdempotencyKey(input.idempotency.key);
      if (seen) {
        if (seen.requestHash !== input.idempotency.requestHash) {
          throw new AppError('IDEMPOTENCY_KEY_REUSED', {
            message: 'This Idempotency-Key was used with a different request.',
          });
        }
        return repos.orders.findById(seen.orderId);
      }
    }
    if (input.externalId) return repos.orders.findByExternalId(input.source, input.externalId);
    return undefined;
  }

  /** A concurrent request with the same key or external id won the race: answer with its order. */
  async function raced(repos: Repositories, input: CreateOrderInput): Promise<OrderView> {
    const winner = await existing(repos, input);
    if (!winner)
      throw new AppError('INTERNAL', { message: 'order conflicted but the winner is not visible' });
    return view(repos, winner, false);
  }

  return {
    async create(input) {
      const email = normalizeEmail(input.email);
      if (input.products.length === 0 || input.products.length > 100) {
        throw new AppError('INVALID_REQUEST', {
          message: 'Give 1-100 products.',
          detail: { path: 'products' },
        });
      }
      return deps.uow.transaction(async (repos) => {
        const found = await existing(repos, input);
        if (found) return view(repos, found, false);

        // The same product named twice is one line with the quantities added up.
        const lines = new Map<string, { product: Product; quantity: number }>();
        for (const item of input.products) {
          const ref = typeof item === 'string' ? item : item.product;
          const quantity = typeof item === 'string' ? 1 : item.quantity;
          if (!Number.isInteger(quantity) || quantity < 1 || quantity > 1000) {
            throw new AppError('INVALID_REQUEST', {
              message: 'quantity must be 1-1000.',
              detail: { path: 'quantity' },
            });
          }
          const product = await findProductRef(repos, ref);
          if (!product) throw new AppError('NOT_FOUND', { message: `No product "${ref}".` });
          const line = lines.get(product.id);
          lines.set(product.id, { product, quantity: (line?.quantity ?? 0) + quantity });
        }
        const now = deps.clock.now();
        const orderId = deps.newId();
        // Claim the idempotency key before writing anything: a concurrent twin waits on the unique key
        // and then answers with this order instead of creating a second one.
        if (
          input.idempotency &&
          !(await repos.orders.saveIdempotencyKey(
            input.idempotency.key,
            input.idempotency.requestHash,
            orderId,
            now.toISOString(),
          ))
        ) {
          return raced(repos, input);
        }
        const customer = await repos.customers.upsertByEmail({
          id: deps.newId(),
          email,
          name: input.name?.trim() || null,
          createdAt: now.toISOString(),
        });
        const order: Order = {
          id: orderId,
          customerId: customer.id,
          source: input.source,
          externalId: input.externalId ?? null,
          createdAt: now.toISOString(),
        };
        if (!(await repos.orders.insert(order))) {
          return raced(repos, input);
        }
        const licenseIds = await deliverProducts(deps, repos, {
          orderId: order.id,
          customerId: customer.id,
          lines: [...lines.values()],
          now,
        });
        await onOrderDelivered(deps, repos, {
          orderId: order.id,
          customerId: customer.id,
          licenseIds,
          deliveryKey: order.id,
          notify: input.notify ?? true,
        });
        return view(repos, order, true);
      });
    },

    async get(orderId) {
      const order = await deps.uow.repos.orders.findById(orderId);
      if (!order) throw new AppError('NOT_FOUND', { message: `No order ${orderId}.` });
      return view(deps.uow.repos, order, false);
    },

    async list(options) {
      const orders = await deps.uow.repos.orders.list({
        limit: options.limit,
        ...(options.before ? { before: options.before } : {}),
      });
      return orders.map((o) => ({
        id: o.id,
        source: o.source,
        external_id: o.externalId,
        created_at: o.createdAt,
      }));
    },
  };
}

export function toCustomerView(customer: Customer): CustomerView {
  return { id: customer.id, email: customer.email, name: customer.name };
}
