// Starts a real gateway for a test file: its own database (PGlite in a fresh data directory,
// or a fresh database on the Postgres server when PAYGATE_TEST_ENGINE=postgres), a random
// port, a manual clock, fast delivery retries. Tests talk to it over HTTP.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { ManualClock } from '../src/clock.ts';
import { loadConfig } from '../src/config.ts';
import { createGateway, type Gateway, makeLogger } from '../src/gateway.ts';
import { verifyLedger, type Violation } from '../src/ledger/verify.ts';
import { openDb, type Db, type Queryable } from '../src/store/db.ts';
import { initDataDirInChild } from '../src/store/pglite.ts';

export const ENGINE = (process.env.PAYGATE_TEST_ENGINE ?? 'pglite') as 'pglite' | 'postgres';
export const ADMIN_TOKEN = 'test-admin-token';

/** A fresh database on the test server; dropped by the returned function. */
export async function freshPostgresDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const base = process.env.DATABASE_URL;
  if (!base) throw new Error('PAYGATE_TEST_ENGINE=postgres needs DATABASE_URL (npm test sets it)');
  const name = `paygate_t_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const u = new URL(base);
  u.pathname = '/' + name;
  return {
    url: u.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`).catch(() => {});
      await c.end();
    },
  };
}

/** A database of the engine under test, for tests below the HTTP layer (store, ledger). */
export async function testDb(): Promise<{ db: Db; close: () => Promise<void> }> {
  if (ENGINE === 'postgres') {
    const f = await freshPostgresDatabase();
    const db = await openDb({ databaseUrl: f.url, poolSize: 20 });
    return { db, close: async () => { await db.close(); await f.drop(); } };
  }
  const db = await openDb({});
  return { db, close: () => db.close() };
}

export interface TestGateway {
  gw: Gateway;
  url: string;
  clock: ManualClock;
  db: Db;
  /** The gateway's log at info level (StartOptions.log); readable after close, removed when the test process exits. null when silent. */
  logFile: string | null;
  /** Operator API call; returns status and parsed JSON. */
  admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  createMerchant(name?: string, extra?: Record<string, unknown>): Promise<any>;
  createPayer(kind: 'wallet' | 'subscriber', p: { name?: string; phone: string; pin?: string; currency: string; balance?: string }): Promise<any>;
  verify(): Promise<Violation[]>;
  close(): Promise<void>;
}

export interface StartOptions {
  env?: Record<string, string>;
  /** Log at info level to the file `logFile` names (for log and secret checks); silent otherwise. */
  log?: boolean;
  /** Use this database URL instead of a fresh one (several nodes on one database). */
  databaseUrl?: string;
}

/**
 * An initialised, empty PGlite cluster that each test gateway starts from as a copy: initdb
 * took 6.1 s on a slow VM, the copy 0.4 s, and initdb was most of the PGlite half's time.
 * Made once per `npm test` run by scripts/test.js (PAYGATE_TEST_PGLITE_TEMPLATE), or once per
 * test process when a file runs on its own. Migrations still run on every gateway, and the
 * `paygate serve` tests still create their databases from nothing.
 */
let pgliteTemplate = process.env.PAYGATE_TEST_PGLITE_TEMPLATE || null;
function pgliteTemplateDir(): string {
  if (!pgliteTemplate) {
    const dir = join(testProcessDir(), 'pglite-template');
    initDataDirInChild(dir);
    pgliteTemplate = dir;
  }
  return pgliteTemplate;
}

