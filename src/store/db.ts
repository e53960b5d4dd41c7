// One database interface, two engines: PGlite (Postgres in WASM, in-process) and a
// Postgres server through `pg`. Same SQL, same migrations. int8 values come back as bigint
// on both so money never passes through a float.
import { createHash } from 'node:crypto';
import { CoreError } from '../errors.ts';

export type Row = Record<string, any>;

export interface Queryable {
  query<T extends Row = Row>(sql: string, params?: unknown[]): Promise<T[]>;
}

export interface Db extends Queryable {
  readonly engine: 'pglite' | 'postgres';
  /** Runs fn in one transaction; retried on serialization failures and deadlocks. */
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  /**
   * Subscribes to NOTIFY on a channel. Resolves once listening. On a server, a lost listening
   * connection is re-opened and `onReconnect` called (notifications in between are lost:
   * the caller resynchronises).
   */
  listen(channel: string, onPayload: (payload: string) => void, onReconnect?: () => void): Promise<() => Promise<void>>;
  /**
   * Sends notifications on a channel, one per payload, in one statement, on a connection of
   * their own (never queued behind the pool's queries), with asynchronous commit. Best effort:
   * a failure is swallowed (listeners catch up). Other processes only: a node hears its own.
   */
  notify(channel: string, payloads: string[]): Promise<void>;
  /**
   * Runs fn once the queries called before it have been handed to their connection. pg's pool
   * hands a query over on process.nextTick (fn is queued after it); PGlite runs its queries in
   * this process, so fn runs at once (a nextTick could wait behind a chain of PGlite queries,
   * which are promises settled without I/O: the microtask queue would never empty).
   */
  afterSend(fn: () => void): void;
  close(): Promise<void>;
}

/**
 * Several reads that must agree (a row and the rows beside it), in one snapshot: read only,
 * repeatable read. Separate reads could straddle a writer's commit and show half of it.
 */
export function snapshot<T>(db: Db, fn: (q: Queryable) => Promise<T>): Promise<T> {
  return db.tx(async (q) => {
    await q.query('set transaction isolation level repeatable read, read only');
    return fn(q);
  });
}

/**
 * Parameterised DML runs as a named prepared statement (one per distinct SQL text and
 * connection): Postgres parses and plans it once per connection instead of on every call,
 * which is most of its CPU for the short statements of the payment path (and, in PGlite's
 * WebAssembly, 2-10 ms per paying statement). Bounded: SQL texts beyond the first `max` run
 * unnamed. Both engines use this; each decides what a name means on its connection(s).
 */
export class StatementNames {
  private readonly names = new Map<string, string>();
  constructor(private readonly max = 1000) {}

  /** The name to run `sql` under, or null to run it unnamed. */
  of(sql: string, params: unknown[] | undefined): string | null {
    if (!params || params.length === 0 || !DML.test(sql)) return null;
    let name = this.names.get(sql);
    if (name === '') return null;
    if (!name) {
      if (this.names.size >= this.max) return null;
      name = 'pg_' + createHash('sha1').update(sql).digest('hex').slice(0, 24);
      this.names.set(sql, name);
    }
    return name;
  }

  /**
   * Runs `exec` under the statement's name; if the schema changed under it (a migration, maybe
   * another node's: "cached plan must not change result type", 0A000), that SQL runs unnamed
   * from now on, and this call is retried once. Errors leave translated (translateDbError).
   */
  async run<T>(sql: string, params: unknown[] | undefined, exec: (name: string | null) => Promise<T>): Promise<T> {
    const name = this.of(sql, params);
    try {
      return await exec(name);
    } catch (err) {
      if (name === null || sqlState(err) !== '0A000') throw translateDbError(err);
      this.names.set(sql, ''); // remembered as "never name this one"
      try {
        return await exec(null);
      } catch (again) {
        throw translateDbError(again);
      }
    }
  }
}
const DML = /^\s*(select|insert|update|delete|with)\b/i;

/** SQLSTATEs worth one more try of the whole transaction. */
export const RETRYABLE_SQLSTATES = new Set(['40001', '40P01']);
export const TX_MAX_ATTEMPTS = 5;

/**
 * Client text the database cannot store (a NUL character, bytes that are not UTF-8) is the
 * client's error, not ours: a 400 invalid_request wherever it surfaces, never a 500.
 * Dialects validate first; this is the backstop under all of them.
 */
const UNSTORABLE_TEXT = new Set(['22021', '22P05']);
export function translateDbError(err: unknown): unknown {
  if (!UNSTORABLE_TEXT.has(sqlState(err) ?? '')) return err;
  return Object.assign(new CoreError('invalid_request', 'a text field holds a character that cannot be stored (such as NUL)'), { statusCode: 400 });
}

export function sqlState(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

export interface OpenOptions {
  /** postgres://… selects the server engine. */
  databaseUrl?: string;
  /** PGlite data directory; undefined = in memory. */
  dataDir?: string;
  poolSize?: number;
}

export async function openDb(opts: OpenOptions): Promise<Db> {
  if (opts.databaseUrl) {
    const { openPg } = await import('./pg.ts');
    return openPg(opts.databaseUrl, opts.poolSize);
  }
  const { openPglite } = await import('./pglite.ts');
  return openPglite(opts.dataDir);
}
