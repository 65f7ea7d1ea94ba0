import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { OrderView } from '../../src/domain/orders/order-service.ts';
import type { CreateProductInput } from '../../src/domain/products/product-service.ts';
import type { Harness } from './harness.ts';

export interface Purchase {
  content: Buffer;
  order: OrderView;
  /** Direct link of the first file. */
  url: string;
  accessUrl: string;
  grantId: string;
}

/** A product with one file of `size` random bytes, and an order for it. */
export async function purchase(
  h: Harness,
  options: { size?: number; fileName?: string; product?: Partial<CreateProductInput>; email?: string } = {},
): Promise<Purchase> {
  const content = randomBytes(options.size ?? 64 * 1024);
  const product = await h.ctx.products.create({
    name: `Product ${randomBytes(4).toString('hex')}`,
    ...options.product,
  });
  await h.ctx.products.addFile({
    product: product.id,
    fileName: options.fileName ?? 'book.pdf',
    body: Readable.from([content]),
    contentType: 'application/pdf',
  });
  const order = await h.ctx.orders.create({
    email: options.email ?? 'buyer@example.com',
    name: 'Ada Buyer',
    products: [product.slug],
    source: 'test',
  });
  const first = order.downloads[0]!;
  return { content, order, url: first.url, accessUrl: first.access_url, grantId: first.grant_id };
}
