import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileMailer } from '../src/adapters/email/file-mailer.ts';
import { createSMTPMailer } from '../src/adapters/email/smtp-mailer.ts';
import type { MailMessage } from '../src/domain/ports.ts';

interface Received {
  from: string;
  to: string[];
  data: string;
  user: string | undefined;
}

const received: Received[] = [];
let server: SMTPServer;
let port: number;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cloudsecure-mail-'));
  server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === 'seller' && auth.password === 's3cret') callback(null, { user: auth.username });
      else callback(new Error('Invalid username or password'));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          data: Buffer.concat(chunks).toString('utf8'),
          user: typeof session.user === 'string' ? session.user : undefined,
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

const message: MailMessage = {
  to: 'ada@example.com',
  subject: 'Your download: Über Guide',
  text: 'Hello Ada, here is your link.',
  html: '<p>Hello Ada, here is your <a href="https://dl.example.com/a/x">link</a>.</p>',
  messageId: '<order-42.delivered@cloudsecure>',
};

describe('SMTP mailer', () => {
  it('delivers text and HTML parts with the stable Message-ID to a real SMTP server, authenticating', async () => {
    const mailer = createSMTPMailer({
      host: '127.0.0.1',
      port,
      secure: false,
      user: 'seller',
      password: 's3cret',
      from: 'Shop <shop@example.com>',
    });
    await mailer.check();
    await mailer.send(message);
    await mailer.close();
    const mail = received.at(-1)!;
    expect(mail).toMatchObject({ from: 'shop@example.com', to: ['ada@example.com'], user: 'seller' });
    expect(mail.data).toContain('Message-ID: <order-42.delivered@cloudsecure>');
    expect(mail.data).toContain('multipart/alternative');
    expect(mail.data).toContain('Hello Ada, here is your link.');
  });

  it('fails clearly on wrong credentials, so the outbox retries and records why', async () => {
    const mailer = createSMTPMailer({
      host: '127.0.0.1',
      port,
      secure: false,
      user: 'seller',
      password: 'nope',
      from: 'shop@example.com',
    });
    await expect(mailer.send(message)).rejects.toThrow(/Invalid username or password/);
    await mailer.close();
  });
});

describe('file mailer (embedded default)', () => {
  it('writes one .eml per Message-ID, replacing it on a redelivery', async () => {
    const mailer = createFileMailer(dir, 'Shop <shop@example.com>');
    await mailer.send(message);
    await mailer.send(message);
    const files = await readdir(dir);
    expect(files).toEqual(['order-42.delivered@cloudsecure.eml']);
    const eml = await readFile(join(dir, files[0]!), 'utf8');
    expect(eml).toContain('To: ada@example.com');
    expect(eml).toContain('Message-ID: <order-42.delivered@cloudsecure>');
    expect(eml).toContain('Content-Type: text/html');
  });
});
