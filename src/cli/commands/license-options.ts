import { type Command, InvalidArgumentError } from 'commander';
import type { LicensePolicy } from '../../domain/licenses/license.ts';
import { collect, integer } from './shared.ts';

export interface PolicyOptions {
  license?: boolean;
  activationLimit?: number;
  licenseDays?: number;
  licenseUntil?: string;
  expiryStops?: 'updates' | 'everything';
  localPattern?: string[];
  itemId?: number;
  quantityMode?: 'licenses' | 'multiply';
  preExpiryReleases?: boolean;
}

function quantityMode(value: string): 'licenses' | 'multiply' {
  if (value !== 'licenses' && value !== 'multiply') throw new InvalidArgumentError('licenses or multiply');
  return value;
}

function expiryStops(value: string): 'updates' | 'everything' {
  if (value !== 'updates' && value !== 'everything') throw new InvalidArgumentError('updates or everything');
  return value;
}

/** The product options that shape licensing, shared by `product create` and `product update`. */
export function addPolicyOptions(command: Command): Command {
  return command
    .option('--license', 'purchases carry a license key')
    .option('--no-license', 'turn licensing off (update only)')
    .option('--activation-limit <n>', 'sites or machines per license; 0 = unlimited (default 1)', integer)
    .option(
      '--license-days <n>',
      'license lifetime in days from purchase; 0 = lifetime (default 365)',
      integer,
    )
    .option('--license-until <date>', 'a fixed expiry date for every license (ISO 8601)')
    .option('--expiry-stops <what>', 'what expiry stops: updates (default) or everything', expiryStops)
    .option(
      '--local-pattern <pattern>',
      'host pattern whose activations are free, e.g. *.local (repeatable)',
      collect,
    )
    .option(
      '--pre-expiry-releases',
      'expired licenses may download releases published before expiry (default)',
    )
    .option('--no-pre-expiry-releases', 'expired licenses may download nothing')
    .option(
      '--quantity-mode <mode>',
      'several units: licenses (one key each, default) or multiply (one key, limit × units)',
      quantityMode,
    )
    .option(
      '--item-id <n>',
      'numeric item id for EDD-style clients (keep the one your plugins ship with)',
      integer,
    );
}

/** Policy changes from the options; undefined when no licensing option was given. */
export function policyFromOptions(opts: PolicyOptions): Partial<LicensePolicy> | false | undefined {
  if (opts.license === false) return false;
  const changes: Partial<LicensePolicy> = {
    ...(opts.activationLimit === undefined ? {} : { activationLimit: opts.activationLimit }),
    ...(opts.licenseDays === undefined
      ? {}
      : { durationDays: opts.licenseDays === 0 ? null : opts.licenseDays }),
    ...(opts.licenseUntil === undefined ? {} : { until: new Date(opts.licenseUntil).toISOString() }),
    ...(opts.expiryStops === undefined ? {} : { expiryStops: opts.expiryStops }),
    ...(opts.localPattern === undefined ? {} : { localPatterns: opts.localPattern }),
    ...(opts.quantityMode === undefined ? {} : { quantity: opts.quantityMode }),
    ...(opts.preExpiryReleases === undefined ? {} : { preExpiryReleases: opts.preExpiryReleases }),
  };
  if (opts.license || Object.keys(changes).length > 0) return changes;
  return undefined;
}
