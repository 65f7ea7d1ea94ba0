import type { Command } from 'commander';
import pino from 'pino';
import { loadConfig } from '../../config.ts';
import { createAppContext } from '../../context.ts';
import { startServer } from '../../http/server.ts';
import { startBackgroundJobs } from '../../workers/background.ts';
import { printError } from '../output.ts';
import type { GlobalOptions } from './shared.ts';

export function registerServeCommand(program: Command, globals: () => GlobalOptions): void {
  program
    .command('serve')
    .description('Start the HTTP server')
    .action(async () => {
      try {
        const config = loadConfig();
        const logger = pino({ level: config.logLevel });
        const ctx = await createAppContext(config, logger);
        const server = await startServer(ctx);
        logger.info(
          { url: server.url, publicUrl: config.publicUrl, database: ctx.database.dialect },
          'CloudSecure is listening',
        );
        // Outbox delivery, IP retention, reconciliation and expiry notices run in every server node.
        const jobs = startBackgroundJobs(ctx, { outbox: config.outbox.worker, schedules: true });
        const stop = async (): Promise<void> => {
          await server.close();
          await jobs.stop();
          await ctx.close();
          process.exit(0);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      } catch (error) {
        printError(globals(), error);
        process.exitCode = 1;
      }
    });
}
