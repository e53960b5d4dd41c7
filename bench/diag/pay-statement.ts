// The paying statement alone, without HTTP or a load generator: how many payments per second
// the pay group commit carries, and how long each statement takes per payment. For trying
// variants of the statement quickly (the full payment-path run is noisier: ±20%).
//
//   PAYGATE_TEST_ENGINE=postgres DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//     node --import tsx bench/diag/pay-statement.ts [payments=20000] [concurrency=128] [rounds=3]
import { startGateway } from '../../test/harness.ts';

const total = Number(process.argv[2] ?? 20_000);
const concurrency = Number(process.argv[3] ?? 128);
const rounds = Number(process.argv[4] ?? 3);

const t = await startGateway();
try {
  // An experiment's schema change (DIAG_SQL), e.g. an index dropped or a fillfactor set.
  if (process.env.DIAG_SQL) await t.db.query(process.env.DIAG_SQL);
  const merchant = (await t.createMerchant('Pay statement shop')).id;
  const payers = await Promise.all(Array.from({ length: concurrency }, (_, i) =>
    t.createPayer('wallet', { phone: `5093${String(1_000_000 + i)}`, currency: 'HTG', balance: '100000000' })));
  let ref = 0;
  for (let round = 0; round < rounds; round++) {
    const ids: string[] = [];
    for (let i = 0; i < total; i += 500) {
      const made = await Promise.all(Array.from({ length: Math.min(500, total - i) }, () =>
        t.gw.payments.create({ merchant_id: merchant, dialect: 'test', rail: 'wallet', merchant_ref: `r${++ref}`, amount_minor: 100n, currency: 'HTG' })));
      ids.push(...made.map((m) => m.payment.id));
    }
    // A moment to attach a profiler to the pay phase alone (perf record -p <backends>).
    if (process.env.DIAG_PAUSE_MS) {
      console.log(`paying in ${process.env.DIAG_PAUSE_MS} ms`);
      await new Promise((r) => setTimeout(r, Number(process.env.DIAG_PAUSE_MS)));
    }
    const before = t.gw.payments.batching().pay;
    let next = 0;
    const t0_ms = performance.now();
    await Promise.all(payers.map(async (w: any) => {
      while (next < ids.length) {
        const id = ids[next++]!;
        await t.gw.payers.payWithPin(id, w.id, '1234', {});
      }
    }));
    const wall_ms = performance.now() - t0_ms;
    const pays = t.gw.payments.batching().pay;
    const batches = pays.batches - before.batches, items = pays.items - before.items, busy_ms = pays.busy_ms - before.busy_ms;
    console.log(`round ${round + 1}: ${Math.round(total / (wall_ms / 1000))} payments/s; ${batches} statements of ${(items / batches).toFixed(1)} payments, ` +
      `${(busy_ms / batches).toFixed(2)} ms each, ${((busy_ms / items) * 1000).toFixed(0)} µs per payment`);
  }
} finally {
  await t.close();
}
