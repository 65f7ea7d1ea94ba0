import pino from 'pino';
import { loadConfig } from '../config.ts';
import { type AppContext, createAppContext } from '../context.ts';
import { type OutputOptions, printError } from './output.ts';

/**
 * Runs one command against the same config and database as the server (no server needed): builds the
 * context, runs, closes it, and turns any failure into `{ error: { code, message } }` and exit status 1.
 */
export async function withContext(
  options: OutputOptions,
  action: (ctx: AppContext) => Promise<void>,
): Promise<void> {
  let ctx: AppContext | undefined;
  try {
    const config = loadConfig();
    // Logs go to stderr so that stdout holds only the command's output.
    const logger = pino(
      { level: config.logLevel === 'info' ? 'warn' : config.logLevel },
      pino.destination(2),
    );
    ctx = await createAppContext(config, logger);
    await action(ctx);
  } catch (error) {
    printError(options, error);
    process.exitCode = 1;
  } finally {
    await ctx?.close();
  }
}
