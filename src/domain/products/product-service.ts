import type { Readable } from 'node:stream';
import type { CoreDeps } from '../core-deps.ts';
import { AppError } from '../errors.ts';
import { DEFAULT_POLICY, type LicensePolicy } from '../licenses/license.ts';
import type { Product, ProductFile } from '../model.ts';
import { storeBlob } from '../storage/store-blob.ts';
import type { FileAnalysis } from '../watermark/watermark.ts';
import { planWatermark, type WatermarkSettings } from '../watermark/watermark.ts';
import type { WatermarkService } from '../watermark/watermark-service.ts';
import { assertLimit, assertSlug, PRODUCT_DEFAULTS, sanitizeFileName, slugify } from './product.ts';

export interface CreateProductInput {
  name: string;
  slug?: string;
  downloadLimit?: number;
  linkTtlSeconds?: number;
  accessDays?: number;
  itemId?: number;
  /** Turns licensing on, with these policy settings over the defaults. */
  license?: Partial<LicensePolicy>;
  /** Turns watermarking on, with these settings over the defaults. */
  watermark?: Partial<WatermarkSettings>;
}

export interface UpdateProductInput {
  product: string;
  name?: string;
  downloadLimit?: number;
  linkTtlSeconds?: number;
  accessDays?: number;
  itemId?: number;
  /** Policy changes (turning licensing on if it was off); `false` turns licensing off. */
  license?: Partial<LicensePolicy> | false;
  /** Watermark changes (turning it on if it was off); `false` turns watermarking off. */
  watermark?: Partial<WatermarkSettings> | false;
}

export interface LicensePolicyView {
  activation_limit: number;
  duration_days: number | null;
  until: string | null;
  expiry_stops: LicensePolicy['expiryStops'];
  local_patterns: string[];
  quantity: LicensePolicy['quantity'];
  pre_expiry_releases: boolean;
}

export interface AddFileInput {
  product: string;
  fileName: string;
  body: Readable;
  contentType: string;
  size?: number;
  onProgress?: (bytesDone: number) => void;
}

export interface FileView {
  id: string;
  name: string;
  size: number;
  sha256: string;
  content_type: string;
  created_at: string;
  /** For watermarked products: whether and how buyers' copies of this file are stamped. */
  watermark?: WatermarkCheck;
}

export interface WatermarkCheck {
  /** `rewrite`: the original is stamped in place; `normalized`: a cleaned master is; `none`: served as stored. */
  method: string;
  status: 'ok' | 'unsupported' | 'not_applicable';
  reason: string | null;
}

export interface WatermarkView {
  text: string;
  position: WatermarkSettings['position'];
  opacity: number;
  size: number;
}

export interface ProductView {
  id: string;
  slug: string;
  name: string;
  download_limit: number;
  link_ttl_seconds: number;
  access_days: number;
  item_id: number | null;
  license: LicensePolicyView | null;
  watermark: WatermarkView | null;
  created_at: string;
  files: FileView[];
}

export interface ProductService {
  create(input: CreateProductInput): Promise<ProductView>;
  update(input: UpdateProductInput): Promise<ProductView>;
  addFile(input: AddFileInput): Promise<FileView>;
  get(ref: string): Promise<ProductView>;
  list(): Promise<ProductView[]>;
}

export function toFileView(file: ProductFile): FileView {
  return {
    id: file.id,
    name: file.name,
    size: file.size,
    sha256: file.sha256,
    content_type: file.contentType,
    created_at: file.createdAt,
  };
}

function toProductView(product: Product, files: FileView[]): ProductView {
  return {
    id: product.id,
    slug: product.slug,
    name: product.name,
    download_limit: product.downloadLimit,
    link_ttl_seconds: product.linkTtlSeconds,
    access_days: product.accessDays,
    item_id: product.itemId,
    license: product.licensePolicy && toPolicyView(product.licensePolicy),
    watermark: product.watermark && {
      text: product.watermark.text,
      position: product.watermark.position,
      opacity: product.watermark.opacity,
      size: product.watermark.sizePt,
    },
    created_at: product.createdAt,
    files,
  };
}

const MAX_NAME = 200;

