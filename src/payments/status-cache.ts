// Status reads (clients poll every 100 ms) are answered from memory. The cache follows the
// change feed; a miss reads the database once. Other nodes' changes arrive by NOTIFY.
//
// Two tiers: the payments put most recently or read back from the ring (16,384 by default,
// first in, first out) as decoded records, so polling a pending payment decodes nothing; the
// rest, up to the cache's bound, encoded in an off-heap ring (RingStore), where a major GC
// does not have to mark them. A full cache of
// 200,000 decoded payments made each major GC of a node mark ~4 million objects (a 190–320 ms
// full GC on the bench's VMs, the stall behind the missed create p99); in the ring the same
// 200,000 cost 9–10 ms (benchmark-history.md, nineteenth pass).
import type { ChangeFeed } from './feed.ts';
import { decodePayment, encodePayment, type PaymentRecord } from './model.ts';
import type { Payments } from './service.ts';
import { BoundedMap } from '../bounded-map.ts';
import { RingStore } from '../ring-store.ts';

/** Rows one catch-up pass looks at, at most (the rest waits for the next pass). */
export const CATCH_UP_MAX_ROWS = 20_000;
/** Long-polls held at once, at most (each holds a socket and a timer). */
export const MAX_WAITERS = 50_000;
/** Arena bytes per cached payment: an encoded payment is 600–1,000 bytes (more with long details); the ring drops the oldest by bytes too. */
const RING_BYTES_PER_ENTRY = 1536;
const RING_MAX_BYTES = 0x7fff_ffff;
const HOT_SHARD_ENTRIES = 1024;

