import { join } from 'node:path';
import type { Logger } from 'pino';
import { createEd25519Signer, type Ed25519Signer } from './adapters/crypto/ed25519.ts';
import { deriveKey, loadMasterKey } from './adapters/crypto/keys.ts';
import { createSecretBox } from './adapters/crypto/secret-box.ts';
import { type Database, openDatabase } from './adapters/db/database.ts';
import { createUnitOfWork } from './adapters/db/unit-of-work.ts';
import { createTemplateRenderer } from './adapters/email/templates.ts';
import { createUUIDv7Generator } from './adapters/ids.ts';
import { createMetrics, type Metrics } from './adapters/metrics.ts';
import {
  createMemoryRateLimiter,
  createRedisRateLimiter,
  type RateLimiter,
} from './adapters/rate-limit/rate-limiter.ts';
import { createBlobStores } from './adapters/storage/blob-stores.ts';
import { createLocalBlobStore } from './adapters/storage/local-fs.ts';
import { createWatermarker } from './adapters/watermark/watermarker.ts';
import type { Config } from './config.ts';
import type { CoreDeps } from './domain/core-deps.ts';
import { createDownloadService, type DownloadService } from './domain/downloads/download-service.ts';
import { createLinkSigner } from './domain/downloads/download-token.ts';
import { createGrantService, type GrantService } from './domain/grants/grant-service.ts';
import { type ConnectionService, createConnectionService } from './domain/integrations/connections.ts';
import { createMessagingSettings, type MessagingSettings } from './domain/integrations/messaging.ts';
import { createNotices, type Notices } from './domain/integrations/notices.ts';
import { createStoreSync, type StoreSync } from './domain/integrations/store-sync.ts';
import { createLicenseFileService, type LicenseFileService } from './domain/licenses/license-file-service.ts';
import { assertKeyFormat } from './domain/licenses/license-key.ts';
import { createLicenseService, type LicenseService } from './domain/licenses/license-service.ts';
import { createOrderService, type OrderService } from './domain/orders/order-service.ts';
import { DEFAULT_RETRY } from './domain/outbox/outbox.ts';
import { createOutboxService, type OutboxService } from './domain/outbox/outbox-service.ts';
import type { BlobStores, Clock } from './domain/ports.ts';
import { createProductService, type ProductService } from './domain/products/product-service.ts';
import { createReleaseService, type ReleaseService } from './domain/releases/release-service.ts';
import { createStorageSettingsStore, type StorageSettingsStore } from './domain/storage/storage-settings.ts';
import { createTokenService, type TokenService } from './domain/tokens/token-service.ts';
import { createWatermarkService, type WatermarkService } from './domain/watermark/watermark-service.ts';
import { createMailTransport, type MailTransport } from './workers/mail-transport.ts';
import { createOutboxHandlers } from './workers/outbox-handlers.ts';

/** Everything the HTTP app and the CLI use, built once from the config. */
export interface AppContext {
  config: Readonly<Config>;
  logger: Logger;
  database: Database;
  blobs: BlobStores;
  storage: StorageSettingsStore;
  rateLimiter: RateLimiter;
  /** Per-IP and per-key allowance of the public license API. */
  licenseRateLimiter: RateLimiter;
  metrics: Metrics;
  clock: Clock;
  products: ProductService;
  orders: OrderService;
  grants: GrantService;
  downloads: DownloadService;
  tokens: TokenService;
  licenses: LicenseService;
  licenseFiles: LicenseFileService;
  releases: ReleaseService;
  /** Side effects waiting for delivery: e-mail, Brevo, WooCommerce write-back, the seller's webhooks. */
  outbox: OutboxService;
  /** WooCommerce and Stripe connections and product mappings. */
  connections: ConnectionService;
  /** Applies a store order's current state (deliver, add lines, revoke). */
  storeSync: StoreSync;
  /** Mail transport and branding, Brevo, outgoing webhook endpoints. */
  messaging: MessagingSettings;
  notices: Notices;
  mail: MailTransport;
  /** Per-buyer copies of PDF, EPUB and ZIP files, and tracing of leaked copies. */
  watermarks: WatermarkService;
  /** The composition's core dependencies, for services added by the HTTP layer and tests. */
  deps: CoreDeps;
  /** Signs license API responses and license files. */
  licenseSigner: Ed25519Signer;
  close(): Promise<void>;
}

