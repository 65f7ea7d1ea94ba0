import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Mustache from 'mustache';

/**
 * Customer e-mails, rendered with mustache. A seller overrides one part of one template by placing
 * `<name>.subject.mustache`, `<name>.text.mustache` or `<name>.html.mustache` in the overrides directory.
 * The view is `MailContext`, plus `expires_on` (YYYY-MM-DD) beside each `expires_at`. Overrides may use the
 * partials `{{> header}}`, `{{> greeting}}`, `{{> access}}`, `{{> downloads}}`, `{{> licenses}}` and
 * `{{> footer}}` (HTML versions in html, plain ones in text). `{{x}}` is HTML-escaped in html only; the
 * subject and text are plain text and rendered without escaping.
 */

export type TemplateName = 'order_delivered' | 'links_resent' | 'license_expiring' | 'license_revoked';

export interface MailContext {
  seller: { name: string; logo_url: string | null; support_email: string | null };
  customer: { name: string | null; email: string };
  order: { id: string; reference: string } | null;
  products: { name: string }[];
  access: { product: string; url: string }[];
  downloads: { product: string; file: string; url: string }[];
  licenses: { product: string; key: string; expires_at: string | null }[];
  portal_url: string | null;
  license: { product: string; key_hint: string; expires_at: string | null } | null;
}

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

export interface TemplateRenderer {
  render(name: TemplateName, context: MailContext): RenderedMail;
}

type Part = keyof RenderedMail;

const A = 'style="color:#2563eb"';
const H = 'style="font-size:15px;margin:20px 0 8px"';

const HTML_PARTIALS: Record<string, string> = {
  header: `<div style="margin-bottom:20px">{{#seller.logo_url}}<img src="{{seller.logo_url}}" alt="{{seller.name}}" style="max-height:48px;display:block;margin-bottom:8px">{{/seller.logo_url}}<strong style="font-size:18px">{{seller.name}}</strong></div>`,
  greeting:
    '<p>{{#customer.name}}Hi {{customer.name}},{{/customer.name}}{{^customer.name}}Hello,{{/customer.name}}</p>',
  access: `{{#access.length}}<h2 ${H}>Your access</h2><ul>{{#access}}<li><a href="{{url}}" ${A}>{{product}}</a></li>{{/access}}</ul>{{/access.length}}`,
  downloads: `{{#downloads.length}}<h2 ${H}>Downloads</h2><ul>{{#downloads}}<li>{{product}}: <a href="{{url}}" ${A}>{{file}}</a></li>{{/downloads}}</ul>{{/downloads.length}}`,
  licenses: `{{#licenses.length}}<h2 ${H}>License keys</h2><ul>{{#licenses}}<li>{{product}}: <code style="font-family:Menlo,Consolas,monospace;background:#f3f4f6;padding:2px 6px;border-radius:4px">{{key}}</code>{{#expires_on}} (valid until {{expires_on}}){{/expires_on}}</li>{{/licenses}}</ul>{{/licenses.length}}`,
  footer: `{{#portal_url}}<p>All your purchases are always available at <a href="{{portal_url}}" ${A}>{{portal_url}}</a>.</p>{{/portal_url}}{{#seller.support_email}}<p style="color:#6b7280;font-size:13px">Questions? Write to <a href="mailto:{{seller.support_email}}" ${A}>{{seller.support_email}}</a>.</p>{{/seller.support_email}}`,
};

const TEXT_PARTIALS: Record<string, string> = {
  header: '{{seller.name}}\n',
  greeting:
    '{{#customer.name}}Hi {{customer.name}},{{/customer.name}}{{^customer.name}}Hello,{{/customer.name}}\n\n',
  access:
    '{{#access.length}}Your access:\n{{#access}}- {{product}}: {{url}}\n{{/access}}\n\n{{/access.length}}',
  downloads:
    '{{#downloads.length}}Downloads:\n{{#downloads}}- {{product}}, {{file}}: {{url}}\n{{/downloads}}\n\n{{/downloads.length}}',
  licenses:
    '{{#licenses.length}}License keys:\n{{#licenses}}- {{product}}: {{key}}{{#expires_on}} (valid until {{expires_on}}){{/expires_on}}\n{{/licenses}}\n\n{{/licenses.length}}',
  footer:
    '{{#portal_url}}All your purchases are always available at {{portal_url}}\n{{/portal_url}}{{#seller.support_email}}Questions? Write to {{seller.support_email}}\n{{/seller.support_email}}\n\n',
};

function html(body: string): string {
  return `<!doctype html><html><body style="margin:0;padding:24px;background:#f4f5f7"><div style="max-width:560px;margin:0 auto;background:#ffffff;border-radius:8px;padding:24px;font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:15px;line-height:1.5;color:#1f2937">{{> header}}{{> greeting}}${body}{{> footer}}</div></body></html>`;
}

