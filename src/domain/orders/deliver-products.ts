import type { CoreDeps } from '../core-deps.ts';
import { planGrant } from '../grants/grant.ts';
import { issueLicense } from '../licenses/license-service.ts';
import type { Product } from '../model.ts';
import type { Repositories } from '../ports.ts';

/**
 * What an order line gives the buyer: a grant for the product's files and, for licensed products, its
 * license keys (one per unit, or one with the activation limit multiplied). Runs in the order's
 * transaction; returns the ids of the licenses issued.
 */
export async function deliverProducts(
  deps: CoreDeps,
  repos: Repositories,
  input: { orderId: string; customerId: string; lines: { product: Product; quantity: number }[]; now: Date },
): Promise<string[]> {
  const licenseIds: string[] = [];
  for (const { product, quantity } of input.lines) {
    await repos.grants.insert(
      planGrant({
        id: deps.newId(),
        orderId: input.orderId,
        customerId: input.customerId,
        product,
        now: input.now,
      }),
    );
    const policy = product.licensePolicy;
    if (!policy) continue;
    const base = { product, customerId: input.customerId, orderId: input.orderId, now: input.now };
    if ((policy.quantity ?? 'licenses') === 'multiply') {
      licenseIds.push(
        (await issueLicense(deps, repos, { ...base, activationLimit: policy.activationLimit * quantity })).id,
      );
    } else {
      for (let unit = 0; unit < quantity; unit += 1)
        licenseIds.push((await issueLicense(deps, repos, base)).id);
    }
  }
  return licenseIds;
}
