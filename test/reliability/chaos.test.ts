// The short crash-safety run in `npm test` (both engines): a `paygate serve` child under a
// mixed load of every dialect, SIGKILLed 3 times at random moments and restarted on the same
// data; nothing acknowledged is lost, verify passes, callbacks all delivered and identical.
// The long run (≥ 20 kills) is `npm run chaos` (scripts/chaos.ts); see docs/reliability.md.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ENGINE, freshPostgresDatabase } from '../harness.ts';
import { runChaos } from './chaos-lib.ts';

test('SIGKILL ×3 under mixed load: nothing acknowledged lost, ledger verifies, callbacks delivered and identical', async () => {
  const pg = ENGINE === 'postgres' ? await freshPostgresDatabase() : null;
  try {
    const r = await runChaos({ kills: 3, seconds: 12, workers: 4, databaseUrl: pg?.url });
    assert.deepEqual(r.lost, []);
    assert.equal(r.kills, 3);
    assert.equal(r.verify.code, 0, r.verify.out);
    assert.ok(r.acknowledged > 10, `the load did run: ${JSON.stringify(r.acknowledged_by_kind)}`);
    assert.ok(Object.keys(r.acknowledged_by_kind).some((k) => k.startsWith('kesspay-')), `KessPay was in the load: ${JSON.stringify(r.acknowledged_by_kind)}`);
    assert.ok(r.callbacks > 0 && r.callback_deliveries >= r.callbacks);
  } finally {
    await pg?.drop();
  }
});
