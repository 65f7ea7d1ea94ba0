import { AppError } from '../errors.ts';

export const PRODUCT_DEFAULTS = { downloadLimit: 5, linkTtlSeconds: 24 * 3600, accessDays: 30 } as const;

const SLUG_RE = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;

export function slugify(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64)
    .replace(/-+$/, '');
  return slug || 'product';
}

export function assertSlug(slug: string): string {
  if (!SLUG_RE.test(slug)) {
    throw new AppError('INVALID_REQUEST', {
      message: 'slug must be 1-64 lower-case letters, digits and inner hyphens.',
      detail: { path: 'slug' },
    });
  }
  return slug;
}

/**
 * The name shown to buyers and sent in Content-Disposition. It is never used as a path (objects are
 * stored under random keys), but directory parts, control characters and leading dots are removed so
 * that "../../etc/passwd" becomes "passwd" and a browser never offers a hidden or odd name. Bidi
 * controls go too: "invoice\u202Efdp.exe" would otherwise display as "invoiceexe.pdf".
 */
export function sanitizeFileName(raw: string): string {
  const base = raw.split(/[\\/]/).pop() ?? '';
  const cleaned = base
    // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
    .replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g, '');
  // Cut by code points (never inside a surrogate pair), then trim what the cut may have exposed.
  const limited = [...trimName(cleaned)].slice(0, 200).join('');
  return trimName(limited) || 'file';
}

function trimName(name: string): string {
  return name.replace(/^[.\s]+|[.\s]+$/g, '');
}

export function assertLimit(value: number, field: string, max: number): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new AppError('INVALID_REQUEST', {
      message: `${field} must be a whole number from 0 to ${max}.`,
      detail: { path: field },
    });
  }
  return value;
}
