import type { Command } from 'commander';
import type { DownloadEventView } from '../../domain/downloads/download-service.ts';
import type { DownloadLink } from '../../domain/grants/grant-service.ts';
import type { OrderView } from '../../domain/orders/order-service.ts';
import { print, table } from '../output.ts';
import { withContext } from '../runner.ts';
import { collect, type GlobalOptions, integer } from './shared.ts';

function humanLinks(links: DownloadLink[]): string {
  return links
    .map(
      (d) =>
        `${d.product}/${d.file}  (grant ${d.grant_id}, ${d.downloads_left ?? 'unlimited'} left)\n  direct: ${d.url}\n  access: ${d.access_url}`,
    )
    .join('\n');
}

export function registerOrderCommands(program: Command, globals: () => GlobalOptions): void {
  const order = program.command('order').description('Orders');
  order
    .command('create')
    .description('Record an order and grant its products')
    .requiredOption('--email <email>', "buyer's e-mail")
    .option('--name <name>', "buyer's name")
    .requiredOption(
      '--product <slug>',
      'product slug, id or item id, with :N for N units (repeatable)',
      collect,
      [] as string[],
    )
    .option('--external-id <id>', "the store's order id; repeating it returns the same order")
    .option('--no-notify', 'do not e-mail the buyer their keys and links')
    .action(
      (opts: { email: string; name?: string; product: string[]; externalId?: string; notify: boolean }) =>
        withContext(globals(), async (ctx) => {
          const view = await ctx.orders.create({
            email: opts.email,
            name: opts.name,
            products: opts.product.map(parseProductArg),
            externalId: opts.externalId,
            source: 'cli',
            notify: opts.notify,
          });
          print(
            globals(),
            view,
            (v: OrderView) => `order ${v.order.id} for ${v.customer.email}\n${humanLinks(v.downloads)}`,
          );
        }),
    );

  order
    .command('resend <order>')
    .description('E-mail the buyer their access links again')
    .action((id: string) =>
      withContext(globals(), async (ctx) => print(globals(), await ctx.notices.resendLinks(id))),
    );

  program
    .command('link')
    .description('Download links')
    .command('create <grant>')
    .description('Mint fresh links for an existing grant (uses nothing)')
    .action((grantId: string) =>
      withContext(globals(), async (ctx) => {
        print(
          globals(),
          { downloads: await ctx.grants.createLinks(grantId) },
          (v: { downloads: DownloadLink[] }) => humanLinks(v.downloads),
        );
      }),
    );

  const grant = program.command('grant').description('Grants (a buyer’s access to a product)');
  grant
    .command('revoke <grant>')
    .description('Revoke: every link of the grant stops working')
    .action((id: string) =>
      withContext(globals(), async (ctx) => print(globals(), await ctx.grants.revoke(id))),
    );
  grant
    .command('extend <grant>')
    .description('Extend the access period')
    .requiredOption('--days <n>', 'days to add', integer)
    .action((id: string, opts: { days: number }) =>
      withContext(globals(), async (ctx) =>
        print(globals(), await ctx.grants.extend({ grantId: id, days: opts.days })),
      ),
    );
  grant
    .command('reset <grant>')
    .description('Give back every download (and a fresh access period if it ended)')
    .action((id: string) =>
      withContext(globals(), async (ctx) => print(globals(), await ctx.grants.reset(id))),
    );

  const downloads = program.command('downloads').description('Download log');
  downloads
    .command('list')
    .description('Download events, newest first')
    .option('--order <id>', 'only this order')
    .option('--grant <id>', 'only this grant')
    .option('--customer <id>', 'only this customer')
    .option('--ip <ip>', 'only this client IP')
    .option('--limit <n>', 'at most this many (default 100)', integer)
    .action((opts: { order?: string; grant?: string; customer?: string; ip?: string; limit?: number }) =>
      withContext(globals(), async (ctx) => {
        const events = await ctx.downloads.list({
          ...(opts.order ? { orderId: opts.order } : {}),
          ...(opts.grant ? { grantId: opts.grant } : {}),
          ...(opts.customer ? { customerId: opts.customer } : {}),
          ...(opts.ip ? { ip: opts.ip } : {}),
          ...(opts.limit ? { limit: opts.limit } : {}),
        });
        print(globals(), events, (rows: DownloadEventView[]) =>
          table(rows as unknown as Record<string, unknown>[], [
            'at',
            'ip',
            'status',
            'bytes',
            'file',
            'user_agent',
          ]),
        );
      }),
    );
  downloads
    .command('prune')
    .description('Erase client IPs older than the retention period (CLOUDSECURE_IP_RETENTION_DAYS)')
    .action(() =>
      withContext(globals(), async (ctx) => {
        const erased = await ctx.downloads.pruneIps(ctx.config.ipRetentionDays);
        print(
          globals(),
          { erased, retention_days: ctx.config.ipRetentionDays },
          (r: { erased: number }) => `erased ${r.erased} IPs`,
        );
      }),
    );
}

/** `slug` or `slug:3` (three units). */
function parseProductArg(arg: string): string | { product: string; quantity: number } {
  const match = /^(.+):(\d{1,4})$/.exec(arg);
  return match ? { product: match[1]!, quantity: Number(match[2]) } : arg;
}
