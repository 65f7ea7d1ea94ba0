import type { Readable } from 'node:stream';
import type { MappingKey } from './integrations/external-order.ts';
import type {
  Connection,
  ConnectionKind,
  ExternalOrderRecord,
  OrderLine,
  ProductMapping,
  WebhookEndpoint,
} from './integrations/model.ts';
import type { Activation, ActivationKind, License } from './licenses/license.ts';
import type {
  ApiToken,
  Customer,
  DownloadEvent,
  DownloadStatus,
  Grant,
  Order,
  Product,
  ProductFile,
  StorageKind,
} from './model.ts';
import type { OutboxMessage, OutboxStatus } from './outbox/outbox.ts';
import type { Release } from './releases/release.ts';
import type { FileAnalysis, WatermarkKind, WatermarkMark, WatermarkSettings } from './watermark/watermark.ts';

/** Wall-clock time, injected so tests can move it. */
export interface Clock {
  now(): Date;
}

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive. */
  end: number;
}

export interface PutOptions {
  contentType: string;
  /** Known size, when the caller has it (enables progress and multipart sizing). */
  size?: number;
  onProgress?: (bytesDone: number) => void;
}

export interface PresignOptions {
  expiresInSeconds: number;
  contentDisposition: string;
  contentType: string;
}

/** Where file bytes live: local disk or an S3-compatible bucket (R2). */
export interface BlobStore {
  readonly kind: StorageKind;
  /** Stores the stream under `key`; resolves once the object is durable. */
  put(key: string, body: Readable, options: PutOptions): Promise<void>;
  /** Opens a read stream over the object, or over one byte range of it. */
  read(key: string, range?: ByteRange): Promise<Readable>;
  /** The object's path on local disk, for stores that have one (the HTTP layer sends it buffer-free). */
  localPath?(key: string): string;
  /** Removes the object; missing objects are not an error. */
  remove(key: string): Promise<void>;
  /** A time-limited URL the buyer can fetch directly, or null when the store serves no URLs. */
  presignGet(key: string, options: PresignOptions): Promise<string | null>;
  /** Throws when the store is unreachable or misconfigured (used by /readyz). */
  check(): Promise<void>;
}

/** Finds the blob store for a file (by where it was written) and for new uploads. */
export interface BlobStores {
  forKind(kind: StorageKind): Promise<BlobStore>;
  active(): Promise<BlobStore>;
}

export interface NewDownloadEvent extends Omit<DownloadEvent, 'id'> {}

export interface DownloadEventFilter {
  orderId?: string;
  grantId?: string;
  customerId?: string;
  ip?: string;
  limit?: number;
}

export interface ProductRepo {
  /** Inserts a product; returns false when the slug is taken. */
  insert(product: Product): Promise<boolean>;
  findBySlugOrId(ref: string): Promise<Product | undefined>;
  findById(id: string): Promise<Product | undefined>;
  findByItemId(itemId: number): Promise<Product | undefined>;
  /** The next free item id (largest + 1, at least 1000). */
  nextItemId(): Promise<number>;
  list(): Promise<Product[]>;
  /** Saves name and policy changes; returns false when the item id is taken by another product. */
  update(product: Product): Promise<boolean>;
}

export interface FileRepo {
  insert(file: ProductFile): Promise<void>;
  findById(id: string): Promise<ProductFile | undefined>;
  listByProduct(productId: string): Promise<ProductFile[]>;
}

export interface CustomerRepo {
  /** Returns the customer with this e-mail, creating it (with `candidate`'s id and name) if absent. */
  upsertByEmail(candidate: Customer): Promise<Customer>;
  findById(id: string): Promise<Customer | undefined>;
  findByEmail(email: string): Promise<Customer | undefined>;
}

export interface OrderRepo {
  /** Inserts an order; returns false when (source, externalId) already exists. */
  insert(order: Order): Promise<boolean>;
  findById(id: string): Promise<Order | undefined>;
  findByExternalId(source: string, externalId: string): Promise<Order | undefined>;
  list(options: { limit: number; before?: string }): Promise<Order[]>;
  /** Records that an Idempotency-Key produced an order; returns false if the key exists. */
  saveIdempotencyKey(key: string, requestHash: string, orderId: string, at: string): Promise<boolean>;
  findIdempotencyKey(key: string): Promise<{ requestHash: string; orderId: string } | undefined>;
}

export interface GrantRepo {
  insert(grant: Grant): Promise<void>;
  findById(id: string): Promise<Grant | undefined>;
  listByOrder(orderId: string): Promise<Grant[]>;
  update(id: string, changes: Partial<Pick<Grant, 'accessUntil' | 'revokedAt'>>): Promise<void>;
  /** Downloads used per file of the grant. */
  usage(grantId: string): Promise<Map<string, number>>;
  resetUsage(grantId: string): Promise<void>;
  /**
   * Atomically uses one download of `fileId` under the grant if fewer than `limit` are used
   * (limit 0 = unlimited). Returns false, changing nothing, when the limit is reached.
   */
  tryUseDownload(grantId: string, fileId: string, limit: number): Promise<boolean>;
}

