import { Hono } from 'hono';
import type { AppContext } from '../../context.ts';
import type { AppEnv } from '../env.ts';
import { guardLinkToken } from '../middleware/link-guard.ts';
import { serveStoredFile } from '../serve-file.ts';

/**
 * GET /p/<token>: release packages for licensed sites, the `package` URL of an update check. The license
 * is re-checked for the site on every request (release-service / package-access.ts); then the file is
 * sent like any download: streamed with Range support from local storage, or a 302 to a presigned URL.
 */
export function packageRoutes(ctx: AppContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { releases, rateLimiter, blobs } = ctx;

  app.on(['GET', 'HEAD'], '/p/:token', async (c) => {
    const requester = { ip: c.var.ip, userAgent: c.req.header('user-agent') ?? null };
    const authorized = await guardLinkToken(rateLimiter, requester.ip, () =>
      releases.authorizePackage(c.req.param('token'), requester),
    );
    return serveStoredFile(c, {
      file: authorized.file,
      store: await blobs.forKind(authorized.file.storage),
      async begin({ range, redirected }) {
        await releases.recordDownload({ ...authorized, ...requester, range, redirected });
        return ignore;
      },
    });
  });

  return app;
}

function ignore(): void {}