export class StatusCache {
  /** The hot tier: decoded payments by id, first in (put, or read back from the ring) first out, into the ring. */
  private readonly byId: BoundedMap<PaymentRecord>;
  /** token → id of the hot tier's payments (pay pages and the wallet API look payments up by token). */
  private readonly byToken: BoundedMap<string>;
  /** The cold tier: payments as encodePayment's JSON, by id and by token, off the heap. */
  private readonly ring: RingStore;
  /**
   * Where reads were answered from (/metrics: paygate_status_cache_reads_total): many from the
   * ring means the hot tier is smaller than the payments being polled; many from the database,
   * that the cache is smaller than the payments being read.
   */
  readonly reads = { hot: 0, ring: 0, database: 0 };
  private readonly waiters = new Map<string, Set<() => void>>();
  /** Long-polls held right now; past MAX_WAITERS a long-poll answers at once. */
  private waiting = 0;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly payments: Payments,
    private readonly feed: ChangeFeed,
    /** Bound on cached payments (PAYGATE_STATUS_CACHE_ENTRIES); the oldest go first past it. */
    maxEntries: number,
    /**
     * Bound on the hot tier (PAYGATE_STATUS_CACHE_HOT_ENTRIES): above the pending payments a
     * node's clients poll at once (10,000 in the bench), or each poll decodes one.
     */
    hotEntries: number,
  ) {
    const hot = Math.min(maxEntries, hotEntries);
    // Offsets are 31-bit: past 2 GiB of arena (1.4 million entries) the bound is in bytes.
    this.ring = new RingStore(maxEntries, Math.min(maxEntries * RING_BYTES_PER_ENTRY, RING_MAX_BYTES));
    // A payment dropped from the hot tier takes its token along, and goes into the ring unless
    // the ring holds that version already (it was read from there). byToken has twice the
    // bound, so that an unevenly filled shard of it does not drop a token whose payment is
    // still hot (a lookup by that token would read the database until the payment changed).
    this.byToken = new BoundedMap<string>(2 * hot);
    this.byId = new BoundedMap<PaymentRecord>(
      hot,
      (id, old) => {
        this.byToken.delete(old.token);
        // A record too large for the ring is not kept, and neither is an older version the ring
        // may hold (it would be served instead): a later read goes to the database.
        if (this.ring.version(id) !== old.version && !this.ring.set(id, old.token, old.version, encodePayment(old))) this.ring.delete(id);
      },
      // Shards of 1,024 drop 64 payments at a time, about 1 ms of encoding: with the default
      // 4,096 a batch of 256 held the event loop 3–5 ms, a fifth of its long busy stretches
      // at half load (benchmark-history.md, nineteenth pass).
      HOT_SHARD_ENTRIES,
    );
    this.unsubscribe = feed.subscribe((c) => {
      if (c.type === 'payment') this.put(c.payment);
    });
  }

  /** Keeps the newest version only; wakes long-pollers. */
  put(p: PaymentRecord): void {
    const cur = this.version(p.id);
    if (cur !== undefined && cur >= p.version) return;
    this.hold(p);
    const ws = this.waiters.get(p.id);
    if (ws) {
      this.waiters.delete(p.id);
      for (const w of ws) w();
    }
  }

  /** The cached version of a payment, from either tier, without decoding it. */
  private version(id: string): number | undefined {
    return this.byId.get(id)?.version ?? this.ring.version(id);
  }

  /** Into the hot tier (the ring's copy, if any, is older or the same). */
  private hold(p: PaymentRecord): void {
    this.byId.set(p.id, p);
    this.byToken.set(p.token, p.id);
  }

  /**
   * A payment from the ring, decoded and moved to the hot tier (it is being read); the hot
   * tier's copy if that is as new (found by a token whose hot entry was dropped alone, or an
   * older copy read after a database read).
   */
  private fromRing(encoded: string | undefined, key: { id: string } | { token: string }): PaymentRecord | undefined {
    if (encoded === undefined) return undefined;
    this.reads.ring++;
    const p = decodePayment(JSON.parse(encoded)); // throws on a record that breaks the read-side invariants
    // The ring answers by its own hash indexes: a record under the wrong key is a bug, never served.
    if ('id' in key ? p.id !== key.id : p.token !== key.token) throw new Error(`invariant: the status cache's ring answered ${p.id} for another key`);
    const hot = this.byId.get(p.id);
    if (hot && hot.version >= p.version) return hot;
    this.hold(p);
    return p;
  }

  /** Payments held in each tier (a payment read back from the ring is in both). */
  get entries(): { hot: number; ring: number } {
    return { hot: this.byId.size, ring: this.ring.size };
  }

  peek(id: string): PaymentRecord | undefined {
    const hot = this.byId.get(id);
    if (hot) {
      this.reads.hot++;
      return hot;
    }
    return this.fromRing(this.ring.get(id), { id });
  }

  async get(id: string): Promise<PaymentRecord | null> {
    const hit = this.peek(id);
    if (hit) return hit;
    this.reads.database++;
    const p = await this.payments.get(id);
    if (!p) return null;
    this.put(p);
    return this.newest(p);
  }

  /**
   * After a database read: the cache's copy instead if a newer version arrived on the feed
   * while the read was in flight (a long-poll would otherwise wait on a version already passed).
   */
  private newest(p: PaymentRecord): PaymentRecord {
    const cur = this.version(p.id);
    if (cur === undefined || cur <= p.version) return p;
    return this.byId.get(p.id) ?? this.fromRing(this.ring.get(p.id), { id: p.id }) ?? p;
  }

  /**
   * A payment by its token, as fresh as get(): the pay pages and the wallet API resolve a
   * scanned code from memory on the node that created it or saw it change.
   */
  async getByToken(token: string): Promise<PaymentRecord | null> {
    const id = this.byToken.get(token);
    const hot = id === undefined ? undefined : this.byId.get(id);
    if (hot) {
      this.reads.hot++;
      return hot;
    }
    const hit = this.fromRing(this.ring.getByKey2(token), { token });
    if (hit) return hit;
    this.reads.database++;
    const p = await this.payments.getByToken(token);
    if (!p) return null;
    this.put(p);
    return this.newest(p);
  }

  /**
   * Re-reads every cached payment (in chunks) and publishes the newer versions on the local
   * feed: after the cross-node notification stream was interrupted, changes made meanwhile
   * are caught up.
   */
  async resync(chunk = 1000): Promise<number> {
    const ids = [...new Set([...this.byId.keys(), ...this.ring.keys()])];
    let updated = 0;
    for (let i = 0; i < ids.length; i += chunk) {
      for (const p of await this.payments.getMany(ids.slice(i, i + chunk))) {
        const cur = this.version(p.id);
        if (cur === undefined || cur < p.version) {
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
      const cur = this.version(c.id);
      return cur !== undefined && cur < c.version;
    });
    let updated = 0;
    if (stale.length) {
      for (const p of await this.payments.getMany(stale.map((c) => c.id))) {
        const cur = this.version(p.id);
        if (cur !== undefined && cur < p.version) {
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
    return this.peek(id) ?? cur;
  }

  close(): void {
    this.unsubscribe();
    for (const ws of this.waiters.values()) for (const w of ws) w();
    this.waiters.clear();
  }
}
