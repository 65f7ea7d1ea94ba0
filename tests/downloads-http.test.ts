import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import contentDisposition from 'content-disposition';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DownloadEventView } from '../src/domain/downloads/download-service.ts';
import { type Purchase, purchase } from './helpers/fixtures.ts';
import { createHarness, type Harness } from './helpers/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h.close();
});

const json = { accept: 'application/json' };
const browser = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };
const MINUTE = 60_000;
const DAY = 86_400_000;

interface Fetched {
  status: number;
  headers: Headers;
  body: Buffer;
}

/** One request, body read to the end (so the server finishes and logs the transfer). */
async function request(url: string, init: RequestInit = {}): Promise<Fetched> {
  const res = await fetch(url, init);
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

function errorCode(res: Fetched): string {
  const parsed: { error: { code: string } } = JSON.parse(res.body.toString('utf8'));
  return parsed.error.code;
}

function tokenOf(url: string): string {
  return url.slice(url.lastIndexOf('/') + 1);
}

async function downloadsLeft(harness: Harness, grantId: string): Promise<number | null> {
  const links = await harness.ctx.grants.createLinks(grantId);
  return links[0]!.downloads_left;
}

/** Events of a grant, oldest first. */
async function events(harness: Harness, grantId: string): Promise<DownloadEventView[]> {
  return (await harness.ctx.downloads.list({ grantId })).reverse();
}

/** The end of a transfer is recorded after the last byte leaves; wait until every transfer has ended. */
async function settledEvents(harness: Harness, grantId: string): Promise<DownloadEventView[]> {
  return vi.waitFor(
    async () => {
      const list = await events(harness, grantId);
      expect(list.filter((e) => e.status === 'started')).toEqual([]);
      return list;
    },
    { timeout: 10_000, interval: 20 },
  );
}

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
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-disposition')).toBe(
      `attachment; filename="Uber Bucher _ 1.pdf"; filename*=UTF-8''%C3%9Cber%20B%C3%BCcher%20%E2%80%93%201.pdf`,
    );
    const links = await h.ctx.grants.createLinks(p.grantId);
    expect(links[0]!.downloads_left).toBe(4);
  });

  it('sends a Last-Modified date that parses and an ETag that stays the same across downloads', async () => {
    const p = await purchase(h);
    const first = await request(p.url);
    const second = await request(p.url);
    expect(Number.isNaN(Date.parse(first.headers.get('last-modified') ?? ''))).toBe(false);
    expect(second.headers.get('etag')).toBe(first.headers.get('etag'));
    expect(second.headers.get('last-modified')).toBe(first.headers.get('last-modified'));
  });

  it('keeps quotes and percent signs of the original name in filename* with a safe ASCII fallback', async () => {
    const name = 'Say "hi" 50%.pdf';
    const p = await purchase(h, { fileName: name });
    const res = await request(p.url);
    const header = res.headers.get('content-disposition') ?? '';
    expect(header).toBe(
      `attachment; filename="Say _hi_ 50_.pdf"; filename*=UTF-8''Say%20%22hi%22%2050%25.pdf`,
    );
    expect(contentDisposition.parse(header).parameters.filename).toBe(name);
  });

  it('round-trips a non-ASCII name through the Content-Disposition parser', async () => {
    const name = '日本語のガイド 第2版.pdf';
    const p = await purchase(h, { fileName: name });
    const res = await request(p.url);
    const header = res.headers.get('content-disposition') ?? '';
    expect(header).toMatch(/^attachment; filename="[\x20-\x7e]*"; filename\*=UTF-8''/);
    expect(contentDisposition.parse(header).parameters.filename).toBe(name);
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

describe('a stored file that has gone missing', () => {
  it('answers 503 FILE_UNAVAILABLE without using a download', async () => {
    const p = await purchase(h, { product: { downloadLimit: 2 } });
    const fileId = p.order.downloads[0]!.file_id;
    const row = await h.ctx.database.db
      .selectFrom('files')
      .select('object_key')
      .where('id', '=', fileId)
      .executeTakeFirstOrThrow();
    await rm(join(h.dataDir, 'files', row.object_key));
    const res = await fetch(p.url, { headers: { accept: 'application/json' } });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('FILE_UNAVAILABLE');
    expect((await h.ctx.grants.createLinks(p.grantId))[0]!.downloads_left).toBe(2);
  });
});

describe('Range requests on a direct link', () => {
  const SIZE = 1000;
  let p: Purchase;
  beforeAll(async () => {
    p = await purchase(h, { size: SIZE, product: { downloadLimit: 0 } });
  });

  it('answers bytes=0-99 with 206, Content-Range and exactly those bytes', async () => {
    const res = await request(p.url, { headers: { range: 'bytes=0-99' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes 0-99/${SIZE}`);
    expect(res.headers.get('content-length')).toBe('100');
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.body.equals(p.content.subarray(0, 100))).toBe(true);
  });

  it('answers a suffix range bytes=-100 with the last 100 bytes', async () => {
    const res = await request(p.url, { headers: { range: 'bytes=-100' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes ${SIZE - 100}-${SIZE - 1}/${SIZE}`);
    expect(res.body.equals(p.content.subarray(SIZE - 100))).toBe(true);
  });

  it('answers an open-ended range bytes=100- with everything from byte 100', async () => {
    const res = await request(p.url, { headers: { range: 'bytes=100-' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes 100-${SIZE - 1}/${SIZE}`);
    expect(res.headers.get('content-length')).toBe(String(SIZE - 100));
    expect(res.body.equals(p.content.subarray(100))).toBe(true);
  });

  it('clamps a range whose end lies beyond the file to the last byte', async () => {
    const res = await request(p.url, { headers: { range: 'bytes=900-999999' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes 900-${SIZE - 1}/${SIZE}`);
    expect(res.body.equals(p.content.subarray(900))).toBe(true);
  });

  it('answers a range starting beyond the file with 416 and Content-Range bytes */SIZE, using nothing', async () => {
    const fresh = await purchase(h, { size: SIZE });
    const res = await request(fresh.url, { headers: { range: `bytes=${SIZE}-`, ...json } });
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe(`bytes */${SIZE}`);
    expect(errorCode(res)).toBe('RANGE_NOT_SATISFIABLE');
    expect(await downloadsLeft(h, fresh.grantId)).toBe(5);
  });

  it('answers several ranges with the whole file (200)', async () => {
    const res = await request(p.url, { headers: { range: 'bytes=0-1,5-6' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-range')).toBeNull();
    expect(res.body.equals(p.content)).toBe(true);
  });

  it('answers a malformed Range header with the whole file (200)', async () => {
    const res = await request(p.url, { headers: { range: 'bytes=abc' } });
    expect(res.status).toBe(200);
    expect(res.body.equals(p.content)).toBe(true);
  });

  it('honours If-Range with the current ETag (206) and sends the whole file for a stale one (200)', async () => {
    const etag = (await request(p.url, { method: 'HEAD' })).headers.get('etag')!;
    const matching = await request(p.url, { headers: { range: 'bytes=10-19', 'if-range': etag } });
    expect(matching.status).toBe(206);
    expect(matching.body.equals(p.content.subarray(10, 20))).toBe(true);
    const stale = await request(p.url, {
      headers: { range: 'bytes=10-19', 'if-range': '"00000000000000000000000000000000"' },
    });
    expect(stale.status).toBe(200);
    expect(stale.headers.get('content-range')).toBeNull();
    expect(stale.body.equals(p.content)).toBe(true);
    const weak = await request(p.url, { headers: { range: 'bytes=10-19', 'if-range': `W/${etag}` } });
    expect(weak.status).toBe(200);
  });

  it('honours If-Range with the Last-Modified date (206) and ignores the range for an older date (200)', async () => {
    const lastModified = (await request(p.url, { method: 'HEAD' })).headers.get('last-modified')!;
    const current = await request(p.url, { headers: { range: 'bytes=0-9', 'if-range': lastModified } });
    expect(current.status).toBe(206);
    expect(current.body.equals(p.content.subarray(0, 10))).toBe(true);
    const older = new Date(Date.parse(lastModified) - DAY).toUTCString();
    const outdated = await request(p.url, { headers: { range: 'bytes=0-9', 'if-range': older } });
    expect(outdated.status).toBe(200);
    expect(outdated.body.equals(p.content)).toBe(true);
  });

  it('answers HEAD with the headers and Content-Length but no body, without counting or logging', async () => {
    const fresh = await purchase(h, { size: SIZE });
    const res = await request(fresh.url, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(SIZE));
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.headers.get('etag')).toMatch(/^"[0-9a-f]{32}"$/);
    expect(res.headers.get('content-disposition')).toContain('attachment');
    expect(res.body.length).toBe(0);
    const ranged = await request(fresh.url, { method: 'HEAD', headers: { range: 'bytes=0-99' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-length')).toBe('100');
    expect(ranged.body.length).toBe(0);
    expect(await downloadsLeft(h, fresh.grantId)).toBe(5);
    expect(await events(h, fresh.grantId)).toEqual([]);
  });
});

describe('counting downloads', () => {
  it('counts every request without Range', async () => {
    const p = await purchase(h);
    expect((await request(p.url)).status).toBe(200);
    expect((await request(p.url)).status).toBe(200);
    expect(await downloadsLeft(h, p.grantId)).toBe(3);
    const list = await settledEvents(h, p.grantId);
    expect(list.map((e) => e.counted)).toEqual([true, true]);
  });

  it('treats a ranged request from the same IP within 30 minutes of a counted download as a resume: logged, not counted', async () => {
    const p = await purchase(h, { size: 1000 });
    expect((await request(p.url)).status).toBe(200);
    h.clock.advance(29 * MINUTE);
    const resumed = await request(p.url, { headers: { range: 'bytes=100-' } });
    expect(resumed.status).toBe(206);
    expect(resumed.body.equals(p.content.subarray(100))).toBe(true);
    expect(await downloadsLeft(h, p.grantId)).toBe(4);
    const list = await settledEvents(h, p.grantId);
    expect(list.map((e) => [e.counted, e.range])).toEqual([
      [true, null],
      [false, 'bytes=100-'],
    ]);
  });

  it('counts a ranged request when no download was counted before it', async () => {
    const p = await purchase(h, { size: 1000 });
    const res = await request(p.url, { headers: { range: 'bytes=0-99' } });
    expect(res.status).toBe(206);
    expect(await downloadsLeft(h, p.grantId)).toBe(4);
    const list = await settledEvents(h, p.grantId);
    expect(list.map((e) => e.counted)).toEqual([true]);
  });

  it('counts a ranged request again once 30 minutes have passed since the counted download', async () => {
    const p = await purchase(h, { size: 1000 });
    expect((await request(p.url)).status).toBe(200);
    h.clock.advance(31 * MINUTE);
    expect((await request(p.url, { headers: { range: 'bytes=500-' } })).status).toBe(206);
    expect(await downloadsLeft(h, p.grantId)).toBe(3);
    const list = await settledEvents(h, p.grantId);
    expect(list.map((e) => e.counted)).toEqual([true, true]);
  });
});

describe('download limits', () => {
  it('refuses the download after the limit with 403 DOWNLOAD_LIMIT_REACHED as JSON and as an HTML page', async () => {
    const p = await purchase(h, { product: { downloadLimit: 2 } });
    expect((await request(p.url)).status).toBe(200);
    expect((await request(p.url)).status).toBe(200);
    const refused = await request(p.url, { headers: json });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('content-type')).toContain('application/json');
    expect(JSON.parse(refused.body.toString('utf8'))).toEqual({
      error: {
        code: 'DOWNLOAD_LIMIT_REACHED',
        message: 'The download limit for this file has been reached.',
      },
    });
    const page = await request(p.url, { headers: browser });
    expect(page.status).toBe(403);
    expect(page.headers.get('content-type')).toContain('text/html');
    const text = page.body.toString('utf8');
    expect(text).toContain('<!doctype html>');
    expect(text).toContain('DOWNLOAD_LIMIT_REACHED');
    expect(await downloadsLeft(h, p.grantId)).toBe(0);
  });

  it('still lets the last allowed download resume with Range requests', async () => {
    const p = await purchase(h, { size: 1000, product: { downloadLimit: 1 } });
    expect((await request(p.url)).status).toBe(200);
    const resumed = await request(p.url, { headers: { range: 'bytes=600-' } });
    expect(resumed.status).toBe(206);
    expect(resumed.body.equals(p.content.subarray(600))).toBe(true);
    expect(errorCode(await request(p.url, { headers: json }))).toBe('DOWNLOAD_LIMIT_REACHED');
  });

  it('never runs out with a limit of 0 (unlimited)', async () => {
    const p = await purchase(h, { product: { downloadLimit: 0 } });
    for (let i = 0; i < 8; i++) {
      const res = await request(p.url);
      expect(res.status).toBe(200);
      expect(res.body.equals(p.content)).toBe(true);
    }
    expect(await downloadsLeft(h, p.grantId)).toBeNull();
  });
});

describe('grant state behind a link', () => {
  it('answers 403 GRANT_REVOKED once the grant is revoked', async () => {
    const p = await purchase(h);
    await h.ctx.grants.revoke(p.grantId);
    const res = await request(p.url, { headers: json });
    expect(res.status).toBe(403);
    expect(errorCode(res)).toBe('GRANT_REVOKED');
  });

  it('answers 410 ACCESS_EXPIRED once the access period is over', async () => {
    const p = await purchase(h, { product: { accessDays: 1, linkTtlSeconds: 0 } });
    h.clock.advance(2 * DAY);
    const res = await request(p.url, { headers: json });
    expect(res.status).toBe(410);
    expect(errorCode(res)).toBe('ACCESS_EXPIRED');
  });

  it('answers 410 LINK_EXPIRED for an expired link and serves a fresh link of the same grant', async () => {
    const p = await purchase(h, { product: { linkTtlSeconds: 60 } });
    h.clock.advance(2 * MINUTE);
    const expired = await request(p.url, { headers: json });
    expect(expired.status).toBe(410);
    expect(errorCode(expired)).toBe('LINK_EXPIRED');
    const [fresh] = await h.ctx.grants.createLinks(p.grantId);
    const res = await request(fresh!.url);
    expect(res.status).toBe(200);
    expect(res.body.equals(p.content)).toBe(true);
  });

  it('gives every download back on a grant reset', async () => {
    const p = await purchase(h, { product: { downloadLimit: 1 } });
    expect((await request(p.url)).status).toBe(200);
    expect((await request(p.url, { headers: json })).status).toBe(403);
    await h.ctx.grants.reset(p.grantId);
    expect(await downloadsLeft(h, p.grantId)).toBe(1);
    expect((await request(p.url)).status).toBe(200);
    expect(await downloadsLeft(h, p.grantId)).toBe(0);
  });

  it('restores access when the grant is extended after its access period ended', async () => {
    const p = await purchase(h, { product: { accessDays: 1 } });
    h.clock.advance(2 * DAY);
    expect(errorCode(await request(p.url, { headers: json }))).toBe('ACCESS_EXPIRED');
    await h.ctx.grants.extend({ grantId: p.grantId, days: 5 });
    expect((await h.ctx.grants.get(p.grantId)).status).toBe('active');
    // The old link was capped at the old end of access; a fresh one works.
    expect(errorCode(await request(p.url, { headers: json }))).toBe('LINK_EXPIRED');
    const [fresh] = await h.ctx.grants.createLinks(p.grantId);
    const res = await request(fresh!.url);
    expect(res.status).toBe(200);
    expect(res.body.equals(p.content)).toBe(true);
  });
});

describe('hostile and replayed tokens', () => {
  // Its own server: this block sends many bad tokens on purpose and must not trip the rate limit.
  let hh: Harness;
  beforeAll(async () => {
    hh = await createHarness({ CLOUDSECURE_RATE_LIMIT_PER_MINUTE: '1000' });
  });
  afterAll(async () => {
    await hh.close();
  });

  it('keeps direct tokens at most 100 characters of URL-safe text', async () => {
    const p = await purchase(hh);
    expect(tokenOf(p.url).length).toBeLessThanOrEqual(100);
    expect(tokenOf(p.accessUrl).length).toBeLessThanOrEqual(100);
    expect(tokenOf(p.url)).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(tokenOf(p.accessUrl)).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('answers every tampered, forged, oversized or misplaced token with the same 404', async () => {
    const p = await purchase(hh);
    const direct = tokenOf(p.url);
    const access = tokenOf(p.accessUrl);
    const forged = randomBytes(53);
    forged[0] = 0x01; // looks like a direct token: right length and kind, wrong MAC
    const flip = (t: string, i: number): string =>
      t.slice(0, i) + (t[i] === 'A' ? 'B' : 'A') + t.slice(i + 1);
    const paths = [
      `/d/${flip(direct, 5)}`,
      `/d/${flip(direct, direct.length - 1)}`,
      `/d/${direct.slice(0, -1)}`,
      `/d/${direct.slice(0, 40)}`,
      `/d/${direct}A`,
      `/d/${direct}${'A'.repeat(40)}`,
      `/d/${'A'.repeat(2000)}`,
      '/d/not-a-token',
      '/d/..%2F..%2Fetc%2Fpasswd',
      '/d/%00%ff',
      `/d/${forged.toString('base64url')}`,
      `/d/${randomBytes(53).toString('base64url')}`,
      `/d/${access}`,
      `/a/${direct}`,
      `/a/${flip(access, 3)}`,
      `/a/${access}A`,
    ];
    for (const headers of [json, browser]) {
      const answers = await Promise.all(paths.map((path) => request(`${hh.url}${path}`, { headers })));
      for (const [i, res] of answers.entries()) {
        expect({ path: paths[i], status: res.status }).toEqual({ path: paths[i], status: 404 });
        expect(res.body.toString('utf8')).toBe(answers[0]!.body.toString('utf8'));
      }
      if (headers === json) {
        expect(JSON.parse(answers[0]!.body.toString('utf8'))).toEqual({
          error: { code: 'NOT_FOUND', message: 'Not found.' },
        });
      }
    }
    // The genuine links still work, and nothing was used or logged by the attempts.
    expect(await events(hh, p.grantId)).toEqual([]);
    expect((await request(p.url)).status).toBe(200);
  });

  it('answers a replay of a genuine link after the limit with 403, not the file', async () => {
    const p = await purchase(hh, { product: { downloadLimit: 1 } });
    expect((await request(p.url)).status).toBe(200);
    for (let i = 0; i < 3; i++) {
      const replay = await request(p.url, { headers: json });
      expect(replay.status).toBe(403);
      expect(errorCode(replay)).toBe('DOWNLOAD_LIMIT_REACHED');
    }
  });
});

describe('access page', () => {
  async function twoFilePurchase(): Promise<{ p: Purchase; contents: Map<string, Buffer> }> {
    const p = await purchase(h, { fileName: 'manual.pdf' });
    const extra = randomBytes(5000);
    await h.ctx.products.addFile({
      product: p.order.downloads[0]!.product,
      fileName: 'extras <b>&"x".zip',
      body: Readable.from([extra]),
      contentType: 'application/zip',
    });
    return {
      p,
      contents: new Map([
        ['manual.pdf', p.content],
        ['extras <b>&"x".zip', extra],
      ]),
    };
  }

  function formActions(html: string): string[] {
    return [...html.matchAll(/<form method="post" action="([^"]+)">/g)].map((m) => m[1]!);
  }

  it('lists every file of the grant with a POST form to its direct link', async () => {
    const { p } = await twoFilePurchase();
    const res = await request(p.accessUrl, { headers: browser });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    const html = res.body.toString('utf8');
    expect(html).toContain('manual.pdf');
    expect(html).toContain('extras &#60;b&#62;&#38;&#34;x&#34;.zip');
    expect(html).not.toContain('<b>');
    const actions = formActions(html);
    expect(actions).toHaveLength(2);
    for (const action of actions) expect(action).toMatch(/^\/d\/[A-Za-z0-9_-]{1,100}$/);
  });

  it('uses nothing and logs no download however often it is opened', async () => {
    const { p } = await twoFilePurchase();
    for (let i = 0; i < 6; i++) expect((await request(p.accessUrl, { headers: browser })).status).toBe(200);
    const links = await h.ctx.grants.createLinks(p.grantId);
    expect(links.map((l) => l.downloads_left)).toEqual([5, 5]);
    expect(await events(h, p.grantId)).toEqual([]);
  });

  it('downloads and counts the file when its form is posted', async () => {
    const { p, contents } = await twoFilePurchase();
    const html = (await request(p.accessUrl, { headers: browser })).body.toString('utf8');
    for (const action of formActions(html)) {
      const res = await request(`${h.url}${action}`, { method: 'POST', headers: browser });
      expect(res.status).toBe(200);
      const name = contentDisposition.parse(res.headers.get('content-disposition') ?? '').parameters
        .filename!;
      expect(res.body.equals(contents.get(name)!)).toBe(true);
    }
    const links = await h.ctx.grants.createLinks(p.grantId);
    expect(links.map((l) => l.downloads_left)).toEqual([4, 4]);
  });

  it('answers 403 with an HTML page once the grant is revoked', async () => {
    const p = await purchase(h);
    await h.ctx.grants.revoke(p.grantId);
    const res = await request(p.accessUrl, { headers: browser });
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.body.toString('utf8')).toContain('GRANT_REVOKED');
  });
});

describe('download log', () => {
  it('records time, IP, user agent, bytes and completion of a download', async () => {
    const p = await purchase(h, { size: 200_000 });
    expect((await request(p.url, { headers: { 'user-agent': 'TestAgent/1.0 (log check)' } })).status).toBe(
      200,
    );
    const [event, ...rest] = await settledEvents(h, p.grantId);
    expect(rest).toEqual([]);
    expect(event).toMatchObject({
      at: h.clock.now().toISOString(),
      ip: '127.0.0.1',
      user_agent: 'TestAgent/1.0 (log check)',
      file: 'book.pdf',
      bytes: p.content.length,
      status: 'completed',
      counted: true,
      range: null,
    });
  });

  it('records the bytes of a ranged transfer', async () => {
    const p = await purchase(h, { size: 1000 });
    expect((await request(p.url, { headers: { range: 'bytes=0-249' } })).status).toBe(206);
    const [event] = await settledEvents(h, p.grantId);
    expect(event).toMatchObject({ bytes: 250, status: 'completed', range: 'bytes=0-249' });
  });

  it('records a transfer the client breaks off as aborted, with fewer bytes than the file', async () => {
    // Large enough that the socket buffers cannot swallow the whole file before the client hangs up.
    const p = await purchase(h, { size: 32 * 1024 * 1024 });
    await new Promise<void>((resolve, reject) => {
      const req = httpGet(p.url, (res) => {
        if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (error) => {
        if (!req.destroyed) reject(error);
      });
    });
    const [event] = await settledEvents(h, p.grantId);
    expect(event!.status).toBe('aborted');
    expect(event!.counted).toBe(true);
    expect(event!.bytes).toBeLessThan(p.content.length);
  });

  it('logs refused attempts with their error code as the status', async () => {
    const p = await purchase(h, { product: { downloadLimit: 1 } });
    // Events are listed by time; a second apart keeps their order unambiguous under the frozen test clock.
    expect((await request(p.url)).status).toBe(200);
    h.clock.advance(1000);
    expect((await request(p.url, { headers: json })).status).toBe(403);
    h.clock.advance(1000);
    await h.ctx.grants.revoke(p.grantId);
    expect((await request(p.url, { headers: json })).status).toBe(403);
    const list = await settledEvents(h, p.grantId);
    expect(list.map((e) => [e.status, e.counted, e.ip])).toEqual([
      ['completed', true, '127.0.0.1'],
      ['DOWNLOAD_LIMIT_REACHED', false, '127.0.0.1'],
      ['GRANT_REVOKED', false, '127.0.0.1'],
    ]);
  });

  it('ignores X-Forwarded-For when no trusted proxy is configured', async () => {
    const p = await purchase(h);
    expect((await request(p.url, { headers: { 'x-forwarded-for': '203.0.113.7' } })).status).toBe(200);
    const [event] = await settledEvents(h, p.grantId);
    expect(event!.ip).toBe('127.0.0.1');
  });
});

describe('client IP behind a trusted proxy', () => {
  let hp: Harness;
  beforeAll(async () => {
    hp = await createHarness({
      CLOUDSECURE_TRUSTED_PROXIES: 'loopback',
      CLOUDSECURE_RATE_LIMIT_PER_MINUTE: '5',
    });
  });
  afterAll(async () => {
    await hp.close();
  });

  it('logs the forwarded client address when the request comes through a trusted proxy', async () => {
    const p = await purchase(hp);
    expect((await request(p.url, { headers: { 'x-forwarded-for': '203.0.113.7' } })).status).toBe(200);
    const [event] = await settledEvents(hp, p.grantId);
    expect(event!.ip).toBe('203.0.113.7');
  });

  it('takes the nearest untrusted hop, not a spoofed first entry', async () => {
    const p = await purchase(hp);
    const headers = { 'x-forwarded-for': '198.51.100.66, 203.0.113.8' };
    expect((await request(p.url, { headers })).status).toBe(200);
    const [event] = await settledEvents(hp, p.grantId);
    expect(event!.ip).toBe('203.0.113.8');
  });

  it('rate limits per forwarded client, not the proxy as a whole', async () => {
    await awayFromMinuteBoundary();
    const p = await purchase(hp);
    const bad = `${hp.url}/d/${'A'.repeat(71)}`;
    for (let i = 0; i < 5; i++) {
      const res = await request(bad, { headers: { ...json, 'x-forwarded-for': '203.0.113.50' } });
      expect(res.status).toBe(404);
    }
    const limited = await request(p.url, { headers: { ...json, 'x-forwarded-for': '203.0.113.50' } });
    expect(limited.status).toBe(429);
    const other = await request(p.url, { headers: { 'x-forwarded-for': '203.0.113.51' } });
    expect(other.status).toBe(200);
  });
});

/** The limiter counts in fixed one-minute windows: start a burst early enough to stay in one window. */
async function awayFromMinuteBoundary(): Promise<void> {
  const into = Date.now() % MINUTE;
  if (into > 50_000) await sleep(MINUTE - into + 50);
}

describe('rate limiting of links', () => {
  let hr: Harness;
  beforeAll(async () => {
    hr = await createHarness({ CLOUDSECURE_RATE_LIMIT_PER_MINUTE: '5' });
  });
  afterAll(async () => {
    await hr.close();
  });

  it('refuses even a valid link with 429 RATE_LIMITED after 5 bad tokens from one IP', async () => {
    await awayFromMinuteBoundary();
    const p = await purchase(hr, { product: { downloadLimit: 0 } });
    // Successful downloads are not failures and do not count towards the limit.
    for (let i = 0; i < 6; i++) expect((await request(p.url)).status).toBe(200);
    for (let i = 0; i < 5; i++) {
      const res = await request(`${hr.url}/d/${randomBytes(53).toString('base64url')}`, { headers: json });
      expect(res.status).toBe(404);
    }
    const limited = await request(p.url, { headers: json });
    expect(limited.status).toBe(429);
    expect(errorCode(limited)).toBe('RATE_LIMITED');
    const page = await request(p.accessUrl, { headers: json });
    expect(page.status).toBe(429);
    const list = await settledEvents(hr, p.grantId);
    expect(list.filter((e) => e.counted)).toHaveLength(6);
    expect(list).toHaveLength(6);
  });
});

describe('IP retention', () => {
  it('erases client IPs once they are older than the retention period, keeping the events', async () => {
    const p = await purchase(h);
    await (await fetch(p.url)).arrayBuffer();
    expect(await h.ctx.downloads.pruneIps(h.config.ipRetentionDays)).toBe(0);
    h.clock.advance((h.config.ipRetentionDays + 1) * 86_400_000);
    expect(await h.ctx.downloads.pruneIps(h.config.ipRetentionDays)).toBeGreaterThanOrEqual(1);
    const events = await h.ctx.downloads.list({ grantId: p.grantId });
    expect(events.length).toBeGreaterThanOrEqual(1);
    expect(events.every((e) => e.ip === null)).toBe(true);
    const stored = await h.ctx.database.db.selectFrom('download_events').select('ip').execute();
    expect(stored.filter((r) => r.ip !== null)).toEqual([]);
  });
});
