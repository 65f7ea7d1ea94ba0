import { Hono } from 'hono';
import type { AppContext } from '../../context.ts';
import type { AppEnv } from '../env.ts';
import { escapeHTML, formatBytes, page } from '../html.ts';
import { guardLinkToken } from '../middleware/link-guard.ts';
import { type ServeFileInput, serveStoredFile, serveWatermarkedCopy } from '../serve-file.ts';

/**
 * Buyers' links. `/a/<token>` is the access page that e-mails carry: opening it (as mail scanners do)
 * only mints fresh links and uses nothing. `/d/<token>` serves the file and counts it; the access page
 * reaches it with a POST button so that a crawler following the page cannot use downloads either.
 */
export function publicDownloadRoutes(ctx: AppContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { downloads, rateLimiter, blobs } = ctx;

  app.get('/a/:token', async (c) => {
    const access = await guardLinkToken(rateLimiter, c.var.ip, () =>
      downloads.openAccess(c.req.param('token')),
    );
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
    const authorized = await guardLinkToken(rateLimiter, c.var.ip, () =>
      downloads.authorize(c.req.param('token'), requester),
    );
    const begin: ServeFileInput['begin'] = async ({ range, redirected }) => {
      const eventId = await downloads.begin({ ...authorized, ...requester, range, redirected });
      return ({ bytes, completed }) => {
        downloads.finish(eventId, bytes, completed).catch((error: unknown) => {
          ctx.logger.error({ err: error, eventId }, 'could not record the end of a download');
        });
      };
    };
    // Watermarked products: this buyer's own copy, made as it is sent (never a redirect to the bucket).
    const copy = await ctx.watermarks.copyFor(authorized);
    if (copy) return serveWatermarkedCopy(c, { file: authorized.file, copy, begin });
    const store = await blobs.forKind(authorized.file.storage);
    return serveStoredFile(c, { file: authorized.file, store, begin });
  });

  return app;
}
