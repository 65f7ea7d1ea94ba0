import { createHash } from 'node:crypto';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { CoreDeps } from '../core-deps.ts';
import { AppError } from '../errors.ts';
import type { Product, ProductFile } from '../model.ts';
import { assertLimit, assertSlug, PRODUCT_DEFAULTS, sanitizeFileName, slugify } from './product.ts';

export interface CreateProductInput {
  name: string;
  slug?: string;
  downloadLimit?: number;
  linkTtlSeconds?: number;
  accessDays?: number;
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
}

export interface ProductView {
  id: string;
  slug: string;
  name: string;
  download_limit: number;
  link_ttl_seconds: number;
  access_days: number;
  created_at: string;
  files: FileView[];
}

export interface ProductService {
  create(input: CreateProductInput): Promise<ProductView>;
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

function toProductView(product: Product, files: ProductFile[]): ProductView {
  return {
    id: product.id,
    slug: product.slug,
    name: product.name,
    download_limit: product.downloadLimit,
    link_ttl_seconds: product.linkTtlSeconds,
    access_days: product.accessDays,
    created_at: product.createdAt,
    files: files.map(toFileView),
  };
}

const MAX_NAME = 200;

export function createProductService(deps: CoreDeps): ProductService {
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
        createdAt: deps.clock.now().toISOString(),
      };
      if (!(await uow.repos.products.insert(product))) {
        throw new AppError('SLUG_TAKEN', { message: `A product with slug "${product.slug}" exists.` });
      }
      return toProductView(product, []);
    },

    async addFile(input) {
      const product = await find(input.product);
      const store = await deps.blobs.active();
      const objectKey = `f/${deps.newId()}`;
      const hash = createHash('sha256');
      let size = 0;
      const meter = new Transform({
        transform(chunk: Buffer, _enc, done) {
          hash.update(chunk);
          size += chunk.length;
          done(null, chunk);
        },
      });
      const put = store.put(objectKey, meter, {
        contentType: input.contentType,
        ...(input.size === undefined ? {} : { size: input.size }),
        ...(input.onProgress ? { onProgress: input.onProgress } : {}),
      });
      try {
        await Promise.all([pipeline(input.body, meter), put]);
      } catch (error) {
        meter.destroy();
        await put.catch(() => undefined);
        await store.remove(objectKey).catch(() => undefined);
        throw error;
      }
      const file: ProductFile = {
        id: deps.newId(),
        productId: product.id,
        name: sanitizeFileName(input.fileName),
        size,
        sha256: hash.digest('hex'),
        contentType: input.contentType,
        storage: store.kind,
        objectKey,
        createdAt: deps.clock.now().toISOString(),
      };
      await uow.repos.files.insert(file);
      return toFileView(file);
    },

    async get(ref) {
      const product = await find(ref);
      return toProductView(product, await uow.repos.files.listByProduct(product.id));
    },

    async list() {
      const products = await uow.repos.products.list();
      return Promise.all(
        products.map(async (p) => toProductView(p, await uow.repos.files.listByProduct(p.id))),
      );
    },
  };
}
