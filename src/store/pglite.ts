import { PGlite, types } from '@electric-sql/pglite';
import { type Db, type Queryable, RETRYABLE_SQLSTATES, TX_MAX_ATTEMPTS, sqlState } from './db.ts';

export async function openPglite(dataDir?: string): Promise<Db> {
  const pg = await PGlite.create(dataDir, {
    // int8 → bigint, as with the pg driver.
    parsers: { [types.INT8]: (v: string) => BigInt(v) },
  });
  const db: Db = {
    engine: 'pglite',
    async query(sql, params) {
      const r = await pg.query(sql, params as any[]);
      return r.rows as any[];
    },
    async tx(fn) {
      for (let attempt = 1; ; attempt++) {
        try {
          return await pg.transaction(async (t) => {
            const q: Queryable = { query: async (sql, params) => (await t.query(sql, params as any[])).rows as any[] };
            return fn(q);
          });
        } catch (err) {
          if (attempt < TX_MAX_ATTEMPTS && RETRYABLE_SQLSTATES.has(sqlState(err) ?? '')) continue;
          throw err;
        }
      }
    },
    async listen(channel, onPayload) {
      const unsub = await pg.listen(channel, onPayload);
      return unsub;
    },
    async close() {
      await pg.close();
    },
  };
  return db;
}
