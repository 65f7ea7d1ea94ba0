import type { LinkSigner } from './downloads/download-token.ts';
import type { BlobStores, Clock, UnitOfWork } from './ports.ts';

/** What every use-case needs; built once in the composition root. */
export interface CoreDeps {
  uow: UnitOfWork;
  blobs: BlobStores;
  clock: Clock;
  links: LinkSigner;
  /** Base for links handed to buyers, without a trailing slash. */
  publicUrl: string;
  newId: () => string;
}
