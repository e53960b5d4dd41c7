// The load generator: a separate process (so it never shares an event loop with a gateway).
// Started by bench/run.ts with --serve and kept between runs: each IPC message is a spec, each
// answer {result} (or {error}).
//
// An "op" is a list of HTTP steps run in order (e.g. create → pay → poll until succeeded);
// templates {{name}} in paths, headers and bodies take values from per-worker variables,
// per-op variables (round robin), values extracted from earlier responses, {{seq}} (a unique
// op number) and {{run}} (a run id). Each step targets a node group; nodes of a group are
// taken in turn, so load spreads across gateways.
//   closed mode: `connections` workers each run ops back to back for duration_s (max rate).
//   open mode:   ops start on a fixed schedule (`rate` per second) whatever the answers; latency
//                counts from the scheduled start, so queueing is not hidden.
import { Pool } from 'undici';
import { cpuNow_ms, cpuSince, machineTicks } from './cpu.ts';
import { Http1Pool, type Answer } from './http1.ts';
import { performance } from 'node:perf_hooks';

export interface Step {
  name?: string;
  group: string;
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** var name → dotted JSON path in the answer, optionally `path~regex` (first group) */
  extract?: Record<string, string>;
  /** repeat the step until the JSON path's value is one of `in` (max `tries`, 1 ms apart) */
  until?: { path: string; in: unknown[]; tries?: number };
  /** accepted HTTP statuses (default 2xx) */
  ok?: number[];
}

export interface Spec {
  mode: 'closed' | 'open';
  duration_s: number;
  connections: number;
  rate?: number;
  groups: Record<string, string[]>;
  steps: Step[];
  perWorker?: Record<string, string[]>;
  perOp?: Record<string, string[]>;
  warmup_s?: number;
  /** Processes whose CPU time over the measured part is reported (Result.cpu.pids_ms: the gateway nodes). */
  cpuPids?: number[];
  /**
   * Every step of an op goes to the same node of its group, chosen by the worker (a closed-mode
   * connection and its payer; an open-mode op): a balancer keeping each client's connection on
   * one node. Default: nodes in turn.
   */
  sticky?: boolean;
  /** stop after this many ops (seeding) */
  maxOps?: number;
  /** keep extracted values of these vars per op (ops after the warm-up), returned as `collected` */
  collect?: string[];
  /** Open mode, diagnostic: slices of this many ms from the run's start (warm-up included), returned as `timeline`. */
  timeline_ms?: number;
}

/** Per slice of the run (warm-up included): ops by scheduled start, their slowest, the client's lateness, the machine's busy share. */
export interface Timeline {
  t0_wall_ms: number;
  slice_ms: number;
  warmup_slices: number;
  n: number[];
  max_ms: number[];
  late_max_ms: number[];
  machine_busy_pct: (number | null)[];
}

/** The gateway's side of a timeline (bench/gateway.ts, POST /bench/stalls): one row per slice, ending at end_wall_ms. */
export interface GatewaySlice {
  end_wall_ms: number;
  lag_max_ms: number;
  gc_ms: number;
  create_stmts: number;
  create_items: number;
  create_busy_ms: number;
  cpu_ms: number;
  main_run_ms: number;
  main_wait_ms: number;
  others_run_ms: number;
}

export interface Result {
  ops: number;
  errors: number;
  seconds: number;
  throughput: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  steps: Record<string, { count: number; p50_ms: number; p99_ms: number }>;
  errorSamples: string[];
  collected?: Record<string, string>[];
  /** Open mode: how late this client started measured ops against their schedule (its own delay, counted in their latency). */
  late?: { p99_ms: number; max_ms: number; over_5ms: number };
  /** Open mode: the slowest op of each second of the measured part, by scheduled start (a tail from a few stalls shows as a few bad seconds). */
  max_by_s?: number[];
  /** CPU time over the measured part, ms: the whole machine's busy time and spec.cpuPids' together (null off Linux). */
  cpu: { machine_ms: number | null; pids_ms: number | null };
  timeline?: Timeline;
}

