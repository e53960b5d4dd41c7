// Crash-safety run (used by `npm run chaos` = scripts/chaos.ts and by chaos.test.ts): a
// `paygate serve` child process on a PGlite data dir (or a Postgres DATABASE_URL) under a mixed
// load of every dialect present, killed with SIGKILL at random moments and restarted on the same
// data. Afterwards: every payment/payout acknowledged to a client is still there with that state
// or a later one, `paygate verify` passes (no duplicated or unbalanced ledger entry), every
// callback in the outbox was delivered at least once, every received callback body is byte-equal
// to its outbox row (redeliveries identical).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { openSync, closeSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { openDb } from '../../src/store/db.ts';
import { call, type Creds, flexpay, handsetApprove, ibous, intouch, json, kess, kessToken, payUrlToken, qrToken, quickPayBody, walletCode, walletLogin, walletPay } from './clients.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
export const CHAOS_ADMIN_TOKEN = 'chaos-admin-token';

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A `node bin/paygate.js serve` child on a fixed port and data dir; restartable. */
export class Serve {
  child: ChildProcess | null = null;
  readonly url: string;
  private readonly secret = randomBytes(32).toString('hex');
  constructor(readonly opts: { dataDir: string; port: number; databaseUrl?: string; env?: Record<string, string> }) {
    this.url = `http://127.0.0.1:${opts.port}`;
  }
  env(): NodeJS.ProcessEnv {
    const e: NodeJS.ProcessEnv = {
      ...process.env,
      PAYGATE_ADMIN_TOKEN: CHAOS_ADMIN_TOKEN,
      PAYGATE_SECRET_KEY: this.secret,
      PAYGATE_ALLOW_PRIVATE_CALLBACKS: '1',
      PAYGATE_DEMO: '0',
      PAYGATE_LOG_LEVEL: 'warn',
      PAYGATE_DELIVERY_BASE_MS: '200',
      PAYGATE_DELIVERY_CAP_MS: '1000',
      PAYGATE_DELIVERY_MAX_ATTEMPTS: '1000',
      PAYGATE_DELIVERY_POLL_MS: '100',
      PAYGATE_DELIVERY_TIMEOUT_MS: '2000',
      PAYGATE_SWEEP_MS: '500',
      PAYGATE_RATE_IP_PER_S: '0',
      PAYGATE_RATE_IP_AUTH_FAILURES: '1000000',
      PAYGATE_RATE_CREDENTIAL_AUTH_FAILURES: '1000000',
      ...this.opts.env,
    };
    delete e.DATABASE_URL;
    if (this.opts.databaseUrl) e.DATABASE_URL = this.opts.databaseUrl;
    return e;
  }
  async start(timeout_ms = 60_000): Promise<void> {
    const out = openSync(join(this.opts.dataDir, 'serve.log'), 'a');
    this.child = spawn(process.execPath, [join(ROOT, 'bin/paygate.js'), 'serve', '--port', String(this.opts.port), '--host', '127.0.0.1', '--data-dir', this.opts.dataDir], {
      cwd: ROOT, env: this.env(), stdio: ['ignore', out, out],
    });
    closeSync(out);
    const deadline = Date.now() + timeout_ms;
    for (;;) {
      if (this.child.exitCode !== null) throw new Error(`paygate serve exited with ${this.child.exitCode} (see ${this.opts.dataDir}/serve.log)`);
      try {
        const r = await fetch(this.url + '/readyz', { signal: AbortSignal.timeout(1000) });
        if (r.status === 200) return;
      } catch { /* not yet */ }
      if (Date.now() > deadline) throw new Error('paygate serve did not become ready');
      await sleep(50);
    }
  }
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return c?.exitCode ?? null;
    const exited = once(c, 'exit');
    c.kill(signal);
    const [code] = (await exited) as [number | null];
    this.child = null;
    return code;
  }
  /** `paygate verify` on the same data (run while no server holds a PGlite data dir). */
  async verify(): Promise<{ code: number; out: string }> {
    const c = spawn(process.execPath, [join(ROOT, 'bin/paygate.js'), 'verify', '--data-dir', this.opts.dataDir], { cwd: ROOT, env: this.env() });
    let out = '';
    c.stdout!.on('data', (d) => (out += d));
    c.stderr!.on('data', (d) => (out += d));
    const [code] = (await once(c, 'exit')) as [number];
    return { code, out };
  }
  admin(method: string, path: string, body?: unknown) {
    return call(this.url + path, {
      method, headers: { authorization: `Bearer ${CHAOS_ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A callback receiver that records every body (IntouchPay needs {"success":true}). */
export async function receiver() {
  const bodies: string[] = [];
  const server = createHttpServer((req, res) => {
    let b = '';
    req.on('data', (c) => (b += c));
    req.on('end', () => {
      bodies.push(b);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"message":"success","success":true,"request_id":"chaos"}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/cb`, bodies, close: () => new Promise<void>((r) => server.close(() => r())) };
}

type Ack =
  | { kind: 'ibous'; id: string; state: 'pending' | 'succeeded' | 'refunded' }
  | { kind: 'intouchpay'; rid: string; tid: string; state: 'pending' | 'succeeded' }
  | { kind: 'intouchpay-deposit'; rid: string; ref: string }
  | { kind: 'flexpay-mm'; order: string; state: 'pending' | 'succeeded' }
  | { kind: 'flexpay-payout'; order: string }
  | { kind: 'kesspay-native'; out_trade_no: string; state: 'pending' | 'succeeded' }
  | { kind: 'kesspay-quick'; out_trade_no: string; state: 'succeeded' }
  | { kind: 'kesspay-refund'; out_trade_no: string; out_refund_no: string };

export interface ChaosOptions {
  kills: number;
  seconds: number;
  workers?: number;
  databaseUrl?: string;
  log?: (line: string) => void;
}

export interface ChaosReport {
  engine: string;
  kills: number;
  requests: number;
  acknowledged: number;
  acknowledged_by_kind: Record<string, number>;
  /** Flows that threw (connection refused while the server was down, a failed login...), by message. */
  errors: Record<string, number>;
  callbacks: number;
  callback_deliveries: number;
  lost: string[];
  verify: { code: number; out: string };
  ok: boolean;
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const log = o.log ?? (() => {});
  const dataDir = mkdtempSync(join(tmpdir(), 'paygate-chaos-'));
  const port = await freePort();
  const srv = new Serve({ dataDir, port, databaseUrl: o.databaseUrl });
  const rec = await receiver();
  let requests = 0;
  const acks: Ack[] = [];
  const lost: string[] = [];
  const errors: Record<string, number> = {};
  try {
    await srv.start();
    const m = await srv.admin('POST', '/admin/merchants', { name: 'Chaos Shop' });
    if (m.status !== 201) throw new Error('merchant: ' + m.text);
    const creds = m.body.credentials as Creds;
    const PIN = '2468';
    const wallets = ['50931000001', '50931000002', '50931000003', '50931000004'];
    const rw = ['250788200001', '250788200002', '250788200003'];
    const cd = ['243990200001', '243990200002', '243990200003'];
    for (const phone of wallets) await srv.admin('POST', '/admin/wallets', { name: 'W ' + phone, phone, pin: PIN, currency: 'HTG', balance: '100000000' });
    for (const phone of rw) await srv.admin('POST', '/admin/subscribers', { name: 'S ' + phone, phone, pin: PIN, currency: 'RWF', balance: '100000000' });
    for (const phone of cd) await srv.admin('POST', '/admin/subscribers', { name: 'S ' + phone, phone, pin: PIN, currency: 'USD', balance: '1000000' });
    const kpWallets = ['85531000001', '85531000002', '85531000003', '85531000004'];
    for (const phone of kpWallets) await srv.admin('POST', '/admin/wallets', { name: 'K ' + phone, phone, pin: PIN, currency: 'USD', balance: '1000000' });
    const kp = creds.kesspay!;
    const base = srv.url;
    const sessions = new Map<string, string>();
    const pick = <T>(a: T[]) => a[Math.floor(Math.random() * a.length)]!;
    let seq = 0;

    const flows: (() => Promise<void>)[] = [
      async () => { // ibous QR + wallet pay (+ refund)
        const r = await ibous(base, creds.ibous, 'CreatePaymentQRcode', { qrcode_size: '4', amount: String(1 + Math.floor(Math.random() * 500)), currency: 'HTG', item: 'chaos' });
        if (r.status !== 200 || r.body?.error !== false) return;
        const a: Ack = { kind: 'ibous', id: r.body.qrcode_id, state: 'pending' };
        acks.push(a);
        const phone = pick(wallets);
        let s = sessions.get(phone);
        if (!s) sessions.set(phone, (s = await walletLogin(base, phone, PIN, 'HTG')));
        const p = await walletPay(base, s, qrToken(r.body.qrcode_img), PIN);
        if (p.status === 401) sessions.delete(phone);
        if (p.status !== 200) return;
        a.state = 'succeeded';
        if (Math.random() < 0.3) {
          const f = await ibous(base, creds.ibous, 'PaymentRefund', { payment_id: a.id });
          if (f.status === 200 && f.body?.status === 'Payment refund successfully') a.state = 'refunded';
        }
      },
      async () => { // IntouchPay requestpayment + handset approve
        const rid = `itp-${process.pid}-${++seq}`;
        const phone = pick(rw);
        const r = await intouch(base, creds.intouchpay, 'requestpayment', { amount: String(100 + Math.floor(Math.random() * 900)), mobilephone: phone, requesttransactionid: rid, callbackurl: rec.url });
        if (r.status !== 200 || r.body?.responsecode !== '1000') return;
        const a: Ack = { kind: 'intouchpay', rid, tid: r.body.transactionid, state: 'pending' };
        acks.push(a);
        if (Math.random() < 0.15) return; // left to expire
        const p = await handsetApprove(base, phone, await paymentIdOf(r.body.transactionid), PIN);
        if (p?.status === 200 && p.body?.result === 'approved') a.state = 'succeeded';
      },
      async () => { // IntouchPay deposit
        const rid = `dep-${process.pid}-${++seq}`;
        const r = await intouch(base, creds.intouchpay, 'requestdeposit', { amount: '100', mobilephone: pick(rw), requesttransactionid: rid, callbackurl: rec.url });
        if (r.status === 200 && r.body?.responsecode === '2001') acks.push({ kind: 'intouchpay-deposit', rid, ref: r.body.referenceid });
      },
      async () => { // FlexPay mobile money + handset approve
        const phone = pick(cd);
        const r = await flexpay(base, creds.flexpay, '/api/rest/v1/paymentService', { merchant: creds.flexpay.merchant, type: 1, reference: `fx${process.pid}x${++seq}`, phone, amount: '2.50', currency: 'USD', callbackUrl: rec.url });
        if (r.status !== 200 || r.body?.code !== '0') return;
        const a: Ack = { kind: 'flexpay-mm', order: r.body.orderNumber, state: 'pending' };
        acks.push(a);
        const prompts = await call(`${base}/handset/api/${phone}/prompts`);
        const pr = (prompts.body?.prompts ?? []).find((x: any) => x.amount_minor === '250' || x.amount_minor === 250);
        if (!pr) return;
        const ap = await call(`${base}/handset/api/${phone}/prompts/${pr.id}/approve`, json({ pin: PIN }));
        // Another worker's prompt of the same amount may be the one approved: only ours counts.
        if (ap.status === 200 && ap.body?.result === 'approved') {
          const chk = await flexpay(base, creds.flexpay, `/api/rest/v1/check/${a.order}`);
          if (chk.body?.transaction?.state === 'succeeded') a.state = 'succeeded';
        }
      },
      async () => { // FlexPay payout
        const r = await flexpay(base, creds.flexpay, '/api/rest/v1/merchantPayOutService', { merchant: creds.flexpay.merchant, type: 1, reference: `po${process.pid}x${++seq}`, phone: pick(cd), amount: '0.50', currency: 'USD', callbackUrl: rec.url });
        if (r.status === 200 && r.body?.code === '0') acks.push({ kind: 'flexpay-payout', order: r.body.orderNumber });
      },
      async () => { // KessPay: token → Native Pay → the payer pays with the wallet JSON API (+ partial refund)
        const token = await kessToken(base, kp);
        const out_trade_no = `KPN-${process.pid}-${++seq}`;
        const r = await kess(base, token, 'native-pay', { service_id: 30, store_id: kp.store_id, amount: `${1 + Math.floor(Math.random() * 20)}.50`, fee_rate: 2, out_trade_no });
        if (r.status !== 200 || r.body?.success !== true) return;
        const a: Ack = { kind: 'kesspay-native', out_trade_no, state: 'pending' };
        acks.push(a);
        if (Math.random() < 0.15) return; // left to expire
        const phone = pick(kpWallets);
        const s = await walletLogin(base, phone, PIN, 'USD');
        const p = await walletPay(base, s, payUrlToken(r.body.data.qr_code), PIN);
        if (p.status !== 200) return;
        a.state = 'succeeded';
        if (Math.random() < 0.3) {
          const out_refund_no = `${out_trade_no}-R1`;
          const f = await kess(base, await kessToken(base, kp), 'refund', { service_id: 30, store_id: kp.store_id, refund_amount: '0.50', out_trade_no, out_refund_no });
          if (f.status === 200 && f.body?.data?.result_code === 'SUCCESS') acks.push({ kind: 'kesspay-refund', out_trade_no, out_refund_no });
        }
      },
      async () => { // KessPay Quick Pay with a code from /wallet/api/code (below the no-PIN limit: paid at once)
        const phone = pick(kpWallets);
        const code = await walletCode(base, await walletLogin(base, phone, PIN, 'USD'), 'USD');
        const out_trade_no = `KPQ-${process.pid}-${++seq}`;
        const r = await kess(base, await kessToken(base, kp), 'quick-pay', quickPayBody({ service_id: 2, store_id: kp.store_id, amount: `${1 + Math.floor(Math.random() * 30)}.25`, out_trade_no }, code));
        // Another worker may have shown a newer code of the same wallet (AUTH_CODE_EXPIRED): not acknowledged.
        if (r.status === 200 && r.body?.data?.result_code === 'SUCCESS') acks.push({ kind: 'kesspay-quick', out_trade_no, state: 'succeeded' });
      },
    ];

    // IntouchPay's transactionid is the payment's public reference; the handset lists payment ids.
    const idByRef = new Map<string, string>();
    async function paymentIdOf(tid: string): Promise<string> {
      if (idByRef.has(tid)) return idByRef.get(tid)!;
      const l = await srv.admin('GET', '/admin/payments?limit=200');
      for (const p of l.body?.items ?? []) if (p.public_ref) idByRef.set(p.public_ref, p.id);
      return idByRef.get(tid) ?? tid;
    }

    let running = true;
    const worker = async () => {
      while (running) {
        requests++;
        try { await pick(flows)(); } catch (e) { // refused / reset while the server is down
          const k = String((e as Error)?.message ?? e).replace(/\d+/g, 'N').slice(0, 100);
          errors[k] = (errors[k] ?? 0) + 1;
          await sleep(20);
        }
      }
    };
    const workers = Array.from({ length: o.workers ?? 6 }, worker);

    // The killer: `kills` SIGKILLs spread over `seconds`, at random moments.
    let kills = 0;
    const end = Date.now() + o.seconds * 1000;
    for (let i = 0; i < o.kills; i++) {
      const left = Math.max(0, end - Date.now());
      await sleep(Math.random() * (2 * left) / (o.kills - i));
      await srv.kill('SIGKILL');
      kills++;
      const t0 = Date.now();
      await srv.start();
      log(`kill ${kills}/${o.kills}: back in ${Date.now() - t0} ms (acknowledged so far: ${acks.length}, requests ${requests})`);
    }
    await sleep(Math.max(0, Math.min(2000, end - Date.now())));
    running = false;
    await Promise.all(workers);

    // Everything acknowledged is still there, in that state or a later one.
    const later: Record<string, string[]> = {
      pending: ['pending', 'succeeded', 'failed', 'expired', 'cancelled', 'partially_refunded', 'refunded'],
      succeeded: ['succeeded', 'partially_refunded', 'refunded'],
      refunded: ['refunded'],
    };
    for (const a of acks) {
      if (a.kind === 'ibous') {
        const p = await srv.admin('GET', `/admin/payments/${a.id}`);
        if (p.status !== 200 || !later[a.state]!.includes(p.body.state)) lost.push(`ibous ${a.id}: acknowledged ${a.state}, now ${p.status} ${p.body?.state}`);
      } else if (a.kind === 'intouchpay') {
        const s = await intouch(base, creds.intouchpay, 'gettransactionstatus', { requesttransactionid: a.rid, transactionid: a.tid });
        const ok = a.state === 'succeeded' ? s.body?.responsecode === '01' : s.status === 200;
        if (!ok) lost.push(`intouchpay ${a.rid}: acknowledged ${a.state}, now ${s.status} ${s.text}`);
      } else if (a.kind === 'intouchpay-deposit') {
        const s = await intouch(base, creds.intouchpay, 'gettransactionstatus', { requesttransactionid: a.rid, transactionid: a.ref });
        if (s.status !== 200 || s.body?.success !== true) lost.push(`deposit ${a.rid}: acknowledged paid, now ${s.status} ${s.text}`);
      } else if (a.kind === 'kesspay-native' || a.kind === 'kesspay-quick') {
        const s = await kess(base, await kessToken(base, kp), 'check-payment', { store_id: kp.store_id, out_trade_no: a.out_trade_no });
        const ok = s.status === 200 && s.body?.success === true && (a.state === 'pending' || (s.body.data.is_success === true && ['SUCCESS', 'REFUND'].includes(s.body.data.trade_state)));
        if (!ok) lost.push(`${a.kind} ${a.out_trade_no}: acknowledged ${a.state}, now ${s.status} ${s.text}`);
      } else if (a.kind === 'kesspay-refund') {
        const s = await kess(base, await kessToken(base, kp), 'check-refund', { store_id: kp.store_id, out_trade_no: a.out_trade_no, out_refund_no: a.out_refund_no });
        if (s.status !== 200 || s.body?.data?.is_success !== true || s.body.data.refund_state !== 'SUCCESS') lost.push(`kesspay refund ${a.out_refund_no}: acknowledged, now ${s.status} ${s.text}`);
      } else {
        const s = await flexpay(base, creds.flexpay, `/api/rest/v1/check/${a.order}`);
        const st = s.body?.transaction?.state;
        const want = a.kind === 'flexpay-payout' ? ['succeeded'] : later[a.state]!;
        if (!want.includes(st)) lost.push(`${a.kind} ${a.order}: acknowledged ${a.kind === 'flexpay-payout' ? 'succeeded' : a.state}, now ${s.status} ${st}`);
      }
    }

    // Let every due callback go out, then stop and read the outbox.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const pend = await srv.admin('GET', '/admin/callbacks?state=pending&limit=1');
      if (pend.status === 200 && pend.body.items.length === 0) break;
      if (Date.now() > deadline) { lost.push('callbacks still pending after 60 s'); break; }
      await sleep(200);
    }
    await srv.kill('SIGTERM');
    const db = await openDb({ databaseUrl: o.databaseUrl, dataDir: o.databaseUrl ? undefined : join(dataDir, 'db') });
    const rows = await db.query<{ id: string; state: string; body: string }>('select id::text as id, state, body from outbox order by id');
    await db.close();
    const sent = new Set(rec.bodies);
    const known = new Set(rows.map((r) => r.body));
    for (const r of rows) {
      if (r.state !== 'delivered') lost.push(`callback ${r.id}: ${r.state}`);
      else if (!sent.has(r.body)) lost.push(`callback ${r.id}: delivered but the receiver never saw its body`);
    }
    for (const b of rec.bodies) if (!known.has(b)) lost.push(`a received callback matches no outbox body (redelivery changed?): ${b.slice(0, 200)}`);
    const verify = await srv.verify();
    if (verify.code !== 0) lost.push('paygate verify failed: ' + verify.out);
    const by: Record<string, number> = {};
    for (const a of acks) by[a.kind + ('state' in a ? ':' + a.state : '')] = (by[a.kind + ('state' in a ? ':' + a.state : '')] ?? 0) + 1;
    return {
      engine: o.databaseUrl ? 'postgres' : 'pglite', kills, requests, acknowledged: acks.length, acknowledged_by_kind: by, errors,
      callbacks: rows.length, callback_deliveries: rec.bodies.length, lost, verify, ok: lost.length === 0,
    };
  } finally {
    await srv.kill('SIGKILL').catch(() => {});
    await rec.close();
    if (!lost.length) rmSync(dataDir, { recursive: true, force: true });
    else log(`data kept in ${dataDir}`);
  }
}

