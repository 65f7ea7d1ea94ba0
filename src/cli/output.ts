import { ConfigError } from '../config.ts';
import { AppError } from '../domain/errors.ts';

export interface OutputOptions {
  json: boolean;
}

/** Prints a result: exactly one JSON document with --json, a human rendering otherwise. */
export function print(options: OutputOptions, data: unknown, human?: (data: never) => string): void {
  if (options.json || !human) process.stdout.write(`${JSON.stringify(data, null, options.json ? 0 : 2)}\n`);
  else process.stdout.write(`${human(data as never)}\n`);
}

export function errorBody(error: unknown): { error: { code: string; message: string } } {
  if (error instanceof AppError) return { error: { code: error.code, message: error.message } };
  if (error instanceof ConfigError) return { error: { code: 'CONFIG_INVALID', message: error.message } };
  if (error instanceof CLIUsageError) return { error: { code: 'INVALID_REQUEST', message: error.message } };
  const message = error instanceof Error ? error.message : String(error);
  return { error: { code: 'INTERNAL', message } };
}

export class CLIUsageError extends Error {
  override name = 'CLIUsageError';
}

export function printError(options: OutputOptions, error: unknown): void {
  const body = errorBody(error);
  if (options.json) process.stderr.write(`${JSON.stringify(body)}\n`);
  else process.stderr.write(`error [${body.error.code}]: ${body.error.message}\n`);
}

export function table(rows: Record<string, unknown>[], columns: string[]): string {
  if (rows.length === 0) return '(none)';
  const cells = rows.map((r) => columns.map((c) => String(r[c] ?? '')));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: string[]): string =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(columns), ...cells.map(line)].join('\n');
}