function pct(sorted: Float64Array | number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

class Lat {
  private a = new Float64Array(1 << 16);
  n = 0;
  add(v: number) {
    if (this.n === this.a.length) {
      const b = new Float64Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
  sorted(): Float64Array {
    return this.a.slice(0, this.n).sort();
  }
}

// Keep-alive connections, one request at a time each (bench/http1.ts): a small client that
// spends less CPU per request than undici's Pool (BENCH_CLIENT=undici for that one), since
// the load generator shares the 2 cores with the gateway and Postgres, the way pgbench's C
// client shares them with Postgres in the baseline.
const pools = new Map<string, { request(method: string, path: string, headers: Record<string, string>, body: string | undefined): Promise<Answer>; close(): Promise<void> | void }>();
function poolFor(origin: string, maxSockets: number) {
  let pool = pools.get(origin);
  if (pool) return pool;
  if (process.env.BENCH_CLIENT === 'undici') {
    const u = new Pool(origin, { connections: maxSockets, pipelining: 1, headersTimeout: 30_000, bodyTimeout: 30_000 });
    pool = {
      async request(method, path, headers, body) {
        const res = await u.request({ method: method as 'GET', path, headers, body });
        return { status: res.statusCode, body: await res.body.text() };
      },
      close: () => u.destroy(),
    };
  } else pool = new Http1Pool(origin, maxSockets);
  pools.set(origin, pool);
  return pool;
}
async function request(base: string, method: string, path: string, headers: Record<string, string>, body: string | undefined, maxSockets: number): Promise<Answer> {
  const u = new URL(path, base);
  return poolFor(u.origin, maxSockets).request(method, u.pathname + u.search, headers, body);
}

function fill(s: string, vars: Record<string, string>): string {
  return s.replace(/\{\{(\w+)\}\}/g, (_m, k) => vars[k] ?? '');
}

function dig(obj: unknown, path: string): unknown {
  let cur: any = obj;
  for (const k of path.split('.')) {
    if (cur == null) return undefined;
    cur = cur[k];
  }
  return cur;
}

export async function run(spec: Spec): Promise<Result> {
  const runId = Date.now().toString(36) + process.pid.toString(36);
  const total = new Lat();
  const stepLat = new Map<string, Lat>();
  const errorSamples: string[] = [];
  const collected: Record<string, string>[] = [];
  let errors = 0;
  let ops = 0;
  let seq = 0;
  const rr = new Map<string, number>();
  /** The node of a group for a step: the worker's own (sticky) or the next in turn. */
  const pick = (group: string, worker?: number) => {
    const nodes = spec.groups[group];
    if (!nodes?.length) throw new Error(`no nodes in group ${group}`);
    if (worker !== undefined) return nodes[worker % nodes.length]!;
    const i = rr.get(group) ?? 0;
    rr.set(group, i + 1);
    return nodes[i % nodes.length]!;
  };
  const maxSockets = spec.connections;
  let measuring = !(spec.warmup_s && spec.warmup_s > 0);
  const maxBySecond: number[] = [];
  const t0 = performance.now();
  const tMeasure = t0 + (spec.warmup_s ?? 0) * 1000;
  const tl: Timeline | null = spec.timeline_ms && spec.mode === 'open'
    ? { t0_wall_ms: performance.timeOrigin + t0, slice_ms: spec.timeline_ms, warmup_slices: Math.round(((spec.warmup_s ?? 0) * 1000) / spec.timeline_ms), n: [], max_ms: [], late_max_ms: [], machine_busy_pct: [] }
    : null;
  // The machine's busy share per slice, read from /proc/stat at each slice's end (10 ms ticks).
  let tick0 = machineTicks();
  const sampler = tl && setInterval(() => {
    const t = machineTicks();
    tl.machine_busy_pct.push(t && tick0 && t.all > tick0.all ? Math.round((100 * (t.busy - tick0.busy)) / (t.all - tick0.all)) : null);
    tick0 = t;
  }, tl.slice_ms);

  async function runOp(worker: number, started: number): Promise<void> {
    const n = seq++;
    const vars: Record<string, string> = { seq: String(n), run: runId };
    for (const [k, list] of Object.entries(spec.perWorker ?? {})) vars[k] = list[worker % list.length]!;
    for (const [k, list] of Object.entries(spec.perOp ?? {})) vars[k] = list[n % list.length]!;
    const counted = measuring;
    try {
      for (const st of spec.steps) {
        const base = pick(st.group, spec.sticky ? worker : undefined);
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(st.headers ?? {})) headers[k] = fill(v, vars);
        const body = st.body === undefined ? undefined : fill(st.body, vars);
        const path = fill(st.path, vars);
        const tries = st.until ? st.until.tries ?? 500 : 1;
        const s0 = performance.now();
        let done = false;
        for (let t = 0; t < tries && !done; t++) {
          if (t > 0) await new Promise((r) => setTimeout(r, 1));
          const res = await request(base, st.method, path, headers, body, maxSockets);
          const okStatus = st.ok ? st.ok.includes(res.status) : res.status >= 200 && res.status < 300;
          if (!okStatus) throw new Error(`${st.name ?? st.path}: HTTP ${res.status} ${res.body.slice(0, 200)}`);
          let json: unknown = null;
          if (st.extract || st.until) {
            try {
              json = JSON.parse(res.body);
            } catch {
              throw new Error(`${st.name ?? st.path}: not JSON: ${res.body.slice(0, 200)}`);
            }
          }
          for (const [k, spec] of Object.entries(st.extract ?? {})) {
            // "a.b" takes a JSON value; "a.b~regex" takes the regex's first group of it.
            const [p, re] = spec.split('~') as [string, string | undefined];
            let v = dig(json, p);
            if (re !== undefined && typeof v === 'string') v = new RegExp(re).exec(v)?.[1];
            if (v === undefined || v === null) throw new Error(`${st.name ?? st.path}: no ${p} in ${res.body.slice(0, 200)}`);
            vars[k] = String(v);
          }
          done = !st.until || st.until.in.includes(dig(json, st.until.path));
        }
        if (!done) throw new Error(`${st.name ?? st.path}: condition not met after ${tries} tries`);
        if (counted) {
          const key = st.name ?? st.path;
          let l = stepLat.get(key);
          if (!l) stepLat.set(key, (l = new Lat()));
          l.add(performance.now() - s0);
        }
      }
      if (tl) {
        const k = Math.floor((started - t0) / tl.slice_ms);
        tl.n[k] = (tl.n[k] ?? 0) + 1;
        tl.max_ms[k] = Math.max(tl.max_ms[k] ?? 0, Math.round(performance.now() - started));
      }
      if (counted) {
        const ms = performance.now() - started;
        total.add(ms);
        ops++;
        if (spec.mode === 'open') {
          const sec = Math.max(0, Math.floor((started - tMeasure) / 1000));
          maxBySecond[sec] = Math.max(maxBySecond[sec] ?? 0, ms);
        }
      }
      if (spec.collect && counted) collected.push(Object.fromEntries(spec.collect.map((k) => [k, vars[k] ?? ''])));
    } catch (e) {
      if (counted) {
        errors++;
        if (errorSamples.length < 5) errorSamples.push((e as Error).message);
      }
    }
  }

  let cpu0 = cpuNow_ms(spec.cpuPids);
  if (spec.warmup_s && spec.warmup_s > 0) setTimeout(() => { measuring = true; cpu0 = cpuNow_ms(spec.cpuPids); }, spec.warmup_s * 1000);
  let lateness: Result['late'];
  const end = tMeasure + spec.duration_s * 1000;
  if (spec.mode === 'closed') {
    await Promise.all(Array.from({ length: spec.connections }, async (_, w) => {
      while (performance.now() < end && (spec.maxOps === undefined || seq < spec.maxOps)) await runOp(w, performance.now());
    }));
  } else {
    const rate = spec.rate ?? 100;
    const inflight = new Set<Promise<void>>();
    let i = 0;
    const late = new Lat();
    while (true) {
      const now = performance.now();
      if (now >= end) break;
      const due = t0 + (i / rate) * 1000;
      if (due <= now) {
        if (measuring) late.add(now - due);
        if (tl) {
          const k = Math.floor((due - t0) / tl.slice_ms);
          tl.late_max_ms[k] = Math.max(tl.late_max_ms[k] ?? 0, Math.round(now - due));
        }
        const p = runOp(i, due).finally(() => inflight.delete(p));
        inflight.add(p);
        i++;
        continue;
      }
      await new Promise((r) => setTimeout(r, Math.max(0, Math.min(5, due - now))));
    }
    await Promise.all(inflight);
    const ls = late.sorted();
    lateness = { p99_ms: pct(ls, 99), max_ms: ls.length ? ls[ls.length - 1]! : 0, over_5ms: ls.filter((x) => x > 5).length };
  }
  if (sampler) clearInterval(sampler);
  const seconds = (performance.now() - tMeasure) / 1000;
  const cpu = cpuSince(cpu0, cpuNow_ms(spec.cpuPids));
  const s = total.sorted();
  const steps: Result['steps'] = {};
  for (const [k, l] of stepLat) {
    const ls = l.sorted();
    steps[k] = { count: l.n, p50_ms: pct(ls, 50), p99_ms: pct(ls, 99) };
  }
  // Each run opens its own connections (a process may run several specs one after another).
  await Promise.all([...pools.values()].map((p) => p.close()));
  pools.clear();
  return {
    ops, errors, seconds,
    throughput: ops / (spec.mode === 'closed' && spec.maxOps !== undefined ? seconds : Math.max(seconds, spec.duration_s)),
    p50_ms: pct(s, 50), p99_ms: pct(s, 99), max_ms: s.length ? s[s.length - 1]! : 0,
    steps, errorSamples, cpu, ...(spec.collect ? { collected } : {}), ...(lateness ? { late: lateness, max_by_s: Array.from(maxBySecond, (v) => Math.round(v ?? 0)) } : {}), ...(tl ? { timeline: tl } : {}),
  };
}

if (process.argv[2] === '--serve') {
  process.on('message', (spec: Spec) => {
    run(spec).then((result) => process.send!({ result }), (e: Error) => process.send!({ error: String(e?.stack ?? e) }));
  });
}
