import { AppError } from '../errors.ts';
import type { StorageKind } from '../model.ts';
import type { SecretBox, SecretRepo, SettingsRepo } from '../ports.ts';

export const STORAGE_SETTING = 'storage';
const STORAGE_SECRET_ID = 'storage-s3';

export interface S3Settings {
  endpoint: string;
  bucket: string;
  region: string;
  forcePathStyle: boolean;
  accessKeyId: string;
  secretAccessKey: string;
}

/**
 * Where new uploads go (`active`) and, once configured, how to reach the S3/R2 bucket. Switching back to
 * local keeps the S3 settings, because files uploaded there are still served from there.
 */
export interface StorageSettings {
  active: StorageKind;
  s3: S3Settings | null;
}

/** What may be shown: credentials reduced to a masked hint. */
export interface StorageDescription {
  active: StorageKind;
  s3: {
    endpoint: string;
    bucket: string;
    region: string;
    force_path_style: boolean;
    credentials_hint: string;
  } | null;
}

interface Stored {
  active: StorageKind;
  s3: { endpoint: string; bucket: string; region: string; forcePathStyle: boolean } | null;
}

export function maskSecret(value: string): string {
  return value.length <= 8 ? '••••' : `••••${value.slice(-4)}`;
}

export interface StorageSettingsStore {
  load(): Promise<StorageSettings>;
  useLocal(): Promise<StorageDescription>;
  useS3(settings: S3Settings): Promise<StorageDescription>;
  describe(): Promise<StorageDescription>;
  /** Calls `listener` after every change saved through this store. */
  onChange(listener: () => void): void;
}

/** Storage settings live in the database; the S3 credentials only sealed by the secret box. */
export function createStorageSettingsStore(deps: {
  settings: SettingsRepo;
  secrets: SecretRepo;
  box: SecretBox;
}): StorageSettingsStore {
  const listeners: (() => void)[] = [];
  function changed(): void {
    for (const listener of listeners) listener();
  }

  async function read(): Promise<Stored> {
    const raw = await deps.settings.get(STORAGE_SETTING);
    return raw ? (JSON.parse(raw) as Stored) : { active: 'local', s3: null };
  }

  async function describe(): Promise<StorageDescription> {
    const stored = await read();
    if (!stored.s3) return { active: stored.active, s3: null };
    const secret = await deps.secrets.findById(STORAGE_SECRET_ID);
    const { forcePathStyle, ...s3 } = stored.s3;
    return {
      active: stored.active,
      s3: { ...s3, force_path_style: forcePathStyle, credentials_hint: secret?.hint ?? '' },
    };
  }

  return {
    async load() {
      const stored = await read();
      if (!stored.s3) return { active: stored.active, s3: null };
      const secret = await deps.secrets.findById(STORAGE_SECRET_ID);
      if (!secret) throw new AppError('STORAGE_UNAVAILABLE', { message: 'S3 credentials are missing.' });
      const creds = JSON.parse(deps.box.open(secret.ciphertext, secret.id)) as {
        accessKeyId: string;
        secretAccessKey: string;
      };
      return { active: stored.active, s3: { ...stored.s3, ...creds } };
    },
    async useLocal() {
      const stored = await read();
      await deps.settings.set(
        STORAGE_SETTING,
        JSON.stringify({ ...stored, active: 'local' } satisfies Stored),
      );
      changed();
      return describe();
    },
    async useS3(settings) {
      const { accessKeyId, secretAccessKey, ...plain } = settings;
      await deps.secrets.upsert({
        id: STORAGE_SECRET_ID,
        purpose: 'storage',
        ciphertext: deps.box.seal(JSON.stringify({ accessKeyId, secretAccessKey }), STORAGE_SECRET_ID),
        hint: `${maskSecret(accessKeyId)} / ${maskSecret(secretAccessKey)}`,
      });
      await deps.settings.set(STORAGE_SETTING, JSON.stringify({ active: 's3', s3: plain } satisfies Stored));
      changed();
      return describe();
    },
    describe,
    onChange: (listener) => {
      listeners.push(listener);
    },
  };
}
