import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite, type PGliteOptions, types } from '@electric-sql/pglite';
import { type Db, type Queryable, RETRYABLE_SQLSTATES, TX_MAX_ATTEMPTS, sqlState, translateDbError } from './db.ts';

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
  const db: Db = {
    engine: 'pglite',
    async query(sql, params) {
      try {
        return (await pg.query(sql, params as any[])).rows as any[];
      } catch (err) {
        throw translateDbError(err);
      }
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
    async close() {
      await pg.close();
    },
  };
  return db;
}
