// CPU time from /proc (Linux; elsewhere every reading is null): the whole machine's busy time
// and single processes', in ms. Used by the load generator around its measured window and by
// bench/run.ts around pgbench, so that a payment's CPU cost and a TPC-B transaction's are
// measured the same way, and by bench/diag/cpu.ts.
import { readdirSync, readFileSync } from 'node:fs';

/** USER_HZ on Linux: /proc counts CPU time in ticks of 10 ms. */
export const TICKS_PER_S = 100;

export function readProc(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null; // not Linux, or the process ended meanwhile
  }
}

/** utime + stime in ticks from a /proc/…/stat line (fields after the command's closing parenthesis). */
export function ticksOf(stat: string): number {
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

/** Busy and total ticks of the whole machine (/proc/stat's first line: user nice system idle iowait irq softirq …). */
export function machineTicks(): { busy: number; all: number } | null {
  const stat = readProc('/proc/stat');
  if (stat === null) return null;
  const v = stat.split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { busy: v[0]! + v[1]! + v[2]! + v[5]! + v[6]!, all: v.reduce((a, b) => a + b, 0) };
}

/** CPU time so far of the machine (busy) and of each pid (utime + stime), in ms; null where unreadable. */
export function cpuNow_ms(pids: number[] = []): { machine: number | null; pids: (number | null)[] } {
  const m = machineTicks();
  return {
    machine: m === null ? null : (m.busy * 1000) / TICKS_PER_S,
    pids: pids.map((pid) => {
      const s = readProc(`/proc/${pid}/stat`);
      return s === null ? null : (ticksOf(s) * 1000) / TICKS_PER_S;
    }),
  };
}

/** CPU ms spent between two readings: the machine's, and the pids' together (null if any is unreadable). */
export function cpuSince(a: ReturnType<typeof cpuNow_ms>, b: ReturnType<typeof cpuNow_ms>): { machine_ms: number | null; pids_ms: number | null } {
  const machine_ms = a.machine === null || b.machine === null ? null : b.machine - a.machine;
  const pid = a.pids.map((x, i) => (x === null || b.pids[i] == null ? null : b.pids[i]! - x));
  return { machine_ms, pids_ms: !pid.length || pid.some((x) => x === null) ? null : pid.reduce((s, x) => s! + x!, 0) };
}

/** A thread's (or process') ns on a core and ns runnable but waiting for one, from its schedstat file; null where unreadable. */
export function schedstat(path: string): { run_ns: number; wait_ns: number } | null {
  const f = readProc(path)?.split(' ');
  return f ? { run_ns: Number(f[0]), wait_ns: Number(f[1]) } : null;
}

/**
 * CPU ms so far of the kernel's DAMON memory monitors (kdamond threads), or null where there
 * are none: the VMs of the sixteenth and seventeenth passes ran one for memory reclaim,
 * 17–42 ms of a core every half second (docs/benchmark-history.md, seventeenth pass).
 */
export function kdamond_ms(): number | null {
  let ms: number | null = null;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || !readProc(`/proc/${pid}/comm`)?.startsWith('kdamond')) continue;
    const st = schedstat(`/proc/${pid}/schedstat`);
    if (st) ms = (ms ?? 0) + st.run_ns / 1e6;
  }
  return ms;
}
