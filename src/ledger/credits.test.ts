// Split hot balances (migration 060): the paying statement appends merchant and fee credits
// to account_credits instead of updating those accounts' rows; debits and the sweeper fold
// them in. Balances read the same whichever side of a fold they are on.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ENGINE, eventually, hold, holdWith, startGateway, type TestGateway } from '../../test/harness.ts';
import { foldCredits, postEntry, systemAccount } from './ledger.ts';

describe('pending credits', () => {
  let t: TestGateway;
  let merchant: string;
  let seq = 0;
  // No sweeper folds during these tests (an hour between passes): what is pending stays
  // pending until a debit or a test folds it.
  before(async () => {
    t = await startGateway({ env: { PAYGATE_SWEEP_MS: '3600000' } });
    merchant = (await t.createMerchant('Credits Shop', { fee_bps: { wallet: 250 } })).id;
  });
  after(async () => { await t.close(); });

  const payment = async (amount_minor: bigint) =>
    (await t.gw.payments.create({ merchant_id: merchant, dialect: 'test', rail: 'wallet', merchant_ref: `c-${++seq}`, amount_minor, currency: 'HTG' })).payment;
  const accountOf = async (kind: 'merchant' | 'fees') =>
    String((await t.db.query(`select id from accounts where kind = $1 and currency = 'HTG' and ($2::bigint is null or merchant_id = $2)`, [kind, kind === 'merchant' ? merchant : null]))[0]!.id);
  const pending = async (account_id: string) =>
    BigInt((await t.db.query(`select coalesce(sum(amount_minor), 0)::text as s from account_credits where account_id = $1`, [account_id]))[0]!.s);
  const stored = async (account_id: string) => BigInt((await t.db.query(`select balance_minor from accounts where id = $1`, [account_id]))[0]!.balance_minor);

  test('a paid payment credits the merchant and the fees account as pending credits; balances count them', async () => {
    const w = await t.createPayer('wallet', { phone: '50933000001', currency: 'HTG', balance: '1000' });
    // The first payment creates the merchant's and the fees account (the full transaction).
    await t.gw.payments.pay((await payment(10_000n)).id, { kind: 'account', account_id: w.id });
    const [m, f] = [await accountOf('merchant'), await accountOf('fees')];
    const [m0, f0] = [await stored(m), await stored(f)];
    // Now the one-statement path: 100.00 at 2.5%: 97.50 to the merchant, 2.50 in fees.
    const paid = await t.gw.payments.pay((await payment(10_000n)).id, { kind: 'account', account_id: w.id });
    assert.equal(paid.state, 'succeeded');
    assert.equal(paid.fee_minor, 250n);
    assert.equal(await stored(m), m0, "the merchant's row was not updated");
    assert.equal(await stored(f), f0, "the fees account's row was not updated");
    assert.equal(await pending(m), 9_750n);
    assert.equal(await pending(f), 250n);
    assert.equal(await t.gw.payments.merchantBalance(merchant, 'HTG'), m0 + 9_750n);
    const view = await t.admin('GET', `/admin/accounts/${m}`);
    assert.equal(view.body.balance_minor, String(m0 + 9_750n), 'the operator sees the whole balance');
    const listed = await t.admin('GET', `/admin/merchants/${merchant}`);
    assert.equal(listed.body.accounts.find((a: any) => a.id === m).balance_minor, String(m0 + 9_750n));
    assert.deepEqual(await t.verify(), []);
  });

  test('pays never wait on the merchant\'s or the fees account\'s row', { skip: ENGINE !== 'postgres' ? 'needs a second connection holding rows (one connection on PGlite)' : false }, async () => {
    const w = await t.createPayer('wallet', { phone: '50933000002', currency: 'HTG', balance: '1000' });
    const [m, f] = [await accountOf('merchant'), await accountOf('fees')];
    const before_minor = await t.gw.payments.merchantBalance(merchant, 'HTG');
    const ids = await Promise.all([1, 2, 3].map(() => payment(1_000n)));
    // Another transaction holds both rows as strongly as a row can be held, as a payout or a
    // second node's pay statement would (before the split, every pay statement locked them).
    const held = await hold(t.db, 'select id from accounts where id = any($1::bigint[]) order by id for update', [[m, f]]);
    try {
      const paid = await Promise.race([
        Promise.all(ids.map((p) => t.gw.payments.pay(p.id, { kind: 'account', account_id: w.id }))),
        new Promise<never>((_r, reject) => setTimeout(() => reject(new Error('a pay waited on a held merchant or fees row')), 5_000)),
      ]);
      assert.deepEqual(paid.map((p) => p.state), ['succeeded', 'succeeded', 'succeeded']);
      assert.equal(await t.gw.payments.merchantBalance(merchant, 'HTG'), before_minor + 3n * 975n);
    } finally {
      await held.release();
    }
    assert.deepEqual(await t.verify(), []);
  });

  test('a refund folds the merchant\'s pending credits before its check; a payout counts them', async () => {
    const w = await t.createPayer('wallet', { phone: '50933000003', currency: 'HTG', balance: '1000' });
    const sub = await t.createPayer('subscriber', { phone: '50933000004', currency: 'HTG' });
    const m = await accountOf('merchant');
    await foldCredits(t.db);
    assert.equal(await pending(m), 0n);
    // Empty the merchant's stored balance with a payout, so that what follows is pending credits only.
    const all = await t.gw.payments.merchantBalance(merchant, 'HTG');
    const out = await t.gw.payments.payout({ merchant_id: merchant, dialect: 'test', rail: 'mobile-money', merchant_ref: `po-${++seq}`, payee_account_id: sub.id, amount_minor: all, currency: 'HTG' });
    assert.equal(out.payout.state, 'succeeded');
    assert.equal(await stored(m), 0n);

    const p1 = await t.gw.payments.pay((await payment(4_000n)).id, { kind: 'account', account_id: w.id }); // 39.00 to the merchant
    await t.gw.payments.pay((await payment(4_000n)).id, { kind: 'account', account_id: w.id });
    assert.equal(await stored(m), 0n);
    assert.equal(await pending(m), 7_800n);
    // A refund of 40.00 needs more than any one credit: the fold in its statement counts both.
    const r = await t.gw.payments.refund({ payment_id: p1.id, merchant_id: merchant, amount_minor: 4_000n });
    assert.equal(r.refund.state, 'succeeded');
    assert.equal(await pending(m), 0n, 'folded by the debit');
    assert.equal(await stored(m), 3_800n);
    // A payout of more than the merchant has is refused (recorded as failed), pending credits
    // or not; one of exactly what it has succeeds, counting credits not yet folded.
    await t.gw.payments.pay((await payment(1_000n)).id, { kind: 'account', account_id: w.id }); // 9.75 pending
    const tooMuch = await t.gw.payments.payout({ merchant_id: merchant, dialect: 'test', rail: 'mobile-money', merchant_ref: `po-${++seq}`, payee_account_id: sub.id, amount_minor: 3_800n + 976n, currency: 'HTG' });
    assert.equal(tooMuch.payout.state, 'failed');
    assert.equal(tooMuch.payout.failure_code, 'insufficient_funds');
    const exact = await t.gw.payments.payout({ merchant_id: merchant, dialect: 'test', rail: 'mobile-money', merchant_ref: `po-${++seq}`, payee_account_id: sub.id, amount_minor: 3_800n + 975n, currency: 'HTG' });
    assert.equal(exact.payout.state, 'succeeded');
    assert.equal(await t.gw.payments.merchantBalance(merchant, 'HTG'), 0n);
    assert.equal(await stored(m), 0n);
    assert.deepEqual(await t.verify(), []);
  });

  test('a debit locks the account before it takes the credits: a holder of the account row can fold them (no deadlock)', { skip: ENGINE !== 'postgres' ? 'needs a second connection holding rows (one connection on PGlite)' : false }, async () => {
    const w = await t.createPayer('wallet', { phone: '50933000006', currency: 'HTG', balance: '1000' });
    const m = await accountOf('merchant');
    const p1 = await t.gw.payments.pay((await payment(2_000n)).id, { kind: 'account', account_id: w.id });
    assert.ok((await pending(m)) > 0n, 'credits are pending');
    // A transaction holds the merchant's row, as a payout does before its debit folds the
    // credits. A refund arrives meanwhile and must wait for the row before it touches a credit
    // row; had it taken them first (and then waited for the row), the holder's fold would wait
    // on the refund and the refund on the holder: a deadlock.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let probed!: (error: string | null) => void;
    const probe = new Promise<string | null>((r) => (probed = r));
    const holder = t.db.tx(async (q) => {
      await q.query('select id from accounts where id = $1 for no key update', [m]);
      // Its outcome is checked below, after the holder is gone.
      t.gw.payments.refund({ payment_id: p1.id, merchant_id: merchant, amount_minor: 500n }).catch(() => {});
      await eventually(async () => (await t.db.query(`select 1 from pg_stat_activity where wait_event_type = 'Lock' and query like '%delete from account_credits%'`)).length > 0);
      // The fold a payout's debit would do: it must not wait on the refund (the lock timeout,
      // well under Postgres' deadlock detection, turns a wait into an error here).
      await q.query(`set local lock_timeout = '300ms'`);
      probed(await q.query('select count(*) from account_credits where ctid in (select ctid from account_credits where account_id = $1 for update)', [m]).then(() => null, (e) => String(e.message)));
      await gate;
      // Roll back: this test's fold must not keep the credits it took.
      throw new Error('rollback');
    }).catch((e) => { if ((e as Error).message !== 'rollback') throw e; });
    const error = await probe;
    release();
    await holder;
    assert.equal(error, null, 'the holder of the account row took its credit rows without waiting');
    await eventually(async () => (await t.gw.payments.refundsOf(p1.id)).some((r) => r.state === 'succeeded'));
    assert.deepEqual(await t.verify(), []);
  });

  test('a fold that commits while a debit waits for the row: the debit counts the folded money', { skip: ENGINE !== 'postgres' ? 'needs a second connection holding rows (one connection on PGlite)' : false }, async () => {
    const w = await t.createPayer('wallet', { phone: '50933000007', currency: 'HTG', balance: '1000' });
    const sub = await t.createPayer('subscriber', { phone: '50933000008', currency: 'HTG' });
    const m = await accountOf('merchant');
    // Only pending credits: the stored balance emptied by a payout, then one payment.
    await foldCredits(t.db);
    const all = await t.gw.payments.merchantBalance(merchant, 'HTG');
    if (all > 0n) await t.gw.payments.payout({ merchant_id: merchant, dialect: 'test', rail: 'mobile-money', merchant_ref: `po-${++seq}`, payee_account_id: sub.id, amount_minor: all, currency: 'HTG' });
    assert.equal(await stored(m), 0n);
    const p = await t.gw.payments.pay((await payment(2_000n)).id, { kind: 'account', account_id: w.id }); // 19.50 pending
    assert.equal(await pending(m), 1_950n);
    // A sweeper's fold has locked the row, moved the credits into it, and not yet committed;
    // the refund's debit statement starts (its snapshot: credits there, stored balance 0) and
    // waits for the row. When the fold commits, the credits are gone and the row holds them:
    // the debit must check the row as locked, not as its snapshot saw it (before the fix:
    // "insufficient funds" with 19.50 in the account).
    const fold = await holdWith(t.db, async (q) => {
      assert.ok((await foldCredits(q)) >= 1); // the merchant (and the fees account)
      assert.equal((await q.query('select count(*)::int as n from account_credits where account_id = $1', [m]))[0]!.n, 0);
    });
    const refund = t.gw.payments.refund({ payment_id: p.id, merchant_id: merchant, amount_minor: 1_950n });
    refund.catch(() => {}); // awaited below, after the fold commits
    await eventually(async () => (await t.db.query(`select 1 from pg_stat_activity where wait_event_type = 'Lock' and query like '%delete from account_credits%'`)).length > 0);
    await fold.release();
    const r = await refund;
    assert.equal(r.refund.state, 'succeeded');
    assert.equal(await stored(m), 0n);
    assert.equal(await pending(m), 0n);
    assert.deepEqual(await t.verify(), []);
  });

  test('a payer credited while a pay waits for its row: the pay statement checks the row as locked', { skip: ENGINE !== 'postgres' ? 'needs a second connection holding rows (one connection on PGlite)' : false }, async () => {
    const w = await t.createPayer('wallet', { phone: '50933000009', currency: 'HTG', balance: '0' });
    const due = await payment(1_000n);
    // A top-up of the payer (a funding entry) holds its row, uncommitted; the pay statement
    // starts (its snapshot: balance 0) and waits for the row; then the top-up commits.
    const topUp = await holdWith(t.db, async (q) => {
      const float = await systemAccount(q, 'float', 'HTG');
      await postEntry(q, { kind: 'funding', created_at: new Date(), postings: [
        { account_id: float, currency: 'HTG', amount_minor: -1_000n },
        { account_id: w.id, currency: 'HTG', amount_minor: 1_000n },
      ] });
    });
    const refused = t.gw.payments.payRefused.statements;
    const paying = t.gw.payments.pay(due.id, { kind: 'account', account_id: w.id });
    paying.catch(() => {}); // awaited below, after the top-up commits
    await eventually(async () => (await t.db.query(`select 1 from pg_stat_activity where wait_event_type = 'Lock' and query like '%lp as materialized%'`)).length > 0);
    await topUp.release();
    const paid = await paying;
    assert.equal(paid.state, 'succeeded');
    // The statement itself paid: it did not fail its own check on a stale payer row (0 < 10.00)
    // and leave the payment to the full path.
    assert.equal(t.gw.payments.payRefused.statements, refused, 'the pay statement was not refused');
    assert.match(await (await fetch(t.url + '/metrics')).text(), new RegExp(`\npaygate_pay_statements_refused_total ${refused}\n`));
    assert.equal((await t.db.query('select balance_minor from accounts where id = $1', [w.id]))[0]!.balance_minor, 0n);
    assert.deepEqual(await t.verify(), []);
  });

  test('the sweeper folds pending credits into the stored balances', async () => {
    const node = await startGateway({ env: { PAYGATE_SWEEP_MS: '50' } });
    try {
      const shop = (await node.createMerchant('Folded Shop', { fee_bps: { wallet: 100 } })).id;
      const w = await node.createPayer('wallet', { phone: '50933000005', currency: 'HTG', balance: '1000' });
      for (let i = 0; i < 5; i++) {
        const { payment: p } = await node.gw.payments.create({ merchant_id: shop, dialect: 'test', rail: 'wallet', merchant_ref: `f-${i}`, amount_minor: 10_000n, currency: 'HTG' });
        await node.gw.payments.pay(p.id, { kind: 'account', account_id: w.id });
      }
      await eventually(async () => Number((await node.db.query('select count(*)::int as n from account_credits'))[0]!.n) === 0);
      const [m] = await node.db.query(`select balance_minor from accounts where kind = 'merchant' and merchant_id = $1`, [shop]);
      assert.equal(m!.balance_minor, 5n * 9_900n);
      const [f] = await node.db.query(`select balance_minor from accounts where kind = 'fees' and currency = 'HTG'`);
      assert.equal(f!.balance_minor, 5n * 100n);
      assert.deepEqual(await node.verify(), []);
    } finally {
      await node.close();
    }
  });

  test('pays, refunds, payouts and folds at once: no deadlock, no lost credit, never below zero', async () => {
    const payers = await Promise.all([1, 2, 3, 4].map((i) => t.createPayer('wallet', { phone: `5093300010${i}`, currency: 'HTG', balance: '500' })));
    const sub = await t.createPayer('subscriber', { phone: '50933000110', currency: 'HTG' });
    const paid: string[] = [];
    const pays = Array.from({ length: 40 }, async (_, i) => {
      const p = await t.gw.payments.pay((await payment(1_000n)).id, { kind: 'account', account_id: payers[i % 4]!.id });
      paid.push(p.id);
    });
    let folding = true;
    const folds = (async () => { while (folding) await foldCredits(t.db); })();
    await Promise.all(pays);
    const debits = [
      ...paid.slice(0, 20).map((id) => t.gw.payments.refund({ payment_id: id, merchant_id: merchant, amount_minor: 500n })),
      ...Array.from({ length: 10 }, () => t.gw.payments.payout({ merchant_id: merchant, dialect: 'test', rail: 'mobile-money', merchant_ref: `po-${++seq}`, payee_account_id: sub.id, amount_minor: 1_500n, currency: 'HTG' })),
    ];
    const settled = await Promise.allSettled(debits);
    folding = false;
    await folds;
    // The merchant holds far more than all of them (40 × 9.75 against 20 × 5.00 + 10 × 15.00):
    // each succeeds, whichever folds commit while it waits (a refused one would be a check on
    // a stale balance).
    for (const s of settled) assert.equal(s.status, 'fulfilled', s.status === 'rejected' ? String(s.reason) : '');
    const m = await accountOf('merchant');
    assert.ok((await stored(m)) >= 0n);
    assert.deepEqual(await t.verify(), []);
  });
});
