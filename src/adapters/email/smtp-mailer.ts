import nodemailer from 'nodemailer';
import type { Mailer } from '../../domain/ports.ts';

export interface SMTPSettings {
  host: string;
  port: number;
  /** Implicit TLS (port 465); otherwise STARTTLS is used when the server offers it. */
  secure: boolean;
  user?: string | undefined;
  password?: string | undefined;
  from: string;
}

/** E-mail over SMTP with nodemailer; retries are the outbox's job, so the transport never retries. */
export function createSMTPMailer(settings: SMTPSettings): Mailer {
  const transport = nodemailer.createTransport({
    host: settings.host,
    port: settings.port,
    secure: settings.secure,
    ...(settings.user ? { auth: { user: settings.user, pass: settings.password ?? '' } } : {}),
    // A few kept-open connections: the outbox delivers several messages at once.
    pool: true,
    maxConnections: 4,
    connectionTimeout: 15_000,
    socketTimeout: 30_000,
  });
  return {
    async send(message) {
      await transport.sendMail({
        from: settings.from,
        to: message.to,
        subject: message.subject,
        text: message.text,
        html: message.html,
        messageId: message.messageId,
      });
    },
    async check() {
      await transport.verify();
    },
    async close() {
      transport.close();
    },
  };
}
