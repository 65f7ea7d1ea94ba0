import type { MailContext } from '../adapters/email/templates.ts';
import type { CoreDeps } from '../domain/core-deps.ts';
import { AppError } from '../domain/errors.ts';
import type { MailSettings } from '../domain/integrations/messaging.ts';
import type { Customer } from '../domain/model.ts';
import type { OrderService } from '../domain/orders/order-service.ts';
import { PermanentDeliveryError } from '../domain/outbox/outbox.ts';

/**
 * What a customer e-mail shows, read at delivery time: current links, keys opened from their sealed
 * copies. A customer or order that no longer exists (erased) makes the message undeliverable.
 */
export async function buildMailContext(
  deps: CoreDeps,
  orders: OrderService,
  mail: MailSettings,
  input: { customerId: string; orderId: string | null; licenseId: string | null },
): Promise<{ customer: Customer; context: MailContext }> {
  const repos = deps.uow.repos;
  const customer = await repos.customers.findById(input.customerId);
  if (!customer) throw new PermanentDeliveryError(`customer ${input.customerId} no longer exists`);
  const names = new Map<string, string>();
  async function productName(slug: string): Promise<string> {
    if (!names.has(slug)) names.set(slug, (await repos.products.findBySlugOrId(slug))?.name ?? slug);
    return names.get(slug) ?? slug;
  }
  const context: MailContext = {
    seller: {
      name: mail.seller.name,
      logo_url: mail.seller.logoUrl,
      support_email: mail.seller.supportEmail,
    },
    customer: { name: customer.name, email: customer.email },
    order: null,
    products: [],
    access: [],
    downloads: [],
    licenses: [],
    portal_url: null,
    license: null,
  };
  if (input.orderId) {
    let view: Awaited<ReturnType<OrderService['get']>>;
    try {
      view = await orders.get(input.orderId);
    } catch (error) {
      if (error instanceof AppError && error.code === 'NOT_FOUND') {
        throw new PermanentDeliveryError(`order ${input.orderId} no longer exists`);
      }
      throw error;
    }
    context.order = { id: view.order.id, reference: view.order.external_id ?? view.order.id };
    const seen = new Set<string>();
    for (const grant of view.grants) {
      if (grant.status !== 'active') continue;
      const name = await productName(grant.product);
      if (!seen.has(grant.product)) context.products.push({ name });
      seen.add(grant.product);
    }
    for (const link of view.downloads) {
      if (link.revoked) continue;
      const name = await productName(link.product);
      if (!context.access.some((a) => a.url === link.access_url))
        context.access.push({ product: name, url: link.access_url });
      context.downloads.push({ product: name, file: link.file, url: link.url });
    }
    for (const license of view.licenses) {
      if (license.status !== 'active') continue;
      context.licenses.push({
        product: await productName(license.product),
        key: license.key,
        expires_at: license.expires_at,
      });
    }
  }
  if (input.licenseId) {
    const license = await repos.licenses.findById(input.licenseId);
    if (!license) throw new PermanentDeliveryError(`license ${input.licenseId} no longer exists`);
    const product = await repos.products.findById(license.productId);
    context.license = {
      product: product?.name ?? '',
      key_hint: license.keyHint,
      expires_at: license.expiresAt,
    };
  }
  return { customer, context };
}
