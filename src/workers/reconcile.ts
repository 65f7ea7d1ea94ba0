import { createWooCommerceClient } from '../adapters/woocommerce/wc-client.ts';
import { parseWooOrder } from '../adapters/woocommerce/wc-payload.ts';
import type { CoreDeps } from '../domain/core-deps.ts';
import type { ConnectionService } from '../domain/integrations/connections.ts';
import type { StoreSync, SyncOutcome } from '../domain/integrations/store-sync.ts';

const PER_PAGE = 50;
/** Orders changed this long before the last run are fetched again: clocks drift, commits land late. */
const OVERLAP_MS = 10 * 60_000;

export interface ReconcileReport {
  connection: string;
  since: string;
  orders: number;
  outcomes: Partial<Record<SyncOutcome, number>>;
  errors: number;
}

/**
 * WooCommerce never retries a webhook and collapses events, so this pass asks the store for every order
 * changed since the last pass and syncs each one, exactly as if its webhook had arrived.
 */
export async function reconcileWooCommerce(
  deps: CoreDeps,
  connections: ConnectionService,
  sync: StoreSync,
  connectionId: string,
): Promise<ReconcileReport> {
  const { connection, credentials } = await connections.woocommerce(connectionId);
  const cursorKey = `woocommerce:${connection.id}:reconciled_at`;
  const startedAt = deps.clock.now();
  const last = (await deps.uow.repos.settings.get(cursorKey)) ?? connection.createdAt;
  const since = new Date(Date.parse(last) - OVERLAP_MS).toISOString();
  const client = createWooCommerceClient({
    storeUrl: connection.settings.storeUrl,
    consumerKey: credentials.consumerKey,
    consumerSecret: credentials.consumerSecret,
  });
  const report: ReconcileReport = { connection: connection.id, since, orders: 0, outcomes: {}, errors: 0 };
  const source = `woocommerce:${connection.id}`;
  for (let page = 1; ; page += 1) {
    const { orders, totalPages } = await client.listOrders({ modifiedAfter: since, page, perPage: PER_PAGE });
    for (const raw of orders) {
      report.orders += 1;
      try {
        const order = parseWooOrder(raw, { source, topic: null });
        const result = await sync.sync(order, {
          endAction: connection.settings.endAction,
          woo: { connectionId: connection.id },
        });
        report.outcomes[result.outcome] = (report.outcomes[result.outcome] ?? 0) + 1;
      } catch {
        // One unreadable order must not stop the others; it is counted and tried again next pass.
        report.errors += 1;
      }
    }
    if (page >= totalPages || orders.length === 0) break;
  }
  if (report.errors === 0) await deps.uow.repos.settings.set(cursorKey, startedAt.toISOString());
  return report;
}
