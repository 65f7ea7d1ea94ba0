import type { CoreDeps } from '../core-deps.ts';
import { normalizeEmail } from '../customers/email.ts';
import { AppError, isAppError } from '../errors.ts';
import type { Repositories } from '../ports.ts';
import { isLocalSite, type LicenseStatus, normalizeSiteURL } from './license.ts';
import { hashLicenseKey } from './license-key.ts';
import { findProductRef, issueLicense } from './license-service.ts';

/** One license from another system (EDD, LMFWC, a spreadsheet), keeping its key, terms and sites. */
export interface ImportRow {
  /** 1-based line in the source, for error reports. */
  line: number;
  key: string;
  email: string;
  name?: string | undefined;
  /** Product slug, id or item id; falls back to the import's default product. */
  product?: string | undefined;
  /** ISO date, or empty/`lifetime` for no expiry; absent = the product policy's. */
  expiresAt?: string | undefined;
  activationLimit?: number | undefined;
  status?: LicenseStatus | undefined;
  sites?: string[] | undefined;
}

export interface ImportSummary {
  imported: number;
  /** Keys that already exist here (a re-run of the same import changes nothing). */
  skipped: number;
  failed: { line: number; code: string; message: string }[];
}

const STATUSES: LicenseStatus[] = ['active', 'suspended', 'revoked'];

/**
 * Imports licenses one row per transaction, so a bad row is reported and skipped while the rest land,
 * and re-running the same file is harmless (existing keys are skipped).
 */
export async function importLicenses(
  deps: CoreDeps,
  rows: AsyncIterable<ImportRow>,
  options: { defaultProduct?: string | undefined; onRow?: (summary: ImportSummary) => void },
): Promise<ImportSummary> {
  const summary: ImportSummary = { imported: 0, skipped: 0, failed: [] };
  for await (const row of rows) {
    try {
      const outcome = await deps.uow.transaction((repos) =>
        importRow(deps, repos, row, options.defaultProduct),
      );
      if (outcome === 'imported') summary.imported += 1;
      else summary.skipped += 1;
    } catch (error) {
      if (!isAppError(error)) throw error;
      summary.failed.push({ line: row.line, code: error.code, message: error.message });
    }
    options.onRow?.(summary);
  }
  return summary;
}

async function importRow(
  deps: CoreDeps,
  repos: Repositories,
  row: ImportRow,
  defaultProduct: string | undefined,
): Promise<'imported' | 'skipped'> {
  const key = row.key.trim();
  if (key.length < 8 || key.length > 200) {
    throw new AppError('INVALID_REQUEST', {
      message: 'key must be 8-200 characters.',
      detail: { path: 'key' },
    });
  }
  const ref = row.product?.trim() || defaultProduct;
  const product = ref ? await findProductRef(repos, ref) : undefined;
  if (!product?.licensePolicy) {
    throw new AppError('NOT_FOUND', {
      message: `No licensed product "${ref ?? ''}".`,
      detail: { path: 'product' },
    });
  }
  if (await repos.licenses.findByKeyHash(hashLicenseKey(deps.licenseLookupKey, key))) return 'skipped';
  const now = deps.clock.now();
  const customer = await repos.customers.upsertByEmail({
    id: deps.newId(),
    email: normalizeEmail(row.email),
    name: row.name?.trim() || null,
    createdAt: now.toISOString(),
  });
  const issued = await issueLicense(deps, repos, {
    product,
    customerId: customer.id,
    orderId: null,
    now,
    key,
  });
  const expiresAt = parseExpiry(row.expiresAt);
  if (row.status !== undefined && !STATUSES.includes(row.status)) {
    throw new AppError('INVALID_REQUEST', { message: `status must be one of ${STATUSES.join(', ')}.` });
  }
  await repos.licenses.update(issued.id, {
    ...(expiresAt === undefined ? {} : { expiresAt }),
    ...(row.activationLimit === undefined ? {} : { activationLimit: row.activationLimit }),
    ...(row.status === undefined ? {} : { status: row.status }),
  });
  for (const raw of row.sites ?? []) {
    const site = normalizeSiteURL(raw);
    if (!site) continue;
    await repos.licenses.activate({
      id: deps.newId(),
      licenseId: issued.id,
      kind: 'site',
      identifier: site,
      name: null,
      isLocal: isLocalSite(site, product.licensePolicy.localPatterns),
      version: null,
      createdAt: now.toISOString(),
      lastSeenAt: now.toISOString(),
    });
  }
  await repos.licenses.addEvent({
    id: deps.newId(),
    licenseId: issued.id,
    type: 'license.imported',
    detail: { line: row.line },
    at: now.toISOString(),
  });
  return 'imported';
}

function parseExpiry(value: string | undefined): string | null | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed === '' || trimmed.toLowerCase() === 'lifetime' || trimmed === '0') return null;
  const ms = Date.parse(
    trimmed.includes('T') || trimmed.length <= 10 ? trimmed : `${trimmed.replace(' ', 'T')}Z`,
  );
  if (Number.isNaN(ms)) {
    throw new AppError('INVALID_REQUEST', {
      message: `expires_at "${value}" is not a date.`,
      detail: { path: 'expires_at' },
    });
  }
  return new Date(ms).toISOString();
}
