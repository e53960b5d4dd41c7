// `npm run bench` (default, under 5 minutes) and `npm run bench -- --quick` (under 1 minute).
// Starts gateway nodes (bench/gateway.ts: the real composition root plus /bench/* setup and
// measurement routes), baselines (bare Fastify, pgbench, bare PGlite) and the load generator
// (bench/loadgen.ts, a separate process), all on 127.0.0.1, and writes
// bench/results/latest.{json,md,png}. See docs/benchmark.md.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import { tmpdir, cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import type { GatewaySlice, Result, Spec, Step } from './loadgen.ts';
import { drawChart } from './chart.ts';
import { cpuNow_ms, cpuSince, kdamond_ms } from './cpu.ts';
import { initDataDirInChild } from '../src/store/pglite.ts';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const only = args.find((a) => a.startsWith('--only='))?.slice(7).split(',');
const D = Number(process.env.BENCH_D) || (QUICK ? 2 : 15); // seconds of measured load per run (BENCH_D overrides)
// Seconds of load before each run's measurement starts (connections opened, code compiled). Half
// a second is enough for --quick's 2 s runs: it is 11 runs' worth of the minute.
const WARMUP_S = QUICK ? 0.5 : 1;
/** Seconds the whole command may take: 5 minutes by default, 1 with --quick (issue 7). */
const RUN_BOUND_S = QUICK ? 60 : 300;
const PENDING = 10_000;
const PG_BASE = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const ADMIN = 'bench-admin-token-' + Math.random().toString(36).slice(2);
// Nodes of one gateway share the secret key (encrypted merchant secrets, wallet sessions).
const SECRET_KEY = [...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, '0')).join('');
const CURRENCY = 'HTG';
const started = Date.now();
const log = (...a: unknown[]) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s]`, ...a);

// ---- processes ----------------------------------------------------------------------

interface Proc { url: string; pid: number; child: ChildProcess; stop(): Promise<void>; rss_mb(): number }
const live = new Set<Proc>();
const cleanups: (() => Promise<void>)[] = [];

function peakRss_mb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : 0;
  } catch {
    return 0;
  }
}

async function startProc(file: string, env: Record<string, string>): Promise<Proc> {
  // BENCH_PROFILE=dir writes a CPU profile of every gateway node there (node --cpu-prof).
  const flags = process.env.BENCH_PROFILE && file === 'bench/gateway.ts' ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROFILE] : [];
  // BENCH_NODE_FLAGS: more node flags for the gateway nodes (e.g. V8 heap settings to try).
  if (process.env.BENCH_NODE_FLAGS && file === 'bench/gateway.ts') flags.push(...process.env.BENCH_NODE_FLAGS.split(' '));
  const child = spawn(process.execPath, [...flags, join(root, 'bin/run-ts.js'), join(root, file)], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c) => (stderr = (stderr + c).slice(-4000)));
  // BENCH_GATEWAY_LOG=file: the gateway nodes' standard output appended there (e.g. --trace-gc's lines).
  const outLog = process.env.BENCH_GATEWAY_LOG && file === 'bench/gateway.ts' ? process.env.BENCH_GATEWAY_LOG : null;
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (l) => {
      if (outLog) appendFileSync(outLog, `${child.pid} ${Date.now()} ${l}\n`);
      if (l.startsWith('{"ready"')) resolve(l);
    });
    child.on('exit', (code) => reject(new Error(`${file} exited (${code}) before it was ready:\n${stderr}`)));
  });
  const info = JSON.parse(line) as { url: string; pid: number };
  const p: Proc = {
    url: info.url.replace('localhost', '127.0.0.1'), pid: info.pid, child,
    rss_mb: () => peakRss_mb(info.pid),
    async stop() {
      live.delete(p);
      if (child.exitCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    },
  };
  live.add(p);
  return p;
}

/**
 * An empty PGlite data directory (initdb's output), made once per PGlite version and kept in
 * bench/.cache: an initdb takes ~6 s of a --quick run on 2 cores, a copy of its result ~0.1 s.
 * The gateway applies its migrations to the copy as to a new database.
 */
function pgliteTemplate(): string {
  const version = JSON.parse(readFileSync(join(root, 'node_modules/@electric-sql/pglite/package.json'), 'utf8')).version as string;
  const dir = join(root, 'bench/.cache', `pglite-${version}-initdb`);
  if (existsSync(join(dir, 'PG_VERSION'))) return dir;
  const tmp = `${dir}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(dirname(tmp), { recursive: true });
  initDataDirInChild(tmp);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir); // whole or not at all: an interrupted initdb leaves only the .tmp
  return dir;
}

async function startNode(opts: { databaseUrl?: string; callbackUrl?: string } = {}): Promise<Proc & { dataDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'paygate-bench-'));
  cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
  if (!opts.databaseUrl) cpSync(pgliteTemplate(), join(dataDir, 'db'), { recursive: true });
  const proc = await startProc('bench/gateway.ts', {
    PAYGATE_DATA_DIR: dataDir,
    DATABASE_URL: opts.databaseUrl ?? '',
    PAYGATE_LOG_LEVEL: 'warn',
    PAYGATE_DEMO: '0',
    PAYGATE_ADMIN_TOKEN: ADMIN,
    PAYGATE_SECRET_KEY: SECRET_KEY,
    // All load comes from 127.0.0.1: the per-IP request budget would measure the limiter, not the gateway.
    PAYGATE_RATE_IP_PER_S: '0',
    PAYGATE_ALLOW_PRIVATE_CALLBACKS: '1',
    BENCH_CALLBACK_URL: opts.callbackUrl ?? '',
  });
  return Object.assign(proc, { dataDir });
}

/**
 * Load generator processes, kept between runs: a run asks an idle one (or starts one) over
 * IPC. Two runs at once (the fan-out's payments and polls) get two processes. Starting one
 * costs ~0.7 s here (tsx, modules), which a dozen runs of a --quick run would pay each time.
 */
