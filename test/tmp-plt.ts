import { startGateway } from '/work/main/test/harness.ts';
const t = await startGateway();
const m = (await t.createMerchant('x')).id;
const payers = await Promise.all(Array.from({ length: 8 }, (_, i) => t.createPayer('wallet', { phone: `5093${1000000 + i}`, currency: 'HTG', balance: '100000000' })));
let ref = 0;
for (let round = 0; round < 3; round++) {
  const n = 400;
  const made = [];
  let t0 = performance.now();
  for (let i = 0; i < n; i++) made.push(await t.gw.payments.create({ merchant_id: m, dialect: 'test', rail: 'wallet', merchant_ref: `r${++ref}`, amount_minor: 100n, currency: 'HTG' }));
  const c_us = (performance.now() - t0) * 1000 / n;
  t0 = performance.now();
  for (let i = 0; i < n; i++) await t.gw.payments.payFrom(made[i].payment.id, payers[i % 8].id);
  const p_us = (performance.now() - t0) * 1000 / n;
  t0 = performance.now();
  for (let i = 0; i < n; i++) await t.db.query('select 1');
  const s_us = (performance.now() - t0) * 1000 / n;
  console.log(`create ${c_us.toFixed(0)} µs, pay ${p_us.toFixed(0)} µs, select 1 ${s_us.toFixed(0)} µs (sequential, ${t.db.engine})`);
}
await t.close();
