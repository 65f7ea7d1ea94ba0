import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveKey, parseMasterKey } from '../src/adapters/crypto/keys.ts';
import { createSecretBox } from '../src/adapters/crypto/secret-box.ts';
import { createHarness, type Harness } from './helpers/harness.ts';
import { dumpDatabase as dumpRows, filesUnder, findLeaks as findCanaries } from './helpers/leaks.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const API_KEY_ID = 'AKIDSECRETCANARY1234';
const API_SECRET = 'sk-canary-9f8e7d6c5b4a';
const CLI_KEY_ID = 'AKIDCLICANARY5678WXYZ';
const CLI_SECRET = 'sk-cli-canary-0a1b2c3d4e5f';
const CANARIES = [API_KEY_ID, API_SECRET, CLI_KEY_ID, CLI_SECRET];

let h: Harness;
let auth: string;

beforeAll(async () => {
  h = await createHarness();
  auth = await h.adminAuth();
});
afterAll(async () => {
  await h?.close();
});

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI against the harness's database, with `stdin` written to its standard input. */
function cli(args: string[], stdin = ''): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/cloudsecure.mjs'), '--json', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...h.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

function findLeaks(haystack: Buffer, where: string): string[] {
  return findCanaries(CANARIES, haystack, where);
}

async function dumpDatabase(): Promise<string> {
  const { tables, json } = await dumpRows(h.ctx);
  expect(tables).toContain('secrets');
  return json;
}

interface StorageView {
  active: string;
  s3: {
    endpoint: string;
    bucket: string;
    region: string;
    force_path_style: boolean;
    credentials_hint: string;
  } | null;
}

const MASKED_HINT = /^•+[^•\s]{0,4} \/ •+[^•\s]{0,4}$/;

describe('storage credentials at rest', () => {
  it('accepts S3 credentials over the API and returns only a masked hint', async () => {
    const put = await fetch(`${h.url}/api/v1/storage`, {
      method: 'PUT',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        active: 's3',
        endpoint: 'http://127.0.0.1:9',
        bucket: 'canary-bucket',
        access_key_id: API_KEY_ID,
        secret_access_key: API_SECRET,
      }),
    });
    const putText = await put.text();
    expect(put.status).toBe(200);
    expect(findLeaks(Buffer.from(putText), 'PUT response')).toEqual([]);

    const get = await fetch(`${h.url}/api/v1/storage`, { headers: { authorization: auth } });
    const getText = await get.text();
    expect(get.status).toBe(200);
    expect(findLeaks(Buffer.from(getText), 'GET response')).toEqual([]);
    const view = JSON.parse(getText) as StorageView;
    expect(view).toEqual({
      active: 's3',
      s3: {
        endpoint: 'http://127.0.0.1:9',
        bucket: 'canary-bucket',
        region: 'auto',
        force_path_style: false,
        credentials_hint: expect.stringMatching(MASKED_HINT),
      },
    });
    // The server itself can still open them (it needs them to sign requests).
    const loaded = await h.ctx.storage.load();
    expect(loaded.s3).toMatchObject({ accessKeyId: API_KEY_ID, secretAccessKey: API_SECRET });
  });

  it('accepts S3 credentials from the CLI with the secret on stdin and never prints them', async () => {
    const use = await cli(
      [
        'storage',
        'use',
        's3',
        '--endpoint',
        'http://127.0.0.1:9',
        '--bucket',
        'b',
        '--access-key-id',
        CLI_KEY_ID,
        '--secret-access-key-stdin',
      ],
      `${CLI_SECRET}\n`,
    );
    expect(use.code, use.stderr).toBe(0);
    // The key id was on the command line, so it may only come back masked as well.
    expect(findLeaks(Buffer.from(use.stdout + use.stderr), 'storage use output')).toEqual([]);
    expect(JSON.parse(use.stdout)).toMatchObject({
      active: 's3',
      s3: { bucket: 'b', credentials_hint: expect.stringMatching(MASKED_HINT) },
    });

    const show = await cli(['storage', 'show']);
    expect(show.code, show.stderr).toBe(0);
    expect(findLeaks(Buffer.from(show.stdout + show.stderr), 'storage show output')).toEqual([]);
    const shown = JSON.parse(show.stdout) as StorageView;
    expect(shown.s3).toMatchObject({ endpoint: 'http://127.0.0.1:9', bucket: 'b' });
    expect(shown.s3?.credentials_hint).toMatch(MASKED_HINT);

    // The server sees what the CLI stored: the secret read from stdin, without its newline.
    const loaded = await h.ctx.storage.load();
    expect(loaded.s3).toMatchObject({ accessKeyId: CLI_KEY_ID, secretAccessKey: CLI_SECRET });
  }, 120_000);

  it('leaves no credential in any form in the database files, table rows or logs', async () => {
    const leaks: string[] = [];
    const files = await filesUnder(h.dataDir);
    if (h.ctx.database.dialect === 'sqlite') {
      expect(files.some((f) => f.endsWith('.sqlite'))).toBe(true);
    }
    for (const file of files) leaks.push(...findLeaks(await readFile(file), file));
    leaks.push(...findLeaks(Buffer.from(await dumpDatabase()), `${h.ctx.database.dialect} rows`));
    expect(h.logs.length).toBeGreaterThan(0);
    leaks.push(...findLeaks(Buffer.from(h.logs.join('')), 'server log'));
    expect(leaks).toEqual([]);
  });

  it('stores a ciphertext that opens only under its own record id', async () => {
    const db = h.ctx.database.db;
    const rows = await db.selectFrom('secrets').selectAll().execute();
    expect(rows.length).toBe(1);
    const row = rows[0]!;
    expect(row.ciphertext).toMatch(/^v1\.[\w-]+\.[\w-]+\.[\w-]+\.[\w-]+$/);

    const box = createSecretBox(deriveKey(parseMasterKey(h.env.CLOUDSECURE_MASTER_KEY!), 'secret-kek'));
    expect(JSON.parse(box.open(row.ciphertext, row.id))).toEqual({
      accessKeyId: CLI_KEY_ID,
      secretAccessKey: CLI_SECRET,
    });

    // A copy of the ciphertext on another record does not open there.
    const copyId = `${row.id}-copy`;
    await db
      .insertInto('secrets')
      .values({ ...row, id: copyId })
      .execute();
    const copy = await db
      .selectFrom('secrets')
      .selectAll()
      .where('id', '=', copyId)
      .executeTakeFirstOrThrow();
    expect(copy.ciphertext).toBe(row.ciphertext);
    expect(() => box.open(copy.ciphertext, copy.id)).toThrow();
    await db.deleteFrom('secrets').where('id', '=', copyId).execute();

    // Nor under another master key.
    const stranger = createSecretBox(deriveKey(randomBytes(32), 'secret-kek'));
    expect(() => stranger.open(row.ciphertext, row.id)).toThrow();
  });
});