const idleLoadgens: ChildProcess[] = [];
const spawnLoadgen = () => spawn(process.execPath, [join(root, 'bin/run-ts.js'), join(root, 'bench/loadgen.ts'), '--serve'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
/**
 * A second idle load generator, started now (unmeasured) for two runs at once later: started
 * in the middle of the fan-out's probe it took 2 s of a --quick run on a busy machine. A spec
 * sent before it is ready waits in its IPC channel, as for any freshly spawned one.
 */
function spareLoadgen(): void {
  if (idleLoadgens.length < 2) idleLoadgens.push(spawnLoadgen());
}
async function loadgen(spec: Spec): Promise<Result> {
  const child = idleLoadgens.pop() ?? spawnLoadgen();
  const r = await new Promise<{ result?: Result; error?: string }>((resolve) => {
    const onExit = (code: number | null) => resolve({ error: `loadgen exited (${code})` });
    child.once('exit', onExit);
    child.once('message', (m) => {
      child.off('exit', onExit);
      resolve(m as { result?: Result; error?: string });
    });
    child.send(spec);
  });
  if (!r.result) throw new Error(r.error ?? 'loadgen failed');
  idleLoadgens.push(child);
  return r.result;
}

async function api(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any; text: string }> {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json, text };
}

// ---- Postgres ------------------------------------------------------------------------

function dbUrl(name: string): string {
  const u = new URL(PG_BASE);
  u.pathname = '/' + name;
  return u.toString();
}

/** One statement on a connection of its own, by default to the server's maintenance database. */
async function serverQuery(sql: string, databaseUrl = PG_BASE): Promise<void> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

async function freshDb(tag: string): Promise<string> {
  const name = `bench_${tag}_${Date.now().toString(36)}`;
  await serverQuery(`create database ${name}`);
  cleanups.push(() => serverQuery(`drop database if exists ${name} with (force)`).catch(() => {}));
  return name;
}

/**
 * Before each measured run on Postgres, on both sides of the ratio: `vacuum (analyze)` of the
 * run's database, then a checkpoint.
 * - The vacuum does what autovacuum does on a server that has it (Paygate needs it:
 *   docs/scaling.md). This machine's server runs with autovacuum off, so without it every
 *   paid payment's old row version stays in `payments` and its indexes, and the statistics
 *   stay those of an empty database: measured, the 256-client path run lost 15-20% after the
 *   32- and 128-client runs had added 100,000 payments (thirteenth pass). pgbench's own
 *   initialisation vacuums its tables the same way.
 * - The checkpoint: the WAL of one run (the payment path writes about 0.5 GB a minute here)
 *   must not start its checkpoint, and the full-page images that follow one, inside the next
 *   run's measurement (seen: a checkpoint started by max_wal_size in the middle of the
 *   half-load create run).
 */
async function beforeRun(databaseUrl: string): Promise<void> {
  await serverQuery('vacuum (analyze)', databaseUrl);
  await serverQuery('checkpoint');
}

async function pgAvailable(): Promise<boolean> {
  try {
    const c = new pg.Client({ connectionString: PG_BASE, connectionTimeoutMillis: 2000 });
    await c.connect();
    await c.end();
    return true;
  } catch {
    return false;
  }
}

function pgbenchArgs(name: string): string[] {
  const u = new URL(dbUrl(name));
  // A `?host=/var/run/postgresql` URL means the Unix socket: pgbench then uses it too.
  return ['-h', u.searchParams.get('host') ?? u.hostname, '-p', u.port || '5432', '-U', decodeURIComponent(u.username || 'postgres'), name];
}

/** A command's exit status and its output (stdout and stderr), without blocking the event loop. */
function runCmd(cmd: string, argv: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const c = spawn(cmd, argv, { env });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (out += d));
    c.on('error', (e) => resolve({ status: null, out: String(e) }));
    c.on('exit', (status) => resolve({ status, out }));
  });
}

const pgbenchEnv = () => ({ ...process.env, PGPASSWORD: decodeURIComponent(new URL(PG_BASE).password || '') });

/** pgbench's TPC-B tables (scale 10) in a fresh database; its name, or null without pgbench. */
async function pgbenchInit(): Promise<string | null> {
  if (spawnSync('pgbench', ['--version']).status !== 0) return null;
  const name = await freshDb('pgbench');
  const init = await runCmd('pgbench', ['-i', '-s', '10', '-q', ...pgbenchArgs(name)], pgbenchEnv());
  if (init.status !== 0) throw new Error('pgbench -i failed: ' + init.out);
  return name;
}

async function pgbenchRun(name: string, seconds: number, clients: number): Promise<{ tps: number; latency_ms: number; clients: number; raw: string; cpu_us_per_tx: number | null }> {
  await beforeRun(dbUrl(name));
  const c0 = cpuNow_ms();
  const { out: r } = await runCmd('pgbench', ['-n', '-c', String(clients), '-j', '2', '-T', String(seconds), ...pgbenchArgs(name)], pgbenchEnv());
  const { machine_ms } = cpuSince(c0, cpuNow_ms());
  const tps = Number(/tps = ([\d.]+)/.exec(r)?.[1] ?? 0);
  const lat = Number(/latency average = ([\d.]+) ms/.exec(r)?.[1] ?? 0);
  // Over pgbench's whole run (its connections included, a fraction of a second of -T).
  return { tps, latency_ms: lat, clients, raw: r.trim().split('\n').slice(-6).join('\n'), cpu_us_per_tx: perOp_us(machine_ms, Math.round(tps * seconds)) };
}

/**
 * Client counts at which each side of the payment-path ratio runs; each side counts at its
 * best (capacity against capacity), and the ratio at SAME_CLIENTS each is reported beside it.
 * pgbench needs one server connection per client, and its ten branch rows make it slower past
 * 8-16 clients on two cores (measured: 8 and 16 at 2,800-3,200 tx/s, 32 at 2,400-3,100, 64 at
 * 2,000-2,200), so it runs at 8, 16 and 32. The gateway keeps its 10 pool connections whatever
 * the number of HTTP clients; its group commit folds concurrent payments into fewer statements,
 * so its capacity grows with them (measured: 64 clients 1,300-1,400/s, 128 1,700-2,200/s, 256
 * 2,400/s at 81% of the two cores), so it runs at 32, 128 and 256. A payment is three requests
 * in sequence where a TPC-B transaction is one.
 */
