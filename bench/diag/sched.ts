// Who had the cores, slice by slice: every thread's time on a core and waiting for one (the
// run queue), from /proc/*/task/*/schedstat (ns), by group: the gateway's main thread and its
// other threads, the load generator, Postgres backends and Postgres' own processes, the rest
// by command name. Lines carry wall-clock ms, to line up with the bench's BENCH_TIMELINE.
//   node bin/run-ts.js bench/diag/sched.ts [seconds=30] [slice_ms=100] > file
import { readdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { readProc as read, schedstat } from '../cpu.ts';

const [seconds = 30, slice_ms = 100] = process.argv.slice(2).filter((a) => /^\d+$/.test(a)).map(Number);

function groupOf(pid: string, tid: string, cmd: string, comm: string): string {
  if (/bench\/gateway\.ts/.test(cmd)) return tid === pid ? 'gw-main' : 'gw-threads';
  if (/bench\/loadgen\.ts/.test(cmd)) return 'loadgen';
  if (/bench\/run\.ts/.test(cmd)) return 'bench-runner';
  if (/bench\/diag\//.test(cmd)) return 'this-sampler';
  if (/^postgres: .*(INSERT|SELECT|UPDATE|idle|COMMIT|BEGIN)/.test(cmd) || /^postgres: \S+ \S+ \S+ [\d.]+\(\d+\)/.test(cmd)) return 'pg-backend';
  if (/^postgres/.test(cmd) || /postgres/.test(comm)) return 'pg-' + (cmd.match(/^postgres: (?:\S+: )?(\w+)/)?.[1] ?? 'other');
  return comm;
}
/** Every thread's key (pid/tid) and group, found again once a second (reading them all is the costly part). */
let threads: [string, string][] = [];
let scanned_ms = -Infinity;
function scan(): void {
  threads = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const cmd = (read(`/proc/${pid}/cmdline`) ?? '').replace(/\0/g, ' ').trim();
    let tids: string[];
    try { tids = readdirSync(`/proc/${pid}/task`); } catch { continue; }
    for (const tid of tids) threads.push([`${pid}/${tid}`, groupOf(pid, tid, cmd, (read(`/proc/${pid}/task/${tid}/comm`) ?? '?').trim())]);
  }
  scanned_ms = performance.now();
}
/** Each known thread's group and its ns on a core and waiting for one, now. */
function sample(): Map<string, { group: string; run_ns: number; wait_ns: number }> {
  if (performance.now() - scanned_ms > 1000) scan();
  const m = new Map<string, { group: string; run_ns: number; wait_ns: number }>();
  for (const [key, group] of threads) {
    const st = schedstat(`/proc/${key.replace('/', '/task/')}/schedstat`);
    if (st) m.set(key, { group, ...st });
  }
  return m;
}
let prev = sample();
const end = performance.now() + seconds * 1000;
while (performance.now() < end) {
  await new Promise((r) => setTimeout(r, slice_ms));
  const cur = sample();
  const by = new Map<string, [number, number]>();
  for (const [k, t] of cur) {
    const p = prev.get(k) ?? t;
    const a = by.get(t.group) ?? [0, 0];
    by.set(t.group, [a[0] + (t.run_ns - p.run_ns) / 1e6, a[1] + (t.wait_ns - p.wait_ns) / 1e6]);
  }
  prev = cur;
  const parts = [...by].filter(([, [r, w]]) => r >= 1 || w >= 1).sort((a, b) => b[1][0] - a[1][0]).map(([g, [r, w]]) => `${g} ${r.toFixed(0)}/${w.toFixed(0)}`);
  console.log(`${Date.now()} ${parts.join(' | ')}`);
}
