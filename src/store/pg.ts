import pg from 'pg';
import { type Db, type Queryable, RETRYABLE_SQLSTATES, StatementNames, TX_MAX_ATTEMPTS, sqlState, translateDbError } from './db.ts';

// int8 → bigint, numeric stays text; the same as the PGlite driver.
pg.types.setTypeParser(20, (v: string) => BigInt(v));

/** Runs a query, as a named prepared statement where `names` says so (db.ts). */
function run(names: StatementNames, c: { query(cfg: pg.QueryConfig): Promise<pg.QueryResult> }, sql: string, params: unknown[] | undefined): Promise<any[]> {
  return names.run(sql, params, async (name) => (await c.query(name === null ? { text: sql, values: params as any[] } : { name, text: sql, values: params as any[] })).rows);
}

/** Longest wait for one batch of change notifications before its connection is replaced. */
const NOTIFY_TIMEOUT_MS = 5_000;

export async function openPg(url: string, poolSize = 10): Promise<Db> {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, idleTimeoutMillis: 30_000 });
  pool.on('error', () => {}); // idle client errors surface on the next query instead
  await pool.query('select 1');
  const listeners: { end(): Promise<void> }[] = [];
  // Named per SQL text; pg prepares each name once on every connection that runs it.
  const names = new StatementNames();
  /** The connection change notifications are sent on (opened on first use, re-opened after a failure). */
  let notifier: Promise<pg.Client> | null = null;
  let closing = false;

  const db: Db = {
    engine: 'postgres',
    async query(sql, params) {
      return run(names, pool, sql, params);
    },
    async tx(fn) {
      for (let attempt = 1; ; attempt++) {
        const client = await pool.connect();
        const q: Queryable = { query: (sql, params) => run(names, client, sql, params) };
        try {
          await client.query('begin');
          const out = await fn(q);
          await client.query('commit');
          client.release();
          return out;
        } catch (err) {
          await client.query('rollback').catch(() => {});
          // An error without a SQLSTATE is the connection's own: do not hand it out again.
          client.release(sqlState(err) ? undefined : (err as Error));
          if (attempt < TX_MAX_ATTEMPTS && RETRYABLE_SQLSTATES.has(sqlState(err) ?? '')) continue;
          throw translateDbError(err);
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
    async notify(channel, payloads) {
      if (!payloads.length || closing) return;
      try {
        if (!notifier) {
          const opening: Promise<pg.Client> = (async () => {
            // Keepalive and a statement timeout: a silently dead connection must not stall announcements.
            const c = new pg.Client({ connectionString: url, keepAlive: true, query_timeout: NOTIFY_TIMEOUT_MS });
            const drop = () => { if (notifier === opening) notifier = null; };
            c.on('error', drop);
            c.on('end', drop);
            await c.connect();
            return c;
          })();
          notifier = opening;
        }
        const c = await notifier;
        await c.query(
          `with s as (select set_config('synchronous_commit', 'off', true) as c) select pg_notify($1, p) from s, unnest($2::text[]) as p`,
          [channel, payloads],
        );
      } catch {
        // The next announcement opens a new connection; this one is closed if it is still open.
        const dead = notifier;
        notifier = null;
        void dead?.then((c) => c.end(), () => {}).catch(() => {});
      }
    },
    afterSend(fn) {
      process.nextTick(fn);
    },
    async close() {
      closing = true;
      const n = notifier;
      notifier = null;
      if (n) await n.then((c) => c.end(), () => {}).catch(() => {});
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
