import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSecretBox } from './secret-box.ts';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.';

const box = createSecretBox(randomBytes(32));
const RECORD = 'storage:s3';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

describe('sealing a credential', () => {
  it('opens what it sealed', () => {
    expect(box.open(box.seal(SECRET, RECORD), RECORD)).toBe(SECRET);
  });

  it('round-trips unicode and the empty string', () => {
    for (const text of ['pässwörd – 秘密 🔑', '', 'x'.repeat(10_000)]) {
      expect(box.open(box.seal(text, RECORD), RECORD)).toBe(text);
    }
  });

  it('gives a different ciphertext each time for the same text', () => {
    const a = box.seal(SECRET, RECORD);
    const b = box.seal(SECRET, RECORD);
    expect(a).not.toBe(b);
    expect(a.split('.')[1]).not.toBe(b.split('.')[1]);
  });

  it('stores the versioned envelope format and never the plaintext', () => {
    const sealed = box.seal(SECRET, RECORD);
    expect(sealed).toMatch(/^v1(\.[A-Za-z0-9_-]+){4}$/);
    expect(sealed).not.toContain(SECRET);
    expect(Buffer.from(sealed.split('.')[4]!, 'base64url').toString('latin1')).not.toContain('EXAMPLEKEY');
  });
});

describe('refusing to open', () => {
  it('fails when the ciphertext is opened for another record', () => {
    const sealed = box.seal(SECRET, RECORD);
    expect(() => box.open(sealed, 'storage:other')).toThrow();
    expect(() => box.open(sealed, '')).toThrow();
  });

  it('fails under a different key-encryption key', () => {
    const sealed = box.seal(SECRET, RECORD);
    expect(() => createSecretBox(randomBytes(32)).open(sealed, RECORD)).toThrow();
  });

  it('fails when any single character of any part is changed', () => {
    const sealed = box.seal('short secret', RECORD);
    let tried = 0;
    for (let i = 0; i < sealed.length; i++) {
      for (const c of ALPHABET) {
        if (c === sealed[i]) continue;
        const tampered = sealed.slice(0, i) + c + sealed.slice(i + 1);
        tried++;
        let opened: string | undefined;
        try {
          opened = box.open(tampered, RECORD);
        } catch {
          continue;
        }
        throw new Error(`opened a tampered secret at position ${i}: ${JSON.stringify(opened)}`);
      }
    }
    expect(tried).toBe(sealed.length * (ALPHABET.length - 1));
  });

  it('fails when parts are swapped between two sealed values', () => {
    const a = box.seal('first', RECORD).split('.');
    const b = box.seal('second', RECORD).split('.');
    expect(() => box.open([a[0], a[1], a[2], b[3], b[4]].join('.'), RECORD)).toThrow();
    expect(() => box.open([a[0], b[1], a[2], a[3], a[4]].join('.'), RECORD)).toThrow();
  });

  it('fails on truncated tags, extra parts and stray characters', () => {
    const sealed = box.seal(SECRET, RECORD);
    const parts = sealed.split('.');
    const shortTag = [...parts.slice(0, 4), parts[4]!.slice(0, 6)].join('.');
    for (const bad of [
      shortTag,
      sealed.slice(0, -1),
      `${sealed}.extra`,
      `${sealed}!`,
      sealed.replace('.', '.!'),
      `v2${sealed.slice(2)}`,
      parts.slice(0, 4).join('.'),
      '',
      'v1....',
    ]) {
      expect(() => box.open(bad, RECORD)).toThrow();
    }
  });
});