/** The body's paragraphs end in a blank line; `render` collapses runs of blank lines. */
function text(body: string): string {
  return `{{> greeting}}${body}{{> footer}}{{> header}}`;
}

const BUILT_IN: Record<TemplateName, RenderedMail> = {
  order_delivered: {
    subject: 'Your purchase from {{seller.name}}{{#order}} (order {{reference}}){{/order}}',
    text: text(
      'Thank you for your purchase! Everything you need is below.\n\n{{> access}}{{> downloads}}{{> licenses}}',
    ),
    html: html(
      '<p>Thank you for your purchase! Everything you need is below.</p>{{> access}}{{> downloads}}{{> licenses}}',
    ),
  },
  links_resent: {
    subject: 'Your links from {{seller.name}}',
    text: text('As requested, here are your links again.\n\n{{> access}}{{> downloads}}'),
    html: html('<p>As requested, here are your links again.</p>{{> access}}{{> downloads}}'),
  },
  license_expiring: {
    subject: 'Your {{license.product}} license expires soon',
    text: text(
      '{{#license}}Your license for {{product}} (key {{key_hint}}){{#expires_on}} expires on {{expires_on}}{{/expires_on}}{{^expires_on}} expires soon{{/expires_on}}.\n\n{{/license}}Please renew it to keep receiving updates and support.\n\n',
    ),
    html: html(
      '{{#license}}<p>Your license for <strong>{{product}}</strong> (key <code style="font-family:Menlo,Consolas,monospace">{{key_hint}}</code>){{#expires_on}} expires on <strong>{{expires_on}}</strong>{{/expires_on}}{{^expires_on}} expires soon{{/expires_on}}.</p>{{/license}}<p>Please renew it to keep receiving updates and support.</p>',
    ),
  },
  license_revoked: {
    subject: 'Your access {{#license}}to {{product}} {{/license}}has ended',
    text: text(
      'Your access has ended for:\n{{#license}}- {{product}} (key {{key_hint}})\n{{/license}}{{^license}}{{#products}}- {{name}}\n{{/products}}{{/license}}\n\nThe related download links and license keys no longer work. If you think this is a mistake, please contact {{#seller.support_email}}{{seller.support_email}}{{/seller.support_email}}{{^seller.support_email}}{{seller.name}}{{/seller.support_email}}.\n\n',
    ),
    html: html(
      '<p>Your access has ended for:</p><ul>{{#license}}<li>{{product}} (key <code style="font-family:Menlo,Consolas,monospace">{{key_hint}}</code>)</li>{{/license}}{{^license}}{{#products}}<li>{{name}}</li>{{/products}}{{/license}}</ul><p>The related download links and license keys no longer work. If you think this is a mistake, please contact {{#seller.support_email}}<a href="mailto:{{seller.support_email}}" style="color:#2563eb">{{seller.support_email}}</a>{{/seller.support_email}}{{^seller.support_email}}{{seller.name}}{{/seller.support_email}}.</p>',
    ),
  },
};

/** Per-call config: no escaping for plain-text parts, without touching Mustache's global `escape`. */
const PLAIN = { escape: (value: unknown): string => String(value) };

export function createTemplateRenderer(options: { overridesDir: string | null }): TemplateRenderer {
  function source(name: TemplateName, part: Part): string {
    if (options.overridesDir === null) return BUILT_IN[name][part];
    try {
      return readFileSync(join(options.overridesDir, `${name}.${part}.mustache`), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return BUILT_IN[name][part];
      throw error;
    }
  }

  return {
    render(name, context) {
      // The name may come from a stored outbox payload: never let it pick an arbitrary file.
      if (!Object.hasOwn(BUILT_IN, name)) throw new Error(`Unknown e-mail template: ${name}`);
      const view = withDates(context);
      const subject = Mustache.render(source(name, 'subject'), view, TEXT_PARTIALS, PLAIN);
      return {
        // One line only: a CR/LF in a subject would let a product or customer name inject headers.
        subject: subject.replace(/[\r\n\u2028\u2029]+/g, ' ').trim(),
        text: Mustache.render(source(name, 'text'), view, TEXT_PARTIALS, PLAIN).replace(/\n{3,}/g, '\n\n'),
        html: Mustache.render(source(name, 'html'), view, HTML_PARTIALS),
      };
    },
  };
}

/** Adds `expires_on` (the date part) beside each ISO `expires_at`, for friendlier mails. */
function withDates(context: MailContext): object {
  const day = (iso: string | null): string | null => (iso === null ? null : iso.slice(0, 10));
  return {
    ...context,
    licenses: context.licenses.map((l) => ({ ...l, expires_on: day(l.expires_at) })),
    license: context.license && { ...context.license, expires_on: day(context.license.expires_at) },
  };
}
