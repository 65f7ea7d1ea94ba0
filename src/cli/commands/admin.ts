import type { Command } from 'commander';
import { CLIUsageError, print } from '../output.ts';
import { withContext } from '../runner.ts';
import { type GlobalOptions, readStdin } from './shared.ts';

export function registerAdminCommands(program: Command, globals: () => GlobalOptions): void {
  program
    .command('migrate')
    .description('Apply pending database migrations')
    .action(() =>
      withContext(globals(), async (ctx) => {
        // The context already migrated on open; report the resulting state.
        const applied = await ctx.database.migrate();
        print(
          globals(),
          { dialect: ctx.database.dialect, applied, status: 'up to date' },
          () => `database (${ctx.database.dialect}) is up to date`,
        );
      }),
    );

  program
    .command('token')
    .description('Admin API tokens')
    .command('create')
    .description('Create a bearer token for the admin API (shown once, stored hashed)')
    .requiredOption('--name <name>', 'what the token is for')
    .action((opts: { name: string }) =>
      withContext(globals(), async (ctx) => {
        print(globals(), await ctx.tokens.create({ name: opts.name }), (t: { token: string }) => t.token);
      }),
    );

  const storage = program.command('storage').description('Where files are stored');
  storage
    .command('show')
    .description('Show storage settings (credentials masked)')
    .action(() => withContext(globals(), async (ctx) => print(globals(), await ctx.storage.describe())));
  const use = storage.command('use').description('Choose where new uploads go');
  use
    .command('local')
    .description('Local disk under the data dir')
    .action(() => withContext(globals(), async (ctx) => print(globals(), await ctx.storage.useLocal())));
  use
    .command('s3')
    .description(
      'An S3-compatible bucket (Cloudflare R2: --endpoint https://<account>.r2.cloudflarestorage.com)',
    )
    .requiredOption('--endpoint <url>', 'S3 endpoint URL')
    .requiredOption('--bucket <name>', 'bucket name')
    .option('--region <region>', 'region (R2: auto)', 'auto')
    .option('--force-path-style', 'path-style URLs (needed by some S3-compatible servers)', false)
    .requiredOption('--access-key-id <id>', 'access key id')
    .requiredOption('--secret-access-key-stdin', 'read the secret access key from standard input')
    .action(
      (opts: {
        endpoint: string;
        bucket: string;
        region: string;
        forcePathStyle: boolean;
        accessKeyId: string;
      }) =>
        withContext(globals(), async (ctx) => {
          if (!/^https?:\/\/[^\s/]+/.test(opts.endpoint))
            throw new CLIUsageError('--endpoint must be an http(s) URL.');
          const secretAccessKey = await readStdin();
          if (!secretAccessKey) throw new CLIUsageError('No secret access key on standard input.');
          print(
            globals(),
            await ctx.storage.useS3({
              endpoint: opts.endpoint,
              bucket: opts.bucket,
              region: opts.region,
              forcePathStyle: opts.forcePathStyle,
              accessKeyId: opts.accessKeyId,
              secretAccessKey,
            }),
          );
        }),
    );
}
