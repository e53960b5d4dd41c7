// Named prepared statements (StatementNames in db.ts), on both engines: parameterised DML is
// parsed and planned once per connection, and a schema change under a prepared statement
// does not break it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ENGINE, freshPostgresDatabase } from '../../test/harness.ts';
import { type Db, openDb } from './db.ts';

/** One database on one connection (PGlite has only one), and a second handle on it: another node's on a server, the same one embedded. */
async function open(): Promise<{ db: Db; other: Db; close: () => Promise<void> }> {
  if (ENGINE !== 'postgres') {
    const db = await openDb({});
    return { db, other: db, close: () => db.close() };
  }
  const f = await freshPostgresDatabase();
  const db = await openDb({ databaseUrl: f.url, poolSize: 1 });
  const other = await openDb({ databaseUrl: f.url, poolSize: 1 });
  return { db, other, close: async () => { await db.close(); await other.close(); await f.drop(); } };
}

test('parameterised DML is prepared once under a name and reused, in and out of transactions; the rest runs unnamed', async () => {
  const { db, close } = await open();
  try {
    await db.query('create table t_named (id bigint primary key, v text, at timestamptz, tags text[])');
    const insert = 'insert into t_named (id, v, at, tags) select * from unnest($1::bigint[], $2::text[], $3::timestamptz[]) as u(id, v, at), lateral (select $4::text[]) t returning id, at';
    const at = new Date('2026-12-01T10:00:00.123Z');
    const rows = await db.query(insert, [[1n, 2n], ['a', null], [at, at], ['x', 'y']]);
    assert.deepEqual(rows.map((r) => [r.id, (r.at as Date).toISOString()]), [[1n, at.toISOString()], [2n, at.toISOString()]]);
    const select = 'select id, v, tags from t_named where id = $1';
    await db.tx(async (q) => {
      assert.deepEqual(await q.query(select, [2n]), [{ id: 2n, v: null, tags: ['x', 'y'] }]);
    });
    assert.deepEqual(await db.query(select, ['1']), [{ id: 1n, v: 'a', tags: ['x', 'y'] }]);
    const prepared = await db.query<{ statement: string }>(`select statement from pg_prepared_statements where name like 'pg\\_%'`);
    assert.deepEqual(prepared.map((p) => p.statement).sort(), [insert, select].sort(), 'one named statement per parameterised SQL text; DDL and parameterless SQL unnamed');
    // A statement's error reaches its caller; the connection stays usable, in a transaction too.
    await assert.rejects(db.query(insert, [[1n], ['dup'], [at], []]), (e: any) => e.code === '23505');
    await assert.rejects(db.tx(async (q) => {
      await q.query(select, [1n]);
      await q.query(insert, [[3n], ['c'], [at], []]);
      await q.query(insert, [[3n], ['again'], [at], []]);
    }), (e: any) => e.code === '23505');
    assert.deepEqual(await db.query(select, [3n]), [], 'the failed transaction left nothing');
    // Text the database cannot hold is the client's error (400), through a named statement too.
    await assert.rejects(db.query(select.replace('id = $1', 'v = $1'), ['a\u0000b']), (e: any) => e.statusCode === 400);
  } finally {
    await close();
  }
});

test('a schema change (a migration, maybe by another node) does not break prepared statements', async () => {
  const { db, other, close } = await open();
  try {
    await db.query('create table t_prep (id bigint primary key, v text)');
    await db.query(`insert into t_prep values (1, 'x')`);
    const sql = 'select * from t_prep where id = $1';
    assert.equal((await db.query(sql, [1]))[0]!.v, 'x'); // now prepared on db's one connection
    await other.query('alter table t_prep add column w integer default 7'); // "a migration on another node"
    const [row] = await db.query(sql, [1]); // 0A000 "cached plan must not change result type", then retried
    assert.equal(row!.w, 7);
    await db.tx(async (q) => assert.equal((await q.query(sql, [1]))[0]!.w, 7));
  } finally {
    await close();
  }
});
