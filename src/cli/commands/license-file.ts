import type { Command } from 'commander';
import { parseDuration } from '../../domain/duration.ts';
import type { CheckoutIssued } from '../../domain/licenses/license-file-service.ts';
import { print } from '../output.ts';
import { withContext } from '../runner.ts';
import type { GlobalOptions } from './shared.ts';

interface FileOptions {
  product?: string;
  fingerprint?: string;
  ttl?: string;
}

/** `cloudsecure license file KEY [--product SLUG] [--fingerprint F] [--ttl 30d]`. */
export function registerLicenseFileCommand(license: Command, globals: () => GlobalOptions): void {
  license
    .command('file <key>')
    .description('Issue a signed offline license file (printed; with --json, the checkout result)')
    .option('--product <ref>', 'require the license to be for this product (slug, id or item id)')
    .option('--fingerprint <f>', 'bind the file to this machine (it must be activated)')
    .option('--ttl <duration>', 'how long the file stays valid, 1h to 365d (default 30d)')
    .action((key: string, opts: FileOptions) =>
      withContext(globals(), async (ctx) => {
        const result = await ctx.licenseFiles.checkout({
          key,
          product: opts.product,
          fingerprint: opts.fingerprint,
          ttlSeconds: opts.ttl === undefined ? undefined : parseDuration(opts.ttl),
        });
        if (!result.valid) {
          // A refusal is a failure like any other: the usual error shape on stderr, exit status 1.
          const body = { error: { code: result.code, message: result.detail } };
          process.stderr.write(
            globals().json ? `${JSON.stringify(body)}\n` : `error [${result.code}]: ${result.detail}\n`,
          );
          process.exitCode = 1;
          return;
        }
        print(globals(), result, (r: CheckoutIssued) => r.certificate.trimEnd());
      }),
    );
}
