import { randomBytes } from 'node:crypto';
import type { CoreDeps } from '../core-deps.ts';
import { AppError } from '../errors.ts';
import { maskSecret } from '../storage/storage-settings.ts';
import { parseHttpUrl } from './connections.ts';
import { WEBHOOK_EVENTS, type WebhookEndpoint, type WebhookEvent } from './model.ts';
import { BREVO_SETTING } from './side-effects.ts';

export const MAIL_SETTING = 'mail';
const SMTP_SECRET = 'mail-smtp';
const BREVO_SECRET = 'brevo';

/** How e-mail leaves: `.eml` files under the data dir (a fresh install) or SMTP. */
export interface MailSettings {
  transport: 'file' | 'smtp';
  smtp: { host: string; port: number; secure: boolean; user: string | null } | null;
  from: string;
  seller: { name: string; logoUrl: string | null; supportEmail: string | null };
}

export const DEFAULT_MAIL: MailSettings = {
  transport: 'file',
  smtp: null,
  from: 'CloudSecure <no-reply@localhost>',
  seller: { name: 'CloudSecure', logoUrl: null, supportEmail: null },
};

export interface BrevoSettings {
  enabled: boolean;
  apiBase: string | null;
  listId: number | null;
  templateId: number | null;
}

function positiveInt(value: number | null, path: string): number | null {
  if (value === null) return null;
  if (!Number.isInteger(value) || value < 1) {
    throw new AppError('INVALID_REQUEST', {
      message: `${path} must be a positive whole number.`,
      detail: { path },
    });
  }
  return value;
}

function address(value: string, path: string): string {
  const trimmed = value.trim();
  if (!trimmed || trimmed.length > 320 || /[\r\n]/.test(trimmed) || !trimmed.includes('@')) {
    throw new AppError('INVALID_REQUEST', {
      message: `${path} must be an e-mail address.`,
      detail: { path },
    });
  }
  return trimmed;
}

/**
 * Mail transport and branding, the optional Brevo integration and the seller's webhook endpoints.
 * Passwords, API keys and signing secrets are sealed; `onChange` lets cached clients be rebuilt.
 */
