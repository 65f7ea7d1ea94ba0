import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('loadConfig accepted the environment');
}

describe('loading the configuration', () => {
  it('starts on embedded defaults with an empty environment', () => {
    const config = loadConfig({});
    const dataDir = resolve('./data');
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 8080,
      dataDir,
      databaseUrl: join(dataDir, 'cloudsecure.sqlite'),
      publicUrl: 'http://127.0.0.1:8080',
      masterKey: undefined,
      redisUrl: undefined,
      trustedProxies: [],
      logLevel: 'info',
    });
  });

  it('resolves a relative data dir to an absolute path and puts the SQLite file in it', () => {
    const config = loadConfig({ CLOUDSECURE_DATA_DIR: 'some/dir' });
    expect(config.dataDir).toBe(resolve('some/dir'));
    expect(config.databaseUrl).toBe(join(resolve('some/dir'), 'cloudsecure.sqlite'));
  });

  it('builds the public URL from host and port when none is given', () => {
    expect(loadConfig({ CLOUDSECURE_HOST: 'files.lan', CLOUDSECURE_PORT: '9000' }).publicUrl).toBe(
      'http://files.lan:9000',
    );
    expect(loadConfig({ CLOUDSECURE_HOST: '0.0.0.0' }).publicUrl).toBe('http://localhost:8080');
    expect(loadConfig({ CLOUDSECURE_HOST: '::' }).publicUrl).toBe('http://localhost:8080');
  });

  it('brackets an IPv6 host in the public URL it builds', () => {
    const { publicUrl } = loadConfig({ CLOUDSECURE_HOST: '::1' });
    expect(publicUrl).toBe('http://[::1]:8080');
    expect(new URL(publicUrl).port).toBe('8080');
  });

  it('strips trailing slashes from the public URL', () => {
    expect(loadConfig({ CLOUDSECURE_PUBLIC_URL: 'https://dl.example.com/' }).publicUrl).toBe(
      'https://dl.example.com',
    );
    expect(loadConfig({ CLOUDSECURE_PUBLIC_URL: 'https://example.com/shop//' }).publicUrl).toBe(
      'https://example.com/shop',
    );
  });

  it('keeps a PostgreSQL URL, a Redis URL and the trusted proxies as given', () => {
    const config = loadConfig({
      CLOUDSECURE_DATABASE_URL: 'postgres://u@db:5432/cs',
      CLOUDSECURE_REDIS_URL: 'redis://cache:6379',
      CLOUDSECURE_TRUSTED_PROXIES: ' loopback, 10.0.0.0/8 ,,',
      CLOUDSECURE_METRICS: 'no',
    });
    expect(config.databaseUrl).toBe('postgres://u@db:5432/cs');
    expect(config.redisUrl).toBe('redis://cache:6379');
    expect(config.trustedProxies).toEqual(['loopback', '10.0.0.0/8']);
    expect(config.metrics).toBe(false);
  });

  it('ignores variables without the CLOUDSECURE_ prefix', () => {
    const config = loadConfig({
      PORT: 'nonsense',
      HOST: '::',
      DATABASE_URL: 'postgres://x',
      cloudsecure_port: '1',
    });
    expect(config.port).toBe(8080);
    expect(config.host).toBe('127.0.0.1');
    expect(config.databaseUrl).toBe(join(resolve('./data'), 'cloudsecure.sqlite'));
  });

  it('treats empty strings as unset', () => {
    const config = loadConfig({
      CLOUDSECURE_PORT: '',
      CLOUDSECURE_HOST: '',
      CLOUDSECURE_PUBLIC_URL: '',
      CLOUDSECURE_MASTER_KEY: '',
      CLOUDSECURE_LOG_LEVEL: '',
    });
    expect(config).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      publicUrl: 'http://127.0.0.1:8080',
      masterKey: undefined,
      logLevel: 'info',
    });
  });

  it('treats whitespace-only values as unset rather than as 0', () => {
    expect(loadConfig({ CLOUDSECURE_PORT: ' ' }).port).toBe(8080);
  });
});

describe('refusing a bad configuration', () => {
  it('reports every bad key together in one ConfigError', () => {
    const error = configError({
      CLOUDSECURE_PORT: 'eighty',
      CLOUDSECURE_PUBLIC_URL: 'ftp://files.example.com',
      CLOUDSECURE_LOG_LEVEL: 'loud',
      CLOUDSECURE_HOST: '127.0.0.1',
    });
    expect(error.issues).toHaveLength(3);
    for (const key of ['CLOUDSECURE_PORT', 'CLOUDSECURE_PUBLIC_URL', 'CLOUDSECURE_LOG_LEVEL']) {
      expect(error.issues.some((issue) => issue.startsWith(`${key}:`))).toBe(true);
      expect(error.message).toContain(key);
    }
    expect(error.name).toBe('ConfigError');
  });

  it.each([
    ['CLOUDSECURE_PORT', '65536'],
    ['CLOUDSECURE_PORT', '-1'],
    ['CLOUDSECURE_PORT', '80.5'],
    ['CLOUDSECURE_PUBLIC_URL', 'not a url'],
    ['CLOUDSECURE_PUBLIC_URL', 'javascript:alert(1)'],
    ['CLOUDSECURE_REDIS_URL', 'http://cache:6379'],
    ['CLOUDSECURE_DB_POOL_SIZE', '0'],
    ['CLOUDSECURE_IP_RETENTION_DAYS', '0'],
    ['CLOUDSECURE_METRICS', 'maybe'],
  ])('rejects %s=%j', (key, value) => {
    expect(configError({ [key]: value }).issues).toEqual([expect.stringMatching(new RegExp(`^${key}:`))]);
  });
});

describe('the loaded configuration', () => {
  it('is frozen', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { port: number }).port = 1;
    }).toThrow(TypeError);
  });
});
