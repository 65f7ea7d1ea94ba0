import type { Command } from 'commander';
import type { GlobalOptions } from './shared.ts';

/** `cloudsecure release add|list`. Being built. */
export function registerReleaseCommands(_program: Command, _globals: () => GlobalOptions): void {}
