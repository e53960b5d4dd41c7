// The embedded-engine baseline: one PGlite in this process, one transaction of the shape of a
// bank transfer (TPC-B's three writes: debit one account, credit another, insert a history
// row) at a time, for BARE_SECONDS. Prints {"count":…,"seconds":…,"tps":…,"p50_ms":…,"p99_ms":…}.
import { PGlite } from '@electric-sql/pglite';
import { performance } from 'node:perf_hooks';

const seconds = Number(process.env.BARE_SECONDS ?? 10);
const db = await PGlite.create(process.env.BARE_DATA_DIR || undefined);
await db.exec(`
  create table accounts (id int primary key, balance bigint not null);
  create table history (id bigserial primary key, src int, dst int, amount bigint, at timestamptz default now());
  insert into accounts select g, 1000000000 from generate_series(1, 1000) g;
`);
const lat: number[] = [];
const t0 = performance.now();
const end = t0 + seconds * 1000;
let i = 0;
while (performance.now() < end) {
  const s = performance.now();
  const a = (i * 7919) % 1000 + 1;
  const b = (a % 1000) + 1;
  await db.transaction(async (t) => {
    await t.query('update accounts set balance = balance - $2 where id = $1', [a, 100]);
    await t.query('update accounts set balance = balance + $2 where id = $1', [b, 100]);
    await t.query('insert into history (src, dst, amount) values ($1, $2, $3)', [a, b, 100]);
  });
  lat.push(performance.now() - s);
  i++;
}
const took = (performance.now() - t0) / 1000;
lat.sort((x, y) => x - y);
const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] ?? 0;
process.stdout.write(JSON.stringify({ count: i, seconds: took, tps: i / took, p50_ms: pct(50), p99_ms: pct(99), max_ms: lat[lat.length - 1] ?? 0 }) + '\n');
await db.close();
