import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type BrevoStandIn, startBrevoStandIn } from '../../../tests/helpers/brevo-standin.ts';
import { PermanentDeliveryError } from '../../domain/outbox/outbox.ts';
import { type BrevoClient, createBrevoClient } from './brevo-client.ts';

const API_KEY = 'xkeysib-test-0123456789abcdef';
const sender = { email: 'shop@seller.test', name: 'Seller Shop' };
const to = { email: 'ann@example.com', name: 'Ann Buyer' };

let brevo: BrevoStandIn;
let client: BrevoClient;

beforeAll(async () => {
  brevo = await startBrevoStandIn({ apiKey: API_KEY });
  client = createBrevoClient({ apiKey: API_KEY, apiBase: brevo.apiBase });
});
afterAll(() => brevo.close());
beforeEach(() => {
  brevo.requests.length = 0;
});

async function rejection(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(error instanceof Error)) throw new Error('expected a rejection with an Error');
  return error;
}

describe('Brevo client', () => {
  it('sends the api-key; a wrong key is permanent and never echoed', async () => {
    const wrongKey = 'xkeysib-wrong-fedcba9876543210';
    const wrong = createBrevoClient({ apiKey: wrongKey, apiBase: brevo.apiBase });
    const error = await rejection(
      wrong.upsertContact({ ...to, firstName: null, lastName: null, products: [], listId: null }),
    );
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect(error.message).toContain('401');
    expect(error.message).toContain('unauthorized');
    expect(error.message).not.toContain(wrongKey);
    expect(brevo.requests[0]?.headers['api-key']).toBe(wrongKey);
    expect(brevo.requests[0]?.headers['content-type']).toBe('application/json');
    expect(brevo.requests[0]?.headers.accept).toBe('application/json');
  });

  it('creates a contact (201), then updates it (204), sending only name, e-mail and products', async () => {
    const input = {
      email: 'cleo@example.com',
      firstName: 'Cleo',
      lastName: 'Buyer',
      products: ['Pro Plugin', 'Theme'],
      listId: 7,
    };
    await client.upsertContact(input);
    await client.upsertContact({
      ...input,
      firstName: null,
      lastName: null,
      products: ['Pro Plugin'],
      listId: null,
    });
    expect(brevo.requests).toHaveLength(2);
    // The privacy policy lists what Brevo may receive: these are the exact bodies, nothing more.
    expect(brevo.requests[0]?.body).toStrictEqual({
      email: 'cleo@example.com',
      attributes: { FIRSTNAME: 'Cleo', LASTNAME: 'Buyer', PRODUCTS: 'Pro Plugin, Theme' },
      listIds: [7],
      updateEnabled: true,
    });
    expect(brevo.requests[1]?.body).toStrictEqual({
      email: 'cleo@example.com',
      attributes: { PRODUCTS: 'Pro Plugin' },
      updateEnabled: true,
    });
    expect(brevo.contacts).toHaveLength(1);
    expect(brevo.contacts[0]).toMatchObject({ email: 'cleo@example.com', listIds: [7] });
    expect(brevo.contacts[0]?.attributes).toStrictEqual({
      FIRSTNAME: 'Cleo',
      LASTNAME: 'Buyer',
      PRODUCTS: 'Pro Plugin',
    });
  });

  it('sends a template e-mail with exactly the expected fields; Brevo deduplicates the idempotency key', async () => {
    const input = {
      to,
      sender,
      templateId: 12,
      params: { ORDER: '#1001', LICENSE_KEY: 'ABCD-EFGH' },
      idempotencyKey: 'outbox-msg-1',
    };
    const first = await client.sendTemplateEmail(input);
    const second = await client.sendTemplateEmail(input);
    expect(first.messageId).toMatch(/^<.+@smtp-relay\.mailin\.fr>$/);
    expect(second.messageId).toBe(first.messageId);
    expect(brevo.emails.filter((e) => e.idempotencyKey === 'outbox-msg-1')).toHaveLength(1);
    expect(brevo.requests[0]?.body).toStrictEqual({
      sender,
      to: [to],
      templateId: 12,
      params: { ORDER: '#1001', LICENSE_KEY: 'ABCD-EFGH' },
      headers: { 'Idempotency-Key': 'outbox-msg-1' },
    });
  });

  it('sends a rendered e-mail with exactly the expected fields, omitting null names', async () => {
    const { messageId } = await client.sendEmail({
      to: { email: 'dan@example.com', name: null },
      sender: { email: 'shop@seller.test', name: null },
      subject: 'Your purchase',
      html: '<p>Hi</p>',
      text: 'Hi',
      idempotencyKey: 'outbox-msg-2',
    });
    expect(messageId).not.toBeNull();
    expect(brevo.requests[0]?.body).toStrictEqual({
      sender: { email: 'shop@seller.test' },
      to: [{ email: 'dan@example.com' }],
      subject: 'Your purchase',
      htmlContent: '<p>Hi</p>',
      textContent: 'Hi',
      headers: { 'Idempotency-Key': 'outbox-msg-2' },
    });
  });

  it.each([429, 503] as const)('a %i is a retryable plain Error', async (status) => {
    brevo.failNext(1, status);
    const error = await rejection(
      client.upsertContact({ ...to, firstName: null, lastName: null, products: [], listId: null }),
    );
    expect(error).not.toBeInstanceOf(PermanentDeliveryError);
    expect(error.message).toContain(String(status));
    if (status === 429) expect(error.message).toContain('resets in 7 s');
    // The next attempt (the outbox's retry) goes through.
    await client.upsertContact({ ...to, firstName: null, lastName: null, products: [], listId: null });
  });

  it('a validation error from Brevo is permanent and carries its code and message', async () => {
    const error = await rejection(
      client.upsertContact({
        email: 'not-an-email',
        firstName: null,
        lastName: null,
        products: [],
        listId: null,
      }),
    );
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect(error.message).toContain('400');
    expect(error.message).toContain('invalid_parameter: Invalid email address');
  });

  it('an unreachable server is retryable', async () => {
    const down = createBrevoClient({ apiKey: API_KEY, apiBase: 'http://127.0.0.1:1/v3' });
    const error = await rejection(
      down.sendEmail({ to, sender, subject: 's', html: 'h', text: 't', idempotencyKey: 'k' }),
    );
    expect(error).not.toBeInstanceOf(PermanentDeliveryError);
    expect(error.message).not.toContain(API_KEY);
  });

  it('the stand-in enforces the contract a client must follow', async () => {
    async function call(
      path: string,
      body: string,
      contentType = 'application/json',
    ): Promise<[number, unknown]> {
      const response = await fetch(`${brevo.apiBase}${path}`, {
        method: 'POST',
        headers: { 'api-key': API_KEY, 'content-type': contentType },
        body,
      });
      const text = await response.text();
      return [response.status, text ? JSON.parse(text) : null];
    }
    expect(await call('/contacts', 'email=x', 'application/x-www-form-urlencoded')).toMatchObject([
      400,
      { code: 'bad_request' },
    ]);
    expect(await call('/contacts', '{nope')).toMatchObject([400, { code: 'bad_request' }]);
    expect(await call('/contacts', '{}')).toMatchObject([400, { code: 'missing_parameter' }]);
    expect(await call('/contacts', '{"email":"eve@example.com"}')).toMatchObject([
      201,
      { id: expect.any(Number) },
    ]);
    expect(await call('/contacts', '{"email":"eve@example.com"}')).toMatchObject([
      400,
      { code: 'duplicate_parameter' },
    ]);
    expect(
      await call('/smtp/email', '{"to":[{"email":"a@b.c"}],"subject":"s","htmlContent":"h"}'),
    ).toMatchObject([400, { code: 'missing_parameter', message: 'sender is missing' }]);
    expect(
      await call('/smtp/email', '{"sender":{"email":"s@b.c"},"to":[{"email":"a@b.c"}],"subject":"s"}'),
    ).toMatchObject([400, { code: 'missing_parameter', message: 'htmlContent is missing' }]);
    expect(brevo.requests).toHaveLength(7);
    expect(brevo.requests[0]?.body).toBe('email=x');
  });
});
