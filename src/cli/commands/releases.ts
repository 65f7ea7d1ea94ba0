import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { guessContentType } from '../../adapters/content-type.ts';
import type { ReleaseView } from '../../domain/releases/release-service.ts';
import { CLIUsageError, print, table } from '../output.ts';
import { createProgress } from '../progress.ts';
import { withContext } from '../runner.ts';
import type { GlobalOptions } from './shared.ts';

interface AddOptions {
  version: string;
  file: string;
  changelog?: string;
  requiresPhp?: string;
  requiresWp?: string;
  tested?: string;
  beta?: boolean;
}

function humanRelease(r: ReleaseView): string {
  const needs = [r.requires_php && `PHP ${r.requires_php}`, r.requires_wp && `WP ${r.requires_wp}`]
    .filter(Boolean)
    .join(', ');
  return `${r.product} ${r.version}${r.beta ? ' (beta)' : ''} (${r.id})\n  ${r.file_name}  ${r.size} bytes  sha256:${r.sha256}${needs ? `\n  requires ${needs}` : ''}`;
}

export function registerReleaseCommands(program: Command, globals: () => GlobalOptions): void {
  const release = program.command('release').description('Releases of licensed software (update packages)');

  release
    .command('add <product>')
    .description('Publish a release of a product (slug or id) with its package file')
    .requiredOption('--version <version>', 'version, e.g. 1.2.3 or 2.0.0-beta.1')
    .requiredOption('--file <path>', 'the package, e.g. my-plugin.zip')
    .option('--changelog <path>', 'file holding the changelog (HTML or text)')
    .option('--requires-php <version>', 'lowest PHP version the release runs on')
    .option('--requires-wp <version>', 'lowest WordPress version the release runs on')
    .option('--tested <version>', 'WordPress version it was tested up to')
    .option('--beta', 'offer it only to clients that ask for betas (default for 1.2.3-beta.1 versions)')
    .action((ref: string, opts: AddOptions) =>
      withContext(globals(), async (ctx) => {
        const info = await stat(opts.file).catch(() => {
          throw new CLIUsageError(`Cannot read file ${opts.file}.`);
        });
        if (!info.isFile()) throw new CLIUsageError(`${opts.file} is not a file.`);
        const changelog =
          opts.changelog === undefined
            ? undefined
            : await readFile(opts.changelog, 'utf8').catch(() => {
                throw new CLIUsageError(`Cannot read changelog ${opts.changelog}.`);
              });
        const progress = createProgress({
          json: globals().json,
          label: basename(opts.file),
          total: info.size,
        });
        let added: ReleaseView;
        try {
          added = await ctx.releases.add({
            product: ref,
            version: opts.version,
            fileName: basename(opts.file),
            body: createReadStream(opts.file),
            contentType: guessContentType(opts.file),
            size: info.size,
            onProgress: progress.update,
            ...(changelog === undefined ? {} : { changelog }),
            ...(opts.requiresPhp === undefined ? {} : { requiresPHP: opts.requiresPhp }),
            ...(opts.requiresWp === undefined ? {} : { requiresWP: opts.requiresWp }),
            ...(opts.tested === undefined ? {} : { tested: opts.tested }),
            ...(opts.beta ? { beta: true } : {}),
          });
        } finally {
          progress.stop();
        }
        print(globals(), added, humanRelease);
      }),
    );

  release
    .command('list <product>')
    .description("List a product's releases, oldest first")
    .action((ref: string) =>
      withContext(globals(), async (ctx) => {
        print(globals(), await ctx.releases.list(ref), (rs: ReleaseView[]) =>
          table(
            rs.map((r) => ({
              version: r.version,
              beta: r.beta ? 'yes' : '',
              file: r.file_name,
              size: r.size,
              requires_php: r.requires_php ?? '',
              requires_wp: r.requires_wp ?? '',
              created_at: r.created_at,
              id: r.id,
            })),
            ['version', 'beta', 'file', 'size', 'requires_php', 'requires_wp', 'created_at', 'id'],
          ),
        );
      }),
    );
}
