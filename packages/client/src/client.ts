import { randomBytes } from 'node:crypto';
import { acceptCached, acceptLive, type Binding, refusal, verifyRaw } from './answers.ts';
import { type CacheStore, cacheName, fileCache, parseCachedAnswer } from './cache.ts';
import { LicenseClientError } from './errors.ts';
import { type LicenseFileVerification, verifyLicenseFile } from './license-file.ts';
import { normalizeLicenseKey, normalizeSiteURL } from './scope.ts';
import { parsePublicKey, SIGNATURE_HEADER } from './signature.ts';
import { type FetchLike, isUnavailable, post, type RawAnswer } from './transport.ts';
import {
  isCheckoutResponse,
  isSignedLicenseResponse,
  type LicenseResult,
  type SignedLicenseResponse,
} from './types.ts';
import { checkForUpdate, type UpdateInfo } from './updates.ts';

export interface LicenseClientOptions {
  /** The CloudSecure server, e.g. https://store.example.com (no redirects are followed). */
  serverUrl: string;
  /** The product's slug or numeric item id. */
  product: string | number;
  /** The server's Ed25519 public key, pinned in the software: 32 bytes base64, or PEM. */
  publicKey: string;
  /** The license key; each call may pass its own instead. */
  key?: string;
  /** This machine (desktop apps; see machineFingerprint()). Exclusive with siteUrl. */
  fingerprint?: string;
  /** This site (web apps, plugins). Exclusive with fingerprint. */
  siteUrl?: string;
  /** The software's version, sent with each call. */
  version?: string;
  /** Where the last verified answer is kept for when the server is unreachable. */
  cache?: { path: string } | CacheStore;
  /** How long a cached answer may stand in for the server, by its signed timestamp. Default 7 days. */
  gracePeriodMs?: number;
  /** How far a live answer's signed timestamp may be from the local clock. Default 5 minutes. */
  clockToleranceMs?: number;
  /** Per-request timeout. Default 10 s. */
  timeoutMs?: number;
  fetch?: FetchLike;
  now?: () => Date | number;
}

export interface CallOptions {
  key?: string;
}

/** A license file was issued (code VALID, or EXPIRED when only updates have stopped), or refused. */
export type CheckoutResult =
  | {
      valid: true;
      code: string;
      detail: string;
      /** The armored license file: save it and verify it later with verifyLicenseFile(). */
      certificate: string;
      /** The verification of that file, just done. */
      file: LicenseFileVerification;
    }
  | { valid: false; code: string; detail: string };

export interface LicenseClient {
  /** Activates the license for this site or machine (idempotent). */
  activate(options?: CallOptions): Promise<LicenseResult>;
  /** Checks the license (and its activation here); falls back to the cache when the server is unreachable. */
  validate(options?: CallOptions): Promise<LicenseResult>;
  /** Frees this site's or machine's activation. */
  deactivate(options?: CallOptions): Promise<LicenseResult>;
  /** Fetches a signed offline license file (bound to the fingerprint, if there is one). */
  checkout(options?: CallOptions & { ttl?: number }): Promise<CheckoutResult>;
  /** Verifies a license file offline, for this product and machine. */
  verifyLicenseFile(text: string): LicenseFileVerification;
  /** Asks the EDD-compatible update endpoint whether a newer version exists. */
  checkForUpdate(options?: CallOptions): Promise<UpdateInfo>;
}

const DAY = 86_400_000;

function need<T>(value: T | undefined | null, message: string): T {
  if (value === undefined || value === null || value === '')
    throw new LicenseClientError('CONFIG_INVALID', message);
  return value;
}