// --quick skips the gateway at 128 (within a few percent of 256 in every run so far) and
// pgbench at 32 (never its best), to stay under a minute on the slower VMs (62 s with them on
// the eleventh pass's).
const PATH_CLIENTS = clientCounts(process.env.BENCH_PATH_CLIENTS, QUICK ? [32, 256] : [32, 128, 256]);
const PGBENCH_CLIENTS = clientCounts(process.env.BENCH_PGBENCH_CLIENTS, QUICK ? [8, 16] : [8, 16, 32]);
/** Gateway nodes sharing the payment path's load (scenario 2 on Postgres). */
const PATH_NODES = oneCount(process.env.BENCH_PATH_NODES, 1);
// The fan-out probe's connections: its capacity figure depends on them (405 at 32, 638-703 at
// 256 on one 2-core VM, eleventh pass), as the payment path's does on its client count.
const FANOUT_PROBE_CONNS = oneCount(process.env.BENCH_FANOUT_CONNS, 32);
const SAME_CLIENTS = 32;
/** A comma-separated list of client counts (BENCH_PATH_CLIENTS, BENCH_PGBENCH_CLIENTS), or the default. */
function clientCounts(env: string | undefined, dflt: number[]): number[] {
  if (!env) return dflt;
  const n = env.split(',').map(Number);
  if (!n.length || n.some((x) => !Number.isInteger(x) || x < 1 || x > 4096)) throw new Error(`bad client counts: ${env}`);
  return n;
}
/** One count (BENCH_PATH_NODES, BENCH_FANOUT_CONNS), or the default. */
function oneCount(env: string | undefined, dflt: number): number {
  const n = clientCounts(env, [dflt]);
  if (n.length !== 1) throw new Error(`one number expected, not a list: ${env}`);
  return n[0]!;
}
function sameRatio(payments: number | undefined, tps: number | undefined): string {
  return payments === undefined || tps === undefined ? '' : `; at ${SAME_CLIENTS} clients each ${(payments / tps).toFixed(3)}`;
}
/**
 * What each side cost the machine (both runs at their best): a complete payment's CPU (gateway,
 * Postgres, load generator, kernel) against a TPC-B transaction's (Postgres, pgbench, kernel).
 * Throughput on shared cores follows it only where the cores are saturated.
 */
function cpuCompared(payment: Row['cpu_us_per_op'], tx_us: number | null): string {
  if (!payment?.machine || !tx_us) return '';
  return `; machine CPU per payment ${payment.machine} µs${payment.gateway ? ` (gateway ${payment.gateway})` : ''} against ${tx_us} µs per transaction (${(payment.machine / tx_us).toFixed(2)}×)`;
}
/** Seconds per pgbench run: a steady C client needs less than the HTTP runs (keeps the default run under 5 minutes). */
const PGBENCH_S = QUICK ? D : Math.min(D, 10);

// ---- callbacks receiver (the outbox is part of the payment path) ---------------------