function toPolicyView(policy: LicensePolicy): LicensePolicyView {
  return {
    activation_limit: policy.activationLimit,
    duration_days: policy.durationDays,
    until: policy.until,
    expiry_stops: policy.expiryStops,
    local_patterns: policy.localPatterns,
    quantity: policy.quantity ?? 'licenses',
    pre_expiry_releases: policy.preExpiryReleases ?? true,
  };
}

/** Merges policy changes over a base policy and validates the result. */
export function planPolicy(base: LicensePolicy, changes: Partial<LicensePolicy>): LicensePolicy {
  const policy = { ...base, ...changes };
  assertLimit(policy.activationLimit, 'activation_limit', 1_000_000);
  if (policy.durationDays !== null) assertLimit(policy.durationDays, 'license_days', 36_500);
  if (policy.until !== null && Number.isNaN(Date.parse(policy.until))) {
    throw new AppError('INVALID_REQUEST', {
      message: 'license_until must be a date.',
      detail: { path: 'license_until' },
    });
  }
  if (changes.until) policy.durationDays = null;
  if (changes.durationDays !== undefined && changes.durationDays !== null) policy.until = null;
  if (
    policy.localPatterns.length > 100 ||
    policy.localPatterns.some((p) => !/^[a-z0-9*.:-]{1,253}$/i.test(p))
  ) {
    throw new AppError('INVALID_REQUEST', {
      message: 'local patterns look like *.local or staging.*',
      detail: { path: 'local_patterns' },
    });
  }
  return policy;
}

function assertItemId(itemId: number): number {
  if (!Number.isInteger(itemId) || itemId < 1 || itemId > 2_147_483_647) {
    throw new AppError('INVALID_REQUEST', {
      message: 'item_id must be a positive whole number.',
      detail: { path: 'item_id' },
    });
  }
  return itemId;
}

export function toWatermarkCheck(analysis: FileAnalysis | null): WatermarkCheck {
  if (!analysis)
    return { method: 'none', status: 'not_applicable', reason: 'only PDF, EPUB and ZIP files are stamped' };
  return { method: analysis.method, status: analysis.status, reason: analysis.reason };
}

