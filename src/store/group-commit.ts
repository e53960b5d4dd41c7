// Group commit: requests that arrive while a statement is running are written together by the
// next one. A lone request goes at once (no added wait); under load, one statement and one
// commit carry many requests, which cuts round trips, query submissions and WAL flushes per
// request. Each caller is answered only when the statement holding its item has finished.
//
// The runner gets a batch and returns one result per item, in order; if the database refused
// the statement (nothing changed), every item is run again alone and gets its own answer. Items that share a key
// (the same payment, the same payer account) never travel in one batch: the later one waits
// for the next, so one statement never touches a row twice and per-item checks stay exact.

import { sqlState } from './db.ts';

export interface GroupCommitOptions<I> {
  /** Most items in one batch. */
  max: number;
  /** Keys an item claims; two items with a common key are never in the same batch (nor in two batches running at once). */
  keys?: (item: I) => readonly string[];
  /** Statements running at once (default 1). More than 1 only where concurrent batches cannot deadlock. */
  concurrency?: number;
  /**
   * Whether a batch's error proves it changed nothing, so its items may run again alone.
   * Default: the database answered with an error (a SQLSTATE: the statement was rolled back).
   * A lost connection may have lost the answer to a commit: those items get the error.
   */
  retryAlone?: (err: unknown) => boolean;
  /**
   * How a batch's answers wait for the next statement to be sent (`Db.afterSend`): a batch
   * ends, the next one is started, and only then are the last one's answers given out, so the
   * database works on the next statement while this process writes the answers. Default: at
   * once, after the start.
   */
  afterSend?: (fn: () => void) => void;
}

/** An error the database server sent (it has a severity and a five-character SQLSTATE), not a socket's. */
export function refusedByDatabase(err: unknown): boolean {
  return typeof (err as { severity?: unknown } | null)?.severity === 'string' && /^[0-9A-Z]{5}$/.test(sqlState(err) ?? '');
}

interface Waiting<I, O> {
  item: I;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
}

export class GroupCommit<I, O> {
  private queue: Waiting<I, O>[] = [];
  private running = 0;
  /** Keys of the batches running now: an item sharing one waits for them. */
  private readonly busy = new Set<string>();
  /** Batches run, items carried and the statements' wall time (ms, retries alone included), for the metrics and the tests. */
  readonly stats = { batches: 0, items: 0, largest: 0, busy_ms: 0 };

  constructor(private readonly run: (items: I[]) => Promise<O[]>, private readonly opts: GroupCommitOptions<I>) {
    if (!(opts.max >= 1)) throw new Error('group commit needs max >= 1');
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.running < (this.opts.concurrency ?? 1)) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running++;
    // The last batch's answers, given out once the next statement has been handed to the driver
    // (opts.afterSend). Given out first, every waiter's continuation (dozens of HTTP answers
    // written) would run before the next statement is sent, the lane's connection idle
    // meanwhile. Measured in docs/benchmark-history.md (twenty-fourth pass).
    let settle: (() => void) | null = null;
    try {
      while (this.queue.length) {
        const batch = this.take();
        if (!batch.length) break; // everything left waits on keys of a running batch
        const keys = batch.flatMap((w) => this.keysOf(w.item));
        for (const k of keys) this.busy.add(k);
        this.stats.batches++;
        this.stats.items += batch.length;
        if (batch.length > this.stats.largest) this.stats.largest = batch.length;
        const t0_ms = performance.now();
        try {
          const running = this.runChecked(batch);
          if (settle) (this.opts.afterSend ?? ((fn) => fn()))(settle);
          settle = null;
          const out = await running;
          settle = () => batch.forEach((w, i) => w.resolve(out[i]!));
        } catch (err) {
          if (batch.length === 1 || !(this.opts.retryAlone ?? refusedByDatabase)(err)) for (const w of batch) w.reject(err);
          // The database refused the statement as a whole (it changed nothing): each item
          // alone, so one item's error (or a deadlock of the batch) reaches that item only.
          else for (const w of batch) await this.runChecked([w]).then((o) => w.resolve(o[0]!), w.reject);
        } finally {
          this.stats.busy_ms += performance.now() - t0_ms;
          for (const k of keys) this.busy.delete(k);
        }
      }
    } finally {
      settle?.();
      // Items left behind wait on keys of a batch that is still running: its drain takes them
      // when that batch ends (the last drain running always finds its queue takeable).
      this.running--;
    }
  }

  private keysOf(item: I): readonly string[] {
    return this.opts.keys ? this.opts.keys(item) : [];
  }

  private async runChecked(batch: Waiting<I, O>[]): Promise<O[]> {
    const out = await this.run(batch.map((w) => w.item));
    if (out.length !== batch.length) throw new Error(`invariant: group commit got ${out.length} results for ${batch.length} items`);
    return out;
  }

  /** The next batch: queue order, at most max, skipping items whose keys are already taken. */
  private take(): Waiting<I, O>[] {
    const batch: Waiting<I, O>[] = [];
    const rest: Waiting<I, O>[] = [];
    const taken = new Set<string>();
    for (const w of this.queue) {
      if (batch.length >= this.opts.max) {
        rest.push(w);
        continue;
      }
      const keys = this.keysOf(w.item);
      if (keys.some((k) => taken.has(k) || this.busy.has(k))) {
        rest.push(w);
        continue;
      }
      for (const k of keys) taken.add(k);
      batch.push(w);
    }
    this.queue = rest;
    return batch;
  }
}
