/** Load generation (wrk), single downloads (curl) and memory sampling (/proc). */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { runCommand } from './procs.ts';

export interface WrkOptions {
  seconds: number;
  threads: number;
  connections: number;
}

export interface WrkResult {
  requestsPerSecond: number;
  requests: number;
  /** Responses that were neither 2xx nor 3xx. */
  bad: number;
  socketErrors: number;
  p50ms: number;
  p99ms: number;
}

function toMs(value: string, unit: string): number {
  const n = Number(value);
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : n;
}

export function parseWrk(output: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(output);
  const total = /(\d+) requests in/.exec(output);
  if (!rps || !total) throw new Error(`unexpected wrk output:\n${output}`);
  const bad = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const p50 = /\s50%\s+([\d.]+)(us|ms|s)/.exec(output);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)/.exec(output);
  return {
    requestsPerSecond: Number(rps[1]),
    requests: Number(total[1]),
    bad: bad ? Number(bad[1]) : 0,
    socketErrors: socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
    p50ms: p50 ? toMs(p50[1]!, p50[2]!) : Number.NaN,
    p99ms: p99 ? toMs(p99[1]!, p99[2]!) : Number.NaN,
  };
}

export async function runWrk(url: string, options: WrkOptions): Promise<WrkResult> {
  const args = [
    `-t${options.threads}`,
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    '--timeout',
    '5s',
    '--latency',
    url,
  ];
  const out = await runCommand('wrk', args, (options.seconds + 20) * 1000);
  if (out.code !== 0) throw new Error(`wrk failed (${out.code}): ${out.stderr}`);
  return parseWrk(out.stdout);
}

export interface Download {
  status: number;
  bytes: number;
  bytesPerSecond: number;
}

/** One download with curl into /dev/null; speed is curl's average over the whole transfer. */
export async function curlDownload(url: string, timeoutMs = 60_000): Promise<Download> {
  const out = await runCommand(
    'curl',
    ['-s', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{speed_download}', url],
    timeoutMs,
  );
  const [status, bytes, speed] = out.stdout.trim().split(' ').map(Number);
  if (out.code !== 0 || status === undefined || bytes === undefined || speed === undefined) {
    throw new Error(`curl ${url} failed (${out.code}): ${out.stderr} ${out.stdout}`);
  }
  return { status, bytes, bytesPerSecond: speed };
}

/** A /proc/<pid>/status field in bytes (VmRSS, VmHWM…). */
export function procStatusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no ${field} for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/** Resets VmHWM to the current RSS (Linux ≥ 4.0, needs permission on the process); false if refused. */
export function resetPeakRSS(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

export interface RSSSampler {
  stop(): { peak: number; samples: number };
}

/** Samples VmRSS every `intervalMs` until stopped. */
export function sampleRSS(pid: number, intervalMs = 50): RSSSampler {
  let peak = procStatusBytes(pid, 'VmRSS');
  let samples = 1;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, procStatusBytes(pid, 'VmRSS'));
      samples += 1;
    } catch {
      // The process is gone; the caller will notice.
    }
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      try {
        peak = Math.max(peak, procStatusBytes(pid, 'VmRSS'));
        samples += 1;
      } catch {
        // As above.
      }
      return { peak, samples };
    },
  };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const CLOCK_TICKS_PER_SECOND = 100;

function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may contain spaces: split after its closing one.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/**
 * CPU seconds (user + system) used so far by `pid` and its direct children (nginx workers), from
 * /proc. Assumes the usual 100 clock ticks per second.
 */
export function cpuSeconds(pid: number): number {
  const pids = [pid];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (fields && Number(fields[1]) === pid) pids.push(Number(entry));
  }
  let ticks = 0;
  for (const p of pids) {
    const fields = statFields(p);
    // After the name: state(0) ppid(1) … utime(11) stime(12).
    if (fields) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / CLOCK_TICKS_PER_SECOND;
}
