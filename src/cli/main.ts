import { Command, CommanderError } from 'commander';
import { registerAdminCommands } from './commands/admin.ts';
import { registerCatalogCommands } from './commands/catalog.ts';
import { registerIntegrationCommands } from './commands/integrations.ts';
import { registerLicenseCommands } from './commands/licenses.ts';
import { registerOrderCommands } from './commands/orders.ts';
import { registerOutboxCommands } from './commands/outbox.ts';
import { registerReleaseCommands } from './commands/releases.ts';
import { registerServeCommand } from './commands/serve.ts';
import type { GlobalOptions } from './commands/shared.ts';
import { registerTraceCommand } from './commands/trace.ts';
import { CLIUsageError, printError } from './output.ts';

const program = new Command('cloudsecure')
  .description('Secure delivery and licensing for digital goods')
  .option('--json', 'print exactly one JSON document on stdout (errors as JSON on stderr)', false)
  .showHelpAfterError()
  .exitOverride();

const globals = (): GlobalOptions => ({ json: Boolean(program.opts<{ json?: boolean }>().json) });
const jsonRequested = process.argv.includes('--json');
if (jsonRequested) program.configureOutput({ writeErr: () => undefined });

registerServeCommand(program, globals);
registerAdminCommands(program, globals);
registerCatalogCommands(program, globals);
registerOrderCommands(program, globals);
registerLicenseCommands(program, globals);
registerReleaseCommands(program, globals);
registerOutboxCommands(program, globals);
registerIntegrationCommands(program, globals);
registerTraceCommand(program, globals);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    if (error.exitCode === 0) process.exit(0);
    if (jsonRequested) printError({ json: true }, new CLIUsageError(error.message.replace(/^error: /, '')));
    process.exitCode = 2;
  } else {
    printError({ json: jsonRequested }, error);
    process.exitCode = 1;
  }
}
