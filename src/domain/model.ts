/** Records the core works with. Times are ISO-8601 UTC strings; sizes are bytes. */
import type { LicensePolicy } from './licenses/license.ts';
import type { WatermarkSettings } from './watermark/watermark.ts';

export interface Product {
  id: string;
  slug: string;
  name: string;
  /** Downloads allowed per file and grant; 0 = unlimited. */
  downloadLimit: number;
  /** Lifetime of a direct download link in seconds; 0 = until access ends. */
  linkTtlSeconds: number;
  /** Days of access after purchase; 0 = no end. */
  accessDays: number;
  /** Numeric id for EDD-compatible clients (`item_id`); settable so migrated plugins keep theirs. */
  itemId: number | null;
  /** Set when purchases of this product carry license keys. */
  licensePolicy: LicensePolicy | null;
  /** Set when every PDF, EPUB and ZIP of this product is stamped for its buyer. */
  watermark: WatermarkSettings | null;
  createdAt: string;
}

export type StorageKind = 'local' | 's3';

export interface ProductFile {
  id: string;
  productId: string;
  /** The original file name as shown to the buyer (never used as a storage path). */
  name: string;
  size: number;
  sha256: string;
  contentType: string;
  storage: StorageKind;
  /** Opaque object key: random, carries no customer, product or file name. */
  objectKey: string;
  createdAt: string;
}

export interface Customer {
  id: string;
  email: string;
  name: string | null;
  createdAt: string;
}

export interface Order {
  id: string;
  customerId: string;
  source: string;
  externalId: string | null;
  createdAt: string;
}

/** A customer's right to download one product's files, created by an order. */
export interface Grant {
  id: string;
  orderId: string;
  productId: string;
  customerId: string;
  downloadLimit: number;
  linkTtlSeconds: number;
  /** End of access; null = no end. */
  accessUntil: string | null;
  revokedAt: string | null;
  createdAt: string;
}

export type DownloadStatus =
  | 'started'
  | 'completed'
  | 'aborted'
  | 'redirected'
  | 'GRANT_REVOKED'
  | 'ACCESS_EXPIRED'
  | 'LINK_EXPIRED'
  | 'DOWNLOAD_LIMIT_REACHED'
  | 'FILE_UNAVAILABLE';

export interface DownloadEvent {
  id: string;
  at: string;
  grantId: string;
  fileId: string;
  orderId: string;
  customerId: string;
  ip: string | null;
  userAgent: string | null;
  /** Bytes sent; null when the bytes went out from the blob store (302). */
  bytes: number | null;
  status: DownloadStatus;
  /** Whether this event used up one of the grant's downloads. */
  counted: boolean;
  range: string | null;
}

export interface ApiToken {
  id: string;
  name: string;
  createdAt: string;
}
