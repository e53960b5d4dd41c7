// Guard: the runtime code must run on Deno/Bun/edge, so it may use only fetch and Web
// Crypto: no node:* imports, no Node globals (Buffer, process, require).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as sdk from '../index.ts';

const SRC = fileURLToPath(new URL('..', import.meta.url));

function runtimeFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== 'testing') out.push(...runtimeFiles(p));
    } else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

test('runtime code imports no node:* module and uses no Node globals', () => {
  const files = runtimeFiles(SRC);
  assert.ok(files.length >= 8);
  for (const f of files) {
    const code = readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    assert.doesNotMatch(code, /from\s+['"]node:|import\(\s*['"]node:|require\(/, f);
    assert.doesNotMatch(code, /\b(Buffer|process)\s*[.(]/, f);
    for (const m of code.matchAll(/from\s+['"]([^'"]+)['"]/g)) {
      assert.ok(m[1]!.startsWith('.'), `${f} imports a package: ${m[1]}`);
    }
  }
});

test('public API surface', () => {
  for (const name of [
    'IbousClient',
    'KessPayClient',
    'IntouchPayClient',
    'FlexPayClient',
    'parseIntouchPayCallback',
    'parseFlexPayCallback',
    'intouchPayPassword',
    'intouchPayTimestamp',
    'verifyPaygateSignature',
    'signPaygatePayload',
    'TransportError',
    'ProviderError',
    'ValidationError',
    'WaitTimeoutError',
    'DEFAULT_BASE_URL',
  ]) {
    assert.ok(name in sdk, name);
  }
  assert.equal(sdk.DEFAULT_BASE_URL, 'http://127.0.0.1:8080');
});
