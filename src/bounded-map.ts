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
