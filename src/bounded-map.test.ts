import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { BoundedMap, makeRoom } from './bounded-map.ts';

test('makeRoom keeps a map under its size, dropping the oldest entries first', () => {
  const m = new Map<number, string>();
  const dropped: number[] = [];
  for (let i = 0; i < 100; i++) makeRoom(m, 32, (k, v) => { assert.equal(v, `v${k}`); dropped.push(k); }).set(i, `v${i}`);
  assert.ok(m.size <= 32 && m.size > 32 - 32 / 16 - 1, `size ${m.size}`);
  assert.ok(m.has(99) && m.has(98), 'the newest stay');
  assert.deepEqual(dropped, [...dropped].sort((a, b) => a - b), 'oldest first');
  assert.equal(dropped.length + m.size, 100, 'every entry is either kept or reported dropped');
  assert.equal(Math.min(...m.keys()), dropped.length, 'exactly the oldest ones went');
  // Below the size nothing goes; a map already over it (a lower max) is brought under.
  const small = new Map([[1, 'a'], [2, 'b']]);
  assert.equal(makeRoom(small, 3).size, 2);
  assert.deepEqual([...makeRoom(new Map([[1, 1], [2, 2], [3, 3], [4, 4]]), 2).keys()], [4]);
});

test('a full map drops its oldest in batches, so most insertions drop nothing', () => {
  // What keeps insertion cheap (see bounded-map.ts): one walk of the map's head per batch.
  const m = new Map<number, number>();
  let drops = 0;
  for (let i = 0; i < 1600; i++) m.set(i, i);
  for (let i = 1600; i < 3200; i++) makeRoom(m, 1600, () => drops++).set(i, i);
  let batches = 0;
  for (let i = 3200; i < 4800; i++) {
    const before = drops;
    makeRoom(m, 1600, () => drops++).set(i, i);
    if (drops > before) batches++;
  }
  assert.equal(drops + m.size, 4800, 'every entry kept or dropped');
  assert.ok(m.size <= 1600 && m.size >= 1600 - 101);
  assert.ok(batches >= 15 && batches <= 16, `${batches} batches of 101 (a sixteenth of 1600, plus the one that makes room) for 1600 insertions`);
});

test('BoundedMap keeps at most max entries, the newest, spread evenly over its shards', () => {
  const max = 200_000;
  const dropped = new Set<string>();
  const m = new BoundedMap<number>(max, (k, v) => {
    assert.equal(v, Number(k) - 1e12);
    dropped.add(k);
  });
  const id = (i: number) => String(1e12 + i); // payment ids count up, as bigint ids do
  const n = 2 * max + 12_345;
  for (let i = 0; i < n; i++) m.set(id(i), i);
  assert.ok(m.size <= max, `size ${m.size}`);
  // Each shard drops a sixteenth of its share at a time; an uneven spread of keys would leave
  // light shards far from full while heavy ones drop.
  assert.ok(m.size >= max * 0.9, `size ${m.size}: the keys are not spread evenly`);
  assert.equal(dropped.size + m.size, n, 'every entry is either kept or reported dropped');
  for (let i = n - max / 2; i < n; i++) assert.equal(m.get(id(i)), i, `the newest stay (${i})`);
  assert.deepEqual([...m.keys()].filter((k) => dropped.has(k)), [], 'keys() lists what is kept');

  // Random keys (payment tokens) spread as well.
  const t = new BoundedMap<string>(50_000);
  for (let i = 0; i < 100_000; i++) t.set(randomBytes(16).toString('base64url'), 'x');
  assert.ok(t.size <= 50_000 && t.size >= 45_000, `size ${t.size}`);
});

test('BoundedMap: replacing a value drops nothing; delete, has and a small map behave as a Map', () => {
  const drops: string[] = [];
  const m = new BoundedMap<number>(3, (k) => drops.push(k));
  m.set('a', 1).set('b', 2).set('c', 3).set('a', 10);
  assert.deepEqual(drops, []);
  assert.equal(m.get('a'), 10);
  assert.ok(m.delete('b') && !m.has('b') && !m.delete('b'));
  m.set('d', 4).set('e', 5); // one shard of 3: 'a' (the oldest) makes room
  assert.deepEqual(drops, ['a']);
  assert.deepEqual([...m.keys()].sort(), ['c', 'd', 'e']);
  assert.throws(() => new BoundedMap(0), /max >= 1/);
});

test('BoundedMap: smaller shards drop smaller batches', () => {
  // The status cache's hot tier encodes each payment it drops: the batch is what one insertion can cost.
  const largestBatch = (shardEntries?: number) => {
    let batch = 0;
    let largest = 0;
    const m = new BoundedMap<number>(16_384, () => batch++, shardEntries);
    for (let i = 0; i < 50_000; i++) {
      batch = 0;
      m.set(String(1e12 + i), i);
      largest = Math.max(largest, batch);
    }
    assert.ok(m.size <= 16_384 && m.size >= 16_384 * 0.9, `size ${m.size}`);
    return largest;
  };
  assert.equal(largestBatch(), 4096 / 16 + 1, 'shards of 4,096: a sixteenth and the one that makes room');
  assert.equal(largestBatch(1024), 1024 / 16 + 1);
  assert.throws(() => new BoundedMap(10, undefined, 0), /shardEntries >= 1/);
});