/** A directory for this test process's files that outlive a gateway (the PGlite template, logs), removed at exit. */
let processDir: string | null = null;
let logs = 0;
function testProcessDir(): string {
  if (!processDir) {
    const dir = (processDir = mkdtempSync(join(tmpdir(), 'paygate-test-process-')));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return processDir;
}

export async function startGateway(opts: StartOptions = {}): Promise<TestGateway> {
  const dataDir = mkdtempSync(join(tmpdir(), 'paygate-test-'));
  let drop: (() => Promise<void>) | null = null;
  let databaseUrl = opts.databaseUrl;
  if (!databaseUrl && ENGINE === 'postgres') {
    const f = await freshPostgresDatabase();
    databaseUrl = f.url;
    drop = f.drop;
  }
  // The gateway's PGlite lives in <data dir>/db (src/gateway.ts); from a copy, it skips initdb.
  if (!databaseUrl) cpSync(pgliteTemplateDir(), join(dataDir, 'db'), { recursive: true });
  const env = {
    PAYGATE_ADMIN_TOKEN: ADMIN_TOKEN,
    PAYGATE_SECRET_KEY: randomBytes(32).toString('hex'),
    PAYGATE_ALLOW_PRIVATE_CALLBACKS: '1',
    PAYGATE_LOG_LEVEL: opts.log ? 'info' : 'silent',
    PAYGATE_DELIVERY_BASE_MS: '50',
    PAYGATE_DELIVERY_POLL_MS: '50',
    PAYGATE_DELIVERY_TIMEOUT_MS: '2000',
    PAYGATE_SWEEP_MS: '100',
    // Tests send many bad credentials on purpose; the rate-limit test sets its own limits.
    PAYGATE_RATE_IP_AUTH_FAILURES: '1000000',
    PAYGATE_RATE_CREDENTIAL_AUTH_FAILURES: '1000000',
    PAYGATE_RATE_IP_PER_S: '0',
    ...opts.env,
  };
  const config = loadConfig(env, { port: 0, host: '127.0.0.1', dataDir, databaseUrl });
  const clock = new ManualClock();
  const { createWriteStream } = await import('node:fs');
  const logFile = opts.log ? join(testProcessDir(), `gateway-${++logs}.log`) : null;
  const log = makeLogger(config.logLevel, logFile ? createWriteStream(logFile, { flags: 'a' }) : undefined);
  const gw = await createGateway(config, { clock, log });
  const url = await gw.listen();
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(url + path, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  return {
    gw, url, clock, db: gw.db, logFile, admin,
    async createMerchant(name = 'Test Merchant', extra = {}) {
      const r = await admin('POST', '/admin/merchants', { name, ...extra });
      if (r.status !== 201) throw new Error(`merchant create failed: ${JSON.stringify(r.body)}`);
      return r.body;
    },
    async createPayer(kind, p) {
      const r = await admin('POST', `/admin/${kind}s`, { name: p.name ?? 'Test Payer', pin: p.pin ?? '1234', ...p });
      if (r.status !== 201) throw new Error(`${kind} create failed: ${JSON.stringify(r.body)}`);
      return r.body;
    },
    verify: () => verifyLedger(gw.db),
    async close() {
      await gw.close();
      if (drop) await drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A callback receiver on 127.0.0.1 that records requests and answers with `respond`. */
export async function startReceiver(respond: (n: number, body: string) => { status: number; body: string } = () => ({ status: 200, body: '{"success":true}' })) {
  const http = await import('node:http');
  const received: { headers: Record<string, any>; body: string; at: number }[] = [];
  const waiters: (() => void)[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ headers: req.headers, body, at: Date.now() });
      const r = respond(received.length, body);
      res.writeHead(r.status, { 'content-type': 'application/json' }).end(r.body);
      waiters.splice(0).forEach((w) => w());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/callback`,
    received,
    /** Waits until at least n requests arrived (or throws after timeout_ms). */
    async waitFor(n: number, timeout_ms = 10_000) {
      const deadline = Date.now() + timeout_ms;
      while (received.length < n) {
        if (Date.now() > deadline) throw new Error(`receiver got ${received.length} of ${n} callbacks`);
        await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 100); });
      }
      return received;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/**
 * Runs `work` (locks, writes) in a transaction of its own and holds that transaction open,
 * uncommitted, until release() (which commits it and waits for its end): whoever needs what it
 * locked waits in the database meanwhile. On PGlite, with one connection, every query waits.
 */
export async function holdWith(db: Db, work: (q: Queryable) => Promise<unknown>): Promise<{ release: () => Promise<void> }> {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  let locked!: () => void;
  const isLocked = new Promise<void>((r) => (locked = r));
  const holding = db.tx(async (q) => {
    await work(q);
    locked();
    await gate;
  });
  await Promise.race([isLocked, holding]);
  return { release: async () => { open(); await holding; } };
}

/** Holds the lock `sql` takes (LOCK TABLE, SELECT … FOR UPDATE): see holdWith. */
export function hold(db: Db, sql: string, params?: unknown[]): Promise<{ release: () => Promise<void> }> {
  return holdWith(db, (q) => q.query(sql, params));
}

/** Holds `table` in share mode (see hold): its writers wait. */
export function holdTable(db: Db, table: string): Promise<{ release: () => Promise<void> }> {
  return hold(db, `lock table ${table} in share mode`);
}

/** Polls fn until it returns a truthy value, or throws after timeout_ms. */
export async function eventually<T>(fn: () => Promise<T> | T, timeout_ms = 10_000, every_ms = 25): Promise<T> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, every_ms));
  }
}
