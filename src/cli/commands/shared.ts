import { InvalidArgumentError } from 'commander';

export interface GlobalOptions {
  json: boolean;
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function integer(value: string): number {
  if (!/^\d{1,9}$/.test(value)) throw new InvalidArgumentError('expected a whole number');
  return Number(value);
}

export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}
