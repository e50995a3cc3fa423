/** tsload's version, read from its package.json, the one place it is written. */
import { readFileSync } from 'node:fs';

// src/version.ts and dist/version.js both sit one folder below package.json.
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
