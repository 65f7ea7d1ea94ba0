import { type Command, InvalidArgumentError } from 'commander';
import type { OutboxMessage, OutboxStatus } from '../../domain/outbox/outbox.ts';
import { startBackgroundJobs } from '../../workers/background.ts';
import { print, table } from '../output.ts';
import { withContext } from '../runner.ts';
import { type GlobalOptions, integer } from './shared.ts';

function status(value: string): OutboxStatus {
  if (value !== 'pending' && value !== 'delivered' && value !== 'failed') {
    throw new InvalidArgumentError('pending, delivered or failed');
  }
  return value;
}

function summary(m: OutboxMessage): Record<string, unknown> {
  return {
    id: m.id,
    topic: m.topic,
    status: m.status,
    attempts: m.attempts,
    next_attempt_at: m.nextAttemptAt,
    last_error: m.lastError,
    created_at: m.createdAt,
    delivered_at: m.deliveredAt,
  };
}

export function registerOutboxCommands(program: Command, globals: () => GlobalOptions): void {
  const outbox = program
    .command('outbox')
    .description('Side effects waiting for delivery (e-mails, webhooks, write-backs)');
  outbox
    .command('list')
    .description('Messages, newest first')
    .option('--status <status>', 'pending, delivered or failed (dead-lettered)', status)
    .option('--limit <n>', 'at most this many (default 100)', integer)
    .action((opts: { status?: OutboxStatus; limit?: number }) =>
      withContext(globals(), async (ctx) => {
        const rows = (await ctx.outbox.list(opts)).map(summary);
        print(globals(), rows, (r: Record<string, unknown>[]) =>
          table(r, ['id', 'topic', 'status', 'attempts', 'next_attempt_at', 'last_error']),
        );
      }),
    );
  outbox
    .command('work')
    .description(
      'Deliver messages until stopped (or, with --once, until none are due); `serve` does this too',
    )
    .option('--once', 'deliver what is due now, then exit', false)
    .action((opts: { once: boolean }) =>
      withContext(globals(), async (ctx) => {
        if (opts.once) {
          const total = { delivered: 0, retrying: 0, dead: 0 };
          for (;;) {
            const pass = await ctx.outbox.runOnce();
            total.delivered += pass.delivered;
            total.retrying += pass.retrying;
            total.dead += pass.dead;
            if (pass.delivered + pass.retrying + pass.dead === 0) break;
          }
          print(globals(), total);
          return;
        }
        const jobs = startBackgroundJobs(ctx, { outbox: true, schedules: false });
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await jobs.stop();
      }),
    );
  outbox
    .command('retry <id>')
    .description('Queue an undelivered message again, due now, with a fresh attempt count')
    .action((id: string) =>
      withContext(globals(), async (ctx) => print(globals(), summary(await ctx.outbox.retry(id)))),
    );
}
