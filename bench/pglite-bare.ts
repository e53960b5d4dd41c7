// The embedded-engine baseline: one PGlite in this process, one transaction of the shape of a
// bank transfer (TPC-B's three writes: debit one account, credit another, insert a history
// row) at a time, for BARE_SECONDS. Prints {"count":…,"seconds":…,"tps":…,"p50_ms":…,"p99_ms":…}.
// BARE_DATA_DIR: an existing data directory (the bench passes the stopped PGlite node's, so
// storage and settings are the gateway's); its tables are bare_* beside the gateway's.
import { PGlite } from '@electric-sql/pglite';
import { performance } from 'node:perf_hooks';
import { PGLITE_SHARED_BUFFERS } from '../src/store/pglite.ts';

const seconds = Number(process.env.BARE_SECONDS ?? 10);
const db = await PGlite.create(process.env.BARE_DATA_DIR || undefined, { postgresqlconf: [`shared_buffers = ${PGLITE_SHARED_BUFFERS}`] });
await db.exec(`
  create table bare_accounts (id int primary key, balance bigint not null);
  create table bare_history (id bigserial primary key, src int, dst int, amount bigint, at timestamptz default now());
  insert into bare_accounts select g, 1000000000 from generate_series(1, 1000) g;
`);
let i = 0;
async function transfer(): Promise<void> {
  const a = (i * 7919) % 1000 + 1;
  const b = (a % 1000) + 1;
  i++;
  await db.transaction(async (t) => {
    await t.query('update bare_accounts set balance = balance - $2 where id = $1', [a, 100]);
    await t.query('update bare_accounts set balance = balance + $2 where id = $1', [b, 100]);
    await t.query('insert into bare_history (src, dst, amount) values ($1, $2, $3)', [a, b, 100]);
  });
}
// One unmeasured second first, as the load generator's warm-up: the first transactions compile.
for (const warm = performance.now() + 1000; performance.now() < warm; ) await transfer();
const lat: number[] = [];
const t0 = performance.now();
const end = t0 + seconds * 1000;
while (performance.now() < end) {
  const s = performance.now();
  await transfer();
  lat.push(performance.now() - s);
}
const took = (performance.now() - t0) / 1000;
lat.sort((x, y) => x - y);
const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] ?? 0;
process.stdout.write(JSON.stringify({ count: lat.length, seconds: took, tps: lat.length / took, p50_ms: pct(50), p99_ms: pct(99), max_ms: lat[lat.length - 1] ?? 0 }) + '\n');
await db.close();
