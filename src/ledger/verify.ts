// `paygate verify`: every invariant of the ledger and payments, checked over the whole
// database. Each check returns the offending ids; an empty list means it holds.
import type { Queryable } from '../store/db.ts';

export interface Violation {
  check: string;
  ids: string[];
}

const CHECKS: { check: string; sql: string }[] = [
  {
    check: 'journal entry postings sum to zero per currency',
    sql: `select entry_id as id from postings group by entry_id, currency having sum(amount_minor) <> 0`,
  },
  {
    check: 'journal entry has at least two postings',
    sql: `select e.id from journal_entries e left join postings p on p.entry_id = e.id group by e.id having count(p.id) < 2`,
  },
  {
    check: 'account balance equals the sum of its postings',
    sql: `select a.id from accounts a left join (select account_id, sum(amount_minor) s from postings group by account_id) p on p.account_id = a.id
          left join (select account_id, sum(amount_minor) s from account_credits group by account_id) c on c.account_id = a.id
          where a.balance_minor + coalesce(c.s, 0) <> coalesce(p.s, 0)`,
  },
  {
    // Pending credits (migration 060) go to merchants and system accounts only, never to a payer.
    check: 'pending credits belong to an existing merchant or system account',
    sql: `select c.account_id as id from account_credits c left join accounts a on a.id = c.account_id where a.id is null or a.kind in ('wallet', 'subscriber')`,
  },
  {
    check: 'posting currency equals account currency',
    sql: `select p.id from postings p join accounts a on a.id = p.account_id where p.currency <> a.currency`,
  },
  // The payment path's tables carry no foreign keys (migration 050): their writers prove each
  // reference, and these checks prove the writers right.
  {
    check: 'every posting refers to an existing journal entry and account',
    sql: `select p.id from postings p left join journal_entries e on e.id = p.entry_id left join accounts a on a.id = p.account_id
          where e.id is null or a.id is null`,
  },
  {
    check: 'every payment entry refers to an existing payment',
    sql: `select e.id from journal_entries e left join payments p on p.id = e.payment_id where e.payment_id is not null and p.id is null`,
  },
  {
    check: 'every payment refers to an existing merchant and payer account',
    sql: `select p.id from payments p left join merchants m on m.id = p.merchant_id left join accounts a on a.id = p.payer_account_id
          where m.id is null or (p.payer_account_id is not null and a.id is null)`,
  },
  {
    check: 'payer and merchant balances are not negative',
    sql: `select id from accounts where kind in ('wallet', 'subscriber', 'merchant') and balance_minor < 0`,
  },
  {
    check: 'a paid payment has exactly one payment entry',
    sql: `select p.id from payments p left join journal_entries e on e.payment_id = p.id and e.kind = 'payment'
          where p.state in ('succeeded', 'partially_refunded', 'refunded') group by p.id having count(e.id) <> 1`,
  },
  {
    check: 'an unpaid payment has no payment entry',
    sql: `select p.id from payments p join journal_entries e on e.payment_id = p.id and e.kind = 'payment'
          where p.state in ('pending', 'failed', 'expired', 'cancelled')`,
  },
  {
    check: 'refunded amount equals the sum of succeeded refunds',
    sql: `select p.id from payments p left join (select payment_id, sum(amount_minor) s from refunds where state = 'succeeded' group by payment_id) r on r.payment_id = p.id
          where p.refunded_minor <> coalesce(r.s, 0)`,
  },
  {
    check: 'each succeeded refund has one refund entry',
    sql: `select r.id from refunds r left join journal_entries e on e.refund_id = r.id and e.kind = 'refund'
          where r.state = 'succeeded' group by r.id having count(e.id) <> 1`,
  },
  {
    check: 'each succeeded payout has one payout entry',
    sql: `select po.id from payouts po left join journal_entries e on e.payout_id = po.id and e.kind = 'payout'
          where po.state = 'succeeded' group by po.id having count(e.id) <> 1`,
  },
];

export async function verifyLedger(q: Queryable): Promise<Violation[]> {
  const out: Violation[] = [];
  for (const c of CHECKS) {
    const rows = await q.query(c.sql);
    if (rows.length) out.push({ check: c.check, ids: rows.map((r) => String(r.id)) });
  }
  return out;
}
