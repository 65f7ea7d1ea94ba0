/** Machine facts and the markdown that bench/RESULTS.md is made of. */
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import { runCommand } from './procs.ts';

export interface Machine {
  date: string;
  nproc: number;
  cpu: string;
  memory: string;
  kernel: string;
  node: string;
  nginx: string;
  wrk: string;
  curl: string;
  loadBefore: string;
  /** The 1-minute load average before the run, to flag a busy machine. */
  load1Before: number;
}

function loadAverage(): string {
  return loadavg()
    .map((n) => n.toFixed(2))
    .join(' / ');
}

async function firstLine(command: string, args: string[]): Promise<string> {
  const out = await runCommand(command, args, 5000);
  return `${out.stdout}\n${out.stderr}`.trim().split('\n')[0]?.trim() ?? 'unknown';
}

export async function describeMachine(): Promise<Machine> {
  return {
    date: new Date().toISOString(),
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    memory: `${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    kernel: `Linux ${release()}`,
    node: process.version,
    nginx: (await firstLine('nginx', ['-v'])).replace(/^nginx version:\s*/, ''),
    wrk: (await firstLine('wrk', ['-v'])).replace(/\s+Copyright.*$/, ''),
    curl: (await firstLine('curl', ['--version'])).split(' ').slice(0, 2).join(' '),
    loadBefore: loadAverage(),
    load1Before: loadavg()[0] ?? 0,
  };
}

export interface Row {
  id: string;
  what: string;
  cloudsecure: string;
  baseline: string;
  ratio: number;
  /** Shown as is, e.g. `≥ 0.35`. */
  target: string;
  /** null: reported, no target. */
  pass: boolean | null;
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export function resultsTable(rows: Row[]): string {
  return table(
    ['#', 'Measurement', 'CloudSecure', 'Baseline', 'Ratio', 'Target', 'Result'],
    rows.map((r) => [
      r.id,
      r.what,
      r.cloudsecure,
      r.baseline,
      Number.isFinite(r.ratio) ? r.ratio.toFixed(r.ratio < 0.1 ? 3 : 2) : 'n/a',
      r.target,
      r.pass === null ? 'info' : r.pass ? 'PASS' : 'FAIL',
    ]),
  );
}

export function machineTable(m: Machine): string {
  return table(
    ['Fact', 'Value'],
    [
      ['Date', m.date],
      ['nproc', String(m.nproc)],
      ['CPU', m.cpu],
      ['Memory', m.memory],
      ['Kernel', m.kernel],
      ['Node', m.node],
      ['nginx', m.nginx],
      ['wrk', m.wrk],
      ['curl', m.curl],
      ['Load average (1/5/15 min) before / after', `${m.loadBefore} — ${loadAverage()}`],
    ],
  );
}

export function rawTable(header: string[], rows: string[][]): string {
  return table(header, rows);
}

export function formatRate(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function formatMiB(bytes: number): string {
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

export function formatSpeed(bytesPerSecond: number): string {
  return `${(bytesPerSecond / 1024 ** 2).toFixed(0)} MiB/s`;
}
