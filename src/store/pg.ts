import pg from 'pg';
import { type Db, type Queryable, RETRYABLE_SQLSTATES, TX_MAX_ATTEMPTS, sqlState } from './db.ts';

// int8 → bigint, numeric stays text; the same as the PGlite driver.
pg.types.setTypeParser(20, (v: string) => BigInt(v));

export async function openPg(url: string, poolSize = 10): Promise<Db> {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, idleTimeoutMillis: 30_000 });
  pool.on('error', () => {}); // idle client errors surface on the next query instead
  await pool.query('select 1');
  const listeners: { end(): Promise<void> }[] = [];

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
    async listen(channel, onPayload, onReconnect) {
      // A dedicated connection; if it drops, it is re-opened (backoff up to 2 s) and LISTENs
      // again, then onReconnect lets the caller catch up on what it may have missed.
      let client: pg.Client;
      let closed = false;
      const open = async (): Promise<void> => {
        const c = new pg.Client({ connectionString: url });
        c.on('notification', (n) => {
          if (n.channel === channel) onPayload(n.payload ?? '');
        });
        let lost = false;
        const onLost = () => {
          if (lost || closed) return;
          lost = true;
          void reconnect();
        };
        c.on('error', onLost);
        c.on('end', onLost);
        await c.connect();
        await c.query(`listen ${pgIdent(channel)}`);
        client = c;
      };
      const reconnect = async (): Promise<void> => {
        for (let delay = 100; !closed; delay = Math.min(delay * 2, 2000)) {
          await new Promise((r) => setTimeout(r, delay));
          if (closed) return;
          try {
            await open();
            if (!closed) onReconnect?.();
            return;
          } catch {
            // retry
          }
        }
      };
      await open();
      const entry = { end: () => { closed = true; return client.end(); } };
      listeners.push(entry);
      return async () => {
        closed = true;
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
