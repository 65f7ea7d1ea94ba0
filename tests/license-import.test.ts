import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ImportSummary } from '../src/domain/licenses/license-import.ts';
import { cliJSON } from './helpers/cli.ts';
import { createHarness, type Harness } from './helpers/harness.ts';

vi.setConfig({ testTimeout: 120_000 });

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h.close();
});

async function validate(
  body: Record<string, unknown>,
): Promise<{ valid: boolean; code: string; license: null | Record<string, unknown> }> {
  const res = await fetch(`${h.url}/api/v1/licenses/validate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return (await res.json()) as { valid: boolean; code: string; license: null | Record<string, unknown> };
}

describe('license import from CSV', () => {
  it('keeps keys, limits, expiry and active sites, reports bad rows, and skips existing keys on a re-run', async () => {
    const product = await h.ctx.products.create({ name: 'Legacy Plugin', license: { activationLimit: 1 } });
    const csv = [
      'key,email,name,expires_at,activation_limit,sites',
      '0f3a9c1be27d4c55a1b2c3d4e5f60718,ada@example.com,Ada,2099-05-01 23:59:59,3,https://www.ada.example.com;http://ada.local',
      'LEGACY-KEY-0002-ABCDEFGH,bob@example.com,Bob,lifetime,0,',
      'LEGACY-KEY-0003-ABCDEFGH,not-an-email,,2099-01-01,1,',
    ].join('\n');
    const file = join(h.dataDir, 'import.csv');
    await writeFile(file, csv);

    const first = await cliJSON<ImportSummary>(h.env, ['license', 'import', file, '--product', product.slug]);
    expect(first).toMatchObject({ imported: 2, skipped: 0 });
    expect(first.failed).toEqual([expect.objectContaining({ line: 4, code: 'INVALID_REQUEST' })]);

    const ada = await validate({
      key: '0F3A9C1B-E27D4C55A1B2C3D4E5F60718',
      product: product.slug,
      site_url: 'https://ada.example.com',
    });
    expect(ada).toMatchObject({ valid: true, code: 'VALID' });
    expect(ada.license).toMatchObject({
      activation_limit: 3,
      active_count: 1,
      expires_at: '2099-05-01T23:59:59.000Z',
    });

    const bob = await validate({ key: 'LEGACY-KEY-0002-ABCDEFGH', product: product.slug });
    expect(bob.license).toMatchObject({ expires_at: null, activation_limit: 0, activations_left: null });

    const again = await cliJSON<ImportSummary>(h.env, ['license', 'import', file, '--product', product.slug]);
    expect(again).toMatchObject({ imported: 0, skipped: 2 });
  });
});
