import type { Command } from 'commander';
import type { LicenseSummary, LicenseView } from '../../domain/licenses/license-service.ts';
import { print, table } from '../output.ts';
import { withContext } from '../runner.ts';
import { registerLicenseFileCommand } from './license-file.ts';
import { registerLicenseImportCommand } from './license-import.ts';
import { type GlobalOptions, integer } from './shared.ts';

function humanLicense(l: LicenseView): string {
  const sites = l.activations
    .map((a) => `  ${a.kind} ${a.identifier}${a.is_local ? ' (local)' : ''}`)
    .join('\n');
  return `${l.key}  ${l.product}  ${l.status}  expires ${l.expires_at ?? 'never'}  limit ${l.activation_limit || 'unlimited'}\n${sites || '  (no activations)'}`;
}

export function registerLicenseCommands(program: Command, globals: () => GlobalOptions): void {
  const license = program
    .command('license')
    .description('License keys (every <license> is the license id or the key itself)');
  license
    .command('list')
    .description('Licenses, newest first')
    .option('--product <slug>', 'only this product (slug, id or item id)')
    .option('--email <email>', "only this customer's")
    .option('--status <status>', 'only active, suspended or revoked')
    .option('--limit <n>', 'at most this many (default 100)', integer)
    .action((opts: { product?: string; email?: string; status?: string; limit?: number }) =>
      withContext(globals(), async (ctx) =>
        print(globals(), await ctx.licenses.list(opts), (rows: LicenseSummary[]) =>
          table(rows as unknown as Record<string, unknown>[], [
            'id',
            'key_hint',
            'product',
            'status',
            'expires_at',
            'activation_limit',
          ]),
        ),
      ),
    );
  license
    .command('activations <license>')
    .description('The sites and machines where a license is active')
    .action((ref: string) =>
      withContext(globals(), async (ctx) =>
        print(globals(), (await ctx.licenses.get(ref)).activations, (rows: LicenseView['activations']) =>
          table(rows as unknown as Record<string, unknown>[], [
            'kind',
            'identifier',
            'is_local',
            'activated_at',
            'last_seen_at',
          ]),
        ),
      ),
    );
  license
    .command('deactivate <license>')
    .description('Free one site or machine of a license')
    .option('--site <url>', 'the site URL')
    .option('--fingerprint <fingerprint>', 'the machine fingerprint')
    .action((ref: string, opts: { site?: string; fingerprint?: string }) =>
      withContext(globals(), async (ctx) =>
        print(
          globals(),
          await ctx.licenses.deactivateScope({
            license: ref,
            ...(opts.site === undefined ? {} : { siteUrl: opts.site }),
            ...(opts.fingerprint === undefined ? {} : { fingerprint: opts.fingerprint }),
          }),
          humanLicense,
        ),
      ),
    );
  license
    .command('show <license>')
    .description('Show a license with its key, activations and history')
    .action((id: string) =>
      withContext(globals(), async (ctx) => print(globals(), await ctx.licenses.get(id), humanLicense)),
    );
  for (const [action, description] of [
    ['suspend', 'Suspend: validation and activation answer SUSPENDED until reinstated'],
    ['reinstate', 'Reinstate a suspended license'],
    ['revoke', 'Revoke for good (refunds, chargebacks)'],
  ] as const) {
    license
      .command(`${action} <license>`)
      .description(description)
      .action((id: string) =>
        withContext(globals(), async (ctx) => print(globals(), await ctx.licenses[action](id), humanLicense)),
      );
  }
  license
    .command('transfer <license>')
    .description('Move a license (same key and activations) to another customer')
    .requiredOption('--email <email>', "the new owner's e-mail")
    .option('--name <name>', "the new owner's name")
    .action((id: string, opts: { email: string; name?: string }) =>
      withContext(globals(), async (ctx) =>
        print(
          globals(),
          await ctx.licenses.transfer({ licenseId: id, email: opts.email, name: opts.name }),
          humanLicense,
        ),
      ),
    );
  registerLicenseFileCommand(license, globals);
  registerLicenseImportCommand(license, globals);
  license
    .command('renew <license>')
    .description('Extend the same key by N days (from its expiry, or from today if it has passed)')
    .requiredOption('--days <n>', 'days to add', integer)
    .action((id: string, opts: { days: number }) =>
      withContext(globals(), async (ctx) =>
        print(globals(), await ctx.licenses.renew({ licenseId: id, days: opts.days }), humanLicense),
      ),
    );
}
