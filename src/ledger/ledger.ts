// Double-entry ledger. Every movement of money is one journal entry whose postings sum to
// zero per currency; account balances change in the same transaction as the postings.
// A balance is an account's `balance_minor` plus its credits not yet folded in
// (account_credits, written by the paying statement so that it never waits on a merchant's or
// the fees account's row: migration 060); read balances through ACCOUNT_SELECT.
import type { Currency } from '../money/index.ts';
import { assertAmount } from '../money/index.ts';
import { CoreError } from '../errors.ts';
import type { Queryable } from '../store/db.ts';

export type AccountKind = 'merchant' | 'wallet' | 'subscriber' | 'card_clearing' | 'fees' | 'float';
export type SystemAccountKind = 'card_clearing' | 'fees' | 'float';
export type EntryKind = 'payment' | 'refund' | 'payout' | 'funding' | 'adjustment';

/** Kinds whose balance may never go below zero (database constraint too). */
export const NON_NEGATIVE_KINDS: readonly AccountKind[] = ['wallet', 'subscriber', 'merchant'];

export interface Posting {
  account_id: string;
  currency: Currency;
  /** Signed: negative debits the account's balance, positive credits it. */
  amount_minor: bigint;
}

export interface EntryInput {
  kind: EntryKind;
  payment_id?: string;
  refund_id?: string;
  payout_id?: string;
  postings: Posting[];
  created_at: Date;
}

/** Checks the double-entry invariant before anything is written. */
export function assertBalanced(postings: Posting[]): void {
  if (postings.length < 2) throw new Error('a journal entry needs at least two postings');
  const sums = new Map<string, bigint>();
  for (const p of postings) {
    if (typeof p.amount_minor !== 'bigint' || p.amount_minor === 0n) throw new Error('posting amounts are non-zero bigints');
    assertAmount(p.amount_minor < 0n ? -p.amount_minor : p.amount_minor);
    sums.set(p.currency, (sums.get(p.currency) ?? 0n) + p.amount_minor);
  }
  for (const [currency, sum] of sums) {
    if (sum !== 0n) throw new Error(`postings do not balance in ${currency}: ${sum}`);
  }
}

/**
 * Writes one balanced entry and applies it to balances. Balances are updated in account-id
 * order so concurrent entries lock rows in one global order (no deadlocks). Each update folds
 * the account's pending credits in first (same statement), so the non-negative check sees the
 * whole balance. A debit that would take a non-negative account below zero fails with
 * insufficient_funds and, since we are inside the caller's transaction, nothing of it stays
 * (the folded credit rows neither).
 */
export async function postEntry(q: Queryable, entry: EntryInput): Promise<string> {
  const postings = entry.postings.filter((p) => p.amount_minor !== 0n);
  assertBalanced(postings);
  const byAccount = new Map<string, Posting>();
  for (const p of postings) {
    const prev = byAccount.get(p.account_id);
    if (prev && prev.currency !== p.currency) throw new Error('one account, one currency');
    byAccount.set(p.account_id, { ...p, amount_minor: (prev?.amount_minor ?? 0n) + p.amount_minor });
  }
  const ordered = [...byAccount.values()].filter((p) => p.amount_minor !== 0n).sort((a, b) => (BigInt(a.account_id) < BigInt(b.account_id) ? -1 : 1));
  for (const p of ordered) {
    // The row is locked first (l), then its credits are deleted: credit rows are deleted only
    // by the holder of their account's row (here, a payout's lock, foldCredits), so no one
    // holds credit rows while waiting for an account row, and no deadlock can form there.
    // Credits committed after the statement's snapshot stay for the next fold (they only add).
    // The funds check reads the balance as locked (l: the row as it is now), never the
    // target row as the statement's snapshot saw it: a fold that committed after the snapshot
    // moved credits into the row (so `f` finds them gone), and the snapshot's row lacks them.
    // A condition on that stale row would refuse a debit the account can pay (seen: a refund
    // right after its payment, "insufficient funds" with the money there).
    const rows = await q.query<{ balance_minor: bigint; kind: AccountKind }>(
      `with l as materialized (select id, kind, balance_minor from accounts where id = $1 and currency = $3 for no key update),
            f as (delete from account_credits where account_id = (select id from l) returning amount_minor),
            c as (select coalesce(sum(amount_minor), 0)::bigint as s from f)
       update accounts a set balance_minor = l.balance_minor + c.s + $2::bigint
         from l, c
        where a.id = l.id
          and ($2::bigint >= 0 or l.kind not in ('wallet', 'subscriber', 'merchant') or l.balance_minor + c.s + $2::bigint >= 0)
        returning a.balance_minor, a.kind`,
      [p.account_id, p.amount_minor, p.currency],
    );
    if (rows.length === 0) {
      const acct = await q.query('select kind, currency from accounts where id = $1', [p.account_id]);
      if (acct.length === 0 || acct[0]!.currency !== p.currency) throw new Error(`posting to unknown account ${p.account_id} in ${p.currency}`);
      throw new CoreError('insufficient_funds', 'insufficient funds', { account_id: p.account_id });
    }
    const after = rows[0]!;
    if (NON_NEGATIVE_KINDS.includes(after.kind) && after.balance_minor < 0n) throw new Error(`invariant: account ${p.account_id} went negative`);
  }
  // The entry and its postings in one statement (one round trip).
  const [e] = await q.query<{ entry_id: bigint }>(
    `with e as (insert into journal_entries (kind, payment_id, refund_id, payout_id, created_at) values ($1, $2, $3, $4, $5) returning id)
     insert into postings (entry_id, account_id, currency, amount_minor)
     select e.id, a, c, m from e, unnest($6::bigint[], $7::text[], $8::bigint[]) as t(a, c, m)
     returning entry_id`,
    [entry.kind, entry.payment_id ?? null, entry.refund_id ?? null, entry.payout_id ?? null, entry.created_at,
      postings.map((p) => p.account_id), postings.map((p) => p.currency), postings.map((p) => p.amount_minor.toString())],
  );
  return String(e!.entry_id);
}

