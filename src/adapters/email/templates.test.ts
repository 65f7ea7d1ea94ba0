import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Mustache from 'mustache';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTemplateRenderer, type MailContext, type TemplateName } from './templates.ts';

const context: MailContext = {
  seller: { name: 'Acme & Co', logo_url: 'https://acme.test/logo.png', support_email: 'help@acme.test' },
  customer: { name: 'Ann <script>alert(1)</script>', email: 'ann@example.com' },
  order: { id: 'ord_1', reference: '#1001' },
  products: [{ name: 'Pro Plugin' }],
  access: [{ product: 'Pro Plugin', url: 'https://dl.test/a/tok1' }],
  downloads: [{ product: 'Pro Plugin', file: 'pro-1.2.zip', url: 'https://dl.test/d/tok2' }],
  licenses: [{ product: 'Pro Plugin', key: 'ABCD-EFGH-IJKL', expires_at: '2026-01-31T00:00:00.000Z' }],
  portal_url: 'https://dl.test/portal/tok3',
  license: { product: 'Pro Plugin', key_hint: '…IJKL', expires_at: '2026-01-31T00:00:00.000Z' },
};

const NAMES: TemplateName[] = ['order_delivered', 'links_resent', 'license_expiring', 'license_revoked'];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cloudsecure-templates-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('e-mail templates', () => {
  const renderer = createTemplateRenderer({ overridesDir: null });

  it.each(NAMES)('%s renders a subject, a text and an html part', (name) => {
    const mail = renderer.render(name, context);
    expect(mail.subject.length).toBeGreaterThan(5);
    expect(mail.text).toContain('Hi Ann');
    expect(mail.html).toContain('<img src="https:&#x2F;&#x2F;acme.test&#x2F;logo.png"');
    expect(mail.html).toContain('Acme &amp; Co');
    expect(mail.text).not.toMatch(/\n{3,}/);
  });

  it('order_delivered shows access, downloads and keys; links_resent shows the links only', () => {
    const delivered = renderer.render('order_delivered', context);
    expect(delivered.subject).toBe('Your purchase from Acme & Co (order #1001)');
    for (const part of [delivered.text, delivered.html]) {
      expect(part).toContain('pro-1.2.zip');
      expect(part).toContain('ABCD-EFGH-IJKL');
      expect(part).toContain('2026-01-31');
    }
    expect(delivered.text).toContain('https://dl.test/a/tok1');
    expect(delivered.html).toMatch(/<code style="[^"]*monospace[^"]*">ABCD-EFGH-IJKL<\/code>/);
    const resent = renderer.render('links_resent', context);
    expect(resent.text).toContain('https://dl.test/d/tok2');
    expect(resent.text).not.toContain('ABCD-EFGH-IJKL');
  });

  it('license_expiring and license_revoked name the product, key hint and support', () => {
    const expiring = renderer.render('license_expiring', context);
    expect(expiring.text).toContain('…IJKL');
    expect(expiring.text).toContain('2026-01-31');
    expect(expiring.text).toContain('renew');
    const revoked = renderer.render('license_revoked', { ...context, license: null });
    expect(revoked.subject).toBe('Your access has ended');
    expect(revoked.text).toContain('- Pro Plugin');
    expect(revoked.text).toContain('help@acme.test');
  });

  it('escapes names in html but leaves them plain in the text and subject', () => {
    const mail = renderer.render('license_revoked', {
      ...context,
      license: { product: '<b>Tool</b> & "More"', key_hint: '…IJKL', expires_at: null },
    });
    expect(mail.html).toContain('Hi Ann &lt;script&gt;alert(1)&lt;&#x2F;script&gt;,');
    expect(mail.html).not.toContain('<script>');
    expect(mail.text).toContain('Hi Ann <script>alert(1)</script>,');
    expect(mail.subject).toBe('Your access to <b>Tool</b> & "More" has ended');
    // Plain rendering is per call: the global escape is untouched.
    expect(Mustache.render('{{x}}', { x: '<' })).toBe('&lt;');
  });

  it('strips line breaks from the subject (no header injection)', () => {
    const mail = renderer.render('links_resent', {
      ...context,
      seller: { ...context.seller, name: 'Acme\r\nBcc: victim@example.com' },
    });
    expect(mail.subject).toBe('Your links from Acme Bcc: victim@example.com');
    expect(mail.subject).not.toMatch(/[\r\n]/);
  });

  it('an override file replaces just that part', async () => {
    await writeFile(join(dir, 'order_delivered.text.mustache'), 'Thanks {{customer.name}}!\n{{> licenses}}');
    await writeFile(
      join(dir, 'order_delivered.subject.mustache'),
      'Order {{order.reference}}\nfrom {{seller.name}}\n',
    );
    const custom = createTemplateRenderer({ overridesDir: dir });
    const mail = custom.render('order_delivered', context);
    expect(mail.text).toBe(
      'Thanks Ann <script>alert(1)</script>!\nLicense keys:\n- Pro Plugin: ABCD-EFGH-IJKL (valid until 2026-01-31)\n\n',
    );
    expect(mail.subject).toBe('Order #1001 from Acme & Co');
    expect(mail.html).toBe(renderer.render('order_delivered', context).html);
    expect(custom.render('links_resent', context)).toStrictEqual(renderer.render('links_resent', context));
  });

  it('refuses a template name that is not one of ours', () => {
    expect(() => renderer.render('../../etc/passwd' as TemplateName, context)).toThrow(
      'Unknown e-mail template',
    );
  });
});
