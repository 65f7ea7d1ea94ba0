import type { AppContext } from '../context.ts';
import { startOutboxWorker } from './outbox-worker.ts';
import { reconcileWooCommerce } from './reconcile.ts';

const HOUR = 3_600_000;

/** A job that runs now and then every `everyMs`, logging (never throwing) its failures. */
function every(ctx: AppContext, name: string, everyMs: number, job: () => Promise<void>): () => void {
  const run = () => job().catch((err: unknown) => ctx.logger.error({ err }, `${name} failed`));
  void run();
  const timer = setInterval(run, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * What a server node does besides answering HTTP: deliver the outbox, erase IPs past retention, poll
 * WooCommerce for missed webhooks, queue license-expiry notices. Every job is safe on several nodes.
 */
export function startBackgroundJobs(ctx: AppContext, options: { outbox: boolean; schedules: boolean }) {
  const { config, logger } = ctx;
  const stops: (() => void)[] = [];
  const worker = options.outbox ? startOutboxWorker(ctx.outbox, logger, config.outbox.pollMs) : null;
  if (options.schedules) {
    stops.push(
      every(ctx, 'IP retention', HOUR, async () => {
        const erased = await ctx.downloads.pruneIps(config.ipRetentionDays);
        if (erased > 0) logger.info({ erased }, 'erased client IPs past the retention period');
      }),
    );
    if (config.expiryNoticeDays > 0) {
      stops.push(
        every(ctx, 'expiry notices', HOUR, async () => {
          const queued = await ctx.notices.queueExpiryNotices(config.expiryNoticeDays);
          if (queued > 0) logger.info({ queued }, 'queued license expiry notices');
        }),
      );
    }
    if (config.reconcileMinutes > 0) {
      stops.push(
        every(ctx, 'WooCommerce reconciliation', config.reconcileMinutes * 60_000, async () => {
          for (const c of await ctx.connections.list()) {
            if (c.kind !== 'woocommerce') continue;
            const report = await reconcileWooCommerce(ctx.deps, ctx.connections, ctx.storeSync, c.id);
            if (report.orders > 0) logger.info(report, 'WooCommerce reconciliation');
          }
        }),
      );
    }
  }
  return {
    kick: () => worker?.kick(),
    async stop() {
      for (const stop of stops) stop();
      await worker?.stop();
    },
  };
}
