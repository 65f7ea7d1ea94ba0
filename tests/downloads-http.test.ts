import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purchase } from './helpers/fixtures.ts';
import { createHarness, type Harness } from './helpers/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h.close();
});

const json = { accept: 'application/json' };

describe('direct download link', () => {
  it('serves the whole file with download headers and counts it', async () => {
    const p = await purchase(h, { fileName: 'Über Bücher – 1.pdf' });
    const res = await fetch(p.url);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(p.content)).toBe(true);
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.headers.get('content-type')).toBe('application/pdf');
    expect(res.headers.get('content-length')).toBe(String(p.content.length));
    expect(res.headers.get('etag')).toMatch(/^"[0-9a-f]{32}"$/);
    expect(res.headers.get('last-modified')).toBeTruthy();
    expect(res.headers.get('content-disposition')).toBe(
      `attachment; filename="Uber Bucher _ 1.pdf"; filename*=UTF-8''%C3%9Cber%20B%C3%BCcher%20%E2%80%93%201.pdf`,
    );
    const links = await h.ctx.grants.createLinks(p.grantId);
    expect(links[0]!.downloads_left).toBe(4);
  });

  it('refuses a tampered token with 404 and reveals nothing', async () => {
    const p = await purchase(h);
    const token = p.url.split('/d/')[1]!;
    const flipped = token.slice(0, 10) + (token[10] === 'A' ? 'B' : 'A') + token.slice(11);
    const res = await fetch(`${h.url}/d/${flipped}`, { headers: json });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'Not found.' } });
  });
});
