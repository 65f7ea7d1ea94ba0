import { Hono } from 'hono';
import type { AppContext } from '../../context.ts';
import { AppError } from '../../domain/errors.ts';
import type { AppEnv } from '../env.ts';
import { escapeHTML, formatBytes, page } from '../html.ts';
import {
  decideRange,
  dispositionOf,
  fileHeaders,
  openLocalFile,
  type SendResult,
  sendLocalFile,
  sendStream,
} from '../send-file.ts';

/**
 * Buyers' links. `/a/<token>` is the access page that e-mails carry: opening it (as mail scanners do)
 * only mints fresh links and uses nothing. `/d/<token>` serves the file and counts it; the access page
 * reaches it with a POST button so that a crawler following the page cannot use downloads either.
 */
export function publicDownloadRoutes(ctx: AppContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { downloads, rateLimiter, blobs } = ctx;

  async function guard<T>(ip: string | null, work: () => Promise<T>): Promise<T> {
    // Unknown or tampered tokens count as failures; too many from one IP are refused outright, so
    // guessing is slow even before 128 bits of MAC make it hopeless.
    const key = `link:${ip ?? 'unknown'}`;
    if (await rateLimiter.isLimited(key)) throw new AppError('RATE_LIMITED');
    try {
      return await work();
    } catch (error) {
      if (error instanceof AppError && error.code === 'NOT_FOUND') await rateLimiter.hit(key);
      throw error;
    }
  }

  app.get('/a/:token', async (c) => {
    const access = await guard(c.var.ip, () => downloads.openAccess(c.req.param('token')));
    const items = access.links
      .map((link) => {
        const left =
          link.downloads_left === null ? 'unlimited downloads' : `${link.downloads_left} downloads left`;
        const action = new URL(link.url).pathname;
        return `<li><div><strong>${escapeHTML(link.file)}</strong><div class="meta">${formatBytes(link.size)} · ${left}</div></div>
<form method="post" action="${escapeHTML(action)}"><button type="submit"${link.downloads_left === 0 ? ' disabled' : ''}>Download</button></form></li>`;
      })
      .join('\n');
    const until = access.grant.accessUntil
      ? `<p class="meta">Available until ${escapeHTML(new Date(access.grant.accessUntil).toUTCString())}.</p>`
      : '';
    c.header('Cache-Control', 'no-store');
    c.header('Referrer-Policy', 'no-referrer');
    c.header('X-Robots-Tag', 'noindex, nofollow');
    return c.html(
      page(
        access.product.name,
        `<h1>${escapeHTML(access.product.name)}</h1>${until}<ul>${items || '<li>No files yet.</li>'}</ul>`,
      ),
    );
  });

  app.on(['GET', 'HEAD', 'POST'], '/d/:token', async (c) => {
    const requester = { ip: c.var.ip, userAgent: c.req.header('user-agent') ?? null };
    const authorized = await guard(c.var.ip, () => downloads.authorize(c.req.param('token'), requester));
    const { file } = authorized;
    const store = await blobs.forKind(file.storage);
    const isHead = c.req.method === 'HEAD';

    if (store.kind !== 'local') {
      // Two hops: the check, the count and the log happen here; the bytes come from the bucket through a
      // presigned URL that lives at most 300 s and carries no customer data.
      const url = await store.presignGet(file.objectKey, {
        expiresInSeconds: 300,
        contentDisposition: dispositionOf(file),
        contentType: file.contentType,
      });
      if (!url) throw new AppError('FILE_UNAVAILABLE');
      if (!isHead) await downloads.begin({ ...authorized, ...requester, range: null, redirected: true });
      c.header('Cache-Control', 'no-store');
      c.header('Referrer-Policy', 'no-referrer');
      return c.redirect(url, c.req.method === 'POST' ? 303 : 302);
    }

    const decision = decideRange(file, c.req.header('range'), c.req.header('if-range'));
    const headers = fileHeaders(file);
    if (decision.kind === 'unsatisfiable') {
      c.header('Content-Range', `bytes */${file.size}`);
      throw new AppError('RANGE_NOT_SATISFIABLE', { message: `The file has ${file.size} bytes.` });
    }
    const range = decision.kind === 'partial' ? decision.range : undefined;
    const status = range ? 206 : 200;
    headers['Content-Length'] = String(range ? range.end - range.start + 1 : file.size);
    if (range) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${file.size}`;
    if (isHead) return c.body(null, status, headers);

    const path = store.localPath?.(file.objectKey);
    const outgoing = c.env?.outgoing;
    // Open the file before counting, so a missing or unreadable file never costs the buyer a download.
    const handle = path && outgoing ? await openLocalFile(path).catch(unavailable) : undefined;
    let eventId: string;
    try {
      eventId = await downloads.begin({
        ...authorized,
        ...requester,
        range: range ? (c.req.header('range') ?? null) : null,
        redirected: false,
      });
    } catch (error) {
      await handle?.close();
      throw error;
    }
    const finish = ({ bytes, completed }: SendResult): void => {
      downloads.finish(eventId, bytes, completed).catch((error: unknown) => {
        ctx.logger.error({ err: error, eventId }, 'could not record the end of a download');
      });
    };
    if (handle && outgoing) {
      return sendLocalFile(
        outgoing,
        status,
        headers,
        handle,
        range ?? { start: 0, end: file.size - 1 },
        finish,
      );
    }
    let body: Awaited<ReturnType<typeof store.read>>;
    try {
      body = await store.read(file.objectKey, range);
    } catch (error) {
      await downloads.finish(eventId, 0, false);
      throw new AppError('FILE_UNAVAILABLE', { cause: error });
    }
    return sendStream(c, status, headers, body, finish);
  });

  return app;
}

function unavailable(error: unknown): never {
  throw new AppError('FILE_UNAVAILABLE', { cause: error });
}
