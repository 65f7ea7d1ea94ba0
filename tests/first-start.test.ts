import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type ServerProcess, spawnServe, stopProcess } from './helpers/cli.ts';
import { freePort } from './helpers/harness.ts';

// First start is always on embedded defaults (SQLite, local storage), whichever database the suite uses.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const started: ServerProcess[] = [];
let root: string;
let dataDir: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'cloudsecure-first-start-'));
  // A data dir that does not exist yet, as on a fresh machine.
  dataDir = join(root, 'data');
});
afterAll(async () => {
  await Promise.all(started.map((p) => stopProcess(p, 'SIGKILL')));
  await rm(root, { recursive: true, force: true });
});

/** This process's environment without any CloudSecure or test database settings, plus `extra`. */
function freshEnv(extra: Record<string, string>): Record<string, string | undefined> {
  const inherited = Object.entries(process.env).filter(
    ([key]) => !key.startsWith('CLOUDSECURE_') && key !== 'TEST_DATABASE_URL' && key !== 'TEST_REDIS_URL',
  );
  return { ...Object.fromEntries(inherited), ...extra };
}

function startServe(extra: Record<string, string>): ServerProcess {
  const p = spawnServe(freshEnv(extra));
  started.push(p);
  return p;
}

/** Waits until /healthz answers and the start-up log is complete; fails if the process dies first. */
async function waitUntilListening(p: ServerProcess, url: string): Promise<void> {
  for (;;) {
    if (p.child.exitCode !== null) throw new Error(`serve exited with ${p.child.exitCode}:\n${p.output()}`);
    const healthy = await fetch(`${url}/healthz`).then(
      (res) => res.ok,
      () => false,
    );
    if (healthy && p.output().includes('CloudSecure is listening')) return;
    await delay(100);
  }
}

interface LogLine {
  level: number;
  msg: string;
}

function logLines(p: ServerProcess): LogLine[] {
  return p
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

function masterKeyWarnings(p: ServerProcess): LogLine[] {
  return logLines(p).filter((line) => /master key/i.test(line.msg));
}

describe('first start', () => {
  let first: ServerProcess;
  let url: string;
  let keyOnFirstStart: string;

  beforeAll(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    first = startServe({ CLOUDSECURE_DATA_DIR: dataDir, CLOUDSECURE_PORT: String(port) });
    await waitUntilListening(first, url);
  });

  it('listens on the configured port and answers /healthz and /readyz', async () => {
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
  });

  it('generates a master key in the data dir readable only by its owner', async () => {
    const keyFile = join(dataDir, 'master.key');
    const info = await stat(keyFile);
    expect(info.mode & 0o777).toBe(0o600);
    keyOnFirstStart = await readFile(keyFile, 'utf8');
    expect(Buffer.from(keyOnFirstStart.trim(), 'base64')).toHaveLength(32);
  });

  it('creates a SQLite database in the data dir', async () => {
    const header = await readFile(join(dataDir, 'cloudsecure.sqlite'));
    expect(header.subarray(0, 16).toString('latin1')).toBe('SQLite format 3\u0000');
  });

  it('warns loudly, exactly once, that it generated the master key', () => {
    const warnings = masterKeyWarnings(first);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.level).toBeGreaterThanOrEqual(40);
    expect(warnings[0]!.msg).toContain('CLOUDSECURE_MASTER_KEY');
  });

  it('stops cleanly on SIGTERM', async () => {
    expect(await stopProcess(first, 'SIGTERM')).toBe(0);
  });

  it('reuses the saved key on the next start and does not warn again', async () => {
    const port = await freePort();
    const secondUrl = `http://127.0.0.1:${port}`;
    const second = startServe({ CLOUDSECURE_DATA_DIR: dataDir, CLOUDSECURE_PORT: String(port) });
    await waitUntilListening(second, secondUrl);
    expect(await readFile(join(dataDir, 'master.key'), 'utf8')).toBe(keyOnFirstStart);
    expect(masterKeyWarnings(second)).toEqual([]);
    expect((await fetch(`${secondUrl}/readyz`)).status).toBe(200);
    await stopProcess(second, 'SIGTERM');
  });
});

describe('start with a bad configuration', () => {
  it('exits with a failing status and names CLOUDSECURE_PORT when it is not a port', async () => {
    const p = startServe({ CLOUDSECURE_DATA_DIR: join(root, 'bad-port'), CLOUDSECURE_PORT: 'notaport' });
    const code = await p.exited;
    expect(code).not.toBe(0);
    expect(code).not.toBeNull();
    expect(p.output()).toContain('CLOUDSECURE_PORT');
  });
});
