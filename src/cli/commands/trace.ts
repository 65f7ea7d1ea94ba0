import { readFile, stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { AppError } from '../../domain/errors.ts';
import { MAX_TRACE_BYTES, type TraceResult, traceMessage } from '../../domain/watermark/watermark-service.ts';
import { print } from '../output.ts';
import { withContext } from '../runner.ts';
import type { GlobalOptions } from './shared.ts';

function human(result: TraceResult & { message: string }): string {
  const lines = [result.message];
  for (const m of result.matches) {
    lines.push(
      `  ${m.token}: ${m.customer.name ?? ''} <${m.customer.email}>, order ${m.order_reference} (${m.order_id}), ` +
        `grant ${m.grant_id}, ${m.product} / ${m.file}, first made ${m.issued_at}`,
    );
    for (const d of m.downloads)
      lines.push(`    downloaded ${d.at} from ${d.ip ?? 'an erased IP'} (${d.status})`);
  }
  for (const t of result.unknown_tokens) lines.push(`  ${t}: a mark that belongs to no grant here`);
  return lines.join('\n');
}

export function registerTraceCommand(program: Command, globals: () => GlobalOptions): void {
  program
    .command('trace <file>')
    .description('Find whose copy a leaked PDF, EPUB or ZIP was: grant, order, buyer, downloads')
    .action((path: string) =>
      withContext(globals(), async (ctx) => {
        const info = await stat(path).catch(() => {
          throw new AppError('NOT_FOUND', { message: `No file ${path}.` });
        });
        if (info.size > MAX_TRACE_BYTES) {
          throw new AppError('PAYLOAD_TOO_LARGE', {
            message: `A file to trace may be at most ${MAX_TRACE_BYTES} bytes.`,
          });
        }
        const result = await ctx.watermarks.trace(await readFile(path));
        print(globals(), { ...result, message: traceMessage(result.found) }, human);
      }),
    );
}
