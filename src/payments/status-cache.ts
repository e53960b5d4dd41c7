// Status reads (clients poll every 100 ms) are answered from memory. The cache follows the
// change feed; a miss reads the database once. Other nodes' changes arrive by NOTIFY.
import type { ChangeFeed } from './feed.ts';
import type { PaymentRecord } from './model.ts';
import type { Payments } from './service.ts';
import { BoundedMap } from '../bounded-map.ts';

/** Rows one catch-up pass looks at, at most (the rest waits for the next pass). */
export const CATCH_UP_MAX_ROWS = 20_000;
/** Long-polls held at once, at most (each holds a socket and a timer). */
export const MAX_WAITERS = 50_000;

export class StatusCache {
  private readonly byId: BoundedMap<PaymentRecord>;
  /** token → id of the cached payments (pay pages and the wallet API look payments up by token). */
  private readonly byToken: BoundedMap<string>;
  private readonly waiters = new Map<string, Set<() => void>>();
  /** Long-polls held right now; past MAX_WAITERS a long-poll answers at once. */
  private waiting = 0;
  private readonly unsubscribe: () => void;

  constructor(private readonly payments: Payments, private readonly feed: ChangeFeed, /** Bound on cached payments (PAYGATE_STATUS_CACHE_ENTRIES); the oldest go first past it. */ maxEntries: number) {
    // A payment dropped from byId takes its token along. byToken has the same bound and no
    // drops of its own but for an uneven shard; then a token lookup reads the database, as on
    // any miss.
    this.byToken = new BoundedMap<string>(maxEntries);
    this.byId = new BoundedMap<PaymentRecord>(maxEntries, (_id, old) => this.byToken.delete(old.token));
    this.unsubscribe = feed.subscribe((c) => {
      if (c.type === 'payment') this.put(c.payment);
    });
  }

  /** Keeps the newest version only; wakes long-pollers. */
  put(p: PaymentRecord): void {
    const cur = this.byId.get(p.id);
    if (cur && cur.version >= p.version) return;
    this.byId.set(p.id, p);
    this.byToken.set(p.token, p.id);
    const ws = this.waiters.get(p.id);
    if (ws) {
      this.waiters.delete(p.id);
      for (const w of ws) w();
    }
  }

  peek(id: string): PaymentRecord | undefined {
    return this.byId.get(id);
  }

  async get(id: string): Promise<PaymentRecord | null> {
    const hit = this.byId.get(id);
    if (hit) return hit;
    const p = await this.payments.get(id);
    if (p) this.put(p);
    return p;
  }

  /**
   * A payment by its token, as fresh as get(): the pay pages and the wallet API resolve a
   * scanned code from memory on the node that created it or saw it change.
   */
  async getByToken(token: string): Promise<PaymentRecord | null> {
    const id = this.byToken.get(token);
    const hit = id === undefined ? undefined : this.byId.get(id);
    if (hit) return hit;
    const p = await this.payments.getByToken(token);
    if (p) this.put(p);
    return p;
  }

  /**
   * Re-reads every cached payment (in chunks) and publishes the newer versions on the local
   * feed: after the cross-node notification stream was interrupted, changes made meanwhile
   * are caught up.
   */
  async resync(chunk = 1000): Promise<number> {
    const ids = [...this.byId.keys()];
    let updated = 0;
    for (let i = 0; i < ids.length; i += chunk) {
      for (const p of await this.payments.getMany(ids.slice(i, i + chunk))) {
        const cur = this.byId.get(p.id);
        if (!cur || cur.version < p.version) {
          this.feed.publish({ type: 'payment', payment: p }); // the cache and every other local listener hear it
          updated++;
        }
      }
    }
    return updated;
  }

  /**
   * The safety net under the cross-node notifications (which are sent after the commit and
   * can be lost if a node dies in between): re-reads the cached payments changed since
   * `since` (by any node) and publishes newer versions. Run periodically, it bounds how stale
   * a cached status can be even when a notification never arrives.
   */
  async catchUp(since: Date): Promise<{ updated: number; next_since: Date | null }> {
    const { changed, last_updated_at } = await this.payments.changedSince(since, CATCH_UP_MAX_ROWS);
    // A full page: the next pass continues from the last row seen, not from now.
    const next_since = changed.length === CATCH_UP_MAX_ROWS ? last_updated_at : null;
    const stale = changed.filter((c) => {
      const cur = this.byId.get(c.id);
      return cur !== undefined && cur.version < c.version;
    });
    let updated = 0;
    if (stale.length) {
      for (const p of await this.payments.getMany(stale.map((c) => c.id))) {
        const cur = this.byId.get(p.id);
        if (cur && cur.version < p.version) {
          this.feed.publish({ type: 'payment', payment: p });
          updated++;
        }
      }
    }
    return { updated, next_since };
  }

  /** Resolves when the payment's version passes `version` or after timeout_ms. */
  async waitForChange(id: string, version: number, timeout_ms: number): Promise<PaymentRecord | null> {
    const cur = await this.get(id);
    if (!cur || cur.version > version || timeout_ms <= 0 || this.waiting >= MAX_WAITERS) return cur;
    this.waiting++;
    await new Promise<void>((resolve) => {
      let set = this.waiters.get(id);
      if (!set) this.waiters.set(id, (set = new Set()));
      const done = () => {
        clearTimeout(timer);
        set!.delete(done);
        // An empty set would stay forever for a payment that never changes again.
        if (set!.size === 0 && this.waiters.get(id) === set) this.waiters.delete(id);
        this.waiting--;
        resolve();
      };
      const timer = setTimeout(done, timeout_ms);
      set.add(done);
    });
    return this.byId.get(id) ?? cur;
  }

  close(): void {
    this.unsubscribe();
    for (const ws of this.waiters.values()) for (const w of ws) w();
    this.waiters.clear();
  }
}
