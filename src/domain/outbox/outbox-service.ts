import type { CoreDeps } from '../core-deps.ts';
import { AppError } from '../errors.ts';
import type { Repositories } from '../ports.ts';
import {
  DEFAULT_RETRY,
  nextDelayMs,
  type OutboxMessage,
  type OutboxStatus,
  PermanentDeliveryError,
  type RetryPolicy,
} from './outbox.ts';

/** Delivers one message to its provider; throws to have it retried. Must be safe to run twice. */
export type OutboxHandler = (message: OutboxMessage) => Promise<void>;

export interface RunSummary {
  delivered: number;
  retrying: number;
  dead: number;
}

export interface OutboxService {
  /** One pass: takes due messages and delivers them. */
  runOnce(): Promise<RunSummary>;
  list(filter: { status?: OutboxStatus | undefined; limit?: number | undefined }): Promise<OutboxMessage[]>;
  retry(id: string): Promise<OutboxMessage>;
}

/**
 * Writes a side effect next to the change that causes it, in the caller's transaction: if the change
 * rolls back, the side effect was never promised; if it commits, a worker will deliver it at least once.
 */
export async function enqueueSideEffect(
  deps: Pick<CoreDeps, 'clock' | 'newId'>,
  repos: Repositories,
  input: { topic: string; payload: Record<string, unknown>; idempotencyKey: string },
): Promise<boolean> {
  const now = deps.clock.now().toISOString();
  return repos.outbox.enqueue({
    id: deps.newId(),
    topic: input.topic,
    payload: input.payload,
    idempotencyKey: input.idempotencyKey,
    status: 'pending',
    attempts: 0,
    nextAttemptAt: now,
    lastError: null,
    createdAt: now,
    deliveredAt: null,
  });
}

export function createOutboxService(
  deps: Pick<CoreDeps, 'uow' | 'clock'>,
  options: {
    handlers: Record<string, OutboxHandler>;
    retry?: RetryPolicy;
    /** How long a claimed message stays reserved for one worker. */
    leaseMs?: number;
    batchSize?: number;
    /** Messages of one batch delivered at the same time. */
    concurrency?: number;
    random?: () => number;
  },
): OutboxService {
  const policy = options.retry ?? DEFAULT_RETRY;
  const leaseMs = options.leaseMs ?? 120_000;
  const repos = deps.uow.repos;

  async function deliver(message: OutboxMessage): Promise<keyof RunSummary> {
    const handler = options.handlers[message.topic];
    try {
      if (!handler) throw new Error(`no handler for topic ${message.topic}`);
      await handler(message);
      await repos.outbox.markDelivered(message.id, deps.clock.now().toISOString());
      return 'delivered';
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      // `attempts` already counts this one (taken at claim time, so a crash mid-delivery counts too).
      if (!handler || error instanceof PermanentDeliveryError || message.attempts >= policy.maxAttempts) {
        await repos.outbox.markFailed(message.id, reason, null);
        return 'dead';
      }
      const next = deps.clock.now().getTime() + nextDelayMs(message.attempts, policy, options.random);
      await repos.outbox.markFailed(message.id, reason, new Date(next).toISOString());
      return 'retrying';
    }
  }

  return {
    async runOnce() {
      const now = deps.clock.now();
      const batch = await repos.outbox.claim({
        now: now.toISOString(),
        leaseUntil: new Date(now.getTime() + leaseMs).toISOString(),
        // Small batches: one lease covers the whole batch, so it must outlast its slowest deliveries
        // (2 per lane at most), or another worker could take messages this one has not reached yet.
        limit: options.batchSize ?? 8,
      });
      const summary: RunSummary = { delivered: 0, retrying: 0, dead: 0 };
      let next = 0;
      const lane = async (): Promise<void> => {
        while (next < batch.length) {
          const message = batch[next++]!;
          summary[await deliver(message)] += 1;
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, lane));
      return summary;
    },
    list: ({ status, limit }) =>
      repos.outbox.list({ status, limit: Math.min(Math.max(limit ?? 100, 1), 1000) }),
    async retry(id) {
      if (!(await repos.outbox.retry(id, deps.clock.now().toISOString()))) {
        throw new AppError('NOT_FOUND', { message: `No undelivered outbox message ${id}.` });
      }
      const message = await repos.outbox.findById(id);
      if (!message) throw new AppError('NOT_FOUND', { message: `No outbox message ${id}.` });
      return message;
    },
  };
}
