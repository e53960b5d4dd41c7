#!/usr/bin/env node
// Runs a TypeScript file through tsx's loader (no build step): `node bin/run-ts.js file.ts [args…]`.
// The file sees its own arguments in process.argv.slice(2).
import { register } from 'tsx/esm/api';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

register();
const file = process.argv[2];
if (!file) {
  console.error('usage: node bin/run-ts.js <file.ts> [args…]');
  process.exit(2);
}
process.argv.splice(2, 1);
await import(pathToFileURL(resolve(file)).href);