export function createLicenseClient(options: LicenseClientOptions): LicenseClient {
  const publicKey = parsePublicKey(need(options.publicKey, 'publicKey is required.'));
  const serverUrl = need(options.serverUrl, 'serverUrl is required.').replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]/.test(serverUrl))
    throw new LicenseClientError('CONFIG_INVALID', 'serverUrl must be an http(s) URL.');
  const product = String(need(options.product, 'product is required.')).trim();
  if (options.fingerprint !== undefined && options.siteUrl !== undefined)
    throw new LicenseClientError('CONFIG_INVALID', 'Give fingerprint or siteUrl, not both.');
  const site = options.siteUrl === undefined ? null : normalizeSiteURL(options.siteUrl);
  if (options.siteUrl !== undefined && !site)
    throw new LicenseClientError('CONFIG_INVALID', 'siteUrl is not a usable URL.');
  const fingerprint = options.fingerprint?.trim();
  if (options.fingerprint !== undefined && !fingerprint)
    throw new LicenseClientError('CONFIG_INVALID', 'fingerprint must not be empty.');
  const identifier = site ?? fingerprint ?? null;
  const scope = site ? `site:${site}` : fingerprint ? `machine:${fingerprint}` : 'none';
  const cache = options.cache && ('path' in options.cache ? fileCache(options.cache.path) : options.cache);
  const gracePeriodMs = options.gracePeriodMs ?? 7 * DAY;
  const toleranceMs = options.clockToleranceMs ?? 5 * 60_000;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const fetchFn: FetchLike = options.fetch ?? globalThis.fetch;
  if (typeof fetchFn !== 'function')
    throw new LicenseClientError('CONFIG_INVALID', 'No global fetch here: pass options.fetch.');
  const now = (): number => {
    const t = options.now ? options.now() : Date.now();
    return typeof t === 'number' ? t : t.getTime();
  };
  const keyOf = (call?: CallOptions): string =>
    need(call?.key ?? options.key, 'A license key is required (options.key or the call’s key).');

  /**
   * The whole request body. The privacy policy promises the server receives only these fields: the key,
   * the product, the site URL or machine fingerprint, the software version (and a random nonce).
   */
  function requestBody(key: string, nonce: string, extra: { ttl?: number } = {}): string {
    return JSON.stringify({
      key,
      product,
      ...(options.siteUrl !== undefined ? { site_url: options.siteUrl } : {}),
      ...(fingerprint ? { fingerprint } : {}),
      ...(options.version !== undefined ? { version: options.version } : {}),
      ...extra,
      nonce,
    });
  }

  async function send(path: string, body: string): Promise<RawAnswer> {
    const raw = await post(fetchFn, `${serverUrl}${path}`, {
      body,
      contentType: 'application/json',
      timeoutMs,
      signatureHeader: SIGNATURE_HEADER,
    });
    if (isUnavailable(raw.status)) {
      throw new LicenseClientError('SERVER_UNREACHABLE', `The license server answered HTTP ${raw.status}.`, {
        status: raw.status,
      });
    }
    if (raw.status >= 300 && raw.status < 400) {
      throw new LicenseClientError(
        'REQUEST_REFUSED',
        'The license server redirected; configure its final URL.',
        {
          status: raw.status,
        },
      );
    }
    return raw;
  }

  async function call(
    action: 'validate' | 'activate' | 'deactivate',
    key: string,
  ): Promise<{ response: SignedLicenseResponse; nonce: string; body: Uint8Array; signature: string }> {
    const nonce = randomBytes(16).toString('hex');
    const raw = await send(`/api/v1/licenses/${action}`, requestBody(key, nonce));
    const signature = verifyRaw(publicKey, raw);
    if (raw.status !== 200) throw refusal(raw);
    const response = acceptLive(raw.body, isSignedLicenseResponse, { nonce, now: now(), toleranceMs });
    return { response, nonce, body: raw.body, signature };
  }

  function toResult(response: SignedLicenseResponse, offline: boolean): LicenseResult {
    const { nonce: _nonce, ...rest } = response;
    return { ...rest, offline };
  }

  function binding(key: string): Binding {
    return { product, keyHint: normalizeLicenseKey(key).slice(-4), identifier };
  }

  async function fromCache(key: string, unreachable: LicenseClientError): Promise<LicenseResult> {
    const text = cache ? await cache.get(cacheName(product, normalizeLicenseKey(key), scope)) : null;
    if (!text) throw unreachable;
    const entry = parseCachedAnswer(text);
    if (!entry) throw new LicenseClientError('CACHE_INVALID', 'The cached answer is unreadable.');
    const { response, signedAt } = acceptCached(publicKey, entry, binding(key));
    const age = now() - signedAt;
    if (age < -toleranceMs) {
      throw new LicenseClientError('CLOCK_ROLLBACK', 'The local clock is earlier than the cached answer.');
    }
    if (age > gracePeriodMs) {
      throw new LicenseClientError(
        'GRACE_PERIOD_EXPIRED',
        `The server is unreachable and the last answer (${response.ts}) is older than the grace period.`,
        { cause: unreachable },
      );
    }
    return toResult(response, true);
  }

  async function remember(
    key: string,
    action: 'validate' | 'activate',
    answer: { nonce: string; body: Uint8Array; signature: string },
  ): Promise<void> {
    if (!cache) return;
    const entry = {
      v: 1,
      action,
      nonce: answer.nonce,
      body: Buffer.from(answer.body).toString('base64'),
      signature: answer.signature,
    };
    await cache.set(cacheName(product, normalizeLicenseKey(key), scope), JSON.stringify(entry));
  }

  function verifyFile(text: string): LicenseFileVerification {
    return verifyLicenseFile(text, {
      publicKey,
      fingerprint,
      product,
      now: now(),
      clockToleranceMs: toleranceMs,
    });
  }

  async function forget(key: string): Promise<void> {
    await cache?.set(cacheName(product, normalizeLicenseKey(key), scope), null);
  }

  return {
    async activate(call_) {
      const key = keyOf(call_);
      if (!identifier)
        throw new LicenseClientError('CONFIG_INVALID', 'Activation needs a fingerprint or a siteUrl.');
      const answer = await call('activate', key);
      await remember(key, 'activate', answer);
      return toResult(answer.response, false);
    },

    async validate(call_) {
      const key = keyOf(call_);
      let answer: Awaited<ReturnType<typeof call>>;
      try {
        answer = await call('validate', key);
      } catch (error) {
        if (error instanceof LicenseClientError && error.code === 'SERVER_UNREACHABLE')
          return fromCache(key, error);
        throw error;
      }
      await remember(key, 'validate', answer);
      return toResult(answer.response, false);
    },

    async deactivate(call_) {
      const key = keyOf(call_);
      if (!identifier)
        throw new LicenseClientError('CONFIG_INVALID', 'Deactivation needs a fingerprint or a siteUrl.');
      const answer = await call('deactivate', key);
      if (answer.response.code === 'DEACTIVATED' || answer.response.code === 'NOT_ACTIVATED')
        await forget(key);
      return toResult(answer.response, false);
    },

    async checkout(call_) {
      const key = keyOf(call_);
      const nonce = randomBytes(16).toString('hex');
      const extra = call_?.ttl === undefined ? {} : { ttl: call_.ttl };
      const raw = await send('/api/v1/licenses/checkout', requestBody(key, nonce, extra));
      verifyRaw(publicKey, raw);
      if (raw.status !== 200) throw refusal(raw);
      const response = acceptLive(raw.body, isCheckoutResponse, { nonce, now: now(), toleranceMs });
      if (!response.valid) return { valid: false, code: response.code, detail: response.detail };
      if (typeof response.certificate !== 'string')
        throw new LicenseClientError('INVALID_RESPONSE', 'A valid checkout answer carries no certificate.');
      const file = verifyFile(response.certificate);
      if (!file.valid) {
        throw new LicenseClientError('LICENSE_FILE_INVALID', `The issued license file fails: ${file.detail}`);
      }
      return {
        valid: true,
        code: response.code,
        detail: response.detail,
        certificate: response.certificate,
        file,
      };
    },

    verifyLicenseFile: verifyFile,

    async checkForUpdate(call_) {
      return checkForUpdate({
        fetch: fetchFn,
        serverUrl,
        key: keyOf(call_),
        product,
        siteUrl: options.siteUrl,
        fingerprint,
        version: options.version,
        timeoutMs,
      });
    },
  };
}
