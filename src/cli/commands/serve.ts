import type { Command } from 'commander';
import pino from 'pino';
import { loadConfig } from '../../config.ts';
import { createAppContext } from '../../context.ts';
import { startServer } from '../../http/server.ts';
import { printError } from '../output.ts';
import type { GlobalOptions } from './shared.ts';

const HOUR = 3_600_000;

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
        // The IP retention policy runs here too, hourly, so a plain install keeps its promise.
        const prune = async (): Promise<void> => {
          const erased = await ctx.downloads.pruneIps(config.ipRetentionDays);
          if (erased > 0) logger.info({ erased }, 'erased client IPs past the retention period');
        };
        const timer = setInterval(
          () => prune().catch((err: unknown) => logger.error({ err }, 'IP retention failed')),
          HOUR,
        );
        timer.unref();
        await prune();
        const stop = async (): Promise<void> => {
          clearInterval(timer);
          await server.close();
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
