import { join } from 'node:path';
import { createFileMailer } from '../adapters/email/file-mailer.ts';
import { createSMTPMailer } from '../adapters/email/smtp-mailer.ts';
import type { MailSettings, MessagingSettings } from '../domain/integrations/messaging.ts';
import type { Mailer } from '../domain/ports.ts';

/**
 * The mailer for the current mail settings: rebuilt when they change here, and re-read every few
 * seconds so a `mail use` run from the CLI reaches a running server.
 */
export function createMailTransport(settings: MessagingSettings, dataDir: string, cacheMs = 10_000) {
  let cached: { at: number; signature: string; mailer: Mailer; settings: MailSettings } | null = null;
  settings.onChange(() => {
    if (cached) cached.at = Number.NEGATIVE_INFINITY;
  });

  async function current() {
    if (cached && Date.now() - cached.at < cacheMs) return cached;
    const mail = await settings.mail();
    const signature = JSON.stringify(mail);
    if (cached && cached.signature === signature) {
      cached.at = Date.now();
      return cached;
    }
    const mailer =
      mail.transport === 'smtp' && mail.smtp
        ? createSMTPMailer({
            host: mail.smtp.host,
            port: mail.smtp.port,
            secure: mail.smtp.secure,
            user: mail.smtp.user ?? undefined,
            password: mail.smtp.user ? ((await settings.smtpPassword()) ?? undefined) : undefined,
            from: mail.from,
          })
        : createFileMailer(join(dataDir, 'mail'), mail.from);
    const previous = cached;
    cached = { at: Date.now(), signature, mailer, settings: mail };
    await previous?.mailer.close();
    return cached;
  }

  return {
    current,
    async close() {
      await cached?.mailer.close();
      cached = null;
    },
  };
}

export type MailTransport = ReturnType<typeof createMailTransport>;
