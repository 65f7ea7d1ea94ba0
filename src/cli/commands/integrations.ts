import { type Command, InvalidArgumentError } from 'commander';
import type { EndAction } from '../../domain/integrations/external-order.ts';
import { reconcileWooCommerce } from '../../workers/reconcile.ts';
import { print, table } from '../output.ts';
import { withContext } from '../runner.ts';
import { type GlobalOptions, integer, readStdin } from './shared.ts';

function endAction(value: string): EndAction {
  if (value !== 'revoke' && value !== 'suspend' && value !== 'keep') {
    throw new InvalidArgumentError('revoke, suspend or keep');
  }
  return value;
}

function human(view: { id: string; webhook_url: string }): string {
  return `Connection ${view.id}\nPaste this delivery URL into the store's webhook settings:\n  POST ${view.webhook_url}`;
}

export function registerIntegrationCommands(program: Command, globals: () => GlobalOptions): void {
  const woo = program.command('woocommerce').description('WooCommerce store connections');
  woo
    .command('connect')
    .description('Connect a store: prints the webhook delivery URL (secrets are stored encrypted)')
    .requiredOption('--store-url <url>', 'the store, e.g. https://shop.example.com')
    .requiredOption('--consumer-key <ck>', 'REST API consumer key (read/write)')
    .requiredOption('--consumer-secret <cs>', 'REST API consumer secret')
    .requiredOption('--webhook-secret <ws>', "the webhooks' secret, as typed in WooCommerce")
    .option(
      '--on-refund <action>',
      'revoke, suspend or keep access when an order ends (default revoke)',
      endAction,
    )
    .option('--customer-note', 'write the delivery note as a customer note (WooCommerce e-mails it)', false)
    .action(
      (opts: {
        storeUrl: string;
        consumerKey: string;
        consumerSecret: string;
        webhookSecret: string;
        onRefund?: EndAction;
        customerNote: boolean;
      }) =>
        withContext(globals(), async (ctx) => {
          const view = await ctx.connections.connectWooCommerce({
            ...opts,
            endAction: opts.onRefund ?? 'revoke',
          });
          print(globals(), globals().json ? { id: view.id, webhook_url: view.webhook_url } : view, human);
        }),
    );
  woo
    .command('reconcile [connection]')
    .description('Fetch orders changed since the last pass and sync them (the server does this periodically)')
    .action((id: string | undefined) =>
      withContext(globals(), async (ctx) => {
        const ids = id
          ? [id]
          : (await ctx.connections.list()).filter((c) => c.kind === 'woocommerce').map((c) => c.id);
        const reports = [];
        for (const connection of ids) {
          reports.push(await reconcileWooCommerce(ctx.deps, ctx.connections, ctx.storeSync, connection));
        }
        print(globals(), reports);
      }),
    );

  const stripe = program.command('stripe').description('Stripe Checkout connections');
  stripe
    .command('connect')
    .description('Connect a Stripe account: prints the webhook endpoint URL (secrets are stored encrypted)')
    .requiredOption('--secret-key <sk>', 'secret or restricted API key (reads Checkout Sessions)')
    .requiredOption('--webhook-secret <whsec>', "the endpoint's signing secret")
    .option('--api-base <url>', 'another API origin (tests and proxies)')
    .option(
      '--on-refund <action>',
      'revoke, suspend or keep access on a full refund or lost dispute',
      endAction,
    )
    .action((opts: { secretKey: string; webhookSecret: string; apiBase?: string; onRefund?: EndAction }) =>
      withContext(globals(), async (ctx) => {
        const view = await ctx.connections.connectStripe({
          secretKey: opts.secretKey,
          webhookSecret: opts.webhookSecret,
          apiBase: opts.apiBase ?? null,
          endAction: opts.onRefund ?? 'revoke',
        });
        print(globals(), globals().json ? { id: view.id, webhook_url: view.webhook_url } : view, human);
      }),
    );

  program
    .command('connections')
    .description('Store connections with their webhook URLs (credentials as masked hints)')
    .action(() =>
      withContext(globals(), async (ctx) =>
        print(globals(), await ctx.connections.list(), (rows: Record<string, unknown>[]) =>
          table(rows, ['id', 'kind', 'webhook_url', 'credentials_hint']),
        ),
      ),
    );

  const brevo = program
    .command('brevo')
    .description('Optional Brevo integration (contacts, transactional e-mail)');
  brevo
    .command('connect')
    .description('Turn Brevo on: buyers become contacts; delivery e-mails use your template')
    .requiredOption('--api-key <key>', 'Brevo API v3 key (stored encrypted)')
    .option('--list-id <n>', 'add buyers to this contact list', integer)
    .option('--template-id <n>', 'send the delivery e-mail with this transactional template', integer)
    .option('--api-base <url>', 'another API base (tests)')
    .action((opts: { apiKey: string; listId?: number; templateId?: number; apiBase?: string }) =>
      withContext(globals(), async (ctx) =>
        print(
          globals(),
          await ctx.messaging.connectBrevo({
            apiKey: opts.apiKey,
            listId: opts.listId ?? null,
            templateId: opts.templateId ?? null,
            apiBase: opts.apiBase ?? null,
          }),
        ),
      ),
    );
  brevo
    .command('disconnect')
    .description('Turn Brevo off: nothing more is sent to it')
    .action(() =>
      withContext(globals(), async (ctx) => print(globals(), await ctx.messaging.disconnectBrevo())),
    );

  const mail = program.command('mail').description('How customer e-mail is sent');
  const use = mail.command('use').description('Choose the mail transport');
  use
    .command('smtp')
    .description('Send over SMTP (the password is read from stdin and stored encrypted)')
    .requiredOption('--host <host>', 'SMTP server')
    .requiredOption('--port <port>', 'SMTP port', integer)
    .option('--user <user>', 'SMTP user')
    .option('--password-stdin', 'read the SMTP password from standard input', false)
    .option('--tls', 'implicit TLS (port 465); otherwise STARTTLS when offered', false)
    .requiredOption('--from <address>', 'sender, e.g. "Shop <sales@example.com>"')
    .action(
      (opts: {
        host: string;
        port: number;
        user?: string;
        passwordStdin: boolean;
        tls: boolean;
        from: string;
      }) =>
        withContext(globals(), async (ctx) => {
          const password = opts.passwordStdin ? await readStdin() : null;
          print(
            globals(),
            await ctx.messaging.useSMTP({
              host: opts.host,
              port: opts.port,
              secure: opts.tls,
              user: opts.user ?? null,
              password,
              from: opts.from,
            }),
          );
        }),
    );
  use
    .command('file')
    .description('Write each message as a .eml file under <data dir>/mail (the default)')
    .option('--from <address>', 'sender address')
    .action((opts: { from?: string }) =>
      withContext(globals(), async (ctx) => print(globals(), await ctx.messaging.useFile(opts))),
    );
  mail
    .command('brand')
    .description("The seller's name, logo and support address shown in e-mails")
    .option('--seller-name <name>', 'shown as the sender name and in the footer')
    .option('--logo-url <url>', 'an https URL of your logo ("" to remove)')
    .option('--support-email <address>', 'where buyers can write ("" to remove)')
    .action((opts: { sellerName?: string; logoUrl?: string; supportEmail?: string }) =>
      withContext(globals(), async (ctx) =>
        print(
          globals(),
          await ctx.messaging.brand({
            name: opts.sellerName,
            logoUrl: opts.logoUrl,
            supportEmail: opts.supportEmail,
          }),
        ),
      ),
    );
  mail
    .command('show')
    .description('Current mail settings (the password as a masked hint)')
    .action(() =>
      withContext(globals(), async (ctx) => print(globals(), await ctx.messaging.describeMail())),
    );

  const webhook = program
    .command('webhook')
    .description("Webhooks to the seller's own systems (HMAC-SHA256 signed)");
  webhook
    .command('add')
    .description('Add an endpoint; prints its signing secret once')
    .requiredOption('--url <url>', 'where to POST events')
    .option(
      '--events <list>',
      'comma-separated: order.fulfilled, license.created, license.revoked, download.limit_reached',
    )
    .action((opts: { url: string; events?: string }) =>
      withContext(globals(), async (ctx) =>
        print(
          globals(),
          await ctx.messaging.addWebhook({
            url: opts.url,
            events: (opts.events ?? '')
              .split(',')
              .map((e) => e.trim())
              .filter(Boolean),
          }),
        ),
      ),
    );
  webhook
    .command('list')
    .description('Endpoints and their events')
    .action(() =>
      withContext(globals(), async (ctx) => print(globals(), await ctx.messaging.listWebhooks())),
    );
  webhook
    .command('remove <id>')
    .description('Remove an endpoint (undelivered events to it are dropped)')
    .action((id: string) =>
      withContext(globals(), async (ctx) => print(globals(), await ctx.messaging.removeWebhook(id))),
    );
}
