import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AppError } from '../src/domain/errors.ts';
import { purchase } from './helpers/fixtures.ts';
import { createHarness, DIALECT, type Harness } from './helpers/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h.close();
});

const LIMIT = 3;
const ATTEMPTS = 20;

describe(`racing for the last allowed downloads (${DIALECT})`, () => {
  it('lets exactly the limit of 20 concurrent direct-link downloads through and refuses the rest', async () => {
    const p = await purchase(h, { product: { downloadLimit: LIMIT } });
    const answers = await Promise.all(
      Array.from({ length: ATTEMPTS }, async () => {
        const res = await fetch(p.url, { headers: { accept: 'application/json' } });
        const body = Buffer.from(await res.arrayBuffer());
        if (res.status === 200) return { status: 200, intact: body.equals(p.content) };
        const parsed: { error: { code: string } } = JSON.parse(body.toString('utf8'));
        return { status: res.status, code: parsed.error.code };
      }),
    );
    const served = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status !== 200);
    expect(served).toHaveLength(LIMIT);
    expect(served.every((a) => 'intact' in a && a.intact)).toBe(true);
    expect(refused).toHaveLength(ATTEMPTS - LIMIT);
    expect(refused.every((a) => a.status === 403 && 'code' in a && a.code === 'DOWNLOAD_LIMIT_REACHED')).toBe(
      true,
    );

    const events = await vi.waitFor(
      async () => {
        const list = await h.ctx.downloads.list({ grantId: p.grantId });
        expect(list.filter((e) => e.status === 'started')).toEqual([]);
        return list;
      },
      { timeout: 10_000, interval: 20 },
    );
    expect(events).toHaveLength(ATTEMPTS);
    expect(events.filter((e) => e.counted)).toHaveLength(LIMIT);
    expect(events.filter((e) => e.status === 'completed')).toHaveLength(LIMIT);
    expect(events.filter((e) => e.status === 'DOWNLOAD_LIMIT_REACHED')).toHaveLength(ATTEMPTS - LIMIT);
    const [link] = await h.ctx.grants.createLinks(p.grantId);
    expect(link!.downloads_left).toBe(0);
  });

  it('lets exactly the limit of 20 concurrent begin() calls count and refuses the rest', async () => {
    const p = await purchase(h, { product: { downloadLimit: LIMIT } });
    const requester = { ip: '192.0.2.10', userAgent: 'race-test' };
    const authorized = await h.ctx.downloads.authorize(p.url.split('/d/')[1]!, requester);
    const results = await Promise.allSettled(
      Array.from({ length: ATTEMPTS }, () =>
        h.ctx.downloads.begin({ ...authorized, ...requester, range: null, redirected: false }),
      ),
    );
    const begun = results.filter((r) => r.status === 'fulfilled');
    const refusals = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
    expect(begun).toHaveLength(LIMIT);
    expect(refusals).toHaveLength(ATTEMPTS - LIMIT);
    for (const reason of refusals) {
      expect(reason).toBeInstanceOf(AppError);
      expect((reason as AppError).code).toBe('DOWNLOAD_LIMIT_REACHED');
    }

    const events = await h.ctx.downloads.list({ grantId: p.grantId });
    expect(events.filter((e) => e.counted)).toHaveLength(LIMIT);
    expect(events.filter((e) => e.status === 'started')).toHaveLength(LIMIT);
    expect(events.filter((e) => e.status === 'DOWNLOAD_LIMIT_REACHED')).toHaveLength(ATTEMPTS - LIMIT);
    const [link] = await h.ctx.grants.createLinks(p.grantId);
    expect(link!.downloads_left).toBe(0);
  });

  it('keeps the limits of two files of one grant apart under concurrency', async () => {
    const p = await purchase(h, { product: { downloadLimit: LIMIT } });
    await h.ctx.products.addFile({
      product: p.order.downloads[0]!.product,
      fileName: 'second.pdf',
      body: Readable.from([randomBytes(1000)]),
      contentType: 'application/pdf',
    });
    const links = await h.ctx.grants.createLinks(p.grantId);
    expect(links).toHaveLength(2);
    const statuses = await Promise.all(
      Array.from({ length: ATTEMPTS }, async (_, i) => {
        const link = links[i % 2]!;
        const res = await fetch(link.url);
        await res.arrayBuffer();
        return { file: link.file_id, status: res.status };
      }),
    );
    for (const link of links) {
      const mine = statuses.filter((s) => s.file === link.file_id);
      expect(mine.filter((s) => s.status === 200)).toHaveLength(LIMIT);
      expect(mine.filter((s) => s.status === 403)).toHaveLength(ATTEMPTS / 2 - LIMIT);
    }
    const after = await h.ctx.grants.createLinks(p.grantId);
    expect(after.map((l) => l.downloads_left)).toEqual([0, 0]);
  });
});
