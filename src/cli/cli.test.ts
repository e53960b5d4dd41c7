import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ENGINE, freshPostgresDatabase } from '../../test/harness.ts';
import { openDb } from '../store/db.ts';

const BIN = new URL('../../bin/paygate.js', import.meta.url).pathname;

function runCli(args: string[], env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => resolve({ code: code ?? 1, out, err }));
  });
}

/** Starts `paygate serve --port 0`, waits for the banner, returns URL and the process. */
function serve(env: Record<string, string>): Promise<{ url: string; out: () => string; stop: () => Promise<number> }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BIN, 'serve', '--port', '0'], { env: { ...process.env, PAYGATE_LOG_LEVEL: 'warn', ...env } });
    let out = '';
    const timer = setTimeout(() => reject(new Error('serve did not start: ' + out)), 60_000);
    p.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m && /Demo payers/.test(out)) {
        clearTimeout(timer);
        resolve({ url: m[1]!, out: () => out, stop: () => new Promise((r) => { p.on('close', (c) => r(c ?? 1)); p.kill('SIGTERM'); }) });
      }
    });
    p.stderr.on('data', (d) => (out += d));
  });
}

async function engineEnv(): Promise<{ env: Record<string, string>; url?: string; cleanup: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'paygate-cli-'));
  const base = { PAYGATE_DATA_DIR: dir, PAYGATE_ADMIN_TOKEN: 'cli-admin', DATABASE_URL: '' };
  if (ENGINE === 'postgres') {
    const f = await freshPostgresDatabase();
    return { env: { ...base, DATABASE_URL: f.url }, url: f.url, cleanup: async () => { await f.drop(); rmSync(dir, { recursive: true, force: true }); } };
  }
  return { env: base, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
}

test('serve prints what to open, creates demo data once, operator commands work, SIGTERM exits cleanly', async () => {
  const e = await engineEnv();
  try {
    const s = await serve(e.env);
    const out = s.out();
    assert.match(out, /operator token : cli-admin/);
    assert.match(out, /API docs\s+: http:\/\/127\.0\.0\.1:\d+\/docs/);
    assert.match(out, /ibous\s+API-TOKEN-KEY=[0-9a-f]+ API-TOKEN-SECRET=[0-9a-f]+/);
    assert.match(out, /FlexPay\s+merchant=\S+ token=\S+/);
    assert.equal((await fetch(s.url + '/healthz')).status, 200);
    const created = await runCli(['merchant', 'create', 'CLI Shop', '--json', '--url', s.url], e.env);
    assert.equal(created.code, 0, created.err);
    assert.equal(JSON.parse(created.out).name, 'CLI Shop');
    const wallet = await runCli(['wallet', 'create', '--name', 'Ana', '--phone', '50939999999', '--pin', '1234', '--currency', 'HTG', '--balance', '10.50', '--json', '--url', s.url], e.env);
    assert.equal(wallet.code, 0, wallet.err);
    assert.equal(JSON.parse(wallet.out).balance, '10.50');
    const bad = await runCli(['subscriber', 'create', '--name', 'X', '--phone', 'nope', '--pin', '1234', '--currency', 'RWF', '--url', s.url], e.env);
    assert.equal(bad.code, 1);
    assert.equal(await s.stop(), 0);
    // Second start: same demo merchant, credentials printed again, nothing duplicated.
    const s2 = await serve(e.env);
    assert.match(s2.out(), /Demo merchant "Demo Shop" \(id 1\)/);
    await s2.stop();
  } finally {
    await e.cleanup();
  }
});

test('verify passes on a healthy database and fails with the offending id on a corrupted one', async () => {
  const e = await engineEnv();
  try {
    const s = await serve(e.env);
    await s.stop();
    const ok = await runCli(['verify'], e.env);
    assert.equal(ok.code, 0, ok.out + ok.err);
    assert.match(ok.out, /every invariant holds/);
    const db = await openDb(e.url ? { databaseUrl: e.url } : { dataDir: e.env.PAYGATE_DATA_DIR + '/db' });
    const [w] = await db.query(`select id from accounts where kind = 'wallet' order by id limit 1`);
    await db.query('update accounts set balance_minor = balance_minor + 7 where id = $1', [w!.id]);
    await db.close();
    const broken = await runCli(['verify', '--json'], e.env);
    assert.equal(broken.code, 1);
    const report = JSON.parse(broken.out);
    assert.equal(report.ok, false);
    assert.deepEqual(report.violations[0].ids, [String(w!.id)]);
    const migrated = await runCli(['migrate'], e.env);
    assert.equal(migrated.code, 0);
    assert.match(migrated.out, /up to date/);
  } finally {
    await e.cleanup();
  }
});
