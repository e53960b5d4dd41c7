import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ENGINE, freshPostgresDatabase, testDb } from '../../test/harness.ts';
import { openDb } from './db.ts';
import { migrate } from './migrate.ts';

test('migrations apply from empty, are recorded, and re-run as a no-op', async () => {
  const { db, close } = await testDb();
  try {
    const first = await migrate(db);
    assert.ok(first.includes('001_core'), 'core schema applied');
    const tables = await db.query(`select table_name from information_schema.tables where table_schema = 'public' order by 1`);
    for (const t of ['accounts', 'journal_entries', 'postings', 'payments', 'refunds', 'payouts', 'outbox', 'delivery_attempts', 'merchants', 'schema_migrations']) {
      assert.ok(tables.some((r) => r.table_name === t), `table ${t}`);
    }
    const again = await migrate(db);
    assert.deepEqual(again, []);
    const recorded = await db.query('select version from schema_migrations order by version');
    assert.deepEqual(recorded.map((r) => r.version), first);
    // Concurrent starts (several nodes) apply each migration once.
    const both = await Promise.all([migrate(db), migrate(db)]);
    assert.deepEqual(both, [[], []]);
  } finally {
    await close();
  }
});

test('several nodes starting at once on an empty Postgres database: each migration applied once, no start fails', { skip: ENGINE !== 'postgres' ? 'several connections need a Postgres server' : false }, async () => {
  const f = await freshPostgresDatabase();
  const dbs = await Promise.all(Array.from({ length: 4 }, () => openDb({ databaseUrl: f.url, poolSize: 1 })));
  try {
    const applied = await Promise.all(dbs.map((db) => migrate(db)));
    const all = applied.flat().sort();
    assert.deepEqual(all, [...new Set(all)], 'no migration applied twice');
    const recorded = await dbs[0]!.query('select version from schema_migrations order by version');
    assert.deepEqual(recorded.map((r) => r.version), all);
  } finally {
    for (const db of dbs) await db.close();
    await f.drop();
  }
});

test('int8 values come back as bigint on this engine', async () => {
  const { db, close } = await testDb();
  try {
    const [r] = await db.query(`select 9007199254740993::int8 as big, 12::int4 as small`);
    assert.equal(r!.big, 9007199254740993n);
    assert.equal(r!.small, 12);
  } finally {
    await close();
  }
});

test('the database refuses a negative payer balance even if code would allow it', async () => {
  const { db, close } = await testDb();
  try {
    await migrate(db);
    await db.query(`insert into accounts (kind, currency, name, phone) values ('wallet', 'HTG', 'x', '50930000000')`);
    await assert.rejects(db.query(`update accounts set balance_minor = -1 where kind = 'wallet'`), (e: any) => e.code === '23514');
  } finally {
    await close();
  }
});
