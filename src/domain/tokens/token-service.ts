/**
 * Admin API bearer tokens.
 *
 * Format: `cs_` + 32 random bytes in base64url (256 bits). Only SHA-256(token) is stored, so a leaked
 * database yields no usable token; lookup is by that digest, which leaks nothing about the secret
 * through timing (an attacker would need a SHA-256 preimage to steer the comparison).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { CoreDeps } from '../core-deps.ts';
import { AppError } from '../errors.ts';
import type { ApiToken } from '../model.ts';

export interface TokenService {
  create(input: { name: string }): Promise<{ id: string; name: string; token: string }>;
  /** Returns the token's record, or throws UNAUTHORIZED. */
  authenticate(bearer: string): Promise<ApiToken>;
}

const TOKEN_RE = /^cs_[A-Za-z0-9_-]{43}$/;

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function createTokenService(deps: Pick<CoreDeps, 'uow' | 'clock' | 'newId'>): TokenService {
  return {
    async create({ name }) {
      const trimmed = name.trim();
      if (!trimmed || trimmed.length > 100) {
        throw new AppError('INVALID_REQUEST', {
          message: 'name must be 1-100 characters.',
          detail: { path: 'name' },
        });
      }
      const token = `cs_${randomBytes(32).toString('base64url')}`;
      const record: ApiToken = { id: deps.newId(), name: trimmed, createdAt: deps.clock.now().toISOString() };
      await deps.uow.repos.tokens.insert(record, hashToken(token));
      return { id: record.id, name: record.name, token };
    },
    async authenticate(bearer) {
      if (!TOKEN_RE.test(bearer)) throw new AppError('UNAUTHORIZED');
      const found = await deps.uow.repos.tokens.findByHash(hashToken(bearer));
      if (!found) throw new AppError('UNAUTHORIZED');
      return found;
    },
  };
}
