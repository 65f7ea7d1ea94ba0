/**
 * CloudSecure license client for Node.js (≥ 18) and Electron's main process. No dependencies: node:crypto,
 * node:fs/promises and the global fetch. See README.md.
 */
export type { CacheStore } from './cache.ts';
export { fileCache } from './cache.ts';
export type { CallOptions, CheckoutResult, LicenseClient, LicenseClientOptions } from './client.ts';
export { createLicenseClient } from './client.ts';
export type { LicenseClientErrorCode } from './errors.ts';
export { LicenseClientError } from './errors.ts';
export { machineFingerprint } from './fingerprint.ts';
export type {
  LicenseFileCode,
  LicenseFilePayload,
  LicenseFileVerification,
  VerifyLicenseFileOptions,
} from './license-file.ts';
export { verifyLicenseFile } from './license-file.ts';
export type { FetchLike } from './transport.ts';
export type {
  ActivationState,
  LicenseCode,
  LicenseResult,
  LicenseState,
  SignedLicenseResponse,
} from './types.ts';
export type { UpdateInfo } from './updates.ts';
export { compareVersions } from './updates.ts';
