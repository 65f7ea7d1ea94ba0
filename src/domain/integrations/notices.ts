import type { CoreDeps } from '../core-deps.ts';
import { AppError } from '../errors.ts';
import { enqueueEmail } from './side-effects.ts';

/**
 * Scheduled and on-demand customer messages. Expiry notices are keyed by license and expiry date, so
 * running the scan every hour sends each notice once, and a renewal (a new expiry) earns a new one.
 */
export function createNotices(deps: CoreDeps) {
  return {
    async queueExpiryNotices(withinDays: number): Promise<number> {
      const now = deps.clock.now();
      const to = new Date(now.getTime() + withinDays * 86_400_000).toISOString();
      const expiring = await deps.uow.repos.licenses.listExpiring(now.toISOString(), to, 1000);
      let queued = 0;
      await deps.uow.transaction(async (repos) => {
        for (const license of expiring) {
          const added = await enqueueEmail(
            deps,
            repos,
            {
              template: 'license_expiring',
              customerId: license.customerId,
              orderId: null,
              licenseId: license.id,
            },
            `${license.id}:${license.expiresAt}`,
          );
          if (added) queued += 1;
        }
      });
      return queued;
    },

    /** E-mails the buyer their access links again (each call is a new e-mail). */
    async resendLinks(orderId: string): Promise<{ order_id: string; queued: boolean }> {
      return deps.uow.transaction(async (repos) => {
        const order = await repos.orders.findById(orderId);
        if (!order) throw new AppError('NOT_FOUND', { message: `No order ${orderId}.` });
        await enqueueEmail(
          deps,
          repos,
          { template: 'links_resent', customerId: order.customerId, orderId: order.id, licenseId: null },
          `${order.id}:${deps.newId()}`,
        );
        return { order_id: order.id, queued: true };
      });
    },
  };
}

export type Notices = ReturnType<typeof createNotices>;
