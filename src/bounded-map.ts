// Maps kept under a size by dropping their oldest entries (insertion order): the in-memory
// caches and tables of every module.
//
// Dropping one entry per insertion with map.keys().next() gets slow once a map is full: V8
// leaves each deleted entry as a hole at the head of the table until the next rehash, and every
// keys().next() walks all of them (measured here: 6.5 µs per insertion at 10,000 entries,
// 58 µs at 200,000; 0.2 µs when a sixteenth goes at once).

/**
 * Makes room for one more entry: when `map` holds `max` entries or more, drops the oldest
 * sixteenth of `max` (at least one, and down to below `max`), calling onDrop for each.
 */
export function makeRoom<K, V>(map: Map<K, V>, max: number, onDrop?: (key: K, value: V) => void): Map<K, V> {
  if (map.size < max) return map;
  let drop = map.size - max + 1 + Math.floor(max / 16);
  for (const [k, v] of map) {
    if (drop-- <= 0) break;
    map.delete(k);
    onDrop?.(k, v);
  }
  return map;
}

/** Entries per shard of a BoundedMap, at most: a Map this small rehashes in about a millisecond. */
export const SHARD_ENTRIES = 4096;

/**
 * A string-keyed map of at most `max` entries for the large caches (a status cache of 200,000
 * payments, a rate limiter's 100,000 addresses), split by key into shards of at most
 * SHARD_ENTRIES, each kept under its share by makeRoom (oldest first within a shard; keys
 * spread evenly, so about oldest first overall).
 *
 * Why not one Map: V8 rebuilds a whole Map's table when it grows and when deleted entries fill
 * it, and a cache that drops old entries keeps filling it. At 200,000 entries a rebuild stalled
 * the event loop 45–65 ms, and dropping a sixteenth at once took 9–12 ms (measured on the
 * bench's VM, benchmark-history.md's seventeenth pass); a shard of 4,096 rebuilds and drops in
 * about a fiftieth of that.
 */
export class BoundedMap<V> {
  private readonly shards: Map<string, V>[];
  private readonly perShard: number;

  /**
   * @param shardEntries entries per shard at most; a shard drops a sixteenth of its share at a
   * time, so a map whose onDrop does work (the status cache encodes each payment it drops)
   * takes smaller shards to keep each batch short
   */
  constructor(max: number, private readonly onDrop?: (key: string, value: V) => void, shardEntries = SHARD_ENTRIES) {
    if (!(max >= 1) || !(shardEntries >= 1)) throw new Error('a bounded map needs max >= 1 and shardEntries >= 1');
    const n = Math.ceil(max / shardEntries);
    this.shards = Array.from({ length: n }, () => new Map<string, V>());
    this.perShard = Math.floor(max / n); // n shards of this hold max at most
  }

  /** FNV-1a over the key's last 8 characters (ids count up at their end; tokens are random throughout). */
  private shard(key: string): Map<string, V> {
    if (this.shards.length === 1) return this.shards[0]!;
    let h = 0x811c9dc5;
    for (let i = Math.max(0, key.length - 8); i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
    return this.shards[(h >>> 0) % this.shards.length]!;
  }

  get(key: string): V | undefined {
    return this.shard(key).get(key);
  }
  has(key: string): boolean {
    return this.shard(key).has(key);
  }
  /** Sets the value; a new key may first drop the oldest entries of its shard (onDrop hears each). */
  set(key: string, value: V): this {
    const s = this.shard(key);
    if (!s.has(key)) makeRoom(s, this.perShard, this.onDrop);
    s.set(key, value);
    return this;
  }
  delete(key: string): boolean {
    return this.shard(key).delete(key);
  }
  get size(): number {
    let n = 0;
    for (const s of this.shards) n += s.size;
    return n;
  }
  *keys(): IterableIterator<string> {
    for (const s of this.shards) yield* s.keys();
  }
}
