/**
 * WooCommerce order payload (REST v3 order object, or `{"id":N}` for `order.deleted`) → ExternalOrder.
 *
 * Parsing is tolerant where WooCommerce is loose (unknown fields ignored, ids and quantities may arrive as
 * strings) and decides on the order's *state*, never on the webhook topic: `order.created` also fires for
 * unpaid orders and block-checkout drafts. Only `processing`/`completed` with a paid date is `paid`.
 */
import { z } from 'zod';
import { AppError } from '../../domain/errors.ts';
import type {
  ExternalLine,
  ExternalOrder,
  ExternalOrderState,
} from '../../domain/integrations/external-order.ts';

const ENDED_STATUSES = new Set(['refunded', 'cancelled', 'failed', 'trash']);
const PAID_STATUSES = new Set(['processing', 'completed']);

const digits = z.string().trim().regex(/^\d+$/, 'Expected a whole number').transform(Number);
const wholeNumber = z.union([z.number(), digits]).pipe(z.number().int().nonnegative());
const positive = z.union([z.number(), digits]).pipe(z.number().int().min(1));
/** `*_gmt` dates: UTC without a zone suffix, or null/empty when unset. */
const gmtDate = z
  .string()
  .nullish()
  .refine((v) => !v?.trim() || toIsoUtc(v) !== null, 'Expected a date like 2017-03-22T19:28:08')
  .transform((v) => (v?.trim() ? toIsoUtc(v) : null));
const optionalText = z.string().nullish();

const lineSchema = z.object({
  id: wholeNumber,
  name: optionalText,
  product_id: wholeNumber.nullish(),
  variation_id: wholeNumber.nullish(),
  quantity: positive,
  sku: z.union([z.string(), z.number()]).nullish(),
});

const orderSchema = z.object({
  id: positive,
  status: z.string().trim().min(1, 'Expected an order status'),
  date_paid_gmt: gmtDate,
  date_modified_gmt: gmtDate,
  billing: z.object({ email: optionalText, first_name: optionalText, last_name: optionalText }).nullish(),
  line_items: z.array(lineSchema).nullish(),
});

const deletedSchema = z.object({ id: positive });

export function parseWooOrder(json: unknown, input: { source: string; topic: string | null }): ExternalOrder {
  if (input.topic === 'order.deleted' || isOnlyId(json)) {
    const { id } = validate(deletedSchema, json);
    return {
      source: input.source,
      externalId: String(id),
      state: 'ended',
      platformStatus: 'deleted',
      modifiedAt: null,
      customer: null,
      lines: [],
    };
  }
  const order = validate(orderSchema, json);
  const state = stateOf(order.status, order.date_paid_gmt);
  const email = order.billing?.email?.trim() ?? '';
  // Unpaid drafts (block checkout) can arrive before the buyer typed an email; only a paid order needs one.
  if (email === '' && state === 'paid') invalid('billing.email', 'A paid order needs a billing email');
  if (email !== '' && !/^[^\s@]+@[^\s@]+$/.test(email)) invalid('billing.email', 'Invalid billing email');
  return {
    source: input.source,
    externalId: String(order.id),
    state,
    platformStatus: order.status,
    modifiedAt: order.date_modified_gmt,
    customer:
      email === ''
        ? null
        : {
            email,
            firstName: nameOrNull(order.billing?.first_name),
            lastName: nameOrNull(order.billing?.last_name),
          },
    lines: (order.line_items ?? []).map(toLine),
  };
}

function stateOf(status: string, paidAt: string | null): ExternalOrderState {
  if (ENDED_STATUSES.has(status)) return 'ended';
  return PAID_STATUSES.has(status) && paidAt !== null ? 'paid' : 'pending';
}

function toLine(item: z.infer<typeof lineSchema>): ExternalLine {
  const keys: ExternalLine['keys'] = [];
  if (item.variation_id) keys.push({ kind: 'woocommerce_variation', value: String(item.variation_id) });
  // product_id is 0 when the product was deleted from the store after the sale.
  if (item.product_id) keys.push({ kind: 'woocommerce_product', value: String(item.product_id) });
  const sku = item.sku == null ? '' : String(item.sku).trim();
  if (sku !== '') keys.push({ kind: 'woocommerce_sku', value: sku });
  return {
    lineId: String(item.id),
    quantity: item.quantity,
    description: decodeHtmlEntities(item.name ?? '').trim(),
    keys,
  };
}

function nameOrNull(value: string | null | undefined): string | null {
  const name = decodeHtmlEntities(value ?? '').trim();
  return name === '' ? null : name;
}

function isOnlyId(json: unknown): boolean {
  return (
    typeof json === 'object' && json !== null && !Array.isArray(json) && Object.keys(json).join() === 'id'
  );
}

function validate<T>(schema: z.ZodType<T>, json: unknown): T {
  const result = schema.safeParse(json);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue && issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)';
  // Zod's messages name the expected type, never the received value, so no body content leaks.
  return invalid(path, issue?.message ?? 'Invalid value');
}

function invalid(path: string, reason: string): never {
  throw new AppError('INVALID_REQUEST', {
    message: `Invalid WooCommerce order payload at ${path}: ${reason}.`,
    detail: { path },
  });
}

/** WooCommerce `*_gmt` dates carry no zone suffix; read them as UTC. Returns ISO with `Z`, or null if unparseable. */
function toIsoUtc(value: string): string | null {
  const text = value.trim().replace(' ', 'T');
  const zoned = /(Z|[+-]\d{2}:?\d{2})$/i.test(text) ? text : `${text}Z`;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?/.test(zoned)) return null;
  const ms = Date.parse(zoned);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

const ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: '\u00a0',
  ndash: '\u2013',
  mdash: '\u2014',
};

/**
 * WooCommerce stores names HTML-escaped (`Ship Your Idea &ndash; Color: Black`). Decode the common named
 * entities and numeric ones in a single pass (so `&amp;lt;` stays `&lt;`); unknown entities are left as is.
 * The result is plain text: whoever renders it into HTML must escape it again.
 */
function decodeHtmlEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]{1,6}|#\d{1,7}|[a-z]+);/gi, (entity, name: string) => {
    if (name.startsWith('#')) {
      const code =
        name[1] === 'x' || name[1] === 'X' ? Number.parseInt(name.slice(2), 16) : Number(name.slice(1));
      // Control characters and lone surrogates are left encoded: a name never needs them.
      const valid =
        code >= 0x20 &&
        code <= 0x10ffff &&
        !(code >= 0x7f && code < 0xa0) &&
        !(code >= 0xd800 && code <= 0xdfff);
      return valid ? String.fromCodePoint(code) : entity;
    }
    return ENTITIES[name.toLowerCase()] ?? entity;
  });
}