export function createMessagingSettings(deps: CoreDeps) {
  const repos = deps.uow.repos;
  const listeners: (() => void)[] = [];
  const changed = () => {
    for (const listener of listeners) listener();
  };

  async function seal(id: string, purpose: string, value: string): Promise<void> {
    await repos.secrets.upsert({
      id,
      purpose,
      ciphertext: deps.secrets.seal(value, id),
      hint: maskSecret(value),
    });
  }
  async function unseal(id: string): Promise<string | null> {
    const sealed = await repos.secrets.findById(id);
    return sealed ? deps.secrets.open(sealed.ciphertext, sealed.id) : null;
  }

  async function mail(): Promise<MailSettings> {
    const raw = await repos.settings.get(MAIL_SETTING);
    return raw ? { ...DEFAULT_MAIL, ...(JSON.parse(raw) as Partial<MailSettings>) } : DEFAULT_MAIL;
  }
  async function saveMail(settings: MailSettings) {
    await repos.settings.set(MAIL_SETTING, JSON.stringify(settings));
    changed();
    return describeMail();
  }
  async function describeMail() {
    const m = await mail();
    const hint = m.smtp?.user ? ((await repos.secrets.findById(SMTP_SECRET))?.hint ?? null) : null;
    return {
      transport: m.transport,
      smtp: m.smtp,
      from: m.from,
      seller: { name: m.seller.name, logo_url: m.seller.logoUrl, support_email: m.seller.supportEmail },
      password_hint: hint,
    };
  }

  async function brevo(): Promise<BrevoSettings | null> {
    const raw = await repos.settings.get(BREVO_SETTING);
    return raw ? (JSON.parse(raw) as BrevoSettings) : null;
  }

  return {
    onChange(listener: () => void) {
      listeners.push(listener);
    },
    mail,
    describeMail,
    smtpPassword: () => unseal(SMTP_SECRET),
    async useSMTP(input: {
      host: string;
      port: number;
      secure: boolean;
      user: string | null;
      password: string | null;
      from: string;
    }) {
      if (!input.host.trim() || !Number.isInteger(input.port) || input.port < 1 || input.port > 65_535) {
        throw new AppError('INVALID_REQUEST', { message: 'Give an SMTP --host and a --port of 1-65535.' });
      }
      if (input.user && input.password === null) {
        throw new AppError('INVALID_REQUEST', {
          message: 'An SMTP user needs a password (--password-stdin).',
        });
      }
      if (input.user && input.password !== null) await seal(SMTP_SECRET, 'smtp', input.password);
      const current = await mail();
      return saveMail({
        ...current,
        transport: 'smtp',
        smtp: { host: input.host.trim(), port: input.port, secure: input.secure, user: input.user || null },
        from: address(input.from, 'from'),
      });
    },
    async useFile(input: { from?: string | undefined }) {
      const current = await mail();
      return saveMail({
        ...current,
        transport: 'file',
        ...(input.from ? { from: address(input.from, 'from') } : {}),
      });
    },
    async brand(input: {
      name?: string | undefined;
      logoUrl?: string | undefined;
      supportEmail?: string | undefined;
    }) {
      const current = await mail();
      const seller = { ...current.seller };
      if (input.name !== undefined) seller.name = input.name.trim().slice(0, 200) || DEFAULT_MAIL.seller.name;
      if (input.logoUrl !== undefined) {
        if (input.logoUrl && !/^https?:\/\//.test(input.logoUrl)) {
          throw new AppError('INVALID_REQUEST', {
            message: 'logo_url must be an http(s) URL.',
            detail: { path: 'logo_url' },
          });
        }
        seller.logoUrl = input.logoUrl || null;
      }
      if (input.supportEmail !== undefined) {
        seller.supportEmail = input.supportEmail ? address(input.supportEmail, 'support_email') : null;
      }
      return saveMail({ ...current, seller });
    },

    brevo,
    brevoApiKey: () => unseal(BREVO_SECRET),
    async connectBrevo(input: {
      apiKey: string;
      listId: number | null;
      templateId: number | null;
      apiBase: string | null;
    }) {
      if (!input.apiKey.trim()) throw new AppError('INVALID_REQUEST', { message: 'Give --api-key.' });
      const settings: BrevoSettings = {
        enabled: true,
        apiBase: input.apiBase?.replace(/\/+$/, '') || null,
        listId: positiveInt(input.listId, 'list_id'),
        templateId: positiveInt(input.templateId, 'template_id'),
      };
      await seal(BREVO_SECRET, 'brevo', input.apiKey.trim());
      await repos.settings.set(BREVO_SETTING, JSON.stringify(settings));
      changed();
      return {
        enabled: true,
        api_base: settings.apiBase,
        list_id: settings.listId,
        template_id: settings.templateId,
        api_key_hint: (await repos.secrets.findById(BREVO_SECRET))?.hint ?? '',
      };
    },
    async disconnectBrevo() {
      const current = await brevo();
      if (current) await repos.settings.set(BREVO_SETTING, JSON.stringify({ ...current, enabled: false }));
      changed();
      return { enabled: false };
    },

    async addWebhook(input: { url: string; events: string[] }) {
      const url = parseHttpUrl(input.url, 'url');
      const events = input.events.length === 0 ? [...WEBHOOK_EVENTS] : input.events;
      for (const event of events) {
        if (!(WEBHOOK_EVENTS as readonly string[]).includes(event)) {
          throw new AppError('INVALID_REQUEST', {
            message: `Unknown event "${event}"; use ${WEBHOOK_EVENTS.join(', ')}.`,
            detail: { path: 'events' },
          });
        }
      }
      const endpoint: WebhookEndpoint = {
        id: deps.newId(),
        url: url.toString(),
        events: [...new Set(events)] as WebhookEvent[],
        createdAt: deps.clock.now().toISOString(),
      };
      const secret = `whsec_${randomBytes(24).toString('base64url')}`;
      await seal(`webhook:${endpoint.id}`, 'webhook', secret);
      await repos.webhookEndpoints.insert(endpoint);
      // The only time the secret is shown: the seller needs it to verify our signatures.
      return { id: endpoint.id, url: endpoint.url, events: endpoint.events, secret };
    },
    listWebhooks: () => repos.webhookEndpoints.list(),
    async removeWebhook(id: string) {
      if (!(await repos.webhookEndpoints.remove(id))) {
        throw new AppError('NOT_FOUND', { message: `No webhook endpoint ${id}.` });
      }
      return { id, removed: true };
    },
    async webhookEndpoint(id: string) {
      const endpoint = await repos.webhookEndpoints.findById(id);
      const secret = endpoint ? await unseal(`webhook:${id}`) : null;
      return endpoint && secret ? { endpoint, secret } : undefined;
    },
  };
}

export type MessagingSettings = ReturnType<typeof createMessagingSettings>;
