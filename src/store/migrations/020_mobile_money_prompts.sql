-- Mobile-money rail: push prompts shown on a subscriber's handset (USSD-style "Pay X to Y?
-- Enter PIN"). One prompt per payment. Owned by src/rails/mobile-money; the payment itself
-- (state, money) lives in the core tables, the prompt only records what the handset showed
-- and how the subscriber answered.
create table mobile_money_prompts (
  id bigserial primary key,
  payment_id bigint not null unique references payments(id),
  account_id bigint not null references accounts(id),
  phone text not null check (length(phone) between 8 and 15),
  merchant_name text not null check (length(merchant_name) between 1 and 200),
  amount_minor bigint not null check (amount_minor > 0),
  currency text not null check (currency ~ '^[A-Z]{3}$'),
  description text check (description is null or length(description) <= 500),
  state text not null default 'pending' check (state in ('pending', 'approved', 'rejected', 'failed', 'expired', 'closed')),
  -- why it ended: approved, declined, insufficient_funds, expired, or the payment's state when closed elsewhere
  outcome text,
  created_at timestamptz not null,
  expires_at timestamptz not null,
  resolved_at timestamptz
);
create index mobile_money_prompts_phone on mobile_money_prompts (phone, state, id);