describe('secret box', () => {
  const box = createSecretBox(randomBytes(32));

  it('round-trips a value under its record id', () => {
    const sealed = box.seal(API_SECRET, 'record-a');
    expect(sealed).not.toContain(API_SECRET);
    expect(box.open(sealed, 'record-a')).toBe(API_SECRET);
  });

  it('fails to open a ciphertext under any other record id', () => {
    const sealed = box.seal(API_SECRET, 'record-a');
    for (const other of ['record-b', 'record-a ', 'Record-a', '']) {
      expect(() => box.open(sealed, other)).toThrow();
    }
  });

  it('seals the same value differently every time', () => {
    const a = box.seal(API_SECRET, 'record-a');
    const b = box.seal(API_SECRET, 'record-a');
    expect(a).not.toBe(b);
    expect(box.open(a, 'record-a')).toBe(box.open(b, 'record-a'));
  });

  it('refuses a ciphertext with any part altered or swapped', () => {
    const sealed = box.seal(API_SECRET, 'record-a');
    const parts = sealed.split('.');
    for (let i = 1; i < parts.length; i++) {
      const part = parts[i]!;
      const flipped = (part[0] === 'A' ? 'B' : 'A') + part.slice(1);
      const altered = [...parts.slice(0, i), flipped, ...parts.slice(i + 1)].join('.');
      expect(() => box.open(altered, 'record-a'), `part ${i}`).toThrow();
    }
    // A data key wrapped for one value cannot open another value's body.
    const other = box.seal('another value', 'record-a').split('.');
    const spliced = [...parts.slice(0, 3), ...other.slice(3)].join('.');
    expect(() => box.open(spliced, 'record-a')).toThrow();
    expect(() => box.open(`v2.${parts.slice(1).join('.')}`, 'record-a')).toThrow();
  });
});
