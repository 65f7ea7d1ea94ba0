import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { RangeReader } from './range-reader.ts';

/** What a sandboxed child can be asked to do with an untrusted file. */
export type SandboxTask =
  | { type: 'analyze'; kind: 'pdf' | 'epub' | 'zip' }
  | { type: 'normalize-pdf' }
  | { type: 'find-marks' };

export interface SandboxLimits {
  timeoutMs: number;
  /** V8 heap ceiling of the child. */
  maxHeapMb: number;
}

export const DEFAULT_LIMITS: SandboxLimits = { timeoutMs: 60_000, maxHeapMb: 256 };

/** A refusal from the child (the engine's error code and message), or a crash, timeout or memory blow-up. */
export class SandboxError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SandboxError';
  }
}

type ChildMessage =
  | { type: 'read'; id: number; start: number; end: number }
  | { type: 'chunk'; id: number; data: Uint8Array }
  | { type: 'result'; value: unknown }
  | { type: 'error'; code: string; message: string };

const CHILD = fileURLToPath(new URL('./sandbox-child.ts', import.meta.url));
// The child runs TypeScript through tsx, named by absolute URL: the server's working directory may be anywhere.
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/**
 * Runs one task on an untrusted file in a child process with a heap ceiling and a deadline, so a hostile
 * file (a page-tree loop, a decompression bomb, a pathological xref) costs at most that child. The child
 * sees the file only through positional reads answered here; output (a normalised master) streams back
 * chunk by chunk, each acknowledged, so neither side holds the whole file.
 */
export function runInSandbox<T>(
  task: SandboxTask,
  reader: RangeReader,
  options: { limits?: SandboxLimits; onChunk?: (chunk: Buffer) => Promise<void> } = {},
): Promise<T> {
  const limits = options.limits ?? DEFAULT_LIMITS;
  return new Promise<T>((resolve, reject) => {
    const child = fork(CHILD, [], {
      execArgv: ['--import', TSX, `--max-old-space-size=${limits.maxHeapMb}`, '--no-warnings'],
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let settled = false;
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      if (stderr.length < 4000) stderr += chunk.toString('utf8');
    });
    const finish = (error: Error | null, value?: T) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null) child.kill('SIGKILL');
      if (error) reject(error);
      else resolve(value as T);
    };
    const timer = setTimeout(
      () => finish(new SandboxError('LIMIT', `the file took longer than ${limits.timeoutMs} ms to process`)),
      limits.timeoutMs,
    );
    child.on('message', (raw) => {
      const message = raw as ChildMessage;
      if (message.type === 'read') {
        reader.read(message.start, message.end).then(
          (data) => child.connected && child.send({ type: 'data', id: message.id, data }),
          (error: unknown) => finish(error instanceof Error ? error : new Error(String(error))),
        );
      } else if (message.type === 'chunk') {
        (options.onChunk ? options.onChunk(Buffer.from(message.data)) : Promise.resolve()).then(
          () => child.connected && child.send({ type: 'ack', id: message.id }),
          (error: unknown) => finish(error instanceof Error ? error : new Error(String(error))),
        );
      } else if (message.type === 'result') {
        finish(null, message.value as T);
      } else if (message.type === 'error') {
        finish(new SandboxError(message.code, message.message));
      }
    });
    child.on('error', (error) => finish(error));
    child.on('exit', (code, signal) => {
      const oom = /heap out of memory|Allocation failed/i.test(stderr);
      finish(
        new SandboxError(
          'LIMIT',
          oom
            ? `the file needed more than ${limits.maxHeapMb} MB of memory to process`
            : `the file processor stopped unexpectedly (${signal ?? `exit ${code}`})`,
        ),
      );
    });
    child.send({ type: 'task', task, size: reader.size });
  });
}
