// A gateway node for the benchmark: the same composition root as `paygate serve`
// (createGateway + listen, config from the environment), plus a few /bench/* routes guarded
// by the operator token for setup and measurement:
//   POST /bench/setup       merchants and funded payers, created through the core services
//   POST /bench/seed        n pending payments through the core (used until a dialect's create exists)
//   POST /bench/create      core create            } the payment path while the dialect / rail HTTP
//   POST /bench/pay         core pay from a wallet } endpoints are not there yet
//   GET  /bench/status/:id  status from the in-memory cache (what a polling endpoint does)
//   GET  /bench/visibility  when this node first saw each payment succeed (feed arrival, wall-clock ms)
// Prints one JSON line {"ready":true,"url":…,"pid":…} on stdout once listening.
import { constants as perfConstants, monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';
import { loadConfig } from '../src/config.ts';
import { createGateway, makeLogger } from '../src/gateway.ts';
import { ensureDemo } from '../src/demo.ts';
import { constantTimeEqual } from '../src/merchants/secrets.ts';
import { isCoreError } from '../src/errors.ts';
import { readdirSync } from 'node:fs';
import { schedstat } from './cpu.ts';
import type { GatewaySlice } from './loadgen.ts';

const config = loadConfig(process.env, { port: 0, host: '127.0.0.1' });
const gw = await createGateway(config, { log: makeLogger(config.logLevel) });
const app = gw.app;
const now_ms = () => performance.timeOrigin + performance.now();

// Outbox included in the payment path: the bench dialect asks for one callback per final state.
const callbackUrl = process.env.BENCH_CALLBACK_URL;
gw.payments.registerCallbacks('bench', (ev) => {
  if (!callbackUrl || ev.kind !== 'payment' || ev.payment.state === 'pending') return null;
  return { event: 'payment.' + ev.payment.state, url: callbackUrl, body: JSON.stringify({ id: ev.payment.id, state: ev.payment.state }) };
});

// Visibility: wall-clock time at which this node's status cache first heard of each success.
const seen = new Map<string, number>();
gw.feed.subscribe((c) => {
  if (c.type === 'payment' && c.payment.state === 'succeeded' && !seen.has(c.payment.id)) seen.set(c.payment.id, now_ms());
});

// Stalls: garbage-collection pauses and event-loop delay since the last reset, to tell the
// gateway's own pauses from the machine's in latency tails.
const gcPauses: { kind: number; ms: number; at: number }[] = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcPauses.push({ kind: (e as any).detail?.kind ?? 0, ms: e.duration, at: e.startTime });
}).observe({ entryTypes: ['gc'] });

