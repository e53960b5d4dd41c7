// A summary of a V8 CPU profile (BENCH_PROFILE=dir npm run bench writes one per gateway node):
// self time by file or package, then by function.
//   node bin/run-ts.js bench/diag/profile.ts <file.cpuprofile> [functions=40] [--last=seconds]
// --skip-last=M: without the profile's last M seconds (with --last, a window: --last=44
// --skip-last=28 is about the payment path's 256-client run in a default-mode profile).
// --last=N: only the profile's last N seconds (e.g. the half-load create run, the last run
// before the payment path's node stops).
// --bursts=ms: also the stretches of at least that many ms in which the main thread never
// idled (what the event loop was doing while it was late), by function with its callers
// counted (each function once per sample).
// "(idle)" is time the main thread waited; a system call's time (e.g. writev) includes time the
// thread was off its core, not only its own work.
import { readFileSync } from 'node:fs';

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

const file = process.argv[2];
if (!file) {
  console.error('usage: node bin/run-ts.js bench/diag/profile.ts <file.cpuprofile> [functions]');
  process.exit(2);
}
const topFunctions = Number(process.argv.slice(3).find((a) => /^\d+$/.test(a)) ?? 40);
const last_s = Number(process.argv.find((a) => a.startsWith('--last='))?.slice(7) ?? Infinity);
const skipLast_s = Number(process.argv.find((a) => a.startsWith('--skip-last='))?.slice(12) ?? 0);
const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const self_us = new Map<number, number>();
let total_us = 0;
const end_us = p.timeDeltas.reduce((a, b) => a + b, 0);
let at_us = 0;
p.samples.forEach((id, i) => {
  const d = p.timeDeltas[i] ?? 0;
  at_us += d;
  if (end_us - at_us > last_s * 1e6 || end_us - at_us < skipLast_s * 1e6) return;
  self_us.set(id, (self_us.get(id) ?? 0) + d);
  total_us += d;
});

/** A file's name relative to the project, or its package under node_modules. */
function where(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + 13).split('/');
    return 'pkg ' + parts.slice(0, parts[0]!.startsWith('@') ? 2 : 1).join('/');
  }
  return url.replace(/^file:\/\/.*?\/(src|bench|bin|test)\//, '$1/');
}

const byFile = new Map<string, number>();
const byFunction = new Map<string, number>();
for (const [id, us] of self_us) {
  const f = byId.get(id)!.callFrame;
  const w = where(f.url) || f.functionName;
  byFile.set(w, (byFile.get(w) ?? 0) + us);
  const k = `${f.functionName || '(anonymous)'} ${where(f.url)}:${f.lineNumber + 1}`;
  byFunction.set(k, (byFunction.get(k) ?? 0) + us);
}
const show = (m: Map<string, number>, n: number) => {
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`${((100 * us) / total_us).toFixed(1).padStart(5)}%  ${k}`);
};
console.log(`${(total_us / 1e6).toFixed(1)} s sampled\n-- by file or package`);
show(byFile, 25);
console.log('-- by function');
show(byFunction, topFunctions);

// Busy stretches: consecutive samples off "(idle)" lasting at least --bursts ms.
const burst_ms = Number(process.argv.find((a) => a.startsWith('--bursts='))?.slice(9) ?? 0);
if (burst_ms > 0) {
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (id: number) => {
    const f = byId.get(id)!.callFrame;
    return `${f.functionName || '(anonymous)'} ${where(f.url)}:${f.lineNumber + 1}`;
  };
  const inclusive = new Map<string, number>();
  let run: { id: number; us: number }[] = [];
  let bursts = 0, burst_us = 0, longest_us = 0;
  const flush = () => {
    const us = run.reduce((a, r) => a + r.us, 0);
    if (us >= burst_ms * 1000) {
      bursts++;
      burst_us += us;
      longest_us = Math.max(longest_us, us);
      for (const r of run) {
        const seen = new Set<string>();
        for (let id: number | undefined = r.id; id !== undefined; id = parent.get(id)) seen.add(label(id));
        for (const k of seen) inclusive.set(k, (inclusive.get(k) ?? 0) + r.us);
      }
    }
    run = [];
  };
  at_us = 0;
  p.samples.forEach((id, i) => {
    const d = p.timeDeltas[i] ?? 0;
    at_us += d;
    if (end_us - at_us > last_s * 1e6) return;
    if (byId.get(id)!.callFrame.functionName === '(idle)') flush();
    else run.push({ id, us: d });
  });
  flush();
  console.log(`-- busy stretches of ${burst_ms} ms or more: ${bursts}, ${(burst_us / 1e3).toFixed(0)} ms in all, the longest ${(longest_us / 1e3).toFixed(1)} ms; by function with callers (share of that time)`);
  for (const [k, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, topFunctions)) console.log(`${((100 * us) / burst_us).toFixed(1).padStart(5)}%  ${k}`);
}
