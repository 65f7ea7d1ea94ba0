import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { LicenseSummary, LicenseView } from '../src/domain/licenses/license-service.ts';
import type { OrderView } from '../src/domain/orders/order-service.ts';
import { cliFailure, cliJSON } from './helpers/cli.ts';
import { createHarness, type Harness } from './helpers/harness.ts';

vi.setConfig({ testTimeout: 120_000 });

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h.close();
});

describe('license commands', () => {
  it('find a license by key or id, list, show activations, deactivate, suspend and transfer it', async () => {
    const product = await cliJSON<{ slug: string }>(h.env, [
      'product',
      'create',
      '--name',
      `CLI Plugin ${Date.now()}`,
      '--license',
      '--activation-limit',
      '2',
    ]);
    const order = await cliJSON<OrderView>(h.env, [
      'order',
      'create',
      '--email',
      'cli-buyer@example.com',
      '--product',
      `${product.slug}:2`,
    ]);
    expect(order.licenses).toHaveLength(2);
    const [first] = order.licenses;
    await h.ctx.licenses.activate({
      key: first!.key,
      product: product.slug,
      siteUrl: 'https://one.example.org',
    });

    const listed = await cliJSON<LicenseSummary[]>(h.env, ['license', 'list', '--product', product.slug]);
    expect(listed.map((l) => l.id).sort()).toEqual(order.licenses.map((l) => l.id).sort());
    expect(JSON.stringify(listed)).not.toContain(first!.key);
    expect(
      await cliJSON<LicenseSummary[]>(h.env, ['license', 'list', '--email', 'nobody@example.com']),
    ).toEqual([]);

    const byKey = await cliJSON<LicenseView>(h.env, ['license', 'show', first!.key.toLowerCase()]);
    expect(byKey.id).toBe(first!.id);
    const activations = await cliJSON<LicenseView['activations']>(h.env, [
      'license',
      'activations',
      first!.id,
    ]);
    expect(activations).toEqual([expect.objectContaining({ kind: 'site', identifier: 'one.example.org/' })]);

    const freed = await cliJSON<LicenseView>(h.env, [
      'license',
      'deactivate',
      first!.key,
      '--site',
      'http://www.one.example.org',
    ]);
    expect(freed.activations).toEqual([]);
    expect(
      (await cliFailure(h.env, ['license', 'deactivate', first!.key, '--site', 'https://one.example.org']))
        .body.error.code,
    ).toBe('NOT_FOUND');

    expect((await cliJSON<LicenseView>(h.env, ['license', 'suspend', first!.key])).status).toBe('suspended');
    expect((await cliJSON<LicenseView>(h.env, ['license', 'reinstate', first!.id])).status).toBe('active');
    const moved = await cliJSON<LicenseView>(h.env, [
      'license',
      'transfer',
      first!.key,
      '--email',
      'heir@example.com',
    ]);
    expect(moved.customer_id).not.toBe(order.customer.id);
    expect(
      (await cliFailure(h.env, ['license', 'show', 'CS-NOPE0-NOPE0-NOPE0-NOPE0-NOPE0'])).body.error.code,
    ).toBe('NOT_FOUND');
  });
});
