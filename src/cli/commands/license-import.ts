import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { parse } from 'csv-parse';
import type { LicenseStatus } from '../../domain/licenses/license.ts';
import { type ImportRow, type ImportSummary, importLicenses } from '../../domain/licenses/license-import.ts';
import { CLIUsageError, print } from '../output.ts';
import { createProgress } from '../progress.ts';
import { withContext } from '../runner.ts';
import type { GlobalOptions } from './shared.ts';

/** Reads CSV records (header row names the columns) and maps them to import rows. */
async function* readRows(path: string, onBytes: (bytes: number) => void): AsyncGenerator<ImportRow> {
  let bytes = 0;
  const source = createReadStream(path);
  source.on('data', (chunk: Buffer | string) => {
    bytes += chunk.length;
    onBytes(bytes);
  });
  const records = source.pipe(
    parse({
      columns: (header: string[]) => header.map((h) => h.trim().toLowerCase()),
      bom: true,
      skip_empty_lines: true,
      trim: true,
    }),
  );
  let line = 1;
  for await (const record of records as AsyncIterable<Record<string, string | undefined>>) {
    line += 1;
    const limit = record.activation_limit ?? record.limit;
    yield {
      line,
      key: record.key ?? record.license_key ?? '',
      email: record.email ?? record.customer_email ?? '',
      name: record.name ?? record.customer_name,
      product: record.product ?? record.item_id,
      expiresAt: record.expires_at ?? record.expiration,
      activationLimit: limit === undefined || limit === '' ? undefined : Number(limit),
      status: (record.status || undefined) as LicenseStatus | undefined,
      sites: (record.sites ?? '').split(/[;|\s]+/).filter(Boolean),
    };
  }
}

export function registerLicenseImportCommand(license: Command, globals: () => GlobalOptions): void {
  license
    .command('import <file>')
    .description(
      'Import licenses from CSV (columns: key, email, name, product, expires_at, activation_limit, status, sites ' +
        'separated by ;), keeping keys, limits, expiry and active sites; existing keys are skipped',
    )
    .option('--product <slug>', 'product for rows without a product column')
    .action((file: string, opts: { product?: string }) =>
      withContext(globals(), async (ctx) => {
        const size = await stat(file).then(
          (s) => s.size,
          () => {
            throw new CLIUsageError(`Cannot read ${file}.`);
          },
        );
        const progress = createProgress({ json: globals().json, label: 'import', total: size });
        let summary: ImportSummary;
        try {
          summary = await importLicenses(ctx.deps, readRows(file, progress.update), {
            defaultProduct: opts.product,
          });
        } finally {
          progress.stop();
        }
        print(globals(), summary, (s: ImportSummary) =>
          [
            `imported ${s.imported}, skipped ${s.skipped} existing, failed ${s.failed.length}`,
            ...s.failed.map((f) => `  line ${f.line}: [${f.code}] ${f.message}`),
          ].join('\n'),
        );
      }),
    );
}
