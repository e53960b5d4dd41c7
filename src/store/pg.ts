import pg from 'pg';
import { type Db, type Queryable, RETRYABLE_SQLSTATES, TX_MAX_ATTEMPTS, sqlState } from './db.ts';

// int8 → bigint, numeric stays text; the same as the PGlite driver.
pg.types.setTypeParser(20, (v: string) => BigInt(v));

export async function openPg(url: string, poolSize = 10): Promise<Db> {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, idleTimeoutMillis: 30_000 });
  pool.on('error', () => {}); // idle client errors surface on the next query instead
  await pool.query('select 1');
  const listeners: pg.Client[] = [];

  const db: Db = {
    engine: 'postgres',
    async query(sql, params) {
      const r = await pool.query(sql, params as any[]);
      return r.rows;
    },
    async tx(fn) {
      for (let attempt = 1; ; attempt++) {
        const client = await pool.connect();
        const q: Queryable = { query: async (sql, params) => (await client.query(sql, params as any[])).rows };
        try {
          await client.query('begin');
          const out = await fn(q);
          await client.query('commit');
          client.release();
          return out;
        } catch (err) {
          await client.query('rollback').catch(() => {});
          client.release();
          if (attempt < TX_MAX_ATTEMPTS && RETRYABLE_SQLSTATES.has(sqlState(err) ?? '')) continue;
          throw err;
        }
      }
    },
    async listen(channel, onPayload) {
      const client = new pg.Client({ connectionString: url });
      client.on('error', () => {});
      await client.connect();
      client.on('notification', (n) => {
        if (n.channel === channel) onPayload(n.payload ?? '');
      });
      await client.query(`listen ${pgIdent(channel)}`);
      listeners.push(client);
      return async () => {
        await client.end().catch(() => {});
      };
    },
    async close() {
      await Promise.all(listeners.map((c) => c.end().catch(() => {})));
      await pool.end();
    },
  };
  return db;
}

function pgIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad identifier ${name}`);
  return name;
}
