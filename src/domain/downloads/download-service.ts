import type { CoreDeps } from '../core-deps.ts';
import { AppError } from '../errors.ts';
import { checkGrant, RESUME_WINDOW_MS } from '../grants/grant.ts';
import { type DownloadLink, linksForGrant } from '../grants/grant-service.ts';
import { emitWebhook } from '../integrations/side-effects.ts';
import type { DownloadEvent, DownloadStatus, Grant, Product, ProductFile } from '../model.ts';
import type { DownloadEventFilter, Repositories } from '../ports.ts';

export interface Requester {
  ip: string | null;
  userAgent: string | null;
}

export interface AuthorizedDownload {
  grant: Grant;
  file: ProductFile;
}

export interface AccessPage {
  product: Product;
  grant: Grant;
  links: DownloadLink[];
}

export interface DownloadEventView {
  id: string;
  at: string;
  ip: string | null;
  user_agent: string | null;
  grant_id: string;
  order_id: string;
  customer_id: string;
  file_id: string;
  file: string;
  bytes: number | null;
  status: DownloadStatus;
  counted: boolean;
  range: string | null;
}

export interface DownloadService {
  /** Verifies a direct-link token and the grant behind it; uses nothing. Refusals are logged. */
  authorize(token: string, requester: Requester): Promise<AuthorizedDownload>;
  /**
   * Counts and logs one download (a ranged resume within the window is logged but not counted).
   * Throws DOWNLOAD_LIMIT_REACHED, logged, when nothing is left. Returns the event id.
   */
  begin(
    input: AuthorizedDownload & Requester & { range: string | null; redirected: boolean },
  ): Promise<string>;
  /** Records how it ended: bytes sent and whether the transfer completed. */
  finish(eventId: string, bytes: number, completed: boolean): Promise<void>;
  /** The access page: the grant's files with fresh links. Opening it never counts anything. */
  openAccess(token: string): Promise<AccessPage>;
  list(filter: DownloadEventFilter): Promise<DownloadEventView[]>;
  /** Erases IPs older than the retention period; returns how many events were changed. */
  pruneIps(retentionDays: number): Promise<number>;
}

export function createDownloadService(deps: CoreDeps): DownloadService {
  const { repos } = deps.uow;

  async function log(
    tx: Repositories,
    grant: Grant,
    file: ProductFile,
    requester: Requester,
    fields: Pick<DownloadEvent, 'status' | 'counted' | 'range' | 'bytes'>,
  ): Promise<string> {
    return tx.downloads.insert({
      at: deps.clock.now().toISOString(),
      grantId: grant.id,
      fileId: file.id,
      orderId: grant.orderId,
      customerId: grant.customerId,
      ip: requester.ip,
      userAgent: requester.userAgent?.slice(0, 512) ?? null,
      ...fields,
    });
  }

  return {
    async authorize(token, requester) {
      const claims = deps.links.verifyDirect(token);
      if (!claims) throw new AppError('NOT_FOUND');
      const [grant, file] = await Promise.all([
        repos.grants.findById(claims.grantId),
        repos.files.findById(claims.fileId),
      ]);
      if (!grant || !file || file.productId !== grant.productId) throw new AppError('NOT_FOUND');
      const check = checkGrant(grant, deps.clock.now(), claims.expiresAt);
      if (!check.ok) {
        await log(repos, grant, file, requester, {
          status: check.code,
          counted: false,
          range: null,
          bytes: 0,
        });
        throw new AppError(check.code);
      }
      return { grant, file };
    },

    async begin({ grant, file, ip, userAgent, range, redirected }) {
      const requester = { ip, userAgent };
      const now = deps.clock.now();
      const since = new Date(now.getTime() - RESUME_WINDOW_MS).toISOString();
      // The count and its log entry commit together: a crash can never leave a used download unlogged.
      const eventId = await deps.uow.transaction(async (tx) => {
        // Download managers and iOS fetch in ranged chunks: a ranged request from the same IP soon after a
        // counted download is the same download. A request without Range always counts, so a shared link
        // cannot be replayed for free.
        const resume = range !== null && (await tx.downloads.hasCountedSince(grant.id, file.id, ip, since));
        if (!resume && !(await tx.grants.tryUseDownload(grant.id, file.id, grant.downloadLimit))) {
          await log(tx, grant, file, requester, {
            status: 'DOWNLOAD_LIMIT_REACHED',
            counted: false,
            range,
            bytes: 0,
          });
          // Once per grant and file: the first refusal tells the seller a buyer ran out of downloads.
          await emitWebhook(
            deps,
            tx,
            'download.limit_reached',
            { grant_id: grant.id, file_id: file.id, order_id: grant.orderId },
            `${grant.id}:${file.id}`,
          );
          return null;
        }
        return log(tx, grant, file, requester, {
          status: redirected ? 'redirected' : 'started',
          counted: !resume,
          range,
          bytes: redirected ? null : 0,
        });
      });
      if (eventId === null) throw new AppError('DOWNLOAD_LIMIT_REACHED');
      return eventId;
    },

    finish: (eventId, bytes, completed) =>
      repos.downloads.finish(eventId, bytes, completed ? 'completed' : 'aborted'),

    async openAccess(token) {
      const claims = deps.links.verifyAccess(token);
      const grant = claims && (await repos.grants.findById(claims.grantId));
      const product = grant && (await repos.products.findById(grant.productId));
      if (!claims || !grant || !product) throw new AppError('NOT_FOUND');
      const check = checkGrant(grant, deps.clock.now(), claims.expiresAt);
      if (!check.ok) throw new AppError(check.code);
      return { product, grant, links: await linksForGrant(deps, repos, grant) };
    },

    async list(filter) {
      const events = await repos.downloads.list(filter);
      const names = new Map<string, string>();
      for (const e of events) {
        if (!names.has(e.fileId)) names.set(e.fileId, (await repos.files.findById(e.fileId))?.name ?? '');
      }
      return events.map((e) => ({
        id: e.id,
        at: e.at,
        ip: e.ip,
        user_agent: e.userAgent,
        grant_id: e.grantId,
        order_id: e.orderId,
        customer_id: e.customerId,
        file_id: e.fileId,
        file: names.get(e.fileId) ?? '',
        bytes: e.bytes,
        status: e.status,
        counted: e.counted,
        range: e.range,
      }));
    },

    pruneIps(retentionDays) {
      const before = new Date(deps.clock.now().getTime() - retentionDays * 86_400_000).toISOString();
      return repos.downloads.forgetIpsBefore(before);
    },
  };
}