export interface DownloadRepo {
  insert(event: NewDownloadEvent): Promise<string>;
  finish(id: string, bytes: number, status: DownloadStatus): Promise<void>;
  /** Whether a counted download of this grant's file from this IP happened at or after `since`. */
  hasCountedSince(grantId: string, fileId: string, ip: string | null, since: string): Promise<boolean>;
  list(filter: DownloadEventFilter): Promise<DownloadEvent[]>;
  /** Erases the IP of events older than `before`; returns how many were changed. */
  forgetIpsBefore(before: string): Promise<number>;
}

export interface TokenRepo {
  insert(token: ApiToken, tokenHash: string): Promise<void>;
  findByHash(tokenHash: string): Promise<ApiToken | undefined>;
}

export interface SettingsRepo {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
}

export interface StoredSecret {
  id: string;
  purpose: string;
  /** Envelope-encrypted value (see adapters/crypto/secret-box.ts). */
  ciphertext: string;
  /** Masked hint safe to show, e.g. `••••1234`. */
  hint: string;
}

export interface SecretRepo {
  upsert(secret: StoredSecret): Promise<void>;
  findById(id: string): Promise<StoredSecret | undefined>;
}

export interface LicenseEvent {
  id: string;
  licenseId: string;
  type: string;
  detail: Record<string, unknown>;
  at: string;
}

export interface LicenseRepo {
  insert(license: License, keyHash: string, keyCiphertext: string): Promise<void>;
  findById(id: string): Promise<License | undefined>;
  findByKeyHash(keyHash: string): Promise<License | undefined>;
  listByOrder(orderId: string): Promise<License[]>;
  listByCustomer(customerId: string): Promise<License[]>;
  /** Newest first, optionally narrowed to a product, a customer or a status. */
  list(filter: {
    productId?: string;
    customerId?: string;
    status?: string;
    limit: number;
  }): Promise<License[]>;
  /** Active licenses whose expiry falls in [from, to). */
  listExpiring(from: string, to: string, limit: number): Promise<License[]>;
  /** The sealed key (see SecretBox), to show a buyer their key again. */
  keyCiphertext(id: string): Promise<string | undefined>;
  update(
    id: string,
    changes: Partial<Pick<License, 'status' | 'expiresAt' | 'customerId' | 'activationLimit'>>,
  ): Promise<void>;
  /** Holds the license row until the transaction ends, so activation limits hold under concurrency. */
  lock(id: string): Promise<void>;
  /** Activations that are currently active, oldest first. */
  activeActivations(licenseId: string): Promise<Activation[]>;
  findActiveActivation(
    licenseId: string,
    kind: ActivationKind,
    identifier: string,
  ): Promise<Activation | undefined>;
  /** Activates (or re-activates a previously deactivated) site or machine. */
  activate(activation: Activation): Promise<void>;
  touchActivation(id: string, at: string, version: string | null): Promise<void>;
  deactivate(id: string, at: string): Promise<void>;
  addEvent(event: LicenseEvent): Promise<void>;
  events(licenseId: string): Promise<LicenseEvent[]>;
}

export interface ReleaseRepo {
  /** Inserts a release; returns false when the product already has this version. */
  insert(release: Release): Promise<boolean>;
  findById(id: string): Promise<Release | undefined>;
  /** A product's releases, oldest first. */
  listByProduct(productId: string): Promise<Release[]>;
}

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
  /**
   * Stable per e-mail (derived from the outbox idempotency key), sent as the Message-ID header: a
   * redelivery after a crash carries the same id, so receivers and the .eml writer can tell it is one mail.
   */
  messageId: string;
}

/** Sends e-mail: SMTP, or `.eml` files under the data dir on a fresh install. */
export interface Mailer {
  send(message: MailMessage): Promise<void>;
  /** Throws when the mail server cannot be reached (readiness). */
  check(): Promise<void>;
  close(): Promise<void>;
}

export interface OutboxRepo {
  /** Adds a message (inside the caller's transaction); false when its idempotency key exists already. */
  enqueue(message: OutboxMessage): Promise<boolean>;
  /**
   * Takes up to `limit` due messages for this worker until `leaseUntil`, counting an attempt for each.
   * Concurrent workers never take the same message (SKIP LOCKED on PostgreSQL); a worker that dies
   * leaves its messages to be taken again once the lease runs out.
   */
  claim(input: { now: string; leaseUntil: string; limit: number }): Promise<OutboxMessage[]>;
  markDelivered(id: string, at: string): Promise<void>;
  /** Records a failed attempt: due again at `nextAttemptAt`, or dead-lettered (`failed`) when null. */
  markFailed(id: string, error: string, nextAttemptAt: string | null): Promise<void>;
  list(filter: { status?: OutboxStatus | undefined; limit: number }): Promise<OutboxMessage[]>;
  findById(id: string): Promise<OutboxMessage | undefined>;
  /** Puts a message back in the queue, due now, with a fresh attempt count; false if unknown. */
  retry(id: string, now: string): Promise<boolean>;
}

