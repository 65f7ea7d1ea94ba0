import { AppError } from '../errors.ts';

const EMAIL_RE = /^[^\s@<>()[\]\\,;:"]{1,64}@[^\s@<>()[\]\\,;:"]{1,255}\.[^\s@<>()[\]\\,;:"]{1,63}$/;

/** A usable e-mail address, trimmed and lower-cased; INVALID_REQUEST otherwise. */
export function normalizeEmail(email: string): string {
  const trimmed = email.trim();
  if (trimmed.length > 254 || !EMAIL_RE.test(trimmed)) {
    throw new AppError('INVALID_REQUEST', {
      message: 'email is not a valid address.',
      detail: { path: 'email' },
    });
  }
  return trimmed.toLowerCase();
}
