import type { Command } from 'commander';
import type { GlobalOptions } from './shared.ts';

/** `cloudsecure license file KEY [--fingerprint F] [--ttl 30d]`. Being built. */
export function registerLicenseFileCommand(_license: Command, _globals: () => GlobalOptions): void {}