async function startReceiver(): Promise<{ url: string; count: () => number; close: () => Promise<void> }> {
  let n = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      n++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"success":true}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/callback`, count: () => n, close: () => new Promise((r) => server.close(() => r())) };
}

// ---- drivers: how a scenario talks to the gateway -------------------------------------
// `ibous`: the real wire: ibous CreatePaymentQRcode and PaymentProcess (API-TOKEN-KEY/SECRET
// headers) and the wallet rail's JSON API (/wallet/api/login once per payer, /wallet/api/pay
// with the PIN for each payment). `core`: /bench/* routes calling the same core services in
// the gateway process, used when the dialect's endpoints do not answer (older builds).

interface Setup { merchants: { id: string; credentials: any }[]; payers: { id: string; phone: string }[] }
type Driver = 'ibous' | 'core';

async function detectDriver(base: string): Promise<Driver> {
  if (process.env.BENCH_DRIVER === 'core') return 'core';
  const a = await api(base, 'POST', '/api/PaymentProcess', {}, { authorization: '' });
  const b = await api(base, 'POST', '/wallet/api/pay', {}, { authorization: '' });
  const absent = (r: { status: number; text: string }) => r.status === 404 && /no route/.test(r.text);
  return absent(a) || absent(b) ? 'core' : 'ibous';
}

const H = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
const IB = { 'API-TOKEN-KEY': '{{key}}', 'API-TOKEN-SECRET': '{{secret}}', 'content-type': 'application/json' };

function createStep(d: Driver, group: string): Step {
  if (d === 'ibous') {
    return {
      name: 'create', group, method: 'POST', path: '/api/CreatePaymentQRcode', headers: IB,
      body: '{"qrcode_size":4,"amount":10,"currency":"HTG","item":"bench {{seq}}"}',
      extract: { id: 'qrcode_id', token: 'qrcode_img~/qrcd/([A-Za-z0-9_-]+)\\.png' },
    };
  }
  return { name: 'create', group, method: 'POST', path: '/bench/create', headers: H, body: '{"merchant_id":"{{merchant}}","ref":"{{run}}-{{seq}}","amount_minor":"1000","currency":"HTG"}', extract: { id: 'id' } };
}
function payStep(d: Driver, group: string): Step {
  if (d === 'ibous') return { name: 'pay', group, method: 'POST', path: '/wallet/api/pay', headers: { authorization: 'Bearer {{wtoken}}', 'content-type': 'application/json' }, body: '{"token":"{{token}}","pin":"1234"}' };
  return { name: 'pay', group, method: 'POST', path: '/bench/pay', headers: H, body: '{"id":"{{id}}","account_id":"{{payer}}"}' };
}
function statusStep(d: Driver, group: string, until: boolean): Step {
  if (d === 'ibous') {
    // A pending QR code answers error:true (HTTP 200 per the seed); any status is read, not judged.
    return { name: 'status', group, method: 'POST', path: '/api/PaymentProcess', headers: IB, body: '{"qrcode_id":"{{id}}"}', ...(until ? { until: { path: 'payment.status', in: ['2'] } } : {}) };
  }
  return { name: 'status', group, method: 'GET', path: '/bench/status/{{id}}', headers: { authorization: H.authorization }, ...(until ? { until: { path: 'state', in: ['succeeded'] } } : {}) };
}
const DRIVER_DOC: Record<Driver, string> = {
  ibous: 'ibous CreatePaymentQRcode → wallet /wallet/api/pay (PIN) → ibous PaymentProcess until status 2',
  core: 'core routes /bench/create → /bench/pay → /bench/status until succeeded (ibous or wallet API not answering)',
};

/** Variables each op and each worker needs: merchant credentials (aligned lists) and payer sessions. */
async function varsFor(d: Driver, node: Proc, setup: Setup): Promise<{ perOp: Record<string, string[]>; perWorker: Record<string, string[]> }> {
  const perOp: Record<string, string[]> = {
    merchant: setup.merchants.map((m) => m.id),
    key: setup.merchants.map((m) => m.credentials?.ibous?.api_key ?? ''),
    secret: setup.merchants.map((m) => m.credentials?.ibous?.api_secret ?? ''),
  };
  const perWorker: Record<string, string[]> = { payer: setup.payers.map((p) => p.id) };
  if (d === 'ibous') {
    perWorker.wtoken = await Promise.all(setup.payers.map(async (p) => {
      const r = await api(node.url, 'POST', '/wallet/api/login', { phone: p.phone, pin: '1234' }, { authorization: '' });
      if (r.status !== 200) throw new Error('wallet login failed: ' + r.text);
      return r.json.token as string;
    }));
  }
  return { perOp, perWorker };
}

// ---- scenarios -------------------------------------------------------------------------

interface Row {
  scenario: string;
  what: string;
  driver: string;
  throughput: number;
  unit: string;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  errors: number;
  ops: number;
  rss_mb: number | null;
  errorSamples?: string[];
  steps?: Result['steps'];
  /** CPU per operation over the measured part, µs: the whole machine's busy time (gateway, database, load generator or pgbench, kernel) and the gateway nodes' own. */
  cpu_us_per_op?: { machine: number | null; gateway?: number | null };
}
interface Check { target: string; value: number; goal: number; better: 'higher' | 'lower'; met: boolean; by: string; note?: string }
const rows: Row[] = [];
const checks: Check[] = [];
const notes: string[] = [];

/** µs of CPU per operation, or null (no reading, no operations). */
const perOp_us = (ms: number | null, ops: number) => (ms === null || ops <= 0 ? null : Math.round((ms * 1000) / ops));

function row(scenario: string, what: string, driver: string, r: Result, unit: string, rss_mb: number | null): Row {
  const cpu = { machine: perOp_us(r.cpu.machine_ms, r.ops), ...(r.cpu.pids_ms === null ? {} : { gateway: perOp_us(r.cpu.pids_ms, r.ops) }) };
  const x: Row = { scenario, what, driver, throughput: r.throughput, unit, p50_ms: r.p50_ms, p99_ms: r.p99_ms, max_ms: r.max_ms, errors: r.errors, ops: r.ops, rss_mb, ...(r.errorSamples.length ? { errorSamples: r.errorSamples } : {}), ...(Object.keys(r.steps).length > 1 ? { steps: r.steps } : {}), ...(cpu.machine === null ? {} : { cpu_us_per_op: cpu }) };
  rows.push(x);
  log(`${scenario} ${what}: ${r.throughput.toFixed(0)} ${unit}, p50 ${r.p50_ms.toFixed(2)} ms, p99 ${r.p99_ms.toFixed(2)} ms, errors ${r.errors}${rss_mb ? `, peak RSS ${rss_mb} MB` : ''}${cpu.machine === null ? '' : `, machine CPU ${cpu.machine} µs per op${cpu.gateway ? ` (gateway ${cpu.gateway})` : ''}`}`);
  if (r.errorSamples.length) log('  errors:', r.errorSamples.slice(0, 2).join(' | '));
  if (Object.keys(r.steps).length > 1) log('  steps:', Object.entries(r.steps).map(([k, v]) => `${k} p50 ${v.p50_ms.toFixed(1)} / p99 ${v.p99_ms.toFixed(1)} ms`).join(', '));
  return x;
}

function check(target: string, value: number, goal: number, better: 'higher' | 'lower', note?: string): void {
  const met = better === 'higher' ? value >= goal : value < goal;
  const by = better === 'higher' ? `${((value / goal - 1) * 100).toFixed(0)}%` : `${((value / goal - 1) * 100).toFixed(0)}%`;
  checks.push({ target, value: Number(value.toFixed(3)), goal, better, met, by, ...(note ? { note } : {}) });
  log(`target ${target}: ${value.toFixed(3)} vs ${goal} → ${met ? 'met' : 'MISSED'} (${by})`);
}

async function setupVia(node: Proc, merchants: number, payers: number): Promise<Setup> {
  const r = await api(node.url, 'POST', '/bench/setup', { merchants, payers, currency: CURRENCY, balance: '100000000' });
  if (r.status !== 200) throw new Error('setup failed: ' + r.text);
  return r.json as Setup;
}

async function seedPending(node: Proc, merchant_id: string, n: number, dialect = 'bench'): Promise<string[]> {
  const r = await api(node.url, 'POST', '/bench/seed', { merchant_id, n, currency: CURRENCY, dialect, concurrency: 16 });
  if (r.status !== 200) throw new Error('seed failed: ' + r.text);
  return r.json.ids as string[];
}

/** 1. Polling a pending payment's status with 10,000 pending, against a bare route. */
async function scenarioPolling(pgOk: boolean): Promise<number> {
  const databaseUrl = pgOk ? dbUrl(await freshDb('poll')) : undefined;
  const node = await startNode({ databaseUrl });
  const setup = await setupVia(node, 1, 1);
  const d = await detectDriver(node.url);
  const { perOp } = await varsFor(d, node, setup);
  const step = statusStep(d, 'a', false);
  // The baseline's process starts while the pending payments are created (its answer is set below).
  const bareP = startProc('bench/bare.ts', { BARE_METHOD: step.method, BARE_PATH: step.path.replace('{{id}}', ':id') });
  let ids: string[];
  if (d === 'ibous' && !QUICK) {
    const seeded = await loadgen({ mode: 'closed', duration_s: 300, connections: 16, maxOps: PENDING, groups: { a: [node.url] }, steps: [createStep(d, 'a')], perOp, collect: ['id'] });
    if (seeded.errors) throw new Error('seeding failed: ' + seeded.errorSamples.join(' | '));
    ids = seeded.collected!.map((c) => c.id!);
  } else {
    // --quick: the pending payments are created through the core in the gateway process
    // (the ibous dialect's own payments: same cache entries, same answers), which is faster.
    // Meanwhile the load generator warms up on the bare route (unmeasured), so the gateway's
    // run below does not pay for the client's own compilation (the default mode's seeding
    // warms it).
    const warm = bareP.then((b) => loadgen({ mode: 'closed', duration_s: 1, connections: 16, groups: { a: [b.url] }, steps: [step], perOp: { ...perOp, id: ['1'] } }));
    [ids] = await Promise.all([seedPending(node, setup.merchants[0]!.id, PENDING, d === 'ibous' ? 'ibous' : 'bench'), warm]);
  }
  log(`polling: ${ids.length} pending payments created (${d} driver, ${node.url}, ${pgOk ? 'postgres' : 'pglite'})`);
  const driver = d === 'ibous' ? 'ibous POST /api/PaymentProcess (API-TOKEN headers, JSON body)' : 'core status route (/bench/status/:id → StatusCache)';
  if (d === 'core') notes.push('Polling used GET /bench/status/:id (the StatusCache read a polling endpoint does): ibous PaymentProcess did not answer on this build.');
  const sample = await api(node.url, step.method, step.path.replace('{{id}}', ids[0]!), step.body?.replace('{{id}}', ids[0]!), {
    authorization: d === 'ibous' ? '' : `Bearer ${ADMIN}`, ...(d === 'ibous' ? { 'API-TOKEN-KEY': perOp.key![0]!, 'API-TOKEN-SECRET': perOp.secret![0]! } : {}),
  });
  const conns = 64;
  const opts = { mode: 'closed' as const, duration_s: D, warmup_s: WARMUP_S, connections: conns, steps: [step], perOp: { ...perOp, id: ids } };
  // Gateway and bare route alternate (twice in the default mode): the machine is shared, so the
  // best run of each is compared.
  const bare = await bareP;
  await api(bare.url, 'PUT', '/__bare', { status: sample.status, body: sample.text });
  let g: Result | null = null;
  let b: Result | null = null;
  for (let round = 0; round < (QUICK ? 1 : 2); round++) {
    const gr = await loadgen({ ...opts, groups: { a: [node.url] } });
    const br = await loadgen({ ...opts, groups: { a: [bare.url] } });
    if (!g || gr.throughput > g.throughput) g = gr;
    if (!b || br.throughput > b.throughput) b = br;
  }
  const rss = node.rss_mb();
  const gRow = row('1 polling', `status of 1 of ${PENDING} pending`, driver, g!, 'req/s', rss);
  const bRow = row('1 polling', 'bare Fastify route, same JSON', 'bare', b!, 'req/s', bare.rss_mb());
  await node.stop();
  await bare.stop();
  check('polling ≥ 0.5× bare route', gRow.throughput / bRow.throughput, 0.5, 'higher');
  check(`gateway peak RSS < 300 MB with ${PENDING} pending`, rss, 300, 'lower');
  return gRow.throughput;
}

/** 2. Complete payments per second against pgbench TPC-B; 3. create p99 at half the max rate. */
async function scenarioPaymentPath(pgOk: boolean): Promise<void> {
  let liteNode: Awaited<ReturnType<typeof startNode>> | null = null;
  const receiver = await startReceiver();
  cleanups.push(() => receiver.close());
  const flowSteps = (d: Driver, g: string) => [createStep(d, g), payStep(d, g), statusStep(d, g, true)];
  if (pgOk) {
    const payDb = dbUrl(await freshDb('pay'));
    const node = await startNode({ databaseUrl: payDb, callbackUrl: receiver.url });
    const d = await detectDriver(node.url);
    // The create-latency floor's process starts during the setup (its answer is set later).
    // --quick has no floor: it is context for the target, not a target (3 s of the minute).
    const cs = createStep(d, 'a');
    // A payer per client (one payer's pays never share a batch: shared payers would cap them).
    const [setup, bare] = await Promise.all([setupVia(node, 100, Math.max(...PATH_CLIENTS)), QUICK ? null : startProc('bench/bare.ts', { BARE_METHOD: cs.method, BARE_PATH: cs.path })]);
    const { perOp, perWorker } = await varsFor(d, node, setup);
    // BENCH_PATH_NODES > 1: more nodes on the same database, each op's three steps on one node
    // (stateless nodes behind a balancer that keeps a client's connection on one node).
    const more = await Promise.all(Array.from({ length: PATH_NODES - 1 }, () => startNode({ databaseUrl: payDb, callbackUrl: receiver.url })));
    const pathNodes = [node, ...more];
    const onNodes = PATH_NODES > 1 ? `, ${PATH_NODES} nodes` : '';
    const paths: { clients: number; row: Row }[] = [];
    for (const clients of PATH_CLIENTS) {
      await beforeRun(payDb);
      // The node's first run: a whole second of warmup in both modes (it has not run a payment yet).
      const r = await loadgen({ mode: 'closed', duration_s: D, warmup_s: paths.length ? WARMUP_S : 1, connections: clients, groups: { a: pathNodes.map((n) => n.url) }, sticky: true, steps: flowSteps(d, 'a'), perWorker, perOp, cpuPids: pathNodes.map((n) => n.pid) });
      paths.push({ clients, row: row('2 payment path', `complete payments, Postgres (create→pay→seen), ${clients} clients${onNodes}`, DRIVER_DOC[d], r, 'payments/s', Math.max(...pathNodes.map((n) => n.rss_mb()))) });
    }
    const g = paths.reduce((a, b) => (b.row.throughput > a.row.throughput ? b : a));
    for (const n of pathNodes) log(`  group commit (requests per statement)${onNodes ? ` on ${n.url}` : ''}: ${await batching(n)}`);
    for (const n of more) await n.stop();

    // 3. create-payment latency at half the maximum create rate (same node).
    await beforeRun(payDb);
    const beforeMax = await counters(node);
    const max = await loadgen({ mode: 'closed', duration_s: QUICK ? D : Math.max(3, D / 2), warmup_s: WARMUP_S, connections: 32, groups: { a: [node.url] }, steps: [createStep(d, 'a')], perOp });
    row('3 create latency', 'create, max rate (closed loop, 32 conns)', DRIVER_DOC[d].split(' → ')[0]!, max, 'creates/s', node.rss_mb());
    log(`  group commit during it: ${await batching(node, beforeMax)}`);
    const half = Math.max(10, Math.floor(max.throughput / 2));
    await beforeRun(payDb);
    await api(node.url, 'POST', '/bench/stalls', { reset: true, ...(TIMELINE_MS ? { timeline_ms: TIMELINE_MS } : {}) });
    const beforeHalf = await counters(node);
    const kdamond0_ms = kdamond_ms();
    const open = await loadgen({ mode: 'open', rate: half, duration_s: D, warmup_s: WARMUP_S, connections: 64, groups: { a: [node.url] }, steps: [createStep(d, 'a')], perOp, ...(TIMELINE_MS ? { timeline_ms: TIMELINE_MS } : {}) });
    const { timeline: gwTimeline, mono_to_wall_us, ...stalls } = (await api(node.url, 'POST', '/bench/stalls', {})).json;
    log(`  gateway stalls during it: ${JSON.stringify(stalls)}`);
    const kd_ms = kdamond_ms();
    if (kd_ms !== null && kdamond0_ms !== null) log(`  the kernel's DAMON memory monitor (kdamond) ran ${(kd_ms - kdamond0_ms).toFixed(0)} ms during it (in bursts: see docs/benchmark-history.md, seventeenth pass)`);
    if (open.timeline && gwTimeline) logTimeline(open.timeline, gwTimeline, mono_to_wall_us);
    log(`  group commit during it: ${await batching(node, beforeHalf)}`);
    if (open.late) log(`  client start lateness during it: p99 ${open.late.p99_ms.toFixed(1)} ms, max ${open.late.max_ms.toFixed(1)} ms, ${open.late.over_5ms} of ${open.ops} ops started over 5 ms late`);
    if (open.max_by_s) log(`  slowest create of each second (ms): ${open.max_by_s.join(' ')}`);
    const h = row('3 create latency', `create at half max (${half}/s, open loop)`, DRIVER_DOC[d].split(' → ')[0]!, open, 'creates/s', node.rss_mb());
    check('p99 create-payment at half load < 25 ms', h.p99_ms, 25, 'lower');
    // The floor of this machine at that rate: a bare Fastify route answering a create's exact
    // JSON, under the same open-loop load (same client, same rate, same cores).
    if (bare) {
      const fill = (t: string) => t.replace(/\{\{(\w+)\}\}/g, (_m, k: string) => (k === 'seq' ? 'floor' : perOp[k]?.[0] ?? ''));
      const sample = await api(node.url, cs.method, cs.path, JSON.parse(fill(cs.body!)), Object.fromEntries(Object.entries(cs.headers ?? {}).map(([k, v]) => [k, fill(v)])));
      await node.stop();
      await api(bare.url, 'PUT', '/__bare', { status: sample.status, body: sample.text });
      const floor = await loadgen({ mode: 'open', rate: half, duration_s: D, warmup_s: WARMUP_S, connections: 64, groups: { a: [bare.url] }, steps: [{ ...cs, extract: undefined }], perOp });
      row('3 create latency', `bare Fastify route, same JSON, same rate (${half}/s, open loop)`, 'bare', floor, 'req/s', bare.rss_mb());
      await bare.stop();
    } else await node.stop();
    log(`callbacks delivered: ${receiver.count()}`);

    // Unmeasured and side by side: pgbench's initialisation (the server's work) and the start
    // of the PGlite node below (its initdb, one core of this process tree).
    const [pbName, lite] = await Promise.all([pgbenchInit(), startNode({ callbackUrl: receiver.url })]);
    liteNode = lite;
    if (pbName) {
      const pbs: Awaited<ReturnType<typeof pgbenchRun>>[] = [];
      for (const clients of PGBENCH_CLIENTS) {
        const pb = await pgbenchRun(pbName, PGBENCH_S, clients);
        pbs.push(pb);
        rows.push({ scenario: '2 payment path', what: `pgbench TPC-B, scale 10, ${clients} clients (p50 column: average)`, driver: 'pgbench', throughput: pb.tps, unit: 'tx/s', p50_ms: pb.latency_ms, p99_ms: NaN, max_ms: NaN, errors: 0, ops: Math.round(pb.tps * PGBENCH_S), rss_mb: null, ...(pb.cpu_us_per_tx === null ? {} : { cpu_us_per_op: { machine: pb.cpu_us_per_tx } }) });
        log(`pgbench, ${clients} clients: ${pb.tps.toFixed(0)} tps, latency average ${pb.latency_ms} ms${pb.cpu_us_per_tx === null ? '' : `, machine CPU ${pb.cpu_us_per_tx} µs per transaction`}`);
      }
      const pb = pbs.reduce((a, b) => (b.tps > a.tps ? b : a));
      check('payment path ≥ 1.0× pgbench TPC-B (Postgres)', g.row.throughput / pb.tps, 1.0, 'higher',
        `each at its best: ${g.row.throughput.toFixed(0)} payments/s at ${g.clients} clients (of ${PATH_CLIENTS.join(', ')}), ${pb.tps.toFixed(0)} tx/s at ${pb.clients} (of ${PGBENCH_CLIENTS.join(', ')})${sameRatio(paths.find((x) => x.clients === SAME_CLIENTS)?.row.throughput, pbs.find((x) => x.clients === SAME_CLIENTS)?.tps)}${cpuCompared(g.row.cpu_us_per_op, pb.cpu_us_per_tx)}`);
    } else notes.push('pgbench is not installed: no Postgres baseline.');
  } else notes.push('No Postgres server at ' + PG_BASE + ': Postgres scenarios skipped.');

  // Embedded engine: the same flow on PGlite, against bare PGlite transactions of the same shape.
  const node = liteNode ?? (await startNode({ callbackUrl: receiver.url }));
  const d = await detectDriver(node.url);
  const setup = await setupVia(node, QUICK ? 10 : 100, QUICK ? 8 : 64); // setup is slow on PGlite
  const { perOp, perWorker } = await varsFor(d, node, setup);
  // The node's first run: a whole second of warmup in both modes.
  const r = await loadgen({ mode: 'closed', duration_s: D, warmup_s: 1, connections: 8, groups: { a: [node.url] }, steps: flowSteps(d, 'a'), perWorker, perOp });
  const g = row('2 payment path', 'complete payments, PGlite (create→pay→seen)', DRIVER_DOC[d], r, 'payments/s', node.rss_mb());
  await node.stop();
  // In the stopped node's own database (its own tables beside the gateway's): same storage,
  // same settings, and no second initdb (about 5 s of a --quick run).
  const bareDir = join(node.dataDir, 'db');
  const bare = await new Promise<string>((resolve) => {
    const c = spawn(process.execPath, [join(root, 'bin/run-ts.js'), join(root, 'bench/pglite-bare.ts')], { cwd: root, env: { ...process.env, BARE_SECONDS: String(D), BARE_DATA_DIR: bareDir }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout!.on('data', (x) => (out += x));
    c.on('exit', () => resolve(out));
  });
  const b = JSON.parse(bare.trim().split('\n').pop()!);
  rows.push({ scenario: '2 payment path', what: 'bare PGlite transfer tx (3 statements)', driver: 'PGlite in-process', throughput: b.tps, unit: 'tx/s', p50_ms: b.p50_ms, p99_ms: b.p99_ms, max_ms: b.max_ms, errors: 0, ops: b.count, rss_mb: null });
  log(`bare PGlite: ${b.tps.toFixed(0)} tx/s`);
  check('payment path ≥ 1.0× bare PGlite transaction (PGlite)', g.throughput / b.tps, 1.0, 'higher', 'informational: the issue sets no PGlite target');
}

/**
 * BENCH_TIMELINE=ms (diagnostic): the half-load create run, slice by slice (warm-up included),
 * the client's view (ops by scheduled start, slowest, its lateness, the machine's busy share)
 * beside the gateway's (event-loop lateness, GC, create statements, its CPU, its main thread's
 * run and run-queue time), by wall clock.
 */
const TIMELINE_MS = Number(process.env.BENCH_TIMELINE) || 0;
function logTimeline(c: NonNullable<Result['timeline']>, gw: GatewaySlice[], mono_to_wall_us: number): void {
  log(`  timeline from ${c.t0_wall_ms.toFixed(0)} (wall ms; a gateway CPU profile's clock + ${mono_to_wall_us} µs is wall time):`);
  log('  t_s (from the run start; * = measured) | client: ops slowest_ms late_ms machine% | gateway: lag_ms gc_ms stmts creates stmt_ms cpu% | main thread run_ms runqueue_ms, other threads run_ms');
  for (let k = 0; k < c.n.length; k++) {
    const from = c.t0_wall_ms + k * c.slice_ms;
    const g = gw.filter((r) => r.end_wall_ms > from && r.end_wall_ms <= from + c.slice_ms);
    const sum = (f: (r: GatewaySlice) => number) => g.reduce((a, r) => a + f(r), 0);
    const gws = g.length ? `${Math.max(...g.map((r) => r.lag_max_ms))} ${sum((r) => r.gc_ms)} ${sum((r) => r.create_stmts)} ${sum((r) => r.create_items)} ${sum((r) => r.create_busy_ms)} ${Math.round((100 * sum((r) => r.cpu_ms)) / c.slice_ms)} | ${sum((r) => r.main_run_ms)} ${sum((r) => r.main_wait_ms)} ${sum((r) => r.others_run_ms)}` : '-';
    log(`  ${((k * c.slice_ms) / 1000).toFixed(1)}${k >= c.warmup_slices ? '*' : ' '} | ${c.n[k] ?? 0} ${c.max_ms[k] ?? 0} ${c.late_max_ms[k] ?? 0} ${c.machine_busy_pct[k] ?? '-'} | ${gws}`);
  }
}

/** A node's /metrics text: its group-commit and pay-fact counters, for batching(). */
async function counters(node: Proc): Promise<string> {
  return (await api(node.url, 'GET', '/metrics')).text;
}

/** Requests per statement of each group-committed operation; since `before` (counters()) if given. */
async function batching(node: Proc, before?: string): Promise<string> {
  const text = await counters(node);
  const num = (t: string | undefined, re: RegExp) => new Map([...(t ?? '').matchAll(re)].map((m) => [m[1]!, Number(m[2])]));
  const of = (re: RegExp) => {
    const now = num(text, re), was = num(before, re);
    return new Map([...now].map(([k, v]) => [k, v - (was.get(k) ?? 0)]));
  };
  const st = of(/^paygate_group_commit_statements_total\{op="(\w+)"\} (\d+)$/gm);
  const it = of(/^paygate_group_commit_items_total\{op="(\w+)"\} (\d+)$/gm);
  const secs = of(/^paygate_group_commit_seconds_total\{op="(\w+)"\} ([\d.]+)$/gm);
  const facts = of(/^paygate_pay_facts_total\{source="(\w+)"\} (\d+)$/gm);
  return [...st].filter(([, n]) => n > 0 || !before).map(([op, n]) => `${op} ${n ? (it.get(op)! / n).toFixed(2) : '–'} (${it.get(op)} in ${n}${n && secs.has(op) ? `, ${((secs.get(op)! * 1000) / n).toFixed(1)} ms each` : ''})`).join(', ') + `; pay facts from memory ${facts.get('memory') ?? 0}, read ${facts.get('read') ?? 0}`;
}

/** 4. Three nodes on one Postgres: payments created on one node, paid on another, polled on all. */
async function scenarioFanout(pollRateMax: number): Promise<void> {
  const databaseUrl = dbUrl(await freshDb('fanout'));
  spareLoadgen(); // the probe and the measured run below each run two at once
  // All three at once: migrations take an advisory lock, so one applies them and the others wait.
  const nodes = await Promise.all([startNode({ databaseUrl }), startNode({ databaseUrl }), startNode({ databaseUrl })]);
  const a = nodes[0]!;
  const d = await detectDriver(a.url);
  const setup = await setupVia(a, 20, 32);
  const { perOp, perWorker } = await varsFor(d, a, setup);
  // Pending payments to poll, spread over the nodes' caches.
  const npending = QUICK ? 1000 : 3000;
  const urls = nodes.map((n) => n.url);
  // (one merchant: the ids come back in completion order, so they must not need a per-op merchant)
  const one = { merchant: perOp.merchant!.slice(0, 1), key: perOp.key!.slice(0, 1), secret: perOp.secret!.slice(0, 1) };
  const ids = QUICK
    ? await seedPending(a, one.merchant[0]!, npending, d === 'ibous' ? 'ibous' : 'bench')
    : (await loadgen({ mode: 'closed', duration_s: 300, connections: 16, maxOps: npending, groups: { a: urls }, steps: [createStep(d, 'a')], perOp: one, collect: ['id'] })).collected!.map((x) => x.id!);
  // Polling at a steady rate (merchants poll every 100 ms or so), not as fast as possible: the
  // nodes stay below saturation so propagation is what gets measured.
  // A quarter of what one node answered in scenario 1, spread over three nodes.
  const pollRate = Math.max(100, Math.min(QUICK ? 600 : 1500, Math.floor((pollRateMax || 2000) / 4)));
  const pollSpec = (duration_s: number, warmup_s: number): Spec => ({ mode: 'open', rate: pollRate, duration_s, warmup_s, connections: 32, groups: { a: urls }, steps: [statusStep(d, 'a', false)], perOp: { ...one, id: ids } });
  const paySteps = [createStep(d, 'create'), payStep(d, 'pay')];
  const payGroups = { create: urls, pay: [urls[1]!, urls[2]!, urls[0]!] };
  // Visibility is measured below saturation, at half the rate these three nodes complete
  // payments with the same polling running (measured first: a short closed loop, which also
  // warms the fresh nodes up: they compile their code, prepare their statements and learn
  // their accounts on their first requests). A fixed share of scenario 2's single-node rate
  // saturated the cores on some machines, and then measured the saturation.
  let rate = Number(process.env.BENCH_FANOUT_RATE);
  let capacity = NaN;
  if (!rate) {
    const probe_s = QUICK ? 2 : 5;
    const [max] = await Promise.all([
      // A whole second of warmup in both modes: these nodes are fresh (with half a second,
      // --quick's probe found two thirds of their rate).
      loadgen({ mode: 'closed', duration_s: probe_s, warmup_s: 1, connections: FANOUT_PROBE_CONNS, groups: payGroups, steps: paySteps, perWorker, perOp }),
      loadgen(pollSpec(probe_s, 1)),
    ]);
    capacity = max.throughput;
    rate = Math.max(20, Math.floor(capacity / 2));
    log(`  three nodes complete ${capacity.toFixed(0)} payments/s at most (closed loop, ${FANOUT_PROBE_CONNS} conns, polling running): offering half (steps ${Object.entries(max.steps).map(([k, v]) => `${k} p50 ${v.p50_ms.toFixed(1)} / p99 ${v.p99_ms.toFixed(1)} ms`).join(", ")}; group commit per node: ${(await Promise.all(nodes.map((n) => batching(n)))).join(" | ")})`);
  }
  const warmup_s = 2 * WARMUP_S;
  await beforeRun(databaseUrl);
  const payP = loadgen({ mode: 'open', rate, duration_s: D, warmup_s, connections: 64, groups: payGroups, steps: paySteps, perWorker, perOp, collect: ['id'] });
  const pollP = loadgen(pollSpec(D, warmup_s));
  // Each node's own pauses over the measured part (GC, event-loop delay), reset when it starts.
  setTimeout(() => void Promise.all(nodes.map((n) => api(n.url, 'POST', '/bench/stalls', { reset: true }))), warmup_s * 1000);
  const [pay, poll] = await Promise.all([payP, pollP]);
  for (const [i, n] of nodes.entries()) log(`  node ${'ABC'[i]} stalls: ${(await api(n.url, 'POST', '/bench/stalls', {})).text}`);
  await new Promise((r) => setTimeout(r, 500)); // let the last notifications land
  row('4 fan-out', `payments across 3 nodes (${rate}/s offered${Number.isFinite(capacity) ? `, half their max of ${capacity.toFixed(0)}/s` : ''}, create on one, pay on the next)`, DRIVER_DOC[d], pay, 'payments/s', Math.max(...nodes.map((n) => n.rss_mb())));
  row('4 fan-out', `polling spread over the 3 nodes at the same time (${pollRate}/s offered)`, d === 'ibous' ? 'ibous PaymentProcess' : 'core status route', poll, 'req/s', null);
  const seen = await Promise.all(nodes.map((n) => api(n.url, 'GET', '/bench/visibility').then((r) => r.json.seen as Record<string, number>)));
  const lat: number[] = [];
  let missing = 0;
  for (const { id } of pay.collected ?? []) {
    const ts = seen.map((s) => s[id!]);
    if (ts.some((t) => t === undefined)) {
      missing++;
      continue;
    }
    lat.push(Math.max(...(ts as number[])) - Math.min(...(ts as number[])));
  }
  lat.sort((x, y) => x - y);
  const p = (q: number) => lat[Math.min(lat.length - 1, Math.floor((q / 100) * lat.length))] ?? NaN;
  rows.push({ scenario: '4 fan-out', what: 'state change → visible in every node\'s status cache', driver: 'feed arrival times', throughput: NaN, unit: '', p50_ms: p(50), p99_ms: p(99), max_ms: lat[lat.length - 1] ?? NaN, errors: missing, ops: lat.length, rss_mb: null });
  log(`visibility on all 3 nodes: p50 ${p(50).toFixed(2)} ms, p99 ${p(99).toFixed(2)} ms, max ${(lat[lat.length - 1] ?? NaN).toFixed(2)} ms over ${lat.length} payments, ${missing} not seen everywhere`);
  check('visibility on every node p99 < 100 ms', p(99), 100, 'lower', missing ? `${missing} payments not seen on every node` : undefined);
  await Promise.all(nodes.map((n) => n.stop()));
}

// ---- report ------------------------------------------------------------------------

const fmt = (v: number, d = 0) => (Number.isFinite(v) ? v.toFixed(d) : '–');

function markdown(meta: Record<string, unknown>): string {
  const out: string[] = [];
  out.push(`# Paygate benchmark — ${meta.date}`, '', `Mode: ${meta.mode} (${meta.seconds_per_run} s per run); machine: ${meta.cpus} CPUs, ${meta.mem_gb} GB; Node ${meta.node}; total ${meta.total_s} s.`, '');
  out.push('| scenario | what | throughput | p50 ms | p99 ms | max ms | errors | peak RSS MB |', '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) out.push(`| ${r.scenario} | ${r.what} | ${Number.isFinite(r.throughput) ? `${fmt(r.throughput)} ${r.unit}` : '–'} | ${fmt(r.p50_ms, 2)} | ${fmt(r.p99_ms, 2)} | ${fmt(r.max_ms, 1)} | ${r.errors} | ${r.rss_mb ?? '–'} |`);
  out.push('', '| target | measured | goal | result |', '| --- | ---: | ---: | --- |');
  for (const c of checks) out.push(`| ${c.target} | ${c.value} | ${c.better === 'higher' ? '≥' : '<'} ${c.goal} | ${c.met ? 'met' : 'missed'} (${c.by})${c.note ? ` — ${c.note}` : ''} |`);
  // A missed target's report says where what was tried for it is written down (issue 7).
  if (checks.some((c) => !c.met)) out.push('', 'What was measured and tried for the missed targets: docs/benchmark.md ("What is still missed") and docs/benchmark-history.md (each pass).');
  if (notes.length) out.push('', 'Notes:', ...notes.map((n) => `- ${n}`));
  out.push('', '![throughput and p99](latest.png)', '');
  return out.join('\n');
}

async function main(): Promise<void> {
  const pgOk = await pgAvailable();
  log(`bench ${QUICK ? '--quick' : 'default'}: ${D} s per run, Postgres ${pgOk ? 'at ' + PG_BASE : 'NOT available'}`);
  const want = (s: string) => !only || only.includes(s);
  let pollRate = 0;
  if (want('polling')) pollRate = await scenarioPolling(pgOk);
  if (want('payment')) await scenarioPaymentPath(pgOk);
  if (want('fanout')) {
    if (pgOk) await scenarioFanout(pollRate);
    else notes.push('Fan-out needs Postgres: skipped.');
  }
  // The issue bounds the whole command (default under 5 minutes, --quick under 1): a slow VM
  // that pushes the run past it shows as a missed target, not only in the log's clock. Only a
  // whole run of the mode's own shape is held to it (the knobs below add or lengthen runs).
  const total_s = (Date.now() - started) / 1000;
  const ownShape = !only && !['BENCH_D', 'BENCH_PATH_CLIENTS', 'BENCH_PGBENCH_CLIENTS', 'BENCH_PATH_NODES'].some((k) => process.env[k]);
  if (ownShape) check(`bench run time < ${RUN_BOUND_S} s (${QUICK ? '--quick' : 'default'} mode)`, total_s, RUN_BOUND_S, 'lower');
  rows.sort((a, b) => a.scenario.localeCompare(b.scenario)); // stable: scenario order, then run order
  const meta = {
    date: new Date().toISOString(), mode: QUICK ? 'quick' : 'default', seconds_per_run: D, cpus: cpus().length, mem_gb: Math.round(totalmem() / 2 ** 30),
    node: process.version, total_s: Math.round(total_s),
  };
  const dir = join(root, 'bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'latest.json'), JSON.stringify({ ...meta, rows, checks, notes }, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
  writeFileSync(join(dir, 'latest.md'), markdown(meta));
  writeFileSync(join(dir, 'latest.png'), drawChart(rows.filter((r) => Number.isFinite(r.p99_ms) || Number.isFinite(r.throughput))));
  log(`wrote bench/results/latest.{json,md,png}`);
}

try {
  await main();
} finally {
  for (const p of [...live]) await p.stop().catch(() => {});
  for (const c of idleLoadgens.splice(0)) c.disconnect(); // each exits once its channel closes
  for (const c of cleanups.reverse()) await c().catch(() => {});
}
