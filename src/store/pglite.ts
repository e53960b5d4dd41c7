import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite, type PGliteOptions, parse, protocol, types } from '@electric-sql/pglite';
import { type Db, type Queryable, RETRYABLE_SQLSTATES, StatementNames, TX_MAX_ATTEMPTS, sqlState, translateDbError } from './db.ts';

/**
 * Postgres' default 128 MB of shared buffers is sized for a server; embedded in the gateway's
 * process (whose WASM memory never shrinks) it is most of the RSS. The files stay in the OS
 * page cache anyway. Measured: 364 MB → 240 MB RSS after opening.
 */
export const PGLITE_SHARED_BUFFERS = process.env.PAYGATE_PGLITE_SHARED_BUFFERS || '32MB';

/**
 * Creating a database (initdb) grows PGlite's memory to ~900 MB, and WASM memory is never
 * given back: do it once in a short-lived child process, so the gateway starts small.
 */
export function initDataDirInChild(dataDir: string): void {
  if (existsSync(join(dataDir, 'PG_VERSION'))) return;
  const script = `const { PGlite } = await import('@electric-sql/pglite'); const db = await PGlite.create(${JSON.stringify(dataDir)}); await db.close();`;
  execFileSync(process.execPath, ['--input-type=module', '-e', script], { stdio: 'inherit', cwd: new URL('../..', import.meta.url).pathname });
}

export async function openPglite(dataDir?: string): Promise<Db> {
  if (dataDir) initDataDirInChild(dataDir);
  const pg = await PGlite.create(dataDir, {
    // int8 → bigint, as with the pg driver.
    parsers: { [types.INT8]: (v: string) => BigInt(v) },
    postgresqlconf: [`shared_buffers = ${PGLITE_SHARED_BUFFERS}`],
  } satisfies PGliteOptions);
  const names = new StatementNames();
  /** Parameter type oids of each statement prepared on this database's one connection. */
  const prepared = new Map<string, number[]>();
  const { serialize } = protocol;

  /** One exchange, ended by Sync: after an error the server skips to it and is ready again. */
  const wire = (...msgs: Uint8Array[]) => pg.execProtocolStream(Buffer.concat([...msgs, serialize.sync()]), { syncToFs: false });
  /** A named statement's parameter types; it is prepared on first use (the caller holds the query lock). */
  const paramTypes = async (name: string, sql: string): Promise<number[]> => {
    const known = prepared.get(name);
    if (known) return known;
    const found = parse.parseDescribeStatementResults(await wire(serialize.parse({ name, text: sql }), serialize.describe({ type: 'S', name })));
    prepared.set(name, found);
    return found;
  };

  /**
   * One query through PGlite's wire protocol, as its own `query` does, but under a statement
   * name: parsed and planned once (PGlite's `query` parses and plans every call: 2-10 ms for
   * the paying statement). The caller holds the transaction lock (or is inside the
   * transaction); this takes the query lock, as PGlite's own methods do.
   */
  const named = (name: string, sql: string, params: unknown[] | undefined, inTx: boolean): Promise<any[]> =>
    pg._runExclusiveQuery(async () => {
      if (pg.closed) throw new Error('PGlite is closed');
      const oids = await paramTypes(name, sql);
      // Parameters serialised by their types, as PGlite's `query` does.
      const values = (params ?? []).map((v, i) => (v === null || v === undefined ? null : (pg.serializers[oids[i]!] ?? String)(v)));
      const results = parse.parseResults(await wire(serialize.bind({ statement: name, values }), serialize.describe({ type: 'P' }), serialize.execute({})), pg.parsers);
      if (!inTx) await pg.syncToFs();
      return (results[0]?.rows ?? []) as any[];
    });

  const db: Db = {
    engine: 'pglite',
    query(sql, params) {
      return names.run(sql, params, (name) =>
        name === null ? pg.query(sql, params as any[]).then((r) => r.rows as any[]) : pg._runExclusiveTransaction(() => named(name, sql, params, false)));
    },
    async tx(fn) {
      for (let attempt = 1; ; attempt++) {
        try {
          return await pg.transaction(async (t) => {
            const q: Queryable = {
              query: (sql, params) => names.run(sql, params, (name) => (name === null ? t.query(sql, params as any[]).then((r) => r.rows as any[]) : named(name, sql, params, true))),
            };
            return fn(q);
          });
        } catch (err) {
          if (attempt < TX_MAX_ATTEMPTS && RETRYABLE_SQLSTATES.has(sqlState(err) ?? '')) continue;
          throw translateDbError(err);
        }
      }
    },
    async listen(channel, onPayload) {
      const unsub = await pg.listen(channel, onPayload);
      return unsub;
    },
    async notify() {
      // An embedded database belongs to one process: there is no other node to tell.
    },
    afterSend(fn) {
      fn();
    },
    async close() {
      await pg.close();
    },
  };
  return db;
}