/** The system account of a kind and currency (fees, float, card clearing), created on first use. */
export async function systemAccount(q: Queryable, kind: SystemAccountKind, currency: Currency): Promise<string> {
  const found = await q.query<{ id: bigint }>(`select id from accounts where kind = $1 and currency = $2`, [kind, currency]);
  if (found.length) return String(found[0]!.id);
  await q.query(`insert into accounts (kind, currency, name) values ($1, $2, $3) on conflict do nothing`, [kind, currency, `${kind} ${currency}`]);
  const again = await q.query<{ id: bigint }>(`select id from accounts where kind = $1 and currency = $2`, [kind, currency]);
  return String(again[0]!.id);
}

/** The merchant's balance account in a currency, created on first use. */
export async function merchantAccount(q: Queryable, merchant_id: string, currency: Currency): Promise<string> {
  const found = await q.query<{ id: bigint }>(`select id from accounts where kind = 'merchant' and merchant_id = $1 and currency = $2`, [merchant_id, currency]);
  if (found.length) return String(found[0]!.id);
  await q.query(`insert into accounts (kind, currency, merchant_id, name) values ('merchant', $2, $1, 'merchant balance') on conflict do nothing`, [merchant_id, currency]);
  const again = await q.query<{ id: bigint }>(`select id from accounts where kind = 'merchant' and merchant_id = $1 and currency = $2`, [merchant_id, currency]);
  return String(again[0]!.id);
}

export interface AccountRow {
  id: string;
  kind: AccountKind;
  currency: Currency;
  merchant_id: string | null;
  name: string | null;
  phone: string | null;
  network: string | null;
  balance_minor: bigint;
  settings: Record<string, unknown>;
  created_at: Date;
}

export function toAccount(r: Record<string, any>): AccountRow {
  return {
    id: String(r.id),
    kind: r.kind,
    currency: r.currency,
    merchant_id: r.merchant_id == null ? null : String(r.merchant_id),
    name: r.name,
    phone: r.phone,
    network: r.network,
    balance_minor: r.balance_minor,
    settings: r.settings ?? {},
    created_at: r.created_at,
  };
}

/**
 * Accounts as readers see them (alias `a`): every column an AccountRow has, the balance with
 * the credits not yet folded in. One statement, so one snapshot: a credit is counted once,
 * either in its row or, after a fold committed, in `balance_minor`.
 */
export const ACCOUNT_SELECT = `select a.id, a.kind, a.currency, a.merchant_id, a.name, a.phone, a.network, a.settings, a.created_at,
       a.balance_minor + coalesce((select sum(c.amount_minor) from account_credits c where c.account_id = a.id), 0)::bigint as balance_minor
  from accounts a`;

export async function getAccount(q: Queryable, id: string): Promise<AccountRow | null> {
  if (!/^\d{1,18}$/.test(id)) return null;
  const rows = await q.query(`${ACCOUNT_SELECT} where a.id = $1`, [id]);
  return rows.length ? toAccount(rows[0]!) : null;
}

/**
 * Folds pending credits into their accounts' `balance_minor` (each node's sweeper runs this):
 * at most `limit` accounts a pass, in account-id order, skipping accounts another transaction
 * holds (a debit folds its own account in its statement; another node's fold takes the rest).
 * It deletes only credits of accounts it has locked (the rule of every deleter: postEntry), and
 * never waits for an account, so it cannot deadlock. Returns the number of accounts folded.
 */
export async function foldCredits(q: Queryable, limit = 1000): Promise<number> {
  const rows = await q.query<{ n: bigint | number }>(
    `with l as materialized (
       select id from accounts where id in (select distinct account_id from account_credits) order by id limit $1 for no key update skip locked
     ), f as (
       delete from account_credits where account_id in (select id from l) returning account_id, amount_minor
     ), s as (
       select account_id, sum(amount_minor)::bigint as m from f group by account_id
     ), u as (
       update accounts a set balance_minor = a.balance_minor + s.m from s where a.id = s.account_id returning a.id
     )
     select count(*) as n from u`,
    [limit],
  );
  return Number(rows[0]?.n ?? 0);
}
