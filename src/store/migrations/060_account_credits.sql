-- Hot balances, split: the paying statement no longer updates the merchant's balance row nor
-- the fees account row (one row every payment of a merchant, or every payment with a fee,
-- would lock: two pay statements in flight, on one node or on several, would wait for each
-- other there). It appends what it credits to such an account here instead; an insert
-- never waits on another. An account's balance is its `balance_minor` plus its rows here
-- (ledger.ts: ACCOUNT_SELECT). Rows are folded into `balance_minor` by every debit of the
-- account, in the debit's own statement (so a refund or a payout sees every credit before
-- its non-negative check), and by each node's sweeper (ledger.foldCredits), so the table
-- stays small; only a transaction holding the account's row deletes its credits. Only
-- credits come here: a row is never negative, so an account's `balance_minor` alone never
-- exceeds its balance, and the non-negative rule holds on it.
create table account_credits (
  account_id bigint not null,
  amount_minor bigint not null check (amount_minor > 0)
);
create index account_credits_account on account_credits (account_id);
