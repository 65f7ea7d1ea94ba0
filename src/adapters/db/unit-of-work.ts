import type { Kysely } from 'kysely';
import type { Repositories, UnitOfWork } from '../../domain/ports.ts';
import { createSecretRepo, createSettingsRepo, createTokenRepo } from './admin-repos.ts';
import { createFileRepo, createProductRepo } from './catalog-repos.ts';
import type { Dialect } from './database.ts';
import { createDownloadRepo } from './download-repo.ts';
import {
  createConnectionRepo,
  createExternalOrderRepo,
  createMappingRepo,
  createOrderLineRepo,
  createProcessedEventRepo,
  createWebhookEndpointRepo,
} from './integration-repos.ts';
import { createLicenseRepo } from './license-repo.ts';
import { createCustomerRepo, createGrantRepo, createOrderRepo } from './order-repos.ts';
import { createOutboxRepo } from './outbox-repo.ts';
import { createReleaseRepo } from './release-repo.ts';
import type { DB } from './schema.ts';
import { createFileAnalysisRepo, createWatermarkMarkRepo } from './watermark-repos.ts';

function createRepositories(db: Kysely<DB>, dialect: Dialect): Repositories {
  return {
    products: createProductRepo(db),
    files: createFileRepo(db),
    customers: createCustomerRepo(db),
    orders: createOrderRepo(db),
    grants: createGrantRepo(db),
    downloads: createDownloadRepo(db),
    tokens: createTokenRepo(db),
    settings: createSettingsRepo(db),
    secrets: createSecretRepo(db),
    licenses: createLicenseRepo(db, dialect),
    releases: createReleaseRepo(db),
    outbox: createOutboxRepo(db, dialect),
    connections: createConnectionRepo(db),
    mappings: createMappingRepo(db),
    externalOrders: createExternalOrderRepo(db, dialect),
    orderLines: createOrderLineRepo(db),
    processedEvents: createProcessedEventRepo(db),
    webhookEndpoints: createWebhookEndpointRepo(db),
    fileAnalyses: createFileAnalysisRepo(db),
    watermarkMarks: createWatermarkMarkRepo(db),
  };
}

export function createUnitOfWork(db: Kysely<DB>, dialect: Dialect): UnitOfWork {
  return {
    repos: createRepositories(db, dialect),
    transaction: (work) => db.transaction().execute((trx) => work(createRepositories(trx, dialect))),
  };
}
