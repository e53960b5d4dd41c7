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
const gcPauses: { kind: number; ms: number }[] = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcPauses.push({ kind: (e as any).detail?.kind ?? 0, ms: e.duration });
}).observe({ entryTypes: ['gc'] });
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
    const out = {
      gc_count: gcPauses.length, gc_total_ms: sorted.reduce((a, b) => a + b, 0), gc_max_ms: sorted[0] ?? 0, gc_over_20ms: sorted.filter((x) => x > 20).length,
      // By kind (perf_hooks.constants.NODE_PERFORMANCE_GC_*): which collector the long pauses are.
      gc_by_kind: gcByKind(),
      loop_delay_p50_ms: loopDelay.percentile(50) / 1e6, loop_delay_p99_ms: loopDelay.percentile(99) / 1e6, loop_delay_max_ms: loopDelay.max / 1e6,
    };
    if (b(req).reset) {
      gcPauses.length = 0;
      loopDelay.reset();
    }
    return out;
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
