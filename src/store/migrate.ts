// Forward-only, versioned SQL migrations: src/store/migrations/NNN_name.sql, applied in
// name order, each in its own transaction, recorded in schema_migrations. Safe to re-run
// and safe when several nodes start at once (advisory lock).
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Db } from './db.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
const MIGRATION_LOCK_KEY = 7_301_946_521;

export async function migrate(db: Db): Promise<string[]> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f)).sort();
  // Under the lock too: two "create table if not exists" at once can both find no table, and
  // the second then fails on the catalog's unique index (seen: three nodes started together).
  await db.tx(async (q) => {
    await q.query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await q.query('create table if not exists schema_migrations (version text primary key, applied_at timestamptz not null default now())');
  });
  const applied: string[] = [];
  for (const file of files) {
    const version = file.replace(/\.sql$/, '');
    const sql = await readFile(MIGRATIONS_DIR + file, 'utf8');
    const did = await db.tx(async (q) => {
      await q.query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      const done = await q.query('select 1 from schema_migrations where version = $1', [version]);
      if (done.length) return false;
      for (const stmt of splitSql(sql)) await q.query(stmt);
      await q.query('insert into schema_migrations (version) values ($1)', [version]);
      return true;
    });
    if (did) applied.push(version);
  }
  return applied;
}

/** Splits on semicolons at line ends outside $$-quoted bodies (the migrations' own style). */
function splitSql(sql: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inDollar = false;
  for (const line of sql.split('\n')) {
    if (/^\s*--/.test(line)) continue;
    cur += line + '\n';
    const dollars = (line.match(/\$\$/g) ?? []).length;
    if (dollars % 2 === 1) inDollar = !inDollar;
    if (!inDollar && /;\s*$/.test(line)) {
      out.push(cur.trim());
      cur = '';
    }
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}
