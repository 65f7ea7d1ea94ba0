import { createHmac } from 'node:crypto';
import type { CoreDeps } from '../core-deps.ts';
import { AppError } from '../errors.ts';
import type { Grant, ProductFile } from '../model.ts';
import type { WatermarkedCopy } from '../ports.ts';
import { type FileAnalysis, renderWatermarkText, watermarkKindOf } from './watermark.ts';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * The opaque trace token of one grant's copy of one file: an HMAC, so it carries no personal data and
 * cannot be forged, and the same (grant, file) always gets the same token (deterministic copies).
 */
export function markToken(key: Buffer, grantId: string, fileId: string): string {
  const mac = createHmac('sha256', key).update(`${grantId}:${fileId}`).digest();
  let bits = 0;
  let value = 0;
  let out = 'WM';
  for (const byte of mac) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < 22) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

export const MARK_PATTERN = /WM[A-Z2-7]{20}/g;

/** How an order is named on a copy: the store's order number, or the start of our id. */
function orderReference(order: { id: string; externalId: string | null }): string {
  return order.externalId ?? order.id.slice(0, 8);
}

/** Leaked copies are read whole (their marks can be anywhere); this bounds what one trace may hold. */
export const MAX_TRACE_BYTES = 512 * 1024 * 1024;

export function traceMessage(found: boolean): string {
  return found
    ? 'This file carries a CloudSecure mark.'
    : 'No CloudSecure mark found in this file (it was not watermarked here, or the marks were destroyed).';
}

export interface TraceMatch {
  token: string;
  grant_id: string;
  order_id: string;
  order_reference: string;
  customer: { id: string; name: string | null; email: string };
  product: string;
  file: string;
  /** When this copy was first made. */
  issued_at: string;
  downloads: { at: string; ip: string | null; status: string }[];
}

export interface TraceResult {
  found: boolean;
  /** Marks found in the file that belong to no grant here (another install, or forged). */
  unknown_tokens: string[];
  matches: TraceMatch[];
}

export function createWatermarkService(deps: CoreDeps) {
  const repos = deps.uow.repos;
  const cache = new Map<string, FileAnalysis>();

  /** Analyses a stored file (untrusted; sandboxed by the engine); null for files that are never stamped. */
  async function inspect(file: ProductFile): Promise<FileAnalysis | null> {
    const kind = watermarkKindOf(file);
    if (!kind) return null;
    const result = await deps.watermarker.inspect(file, kind);
    return { ...result, fileId: file.id, createdAt: deps.clock.now().toISOString() };
  }

  async function save(analysis: FileAnalysis): Promise<void> {
    await repos.fileAnalyses.upsert(analysis);
    cache.delete(analysis.fileId);
  }

  async function analyse(file: ProductFile): Promise<FileAnalysis | null> {
    const analysis = await inspect(file);
    if (analysis) await save(analysis);
    return analysis;
  }

  async function analysisOf(file: ProductFile): Promise<FileAnalysis | null> {
    const cached = cache.get(file.id);
    if (cached) return cached;
    const analysis = (await repos.fileAnalyses.find(file.id)) ?? (await analyse(file));
    if (!analysis) return null;
    if (cache.size >= 64) cache.delete(cache.keys().next().value as string);
    cache.set(file.id, analysis);
    return analysis;
  }

  return {
    inspect,
    save,
    analyse,
    analysisOf,

    /** This buyer's copy, or null when the file is served as stored (watermarking off, or not a PDF/EPUB/ZIP). */
    async copyFor(input: { grant: Grant; file: ProductFile }): Promise<WatermarkedCopy | null> {
      const { grant, file } = input;
      if (!watermarkKindOf(file)) return null;
      const product = await repos.products.findById(file.productId);
      if (!product?.watermark) return null;
      const analysis = await analysisOf(file);
      if (analysis?.status !== 'ok') return null;
      const [order, customer] = await Promise.all([
        repos.orders.findById(grant.orderId),
        repos.customers.findById(grant.customerId),
      ]);
      if (!order || !customer)
        throw new AppError('INTERNAL', { message: `grant ${grant.id} lost its order` });
      const token = markToken(deps.markKey, grant.id, file.id);
      const orderRef = orderReference(order);
      const buyerName = customer.name ?? customer.email;
      const text = renderWatermarkText(product.watermark.text, {
        name: buyerName,
        email: customer.email,
        order: orderRef,
        date: grant.createdAt.slice(0, 10),
      });
      await repos.watermarkMarks.insert({
        token,
        grantId: grant.id,
        fileId: file.id,
        createdAt: deps.clock.now().toISOString(),
      });
      const settings = product.watermark;
      return deps.watermarker.copy(file, analysis, { text, token, settings, orderRef, buyerName });
    },

    /** Who a leaked file was made for: every mark found, with its grant, order, buyer and downloads. */
    async trace(data: Buffer): Promise<TraceResult> {
      const tokens = [...new Set(await deps.watermarker.findMarks(data))];
      const result: TraceResult = { found: false, unknown_tokens: [], matches: [] };
      for (const token of tokens) {
        const mark = await repos.watermarkMarks.findByToken(token);
        const grant = mark && (await repos.grants.findById(mark.grantId));
        const order = grant && (await repos.orders.findById(grant.orderId));
        const customer = grant && (await repos.customers.findById(grant.customerId));
        if (!mark || !grant || !order || !customer) {
          result.unknown_tokens.push(token);
          continue;
        }
        const [product, file, events] = await Promise.all([
          repos.products.findById(grant.productId),
          repos.files.findById(mark.fileId),
          repos.downloads.list({ grantId: grant.id, limit: 100 }),
        ]);
        result.matches.push({
          token,
          grant_id: grant.id,
          order_id: order.id,
          order_reference: orderReference(order),
          customer: { id: customer.id, name: customer.name, email: customer.email },
          product: product?.slug ?? '',
          file: file?.name ?? '',
          issued_at: mark.createdAt,
          downloads: events
            .filter((e) => e.fileId === mark.fileId)
            .map((e) => ({ at: e.at, ip: e.ip, status: e.status })),
        });
      }
      result.found = result.matches.length > 0;
      return result;
    },
  };
}

export type WatermarkService = ReturnType<typeof createWatermarkService>;