export interface ConnectionRepo {
  insert(connection: Connection): Promise<void>;
  findById(id: string): Promise<Connection | undefined>;
  list(kind?: ConnectionKind): Promise<Connection[]>;
}

export interface MappingRepo {
  /** Maps a platform key to a product, replacing an earlier mapping of the same key. */
  set(mapping: ProductMapping): Promise<void>;
  /** The product ids of the keys that are mapped, keyed by `kind:value`. */
  find(keys: MappingKey[]): Promise<Map<string, string>>;
  listByProduct(productId: string): Promise<ProductMapping[]>;
}

export interface ExternalOrderRepo {
  /**
   * The record of a store order, locked for the rest of the transaction (so two deliveries of the same
   * order are handled one after the other). Creates it in state `pending` when absent.
   */
  claim(source: string, externalId: string, now: string): Promise<ExternalOrderRecord>;
  update(record: ExternalOrderRecord): Promise<void>;
  find(source: string, externalId: string): Promise<ExternalOrderRecord | undefined>;
  findByOrder(orderId: string): Promise<ExternalOrderRecord | undefined>;
}

export interface OrderLineRepo {
  insert(line: OrderLine): Promise<void>;
  listByOrder(orderId: string): Promise<OrderLine[]>;
}

export interface ProcessedEventRepo {
  /** Records a provider's event id; false when it was processed before. */
  insert(source: string, eventId: string, at: string): Promise<boolean>;
}

export interface WebhookEndpointRepo {
  insert(endpoint: WebhookEndpoint): Promise<void>;
  findById(id: string): Promise<WebhookEndpoint | undefined>;
  list(): Promise<WebhookEndpoint[]>;
  remove(id: string): Promise<boolean>;
}

export interface FileAnalysisRepo {
  upsert(analysis: FileAnalysis): Promise<void>;
  find(fileId: string): Promise<FileAnalysis | undefined>;
}

export interface WatermarkMarkRepo {
  /** Records a token (once; the same grant and file always get the same token). */
  insert(mark: WatermarkMark): Promise<void>;
  findByToken(token: string): Promise<WatermarkMark | undefined>;
}

/** One buyer's copy of a file: its size and validator are known before a byte is made. */
export interface WatermarkedCopy {
  size: number;
  /** A strong validator of exactly these bytes (for ETag and If-Range). */
  sha256: string;
  open(range?: ByteRange): Promise<Readable>;
}

export interface WatermarkStamp {
  /** The visible line, rendered from the seller's template. */
  text: string;
  token: string;
  settings: WatermarkSettings;
  /** The order reference (store order number or our id), for names such as LICENSE-<order>.txt. */
  orderRef: string;
  buyerName: string;
}

/** The file-format engines (PDF, EPUB, ZIP), run by adapters. */
export interface Watermarker {
  /**
   * Analyses a stored file once, untrusted: in a sandbox with time and memory limits. A file that needs
   * cleaning first is normalised into a new master stored beside it.
   */
  inspect(file: ProductFile, kind: WatermarkKind): Promise<Omit<FileAnalysis, 'fileId' | 'createdAt'>>;
  copy(file: ProductFile, analysis: FileAnalysis, stamp: WatermarkStamp): Promise<WatermarkedCopy>;
  /** Trace tokens found in a (leaked) file. */
  findMarks(data: Buffer): Promise<string[]>;
}

export interface Repositories {
  products: ProductRepo;
  files: FileRepo;
  customers: CustomerRepo;
  orders: OrderRepo;
  grants: GrantRepo;
  downloads: DownloadRepo;
  tokens: TokenRepo;
  settings: SettingsRepo;
  secrets: SecretRepo;
  licenses: LicenseRepo;
  releases: ReleaseRepo;
  outbox: OutboxRepo;
  connections: ConnectionRepo;
  mappings: MappingRepo;
  externalOrders: ExternalOrderRepo;
  orderLines: OrderLineRepo;
  processedEvents: ProcessedEventRepo;
  webhookEndpoints: WebhookEndpointRepo;
  fileAnalyses: FileAnalysisRepo;
  watermarkMarks: WatermarkMarkRepo;
}

/** The database as the core sees it: repositories, and a transaction that groups writes. */
export interface UnitOfWork {
  readonly repos: Repositories;
  transaction<T>(work: (repos: Repositories) => Promise<T>): Promise<T>;
}

/** Encrypts credentials at rest; `associatedData` binds a ciphertext to its record. */
export interface SecretBox {
  seal(plaintext: string, associatedData: string): string;
  open(ciphertext: string, associatedData: string): string;
}
