import type { Logger } from 'pino';
import type { OutboxService } from '../domain/outbox/outbox-service.ts';

export interface OutboxWorker {
  /** Wakes the worker now (after a commit that enqueued something) instead of at the next poll. */
  kick(): void;
  /** Finishes the pass in progress, then stops. */
  stop(): Promise<void>;
}

/**
 * Delivers outbox messages until stopped: a pass, then another at once while passes find work, else a
 * sleep of `pollMs`. Several workers (processes, nodes) can run against one database; the claim keeps
 * them from taking the same message.
 */
export function startOutboxWorker(outbox: OutboxService, logger: Logger, pollMs: number): OutboxWorker {
  let stopped = false;
  let wake: (() => void) | null = null;
  let pending = false;

  async function loop(): Promise<void> {
    while (!stopped) {
      let busy = false;
      try {
        const summary = await outbox.runOnce();
        busy = summary.delivered + summary.retrying + summary.dead > 0;
        if (summary.retrying + summary.dead > 0) logger.warn(summary, 'outbox deliveries failed');
      } catch (err) {
        logger.error({ err }, 'outbox pass failed');
      }
      if (busy || stopped) continue;
      if (pending) {
        pending = false;
        continue;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
  }

  const running = loop();
  return {
    kick() {
      pending = true;
      wake?.();
    },
    async stop() {
      stopped = true;
      wake?.();
      await running;
    },
  };
}
