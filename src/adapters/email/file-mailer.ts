import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import type { Mailer } from '../../domain/ports.ts';

/**
 * The embedded default: every message becomes an RFC 5322 `.eml` file under `dir`, named after its
 * Message-ID, so a fresh install shows exactly what it would send. Writing is idempotent: a redelivered
 * message replaces its own file instead of adding a second one.
 */
export function createFileMailer(dir: string, from: string): Mailer {
  const builder = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    async send(message) {
      const info = await builder.sendMail({
        from,
        to: message.to,
        subject: message.subject,
        text: message.text,
        html: message.html,
        messageId: message.messageId,
      });
      await mkdir(dir, { recursive: true });
      const name = message.messageId.replace(/[<>]/g, '').replace(/[^A-Za-z0-9._@-]/g, '_');
      const target = join(dir, `${name}.eml`);
      const temp = `${target}.${randomUUID()}.part`;
      try {
        await writeFile(temp, info.message as Buffer, { mode: 0o600 });
        await rename(temp, target);
      } finally {
        await rm(temp, { force: true });
      }
    },
    async check() {
      await mkdir(dir, { recursive: true });
    },
    async close() {},
  };
}
