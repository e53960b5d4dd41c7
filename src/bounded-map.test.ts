import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeRoom } from './bounded-map.ts';

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
