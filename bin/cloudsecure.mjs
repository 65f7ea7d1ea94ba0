#!/usr/bin/env node
// Runs the TypeScript sources directly (tsx compiles on load), so `npm ci` is the whole set-up.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
