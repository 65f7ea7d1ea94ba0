/**
 * The one place that reads the environment. `loadConfig` validates every setting at once, reports
 * every bad key together, and returns a frozen object that is passed down from the composition root.
 */
import { resolve } from 'node:path';
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const schema = z.object({
  CLOUDSECURE_DATA_DIR: z.string().min(1).default('./data'),
  CLOUDSECURE_HOST: z.string().min(1).default('127.0.0.1'),
  CLOUDSECURE_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  CLOUDSECURE_PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  CLOUDSECURE_DATABASE_URL: z.string().min(1).optional(),
  CLOUDSECURE_DB_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  CLOUDSECURE_MASTER_KEY: z.string().min(1).optional(),
  CLOUDSECURE_REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
  CLOUDSECURE_REDIS_PREFIX: z.string().max(64).default('cloudsecure:'),
  CLOUDSECURE_TRUSTED_PROXIES: z.string().default(''),
  CLOUDSECURE_LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info'),
  CLOUDSECURE_MAX_UPLOAD_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(20 * 1024 ** 3),
  CLOUDSECURE_MAX_JSON_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  CLOUDSECURE_IP_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(90),
  CLOUDSECURE_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(30),
  CLOUDSECURE_METRICS: bool.default(true),
  CLOUDSECURE_LICENSE_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(120),
  CLOUDSECURE_LICENSE_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9]{0,16}$/)
    .default('CS'),
  CLOUDSECURE_LICENSE_KEY_GROUPS: z.coerce.number().int().min(1).max(16).default(5),
  CLOUDSECURE_LICENSE_KEY_GROUP_LENGTH: z.coerce.number().int().min(2).max(16).default(5),
  CLOUDSECURE_LICENSE_KEY_SEPARATOR: z.enum(['-', '_', '.', 'none']).default('-'),
  CLOUDSECURE_OUTBOX: bool.default(true),
  CLOUDSECURE_OUTBOX_POLL_MS: z.coerce.number().int().min(50).max(600_000).default(1000),
  CLOUDSECURE_OUTBOX_LEASE_MS: z.coerce.number().int().min(500).max(3_600_000).default(120_000),
  CLOUDSECURE_OUTBOX_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(8),
  CLOUDSECURE_RECONCILE_MINUTES: z.coerce.number().int().min(0).max(1440).default(15),
  CLOUDSECURE_EXPIRY_NOTICE_DAYS: z.coerce.number().int().min(0).max(365).default(14),
});

export interface Config {
  dataDir: string;
  host: string;
  port: number;
  /** Base of every link handed out, without a trailing slash. */
  publicUrl: string;
  databaseUrl: string;
  dbPoolSize: number;
  masterKey: string | undefined;
  redisUrl: string | undefined;
  /** Prefix of every Redis key, so several installs can share one Redis. */
  redisPrefix: string;
  /** Addresses/CIDRs (or `loopback`, `uniquelocal`) whose X-Forwarded-For is believed. */
  trustedProxies: string[];
  logLevel: z.infer<typeof schema>['CLOUDSECURE_LOG_LEVEL'];
  maxUploadBytes: number;
  maxJsonBytes: number;
  ipRetentionDays: number;
  /** Failed link or token attempts allowed per client IP and minute. */
  rateLimitPerMinute: number;
  /** Serve Prometheus metrics at /metrics (admin bearer token required). */
  metrics: boolean;
  /** License API calls allowed per client IP and per license key and minute. */
  licenseRateLimitPerMinute: number;
  /** Format of generated license keys; at least 120 bits (groups × length × 5 bits). */
  licenseKeyFormat: { prefix: string; groups: number; groupLength: number; separator: string };
  /** Outbox delivery: whether `serve` runs a worker, how often it polls, how long a claim lasts. */
  outbox: { worker: boolean; pollMs: number; leaseMs: number; maxAttempts: number };
  /** Minutes between WooCommerce reconciliation polls; 0 = off. */
  reconcileMinutes: number;
  /** Days before expiry that a license's owner is e-mailed; 0 = never. */
  expiryNoticeDays: number;
}

