/**
 * Child processes of the benchmark. Every long-running child (servers) is started in its own process
 * group and registered here, so `stopAll` can end it, and whatever it forked, even when the run fails.
 * Short commands (wrk, curl) run through `runCommand` with a hard timeout.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

export interface Child {
  name: string;
  pid: number;
  logPath: string;
  process: ChildProcess;
  /** Resolves with the exit code (or null when killed by a signal). */
  exited: Promise<number | null>;
}

const running = new Set<Child>();

export function startChild(
  name: string,
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; logPath: string },
): Child {
  // The child writes its output straight to a file: no pipe for the benchmark process to drain.
  const fd = openSync(options.logPath, 'a');
  const proc = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const exited = new Promise<number | null>((resolve) => {
    proc.once('exit', (code) => resolve(code));
    proc.once('error', () => resolve(-1));
  });
  if (proc.pid === undefined) throw new Error(`could not start ${name} (${command})`);
  const child: Child = { name, pid: proc.pid, logPath: options.logPath, process: proc, exited };
  running.add(child);
  exited.then(() => running.delete(child));
  return child;
}

function signalGroup(child: Child, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone.
  }
}

function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), ms);
    promise.then((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

/** SIGTERM to the child's process group, SIGKILL after 5 s. */
export async function stopChild(child: Child): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) {
    signalGroup(child, 'SIGKILL');
    return;
  }
  signalGroup(child, 'SIGTERM');
  if ((await within(child.exited, 5000)) === 'timeout') {
    signalGroup(child, 'SIGKILL');
    await within(child.exited, 2000);
  }
  // Workers of a master that died first (nginx) share its group: make sure none is left.
  signalGroup(child, 'SIGKILL');
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].reverse().map((child) => stopChild(child)));
}

export function tailOf(path: string, lines = 20): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Polls `url` until it answers (any status below 500) or the child exits or `timeoutMs` passes. */
export async function waitForHTTP(child: Child, url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  child.exited.then(() => {
    exited = true;
  });
  while (Date.now() < deadline && !exited) {
    try {
      const res = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      if (res.status < 500) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${child.name} did not come up at ${url}:\n${tailOf(child.logPath)}`);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a short command to completion; it is killed after `timeoutMs`. Never rejects. */
export function runCommand(command: string, args: string[], timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) || (error?.message ?? '') });
      },
    );
  });
}
