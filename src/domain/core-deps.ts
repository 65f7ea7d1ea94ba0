import type { LinkSigner } from './downloads/download-token.ts';
import type { KeyFormat } from './licenses/license-key.ts';
import type { BlobStores, Clock, SecretBox, UnitOfWork, Watermarker } from './ports.ts';

/** What every use-case needs; built once in the composition root. */
export interface CoreDeps {
  uow: UnitOfWork;
  blobs: BlobStores;
  clock: Clock;
  links: LinkSigner;
  /** Base for links handed to buyers, without a trailing slash. */
  publicUrl: string;
  newId: () => string;
  /** Seals license keys at rest (the record id is the associated data). */
  secrets: SecretBox;
  /** HMAC key for the license-key lookup column, derived from the master key. */
  licenseLookupKey: Buffer;
  keyFormat: KeyFormat;
  /** HMAC key of watermark trace tokens, derived from the master key. */
  markKey: Buffer;
  /** The PDF/EPUB/ZIP watermark engines. */
  watermarker: Watermarker;
}