export function createProductService(deps: CoreDeps, watermarks: WatermarkService): ProductService {
  /** Files with how each is stamped, for products with watermarking on (analysing any not yet analysed). */
  async function filesOf(product: Product): Promise<FileView[]> {
    const files = await uow.repos.files.listByProduct(product.id);
    if (!product.watermark) return files.map(toFileView);
    const views: FileView[] = [];
    for (const file of files) {
      views.push({ ...toFileView(file), watermark: toWatermarkCheck(await watermarks.analysisOf(file)) });
    }
    return views;
  }

  const { uow } = deps;

  async function find(ref: string): Promise<Product> {
    const product = await uow.repos.products.findBySlugOrId(ref);
    if (!product) throw new AppError('NOT_FOUND', { message: `No product "${ref}".` });
    return product;
  }

  return {
    async create(input) {
      const name = input.name.trim();
      if (!name || name.length > MAX_NAME) {
        throw new AppError('INVALID_REQUEST', {
          message: 'name must be 1-200 characters.',
          detail: { path: 'name' },
        });
      }
      const product: Product = {
        id: deps.newId(),
        slug: assertSlug(input.slug ?? slugify(name)),
        name,
        downloadLimit: assertLimit(
          input.downloadLimit ?? PRODUCT_DEFAULTS.downloadLimit,
          'download_limit',
          1_000_000,
        ),
        linkTtlSeconds: assertLimit(
          input.linkTtlSeconds ?? PRODUCT_DEFAULTS.linkTtlSeconds,
          'link_ttl',
          365 * 86400,
        ),
        accessDays: assertLimit(input.accessDays ?? PRODUCT_DEFAULTS.accessDays, 'access_days', 36_500),
        itemId: input.itemId === undefined ? null : assertItemId(input.itemId),
        licensePolicy: input.license ? planPolicy(DEFAULT_POLICY, input.license) : null,
        watermark: input.watermark ? planWatermark(null, input.watermark) : null,
        createdAt: deps.clock.now().toISOString(),
      };
      return uow.transaction(async (repos) => {
        if (await repos.products.findBySlugOrId(product.slug)) {
          throw new AppError('SLUG_TAKEN', { message: `A product with slug "${product.slug}" exists.` });
        }
        if (product.itemId !== null && (await repos.products.findByItemId(product.itemId))) {
          throw new AppError('ITEM_ID_TAKEN', {
            message: `Item id ${product.itemId} belongs to another product.`,
          });
        }
        // Licensed products get an item id for EDD-style clients even when none is given.
        if (product.itemId === null && product.licensePolicy)
          product.itemId = await repos.products.nextItemId();
        if (!(await repos.products.insert(product))) {
          throw new AppError('SLUG_TAKEN', {
            message: `A product with slug "${product.slug}" or its item id exists.`,
          });
        }
        return toProductView(product, []);
      });
    },

    async update(input) {
      return uow
        .transaction(async (repos) => {
          const current = await repos.products.findBySlugOrId(input.product);
          if (!current) throw new AppError('NOT_FOUND', { message: `No product "${input.product}".` });
          const next: Product = {
            ...current,
            ...(input.name === undefined ? {} : { name: input.name.trim() }),
            ...(input.downloadLimit === undefined
              ? {}
              : { downloadLimit: assertLimit(input.downloadLimit, 'download_limit', 1_000_000) }),
            ...(input.linkTtlSeconds === undefined
              ? {}
              : { linkTtlSeconds: assertLimit(input.linkTtlSeconds, 'link_ttl', 365 * 86400) }),
            ...(input.accessDays === undefined
              ? {}
              : { accessDays: assertLimit(input.accessDays, 'access_days', 36_500) }),
            ...(input.itemId === undefined ? {} : { itemId: assertItemId(input.itemId) }),
          };
          if (input.watermark === false) next.watermark = null;
          else if (input.watermark) next.watermark = planWatermark(current.watermark, input.watermark);
          if (input.license === false) next.licensePolicy = null;
          else if (input.license)
            next.licensePolicy = planPolicy(current.licensePolicy ?? DEFAULT_POLICY, input.license);
          if (!next.name || next.name.length > MAX_NAME) {
            throw new AppError('INVALID_REQUEST', {
              message: 'name must be 1-200 characters.',
              detail: { path: 'name' },
            });
          }
          if (next.licensePolicy && next.itemId === null) next.itemId = await repos.products.nextItemId();
          const owner = next.itemId === null ? undefined : await repos.products.findByItemId(next.itemId);
          if ((owner && owner.id !== next.id) || !(await repos.products.update(next))) {
            throw new AppError('ITEM_ID_TAKEN', {
              message: `Item id ${next.itemId} belongs to another product.`,
            });
          }
          return next;
        })
        .then(async (next) => toProductView(next, await filesOf(next)));
    },

    async addFile(input) {
      const product = await find(input.product);
      const store = await deps.blobs.active();
      const blob = await storeBlob(store, `f/${deps.newId()}`, input.body, {
        contentType: input.contentType,
        size: input.size,
        onProgress: input.onProgress,
      });
      const file: ProductFile = {
        id: deps.newId(),
        productId: product.id,
        name: sanitizeFileName(input.fileName),
        size: blob.size,
        sha256: blob.sha256,
        contentType: input.contentType,
        storage: blob.storage,
        objectKey: blob.objectKey,
        createdAt: deps.clock.now().toISOString(),
      };
      if (!product.watermark) {
        await uow.repos.files.insert(file);
        return toFileView(file);
      }
      // Sellers learn at upload, not from a buyer, whether and how this file can be watermarked.
      const analysis = await watermarks.inspect(file).catch(async (error: unknown) => {
        await store.remove(file.objectKey);
        throw error;
      });
      if (analysis?.status === 'unsupported') {
        await store.remove(file.objectKey);
        if (analysis.masterKey) await store.remove(analysis.masterKey);
        throw new AppError('WATERMARK_UNSUPPORTED', {
          message: `${file.name} cannot be watermarked: ${analysis.reason ?? 'unsupported file'}.`,
        });
      }
      await uow.repos.files.insert(file);
      if (analysis) await watermarks.save(analysis);
      return { ...toFileView(file), watermark: toWatermarkCheck(analysis) };
    },

    async get(ref) {
      const product = await find(ref);
      return toProductView(product, await filesOf(product));
    },

    async list() {
      const products = await uow.repos.products.list();
      return Promise.all(products.map(async (p) => toProductView(p, await filesOf(p))));
    },
  };
}