// Diagnostic timeline (POST /bench/stalls {reset: true, timeline_ms}): per slice of wall time,
// the event loop's longest lateness (a 5 ms timer), GC pause time, create statements (count,
// creates carried, wall ms) and this process' CPU, to line up with the load generator's.
/** Nanoseconds on a core and waiting for one (run queue), from /proc/self/task/<tid>/schedstat: the main thread's and the other threads' together. */
function schedNs(): { main: [number, number]; others: number } {
  const out = { main: [0, 0] as [number, number], others: 0 };
  for (const tid of readdirSync('/proc/self/task')) {
    const st = schedstat(`/proc/self/task/${tid}/schedstat`);
    if (!st) continue;
    if (Number(tid) === process.pid) out.main = [st.run_ns, st.wait_ns];
    else out.others += st.run_ns;
  }
  return out;
}
let timeline: { slice_ms: number; rows: GatewaySlice[]; timer: NodeJS.Timeout } | null = null;
function startTimeline(slice_ms: number): void {
  if (timeline) clearInterval(timeline.timer);
  let last = performance.now(), sliceStart = last, lag = 0;
  let stats = { ...gw.payments.batching().create }, cpu = process.cpuUsage(), sched = schedNs();
  const rows: GatewaySlice[] = [];
  const timer = setInterval(() => {
    const now = performance.now();
    lag = Math.max(lag, now - last - 5);
    last = now;
    if (now - sliceStart < slice_ms) return;
    const st = gw.payments.batching().create, c = process.cpuUsage(), sc = schedNs();
    const gc = gcPauses.filter((g) => g.at >= sliceStart && g.at < now).reduce((a, g) => a + g.ms, 0);
    rows.push({
      end_wall_ms: Math.round(now_ms()), lag_max_ms: Math.round(lag), gc_ms: Math.round(gc), create_stmts: st.batches - stats.batches, create_items: st.items - stats.items,
      create_busy_ms: Math.round(st.busy_ms - stats.busy_ms), cpu_ms: Math.round((c.user - cpu.user + c.system - cpu.system) / 1000),
      main_run_ms: Math.round((sc.main[0] - sched.main[0]) / 1e6), main_wait_ms: Math.round((sc.main[1] - sched.main[1]) / 1e6), others_run_ms: Math.round((sc.others - sched.others) / 1e6),
    });
    [stats, cpu, sched, sliceStart, lag] = [{ ...st }, c, sc, now, 0];
  }, 5);
  timeline = { slice_ms, rows, timer };
}
const GC_KINDS: Record<number, string> = {
  [perfConstants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge', [perfConstants.NODE_PERFORMANCE_GC_MAJOR]: 'mark-compact',
  [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental', [perfConstants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak callbacks',
};
function gcByKind(): Record<string, { count: number; total_ms: number; max_ms: number }> {
  const out: Record<string, { count: number; total_ms: number; max_ms: number }> = {};
  for (const g of gcPauses) {
    const k = (out[GC_KINDS[g.kind] ?? String(g.kind)] ??= { count: 0, total_ms: 0, max_ms: 0 });
    k.count++;
    k.total_ms += g.ms;
    k.max_ms = Math.max(k.max_ms, g.ms);
  }
  for (const k of Object.values(out)) [k.total_ms, k.max_ms] = [Math.round(k.total_ms), Math.round(k.max_ms)];
  return out;
}
const loopDelay = monitorEventLoopDelay({ resolution: 5 });
/** Thread times at the last reset (schedNs), for the main thread's time waiting for a core since. */
let schedAtReset = schedNs();
loopDelay.enable();

await app.register(async (scope) => {
  scope.addHook('onRequest', async (req, reply) => {
    const h = req.headers.authorization ?? '';
    if (!h.startsWith('Bearer ') || !constantTimeEqual(h.slice(7), config.adminToken)) return reply.code(401).send({ error: 'unauthorized' });
  });
  scope.setErrorHandler((err, _req, reply) => {
    if (isCoreError(err)) return reply.code(409).send({ error: err.code, message: err.message });
    return reply.code(500).send({ error: 'internal', message: (err as Error).message });
  });
  const b = (req: { body: unknown }) => (req.body ?? {}) as Record<string, any>;

  scope.post('/setup', async (req) => {
    const { merchants = 1, payers = 1, currency = 'HTG', balance = '100000000', prefix = '509' } = b(req);
    const ms = [];
    for (let i = 0; i < merchants; i++) {
      const m = await gw.merchants.create(`Bench Merchant ${i + 1}`);
      ms.push({ id: m.merchant.id, credentials: m.credentials });
    }
    const ps: { id: string; phone: string }[] = [];
    const base = Date.now() % 1_000_000;
    for (let i = 0; i < payers; i++) {
      const phone = `${prefix}${String(base).padStart(6, '0')}${String(i).padStart(4, '0')}`;
      const a = await gw.payers.create('wallet', { name: `Bench Payer ${i + 1}`, phone, pin: '1234', currency, balance });
      ps.push({ id: a.id, phone: a.phone! });
    }
    return { merchants: ms, payers: ps };
  });

  scope.post('/seed', async (req) => {
    const { merchant_id, n = 10_000, currency = 'HTG', dialect = 'bench', concurrency = 8 } = b(req);
    const ids: string[] = new Array(n);
    let next = 0;
    const tag = Date.now().toString(36);
    await Promise.all(Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < n; i = next++) {
        const { payment } = await gw.payments.create({
          merchant_id, dialect, rail: 'wallet', merchant_ref: `seed-${tag}-${i}`, amount_minor: 1000n + BigInt(i % 100), currency, ttl_ms: 3_600_000,
        });
        ids[i] = payment.id;
      }
    }));
    return { ids };
  });

  scope.post('/create', async (req) => {
    const { merchant_id, ref, amount_minor = '1000', currency = 'HTG' } = b(req);
    const { payment } = await gw.payments.create({
      merchant_id, dialect: 'bench', rail: 'wallet', merchant_ref: String(ref), amount_minor: BigInt(amount_minor), currency, callback_url: callbackUrl ?? null,
    });
    return { id: payment.id, state: payment.state };
  });

  scope.post('/pay', async (req) => {
    const { id, account_id } = b(req);
    const p = await gw.payments.pay(String(id), { kind: 'account', account_id: String(account_id) });
    return { id: p.id, state: p.state };
  });

  scope.get('/status/:id', async (req, reply) => {
    const p = await gw.status.get((req.params as { id: string }).id);
    if (!p) return reply.code(404).send({ error: 'not_found' });
    return { id: p.id, state: p.state, amount_minor: p.amount_minor, currency: p.currency, merchant_ref: p.merchant_ref, version: p.version };
  });

  scope.post('/stalls', async (req) => {
    const sorted = gcPauses.map((g) => g.ms).sort((a, b) => b - a);
    const sched = schedNs();
    const out = {
      gc_count: gcPauses.length, gc_total_ms: sorted.reduce((a, b) => a + b, 0), gc_max_ms: sorted[0] ?? 0, gc_over_20ms: sorted.filter((x) => x > 20).length,
      // By kind (perf_hooks.constants.NODE_PERFORMANCE_GC_*): which collector the long pauses are.
      gc_by_kind: gcByKind(),
      // The main thread's time on a core and runnable but waiting for one (Linux run queue), and
      // the other threads' (V8's GC helpers, libuv) time on a core, since the reset.
      main_run_ms: Math.round((sched.main[0] - schedAtReset.main[0]) / 1e6), main_runqueue_ms: Math.round((sched.main[1] - schedAtReset.main[1]) / 1e6),
      other_threads_run_ms: Math.round((sched.others - schedAtReset.others) / 1e6),
      loop_delay_p50_ms: loopDelay.percentile(50) / 1e6, loop_delay_p99_ms: loopDelay.percentile(99) / 1e6, loop_delay_max_ms: loopDelay.max / 1e6,
    };
    const tl = timeline?.rows;
    if (timeline && !b(req).reset) {
      clearInterval(timeline.timer);
      timeline = null;
    }
    if (b(req).reset) {
      gcPauses.length = 0;
      loopDelay.reset();
      schedAtReset = schedNs();
      if (b(req).timeline_ms) startTimeline(Number(b(req).timeline_ms));
    }
    // The monotonic clock of CPU profiles (µs) to wall-clock ms: wall = (mono_us + offset_us) / 1000.
    return tl ? { ...out, timeline: tl, mono_to_wall_us: Math.round(Date.now() * 1000 - Number(process.hrtime.bigint() / 1000n)) } : out;
  });

  scope.get('/visibility', async () => {
    const out = Object.fromEntries(seen);
    return { seen: out };
  });
}, { prefix: '/bench' });

const url = await gw.listen();
if (config.demo) await ensureDemo(gw);
process.stdout.write(JSON.stringify({ ready: true, url, pid: process.pid, engine: gw.db.engine }) + '\n');

let closing = false;
const shutdown = async () => {
  if (closing) return;
  closing = true;
  await gw.close().catch(() => {});
  process.exit(0);
};
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
