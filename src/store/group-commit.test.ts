import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GroupCommit } from './group-commit.ts';

test('group commit: requests arriving during a statement share the next one; a shared key waits; answers in order', async () => {
  const batches: number[][] = [];
  const g = new GroupCommit<{ n: number; key: string }, number>(async (items) => {
    batches.push(items.map((i) => i.n));
    await new Promise((r) => setTimeout(r, 5));
    return items.map((i) => i.n * 10);
  }, { max: 3, keys: (i) => [i.key] });
  const answers = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => g.submit({ n, key: n === 3 ? 'same' : n === 4 ? 'same' : `k${n}` })));
  assert.deepEqual(answers, [10, 20, 30, 40, 50, 60]);
  assert.deepEqual(batches[0], [1], 'a lone request goes at once');
  assert.deepEqual(batches[1], [2, 3, 5], 'the rest share a statement, at most max, the same key never twice');
  assert.deepEqual(batches[2], [4, 6]);
  const { busy_ms, ...counts } = g.stats;
  assert.deepEqual(counts, { batches: 3, items: 6, largest: 3 });
  assert.ok(busy_ms >= 3 * 4 && busy_ms < 1000, `three statements of 5 ms each: ${busy_ms} ms busy`);
});

/** An error as the database server sends it (statement rolled back). */
const refused = (message: string) => Object.assign(new Error(message), { severity: 'ERROR', code: '22P02' });

test('group commit: a batch the database refused is run again item by item, so only the failing item gets the error', async () => {
  const g = new GroupCommit<number, number>(async (items) => {
    await new Promise((r) => setTimeout(r, 1));
    if (items.includes(13)) throw refused('unlucky');
    return items;
  }, { max: 10 });
  const first = g.submit(0);
  const rest = [11, 12, 13, 14].map((n) => g.submit(n).then((v) => ({ v }), (e: Error) => ({ e: e.message })));
  await first;
  assert.deepEqual(await Promise.all(rest), [{ v: 11 }, { v: 12 }, { e: 'unlucky' }, { v: 14 }]);
});

test('group commit: any other failure (a lost connection: the commit may have happened) is every item\'s answer, never retried', async () => {
  let runs = 0;
  const g = new GroupCommit<number, number>(async (items) => {
    runs++;
    await new Promise((r) => setTimeout(r, 1));
    if (items.length > 1) throw Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
    return items;
  }, { max: 10 });
  const first = g.submit(0);
  const rest = [1, 2, 3].map((n) => g.submit(n).then((v) => ({ v }), (e: Error) => ({ e: e.message })));
  await first;
  assert.deepEqual(await Promise.all(rest), [1, 2, 3].map(() => ({ e: 'Connection terminated unexpectedly' })));
  assert.equal(runs, 2);
});

test('group commit: a request waiting on a key held by a running batch is taken by that batch\'s drain, without spinning', async () => {
  const proto = GroupCommit.prototype as unknown as { drain: (...a: unknown[]) => Promise<void> };
  const drain = proto.drain;
  let drains = 0;
  proto.drain = function (this: unknown, ...a: unknown[]) {
    drains++;
    return drain.apply(this, a);
  };
  try {
    const g = new GroupCommit<string, string>(async (items) => {
      await new Promise((r) => setTimeout(r, 5));
      return items;
    }, { max: 10, concurrency: 2, keys: (k) => [k] });
    assert.deepEqual(await Promise.all(['a', 'a', 'a'].map((k) => g.submit(k))), ['a', 'a', 'a']);
    assert.equal(g.stats.batches, 3, 'one at a time: they share the key');
    assert.ok(drains <= 3, `drains started: ${drains}`);
  } finally {
    proto.drain = drain;
  }
});

test('group commit: with concurrency, batches run side by side but never two holding the same key', async () => {
  let running = 0;
  let most = 0;
  const inFlight = new Set<string>();
  const g = new GroupCommit<string, string>(async (items) => {
    for (const k of items) {
      assert.ok(!inFlight.has(k), `key ${k} in two running batches`);
      inFlight.add(k);
    }
    most = Math.max(most, ++running);
    await new Promise((r) => setTimeout(r, 3));
    running--;
    for (const k of items) inFlight.delete(k);
    return items;
  }, { max: 2, concurrency: 3, keys: (k) => [k] });
  const keys = Array.from({ length: 40 }, (_, i) => `k${i % 5}`);
  assert.deepEqual(await Promise.all(keys.map((k) => g.submit(k))), keys);
  assert.ok(most > 1 && most <= 3, `batches at once: ${most}`);
});

test('group commit: the next statement is handed to the driver before the last batch\'s answers run', async () => {
  // A driver that sends on process.nextTick, as pg's pool does (src/store/pg.ts: afterSend);
  // each statement is answered when the test says so.
  const events: string[] = [];
  const answer: (() => void)[] = [];
  const g = new GroupCommit<number, number>((items) => new Promise((resolve) => {
    process.nextTick(() => events.push(`sent ${items.join(',')}`));
    answer.push(() => resolve(items));
  }), { max: 10, afterSend: (fn) => process.nextTick(fn) });
  const first = g.submit(1).then(() => events.push('answered 1'));
  // 2 and 3 arrive while 1 runs: they go together once 1 is answered.
  const rest = [2, 3].map((n) => g.submit(n).then(() => events.push(`answered ${n}`)));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(events, ['sent 1']);
  answer.shift()!();
  await new Promise((r) => setImmediate(r));
  answer.shift()!();
  await Promise.all([first, ...rest]);
  assert.deepEqual(events, ['sent 1', 'sent 2,3', 'answered 1', 'answered 2', 'answered 3']);
});
