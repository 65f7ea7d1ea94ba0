import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { sql } from 'kysely';
import type { AppContext } from '../../src/context.ts';

/** The byte patterns a leaked value could take: plain, UTF-16, hex, base64 and base64url at every alignment. */
export function leakForms(value: string): Buffer[] {
  const plain = Buffer.from(value, 'utf8');
  const forms: Buffer[] = [plain, Buffer.from(value, 'utf16le'), Buffer.from(plain.toString('hex'))];
  for (let shift = 0; shift < 3; shift++) {
    const b64 = Buffer.concat([Buffer.alloc(shift), plain]).toString('base64');
    // Drop the groups that mix in the neighbouring bytes: what remains appears in any encoding of
    // a longer text that contains the value at this alignment.
    const core = b64.slice(shift === 0 ? 0 : 4, -4);
    forms.push(Buffer.from(core), Buffer.from(core.replaceAll('+', '-').replaceAll('/', '_')));
  }
  return forms;
}

/** Which of `canaries` appear in `haystack`, in any form of `leakForms`. */
export function findLeaks(canaries: string[], haystack: Buffer, where: string): string[] {
  const found: string[] = [];
  for (const canary of canaries) {
    for (const form of leakForms(canary)) {
      if (haystack.includes(form)) found.push(`${where}: ${canary} as ${form.toString('latin1')}`);
    }
  }
  return found;
}

export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/** Every row of every table, as JSON text, read through the application's own connection. */
export async function dumpDatabase(ctx: AppContext): Promise<{ tables: string[]; json: string }> {
  const db = ctx.database.db;
  const tables =
    ctx.database.dialect === 'postgres'
      ? (
          await sql<{ name: string }>`select table_name as name from information_schema.tables
            where table_schema = current_schema() and table_type = 'BASE TABLE'`.execute(db)
        ).rows
      : (await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(db)).rows;
  const dump: Record<string, unknown[]> = {};
  for (const { name } of tables) {
    dump[name] = (await sql<Record<string, unknown>>`select * from ${sql.table(name)}`.execute(db)).rows;
  }
  return { tables: tables.map((t) => t.name), json: JSON.stringify(dump) };
}
