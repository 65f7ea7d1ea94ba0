import type { CoreDeps } from '../core-deps.ts';
import { AppError } from '../errors.ts';
import { findProductRef } from '../licenses/license-service.ts';
import { maskSecret } from '../storage/storage-settings.ts';
import type { EndAction, MappingKind } from './external-order.ts';
import type {
  Connection,
  StripeCredentials,
  StripeSettings,
  WooCommerceCredentials,
  WooCommerceSettings,
} from './model.ts';

export interface ConnectionView {
  id: string;
  kind: Connection['kind'];
  webhook_url: string;
  settings: Record<string, unknown>;
  credentials_hint: string;
  created_at: string;
}

/** An http(s) URL given by the seller, or INVALID_REQUEST naming the field. */
export function parseHttpUrl(value: string, path: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new AppError('INVALID_REQUEST', { message: `${path} must be a URL.`, detail: { path } });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new AppError('INVALID_REQUEST', { message: `${path} must be http(s).`, detail: { path } });
  }
  return url;
}

/** A base URL (store, API origin) without its trailing slash. */
function httpUrl(value: string, path: string): string {
  return parseHttpUrl(value, path).toString().replace(/\/+$/, '');
}

function required(value: string, path: string): string {
  const trimmed = value.trim();
  if (!trimmed || trimmed.length > 500) {
    throw new AppError('INVALID_REQUEST', { message: `${path} is required.`, detail: { path } });
  }
  return trimmed;
}

/**
 * Store connections (WooCommerce, Stripe) and product mappings. Credentials are sealed under the
 * connection's id and opened only when a webhook or a write-back needs them.
 */
export function createConnectionService(deps: CoreDeps) {
  const repos = deps.uow.repos;
  const opened = new Map<string, unknown>();

  function webhookUrl(c: Pick<Connection, 'id' | 'kind'>): string {
    return `${deps.publicUrl}/webhooks/${c.kind}/${c.id}`;
  }

  async function create(connection: Connection, credentials: object, hint: string): Promise<ConnectionView> {
    const secretId = `connection:${connection.id}`;
    await deps.uow.transaction(async (tx) => {
      await tx.secrets.upsert({
        id: secretId,
        purpose: connection.kind,
        ciphertext: deps.secrets.seal(JSON.stringify(credentials), secretId),
        hint,
      });
      await tx.connections.insert(connection);
    });
    return view(connection, hint);
  }

  function view(c: Connection, hint: string): ConnectionView {
    return {
      id: c.id,
      kind: c.kind,
      webhook_url: webhookUrl(c),
      settings:
        c.kind === 'woocommerce'
          ? {
              store_url: c.settings.storeUrl,
              on_refund: c.settings.endAction,
              customer_note: c.settings.customerNote,
            }
          : { api_base: c.settings.apiBase, on_refund: c.settings.endAction },
      credentials_hint: hint,
      created_at: c.createdAt,
    };
  }

  async function open<K extends Connection['kind'], C>(id: string, kind: K) {
    const connection = await repos.connections.findById(id);
    if (!connection || connection.kind !== kind) {
      throw new AppError('NOT_FOUND', { message: `No ${kind} connection ${id}.` });
    }
    let credentials = opened.get(id) as C | undefined;
    if (!credentials) {
      const sealed = await repos.secrets.findById(`connection:${id}`);
      if (!sealed) throw new AppError('INTERNAL', { message: `connection ${id} has no credentials` });
      credentials = JSON.parse(deps.secrets.open(sealed.ciphertext, sealed.id)) as C;
      // Connections never change (a new `connect` makes a new one), so the opened copy stays valid.
      opened.set(id, credentials);
    }
    return { connection: connection as Extract<Connection, { kind: K }>, credentials };
  }

  return {
    connectWooCommerce(
      input: WooCommerceCredentials & { storeUrl: string; endAction: EndAction; customerNote: boolean },
    ) {
      const settings: WooCommerceSettings = {
        storeUrl: httpUrl(input.storeUrl, 'store_url'),
        endAction: input.endAction,
        customerNote: input.customerNote,
      };
      const credentials: WooCommerceCredentials = {
        consumerKey: required(input.consumerKey, 'consumer_key'),
        consumerSecret: required(input.consumerSecret, 'consumer_secret'),
        webhookSecret: required(input.webhookSecret, 'webhook_secret'),
      };
      const connection: Connection = {
        id: deps.newId(),
        kind: 'woocommerce',
        settings,
        createdAt: deps.clock.now().toISOString(),
      };
      return create(
        connection,
        credentials,
        `${maskSecret(credentials.consumerKey)} / ${maskSecret(credentials.consumerSecret)}`,
      );
    },

    connectStripe(input: StripeCredentials & { apiBase: string | null; endAction: EndAction }) {
      const settings: StripeSettings = {
        apiBase: input.apiBase ? httpUrl(input.apiBase, 'api_base') : null,
        endAction: input.endAction,
      };
      const credentials: StripeCredentials = {
        secretKey: required(input.secretKey, 'secret_key'),
        webhookSecret: required(input.webhookSecret, 'webhook_secret'),
      };
      const connection: Connection = {
        id: deps.newId(),
        kind: 'stripe',
        settings,
        createdAt: deps.clock.now().toISOString(),
      };
      return create(
        connection,
        credentials,
        `${maskSecret(credentials.secretKey)} / ${maskSecret(credentials.webhookSecret)}`,
      );
    },

    async list(): Promise<ConnectionView[]> {
      const views: ConnectionView[] = [];
      for (const c of await repos.connections.list()) {
        views.push(view(c, (await repos.secrets.findById(`connection:${c.id}`))?.hint ?? ''));
      }
      return views;
    },

    woocommerce: (id: string) => open<'woocommerce', WooCommerceCredentials>(id, 'woocommerce'),
    stripe: (id: string) => open<'stripe', StripeCredentials>(id, 'stripe'),

    async mapProduct(input: { product: string; kind: MappingKind; value: string }) {
      const value = required(input.value, input.kind);
      const product = await findProductRef(repos, input.product);
      if (!product) throw new AppError('NOT_FOUND', { message: `No product "${input.product}".` });
      await repos.mappings.set({
        kind: input.kind,
        value,
        productId: product.id,
        createdAt: deps.clock.now().toISOString(),
      });
      return {
        product: product.slug,
        mappings: (await repos.mappings.listByProduct(product.id)).map((m) => ({
          kind: m.kind,
          value: m.value,
        })),
      };
    },
  };
}

export type ConnectionService = ReturnType<typeof createConnectionService>;
