import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { guessContentType } from '../../adapters/content-type.ts';
import type { AppContext } from '../../context.ts';
import { parseDuration } from '../../domain/duration.ts';
import type { MappingKind } from '../../domain/integrations/external-order.ts';
import type { FileView, ProductView } from '../../domain/products/product-service.ts';
import { CLIUsageError, print, table } from '../output.ts';
import { createProgress } from '../progress.ts';
import { withContext } from '../runner.ts';
import { addPolicyOptions, type PolicyOptions, policyFromOptions } from './license-options.ts';
import { collect, type GlobalOptions, integer } from './shared.ts';
import { addWatermarkOptions, type WatermarkOptions, watermarkFromOptions } from './watermark-options.ts';

async function uploadFile(ctx: AppContext, product: string, path: string, json: boolean): Promise<FileView> {
  const info = await stat(path).catch(() => {
    throw new CLIUsageError(`Cannot read file ${path}.`);
  });
  if (!info.isFile()) throw new CLIUsageError(`${path} is not a file.`);
  const progress = createProgress({ json, label: basename(path), total: info.size });
  try {
    return await ctx.products.addFile({
      product,
      fileName: basename(path),
      body: createReadStream(path),
      contentType: guessContentType(path),
      size: info.size,
      onProgress: progress.update,
    });
  } finally {
    progress.stop();
  }
}

function humanProduct(p: ProductView): string {
  const files = p.files.map((f) => `  ${f.id}  ${f.name}  ${f.size} bytes  sha256:${f.sha256}`).join('\n');
  return `${p.slug} (${p.id})\n${files || '  (no files)'}`;
}

export function registerCatalogCommands(program: Command, globals: () => GlobalOptions): void {
  const product = program.command('product').description('Products and their files');

  addWatermarkOptions(addPolicyOptions(product.command('create')))
    .description('Create a product, optionally uploading files')
    .requiredOption('--name <name>', 'product name')
    .option('--slug <slug>', 'URL-safe identifier (default: from the name)')
    .option('--file <path>', 'file to upload (repeatable)', collect, [] as string[])
    .option('--download-limit <n>', 'downloads per file and purchase; 0 = unlimited (default 5)', integer)
    .option(
      '--link-ttl <duration>',
      'direct link lifetime, e.g. 90s, 15m, 24h, 7d; 0 = until access ends (default 24h)',
    )
    .option('--access-days <n>', 'days of access after purchase; 0 = no end (default 30)', integer)
    .action(
      (
        opts: PolicyOptions &
          WatermarkOptions & {
            name: string;
            slug?: string;
            file: string[];
            downloadLimit?: number;
            linkTtl?: string;
            accessDays?: number;
          },
      ) =>
        withContext(globals(), async (ctx) => {
          const license = policyFromOptions(opts);
          const watermark = watermarkFromOptions(opts);
          const created = await ctx.products.create({
            ...(license ? { license } : {}),
            ...(watermark ? { watermark } : {}),
            ...(opts.itemId === undefined ? {} : { itemId: opts.itemId }),
            name: opts.name,
            ...(opts.slug === undefined ? {} : { slug: opts.slug }),
            ...(opts.downloadLimit === undefined ? {} : { downloadLimit: opts.downloadLimit }),
            ...(opts.linkTtl === undefined ? {} : { linkTtlSeconds: parseDuration(opts.linkTtl) }),
            ...(opts.accessDays === undefined ? {} : { accessDays: opts.accessDays }),
          });
          for (const path of opts.file)
            created.files.push(await uploadFile(ctx, created.id, path, globals().json));
          print(globals(), created, humanProduct);
        }),
    );

  addWatermarkOptions(addPolicyOptions(product.command('update <product>')))
    .description('Change a product: name, download policy, licensing (slug or id)')
    .option('--name <name>', 'product name')
    .option('--download-limit <n>', 'downloads per file and purchase; 0 = unlimited', integer)
    .option('--link-ttl <duration>', 'direct link lifetime, e.g. 15m, 24h')
    .option('--access-days <n>', 'days of access after purchase; 0 = no end', integer)
    .action(
      (
        ref: string,
        opts: PolicyOptions &
          WatermarkOptions & {
            name?: string;
            downloadLimit?: number;
            linkTtl?: string;
            accessDays?: number;
          },
      ) =>
        withContext(globals(), async (ctx) => {
          const license = policyFromOptions(opts);
          const watermark = watermarkFromOptions(opts);
          const updated = await ctx.products.update({
            product: ref,
            ...(opts.name === undefined ? {} : { name: opts.name }),
            ...(opts.downloadLimit === undefined ? {} : { downloadLimit: opts.downloadLimit }),
            ...(opts.linkTtl === undefined ? {} : { linkTtlSeconds: parseDuration(opts.linkTtl) }),
            ...(opts.accessDays === undefined ? {} : { accessDays: opts.accessDays }),
            ...(opts.itemId === undefined ? {} : { itemId: opts.itemId }),
            ...(license === undefined ? {} : { license }),
            ...(watermark === undefined ? {} : { watermark }),
          });
          print(globals(), updated, humanProduct);
        }),
    );

  product
    .command('add-file <product>')
    .description('Upload a file to a product (slug or id)')
    .requiredOption('--file <path>', 'file to upload')
    .action((ref: string, opts: { file: string }) =>
      withContext(globals(), async (ctx) => {
        print(
          globals(),
          await uploadFile(ctx, ref, opts.file, globals().json),
          (f: FileView) => `${f.id}  ${f.name}  ${f.size} bytes`,
        );
      }),
    );

  product
    .command('map <product>')
    .description('Map store products to this product (unmapped order lines are ignored and reported)')
    .option('--woocommerce-product <id>', 'WooCommerce product id')
    .option('--variation <id>', 'WooCommerce variation id (with --woocommerce-product)')
    .option('--sku <sku>', 'WooCommerce SKU')
    .option('--stripe-price <price>', 'Stripe price id (price_…)')
    .option('--stripe-product <prod>', 'Stripe product id (prod_…)')
    .action(
      (
        ref: string,
        opts: {
          woocommerceProduct?: string;
          variation?: string;
          sku?: string;
          stripePrice?: string;
          stripeProduct?: string;
        },
      ) =>
        withContext(globals(), async (ctx) => {
          const keys: { kind: MappingKind; value: string }[] = [];
          if (opts.variation) keys.push({ kind: 'woocommerce_variation', value: opts.variation });
          else if (opts.woocommerceProduct)
            keys.push({ kind: 'woocommerce_product', value: opts.woocommerceProduct });
          if (opts.sku) keys.push({ kind: 'woocommerce_sku', value: opts.sku });
          if (opts.stripePrice) keys.push({ kind: 'stripe_price', value: opts.stripePrice });
          if (opts.stripeProduct) keys.push({ kind: 'stripe_product', value: opts.stripeProduct });
          if (keys.length === 0) {
            throw new CLIUsageError(
              'Give --woocommerce-product, --variation, --sku, --stripe-price or --stripe-product.',
            );
          }
          let result: unknown;
          for (const key of keys) result = await ctx.connections.mapProduct({ product: ref, ...key });
          print(globals(), result);
        }),
    );

  product
    .command('list')
    .description('List products')
    .action(() =>
      withContext(globals(), async (ctx) => {
        print(globals(), await ctx.products.list(), (ps: ProductView[]) =>
          table(
            ps.map((p) => ({
              slug: p.slug,
              id: p.id,
              files: p.files.length,
              limit: p.download_limit,
              access_days: p.access_days,
            })),
            ['slug', 'id', 'files', 'limit', 'access_days'],
          ),
        );
      }),
    );
}