export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`Invalid configuration:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Readonly<Config> {
  const parsed = schema.safeParse(
    Object.fromEntries(Object.entries(env).filter(([k, v]) => k.startsWith('CLOUDSECURE_') && v?.trim())),
  );
  if (parsed.success) {
    const bits =
      parsed.data.CLOUDSECURE_LICENSE_KEY_GROUPS * parsed.data.CLOUDSECURE_LICENSE_KEY_GROUP_LENGTH * 5;
    if (bits < 120) {
      throw new ConfigError([
        `CLOUDSECURE_LICENSE_KEY_GROUPS × CLOUDSECURE_LICENSE_KEY_GROUP_LENGTH give ${bits} bits; at least 120 are needed`,
      ]);
    }
  }
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const e = parsed.data;
  const dataDir = resolve(e.CLOUDSECURE_DATA_DIR);
  const publicHost =
    e.CLOUDSECURE_HOST === '0.0.0.0' || e.CLOUDSECURE_HOST === '::' ? 'localhost' : e.CLOUDSECURE_HOST;
  const urlHost = publicHost.includes(':') ? `[${publicHost}]` : publicHost;
  return Object.freeze({
    dataDir,
    host: e.CLOUDSECURE_HOST,
    port: e.CLOUDSECURE_PORT,
    publicUrl: (e.CLOUDSECURE_PUBLIC_URL ?? `http://${urlHost}:${e.CLOUDSECURE_PORT}`).replace(/\/+$/, ''),
    databaseUrl: e.CLOUDSECURE_DATABASE_URL ?? `${dataDir}/cloudsecure.sqlite`,
    dbPoolSize: e.CLOUDSECURE_DB_POOL_SIZE,
    masterKey: e.CLOUDSECURE_MASTER_KEY,
    redisUrl: e.CLOUDSECURE_REDIS_URL,
    redisPrefix: e.CLOUDSECURE_REDIS_PREFIX,
    trustedProxies: e.CLOUDSECURE_TRUSTED_PROXIES.split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    logLevel: e.CLOUDSECURE_LOG_LEVEL,
    maxUploadBytes: e.CLOUDSECURE_MAX_UPLOAD_BYTES,
    maxJsonBytes: e.CLOUDSECURE_MAX_JSON_BYTES,
    ipRetentionDays: e.CLOUDSECURE_IP_RETENTION_DAYS,
    rateLimitPerMinute: e.CLOUDSECURE_RATE_LIMIT_PER_MINUTE,
    metrics: e.CLOUDSECURE_METRICS,
    licenseRateLimitPerMinute: e.CLOUDSECURE_LICENSE_RATE_LIMIT_PER_MINUTE,
    licenseKeyFormat: Object.freeze({
      prefix: e.CLOUDSECURE_LICENSE_KEY_PREFIX.toUpperCase(),
      groups: e.CLOUDSECURE_LICENSE_KEY_GROUPS,
      groupLength: e.CLOUDSECURE_LICENSE_KEY_GROUP_LENGTH,
      separator: e.CLOUDSECURE_LICENSE_KEY_SEPARATOR === 'none' ? '' : e.CLOUDSECURE_LICENSE_KEY_SEPARATOR,
    }),
    outbox: Object.freeze({
      worker: e.CLOUDSECURE_OUTBOX,
      pollMs: e.CLOUDSECURE_OUTBOX_POLL_MS,
      leaseMs: e.CLOUDSECURE_OUTBOX_LEASE_MS,
      maxAttempts: e.CLOUDSECURE_OUTBOX_MAX_ATTEMPTS,
    }),
    reconcileMinutes: e.CLOUDSECURE_RECONCILE_MINUTES,
    expiryNoticeDays: e.CLOUDSECURE_EXPIRY_NOTICE_DAYS,
  });
}
