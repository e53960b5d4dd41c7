// What the gateway's Postgres sessions are doing, sampled every 10 ms from pg_stat_activity:
// the share of samples in which a statement of each kind was running on CPU or waiting, and on
// what (WAL flush, locks, I/O). "CPU" also counts a backend waiting for a core.
//   node bin/run-ts.js bench/diag/pg-waits.ts [seconds=20] [database LIKE pattern=bench_pay%]
// BENCH_PG_URL as for the bench.
import pg from 'pg';

const seconds = Number(process.argv[2] ?? 20);
const database = process.argv[3] ?? 'bench_pay%';
const c = new pg.Client({ connectionString: process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' });
await c.connect();

/** The kind of a statement, from its text: the payment path's group-commit statements by name. */
function kindOf(query: string): string {
  if (/lp as materialized/.test(query)) return 'pay';
  if (/insert into payments/.test(query)) return 'create';
  return query.replace(/\s+/g, ' ').trim().slice(0, 30);
}

const counts = new Map<string, number>();
let samples = 0;
const end = Date.now() + seconds * 1000;
while (Date.now() < end) {
  const r = await c.query<{ w: string; query: string }>(
    `select coalesce(wait_event_type || ':' || wait_event, 'CPU') as w, query from pg_stat_activity
      where state = 'active' and datname like $1 and pid <> pg_backend_pid()`,
    [database],
  );
  samples++;
  for (const row of r.rows) {
    const k = `${kindOf(row.query)} ${row.w}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  await new Promise((resolve) => setTimeout(resolve, 10));
}
await c.end();
console.log(`${samples} samples; share of samples with a session in each state:`);
for (const [k, n] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${(n / samples).toFixed(2).padStart(6)}  ${k}`);
