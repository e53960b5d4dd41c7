import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RingStore } from './ring-store.ts';

/** A deterministic PRNG (mulberry32): failures replay. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

test('a ring store finds a record by its key and by its second key, with its version', () => {
  const s = new RingStore(100, 64 * 1024);
  assert.equal(s.set('pay_1', 'tok_a', 3, '{"state":"pending"}'), true);
  assert.equal(s.get('pay_1'), '{"state":"pending"}');
  assert.equal(s.getByKey2('tok_a'), '{"state":"pending"}');
  assert.equal(s.version('pay_1'), 3);
  assert.equal(s.get('pay_2'), undefined);
  assert.equal(s.getByKey2('pay_1'), undefined, 'the two keys are separate name spaces');
  // A newer record replaces the key's; text outside Latin-1 round-trips.
  s.set('pay_1', 'tok_a', 4, '{"payer_name":"Jean-Bébé Nkɔ́ 😀"}');
  assert.equal(s.get('pay_1'), '{"payer_name":"Jean-Bébé Nkɔ́ 😀"}');
  assert.equal(s.version('pay_1'), 4);
  assert.equal(s.size, 1);
  assert.deepEqual([...s.keys()], ['pay_1']);
  assert.equal(s.delete('pay_1'), true);
  assert.equal(s.get('pay_1'), undefined);
  assert.equal(s.getByKey2('tok_a'), undefined, 'deleting by key forgets the second key too');
  assert.equal(s.size, 0);
  assert.equal(s.delete('pay_1'), false);
});

test('a ring store refuses a record too large to keep, and keeps what it had', () => {
  const s = new RingStore(10, 4096);
  s.set('a', 'ta', 1, 'kept');
  assert.equal(s.set('b', 'tb', 1, 'x'.repeat(1024)), false, 'over a quarter of the arena');
  assert.equal(s.set('k'.repeat(70_000), 'tb', 1, 'v'), false, 'a key over 64 KiB');
  assert.equal(s.set('c', 'tc', -1, 'v'), false, 'a version outside u32');
  assert.equal(s.set('d\uD800', 'td', 1, 'v'), false, 'a key that would not read back (a lone surrogate)');
  assert.equal(s.set('e', 'te😀', 1, 'v'), false, 'any surrogate in a key');
  assert.equal(s.get('d\uD800'), undefined);
  assert.equal(s.get('a'), 'kept');
  assert.equal(s.get('b'), undefined);
  assert.equal(s.size, 1);
  assert.throws(() => new RingStore(0, 4096));
  assert.throws(() => new RingStore(10, 100));
});

test('a ring store drops its oldest records first, by count and by bytes', () => {
  const byCount = new RingStore(50, 1 << 20);
  for (let i = 0; i < 200; i++) byCount.set(`k${i}`, `t${i}`, i, `v${i}`);
  assert.equal(byCount.size, 50);
  for (let i = 0; i < 150; i++) assert.equal(byCount.get(`k${i}`), undefined, `k${i} dropped`);
  for (let i = 150; i < 200; i++) {
    assert.equal(byCount.get(`k${i}`), `v${i}`);
    assert.equal(byCount.getByKey2(`t${i}`), `v${i}`);
  }
  // 100-byte values in an 8 KiB arena: about 70 fit (a header and keys on each).
  const byBytes = new RingStore(10_000, 8192);
  for (let i = 0; i < 1000; i++) byBytes.set(`k${i}`, `t${i}`, 1, String(i).padEnd(100, '.'));
  assert.ok(byBytes.size >= 60 && byBytes.size <= 72, `size ${byBytes.size}`);
  const kept = [...byBytes.keys()].map((k) => Number(k.slice(1))).sort((a, b) => a - b);
  assert.deepEqual(kept, Array.from({ length: kept.length }, (_, j) => 1000 - kept.length + j), 'exactly the newest');
  for (const i of kept) assert.equal(byBytes.get(`k${i}`), String(i).padEnd(100, '.'));
});

test('a ring store under random sets, updates and deletes never answers a stale or foreign record', () => {
  // Small indexes (long probe runs, many backward shifts) and a small arena (many turns, padding
  // at its end): the places where an off-by-one would serve the wrong payment.
  for (const seed of [1, 2, 3, 4]) {
    const rand = rng(seed);
    const maxRecords = 64;
    const s = new RingStore(maxRecords, 6000);
    const latest = new Map<string, { value: string; version: number; key2: string }>();
    const owner = new Map<string, string>(); // key2 → the key last set with it
    const order: { key: string; bytes: number }[] = []; // sets, oldest first
    for (let op = 0; op < 20_000; op++) {
      const key = `pay_${Math.floor(rand() * 150)}`;
      const r = rand();
      if (r < 0.1) {
        const had = s.get(key) !== undefined;
        assert.equal(s.delete(key), had);
        latest.delete(key);
        continue;
      }
      const key2 = r < 0.15 ? `tok_${Math.floor(rand() * 150)}` : `tok_of_${key}`;
      const value = `${key}:${op}:`.padEnd(5 + Math.floor(rand() * 300), 'é');
      const version = op;
      assert.equal(s.set(key, key2, version, value), true);
      latest.set(key, { value, version, key2 });
      owner.set(key2, key);
      order.push({ key, bytes: 12 + Buffer.byteLength(key) + Buffer.byteLength(key2) + Buffer.byteLength(value) });
      assert.equal(s.get(key), value, 'the newest record is found at once');

      if (op % 97 === 0 || op > 19_900) {
        let found = 0;
        for (let k = 0; k < 150; k++) {
          const kk = `pay_${k}`;
          const got = s.get(kk);
          if (got === undefined) continue;
          found++;
          assert.equal(got, latest.get(kk)?.value, `${kk}: the newest value or nothing`);
          assert.equal(s.version(kk), latest.get(kk)!.version);
        }
        assert.equal(found, s.size);
        assert.ok(s.size <= maxRecords);
        assert.deepEqual(new Set(s.keys()).size, s.size);
        for (const [key2, k] of owner) {
          const got = s.getByKey2(key2);
          if (got === undefined) continue;
          assert.equal(latest.get(k)?.key2, key2, `${key2} finds only the record last set with it`);
          assert.equal(got, latest.get(k)!.value);
        }
        // What must still be there: the newest sets that fit in the arena with a record's
        // worth of padding to spare, and in the count.
        let bytes = 0;
        const seen = new Set<string>();
        for (let j = order.length - 1, n = 0; j >= 0 && n < maxRecords; j--, n++) {
          bytes += order[j]!.bytes;
          if (bytes > 6000 - 2 * 350) break; // less a record and a padding
          const k = order[j]!.key;
          if (seen.has(k)) continue;
          seen.add(k);
          if (latest.has(k)) assert.equal(s.get(k), latest.get(k)!.value, `${k} is recent and must be held`);
        }
      }
    }
  }
});
