// CPU use per second while a bench runs, from /proc: by process group (postgres, the gateway
// nodes, the load generator, pgbench, the rest) and the busy share of the whole machine.
// With --threads, also the gateway's own threads (its main thread against V8's helpers).
//   node bin/run-ts.js bench/diag/cpu.ts [seconds=60] [--threads]
// Percent of one core: 100 is one core busy for the whole second.
import { readdirSync } from 'node:fs';
import { machineTicks, readProc as read, TICKS_PER_S, ticksOf } from '../cpu.ts';

const seconds = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 60);
const threads = process.argv.includes('--threads');

function groupOf(cmdline: string): string {
  if (/postgres/.test(cmdline) && !/node/.test(cmdline)) return 'postgres';
  if (/bench\/gateway\.ts/.test(cmdline)) return 'gateway';
  if (/bench\/loadgen\.ts/.test(cmdline)) return 'loadgen';
  if (/pgbench/.test(cmdline)) return 'pgbench';
  return 'other';
}

/** key (pid or pid/tid) → [label, ticks]. */
function sample(): Map<string, [string, number]> {
  const m = new Map<string, [string, number]>();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const stat = read(`/proc/${pid}/stat`);
    const cmd = read(`/proc/${pid}/cmdline`);
    if (stat === null || cmd === null) continue;
    const group = groupOf(cmd);
    m.set(pid, [group, ticksOf(stat)]);
    if (threads && group === 'gateway') {
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const t = read(`/proc/${pid}/task/${tid}/stat`);
        if (t === null) continue;
        const name = tid === pid ? 'main' : t.slice(t.indexOf('(') + 1, t.lastIndexOf(')'));
        m.set(`${pid}/${tid}`, [`gateway:${name}`, ticksOf(t)]);
      }
    }
  }
  return m;
}

let prev = sample();
let prevMachine = machineTicks()!;
for (let i = 0; i < seconds; i++) {
  await new Promise((r) => setTimeout(r, 1000));
  const cur = sample();
  const m = machineTicks()!;
  const byLabel = new Map<string, number>();
  for (const [key, [label, ticks]] of cur) {
    const before = prev.get(key)?.[1] ?? ticks; // new this second: counted from the next one
    byLabel.set(label, (byLabel.get(label) ?? 0) + ticks - before);
  }
  const parts = [...byLabel].filter(([, t]) => t > 0).map(([label, t]) => `${label} ${Math.round((t / TICKS_PER_S) * 100)}`);
  console.log(`${new Date().toISOString().slice(11, 19)} machine ${Math.round(((m.busy - prevMachine.busy) / TICKS_PER_S) * 100)} | ${parts.join(' ')}`);
  prev = cur;
  prevMachine = m;
}