export interface ContextOptions {
  clock?: Clock;
  /** Migrate on open (the server and every CLI command do; `migrate` reports what it applied). */
  migrate?: boolean;
}

/** The composition root: the only place adapters are constructed. */
export async function createAppContext(
  config: Readonly<Config>,
  logger: Logger,
  options: ContextOptions = {},
): Promise<AppContext> {
  const master = loadMasterKey(config.masterKey, config.dataDir);
  if (master.generated) {
    logger.warn(
      { path: master.path },
      '!!! GENERATED A NEW MASTER KEY. Back it up now: without it, stored credentials cannot be decrypted ' +
        'and every issued link stops working. Set CLOUDSECURE_MASTER_KEY to manage it yourself. !!!',
    );
  }
  const database = openDatabase(config.databaseUrl, {
    poolSize: config.dbPoolSize,
    onPoolError: (err) => logger.warn({ err }, 'a pooled database connection failed; it will be replaced'),
  });
  if (options.migrate !== false) await database.migrate();
  const uow = createUnitOfWork(database.db, database.dialect);
  const secretBox = createSecretBox(deriveKey(master.key, 'secret-kek'));
  const storage = createStorageSettingsStore({
    settings: uow.repos.settings,
    secrets: uow.repos.secrets,
    box: secretBox,
  });
  const blobs = createBlobStores({
    local: createLocalBlobStore(join(config.dataDir, 'files')),
    settings: storage,
  });
  storage.onChange(() => blobs.invalidate());
  const clock = options.clock ?? { now: () => new Date() };
  const newId = createUUIDv7Generator();
  const deps: CoreDeps = {
    uow,
    blobs,
    clock,
    links: createLinkSigner(deriveKey(master.key, 'link-token')),
    publicUrl: config.publicUrl,
    newId,
    secrets: secretBox,
    licenseLookupKey: deriveKey(master.key, 'license-lookup'),
    keyFormat: assertKeyFormat(config.licenseKeyFormat),
    markKey: deriveKey(master.key, 'watermark-mark'),
    watermarker: createWatermarker({ blobs, newId }),
  };
  const watermarks = createWatermarkService(deps);
  const orders = createOrderService(deps);
  const connections = createConnectionService(deps);
  const messaging = createMessagingSettings(deps);
  const mail = createMailTransport(messaging, config.dataDir);
  const outbox = createOutboxService(deps, {
    handlers: createOutboxHandlers({
      deps,
      orders,
      connections,
      messaging,
      mail,
      templates: createTemplateRenderer({ overridesDir: join(config.dataDir, 'templates') }),
    }),
    retry: { ...DEFAULT_RETRY, maxAttempts: config.outbox.maxAttempts },
    leaseMs: config.outbox.leaseMs,
  });
  const licenseSigner = createEd25519Signer(deriveKey(master.key, 'license-signing'));
  const licenseRateLimiter = config.redisUrl
    ? createRedisRateLimiter(config.redisUrl, config.licenseRateLimitPerMinute, `${config.redisPrefix}lrl:`)
    : createMemoryRateLimiter(config.licenseRateLimitPerMinute);
  const rateLimiter = config.redisUrl
    ? createRedisRateLimiter(config.redisUrl, config.rateLimitPerMinute, `${config.redisPrefix}rl:`)
    : createMemoryRateLimiter(config.rateLimitPerMinute);
  return {
    config,
    logger,
    database,
    blobs,
    storage,
    rateLimiter,
    licenseRateLimiter,
    metrics: createMetrics(),
    clock,
    products: createProductService(deps, watermarks),
    watermarks,
    orders,
    grants: createGrantService(deps),
    downloads: createDownloadService(deps),
    tokens: createTokenService(deps),
    licenses: createLicenseService(deps),
    licenseFiles: createLicenseFileService(deps, licenseSigner),
    releases: createReleaseService(deps),
    outbox,
    connections,
    storeSync: createStoreSync(deps),
    messaging,
    notices: createNotices(deps),
    mail,
    licenseSigner,
    deps,
    async close() {
      await mail.close();
      await rateLimiter.close();
      await licenseRateLimiter.close();
      await database.close();
    },
  };
}
