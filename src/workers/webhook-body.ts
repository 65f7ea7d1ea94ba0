import type { CoreDeps } from '../domain/core-deps.ts';
import type { WebhookPayload } from '../domain/integrations/side-effects.ts';
import { toIssuedLicense } from '../domain/licenses/license-service.ts';

/**
 * The JSON body of an outgoing webhook: the event envelope plus the current state of what it is about.
 * The seller's own system receives license keys (it is theirs to know); buyers' IPs never go out.
 */
export async function webhookBody(deps: CoreDeps, id: string, payload: WebhookPayload) {
  const repos = deps.uow.repos;
  const data: Record<string, unknown> = { ...payload.data };
  const orderId = payload.data.order_id;
  if (orderId) {
    const order = await repos.orders.findById(orderId);
    const customer = order && (await repos.customers.findById(order.customerId));
    if (order) data.order = { id: order.id, source: order.source, external_id: order.externalId };
    if (customer) data.customer = { id: customer.id, email: customer.email, name: customer.name };
  }
  const licenseId = payload.data.license_id;
  if (licenseId) {
    const license = await repos.licenses.findById(licenseId);
    if (license) {
      const issued = await toIssuedLicense(deps, repos, license);
      data.license = { ...issued, key: payload.event === 'license.created' ? issued.key : undefined };
    }
  }
  return { id, type: payload.event, created_at: payload.occurredAt, data };
}
