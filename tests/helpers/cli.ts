import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root (the CLI and `serve` run from here). */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = fileURLToPath(new URL('../../bin/cloudsecure.mjs', import.meta.url));

export interface CLIResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CLIErrorBody {
  error: { code: string; message: string };
}

/**
 * Runs `node bin/cloudsecure.mjs ARGS` with the harness environment layered over this process's one.
 * Standard input gets `stdin` (or is closed at once, so no command can wait on it).
 */
export function runCLI(env: Record<string, string>, args: string[], stdin = ''): Promise<CLIResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

/** Runs a `--json` command that must succeed, and returns its one JSON document. */
export async function cliJSON<T>(env: Record<string, string>, args: string[], stdin = ''): Promise<T> {
  const result = await runCLI(env, ['--json', ...args], stdin);
  if (result.code !== 0) {
    throw new Error(`cloudsecure ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  }
  return JSON.parse(result.stdout) as T;
}

/** Runs a `--json` command that must fail; returns its exit status, stdout and parsed stderr. */
export async function cliFailure(
  env: Record<string, string>,
  args: string[],
): Promise<{ code: number | null; stdout: string; body: CLIErrorBody }> {
  const result = await runCLI(env, ['--json', ...args]);
  let body: CLIErrorBody;
  try {
    body = JSON.parse(result.stderr) as CLIErrorBody;
  } catch {
    throw new Error(
      `cloudsecure ${args.join(' ')} (exit ${result.code}) stderr is not JSON: ${result.stderr}`,
    );
  }
  return { code: result.code, stdout: result.stdout, body };
}

/** A long-running child (`serve`) whose output is collected as it arrives. */
export interface ServerProcess {
  child: ChildProcess;
  /** stdout and stderr, interleaved in arrival order. */
  output(): string;
  exited: Promise<number | null>;
}

export function spawnServe(env: Record<string, string | undefined>): ServerProcess {
  const child = spawn(process.execPath, [BIN, 'serve'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  // 'close' (not 'exit') so that all output has arrived by the time this resolves.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** Stops a child this test started (by its own handle) and waits for it to go. */
export async function stopProcess(
  p: ServerProcess,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<number | null> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill(signal);
  return p.exited;
}
