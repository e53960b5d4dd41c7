-- Core schema: merchants, ledger, payments, refunds, payouts, outbox.
-- Only src/ledger, src/payments, src/merchants and src/delivery write these tables.

create table merchants (
  id bigserial primary key,
  name text not null check (length(name) between 1 and 200),
  -- Signs Paygate-Signature headers; stored encrypted (PAYGATE_SECRET_KEY).
  webhook_secret_enc text not null,
  settings jsonb not null default '{}',
  created_at timestamptz not null default now()
);

create table merchant_credentials (
  merchant_id bigint not null references merchants(id),
  dialect text not null,
  identifier text not null,
  -- sha256 hex of a high-entropy secret the gateway only verifies
  secret_hash text,
  -- encrypted plain secret a protocol needs (IntouchPay partner password)
  secret_enc text,
  extra jsonb not null default '{}',
  primary key (dialect, identifier),
  unique (merchant_id, dialect)
);

create table merchant_fees (
  merchant_id bigint not null references merchants(id),
  rail text not null,
  rate_bps integer not null check (rate_bps between 0 and 10000),
  primary key (merchant_id, rail)
);

create table accounts (
  id bigserial primary key,
  kind text not null check (kind in ('merchant', 'wallet', 'subscriber', 'card_clearing', 'fees', 'float')),
  currency text not null check (currency ~ '^[A-Z]{3}$'),
  merchant_id bigint references merchants(id),
  name text,
  phone text,
  network text,
  pin_hash text,
  pin_failures integer not null default 0,
  locked_until timestamptz,
  -- payer rail limits and preferences (e.g. wallet quick-pay limit)
  settings jsonb not null default '{}',
  balance_minor bigint not null default 0,
  created_at timestamptz not null default now(),
  -- Payers and merchants can never owe money; system accounts (float, clearing) can.
  constraint balance_nonnegative check (kind not in ('wallet', 'subscriber', 'merchant') or balance_minor >= 0),
  constraint merchant_has_owner check ((kind = 'merchant') = (merchant_id is not null))
);
create unique index accounts_payer_phone on accounts (kind, phone, currency) where phone is not null;
create unique index accounts_merchant_currency on accounts (merchant_id, currency) where kind = 'merchant';
create unique index accounts_system_currency on accounts (kind, currency) where kind in ('card_clearing', 'fees', 'float');

create table payments (
  id bigint primary key,
  merchant_id bigint not null references merchants(id),
  dialect text not null,
  rail text not null,
  merchant_ref text,
  -- id shown on the wire when the dialect wants another shape (FlexPay orderNumber)
  public_ref text not null unique,
  -- unguessable token for payer-facing URLs (pay page, QR image)
  token text not null unique,
  state text not null check (state in ('pending', 'succeeded', 'failed', 'expired', 'cancelled', 'partially_refunded', 'refunded')),
  failure_code text,
  amount_minor bigint not null check (amount_minor > 0),
  -- over-charged to the payer on top of amount (KessPay fee_rate); goes to the fee account
  surcharge_minor bigint not null default 0 check (surcharge_minor >= 0),
  -- taken from the merchant's credit at payment time
  fee_minor bigint not null default 0 check (fee_minor >= 0),
  refunded_minor bigint not null default 0,
  currency text not null,
  description text,
  payer_account_id bigint references accounts(id),
  payer_name text,
  callback_url text,
  details jsonb not null default '{}',
  request_hash text not null,
  version integer not null default 1,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  expires_at timestamptz,
  completed_at timestamptz,
  constraint refunded_within_paid check (refunded_minor >= 0 and refunded_minor <= amount_minor),
  unique (merchant_id, dialect, merchant_ref)
);
create sequence payments_id_seq start with 40000000000001;
create index payments_pending_expiry on payments (expires_at) where state = 'pending';
create index payments_merchant_created on payments (merchant_id, id desc);

create table refunds (
  id bigserial primary key,
  payment_id bigint not null references payments(id),
  merchant_id bigint not null references merchants(id),
  merchant_ref text,
  amount_minor bigint not null check (amount_minor > 0),
  currency text not null,
  state text not null check (state in ('succeeded', 'failed')),
  failure_code text,
  reason text,
  request_hash text not null,
  created_at timestamptz not null,
  unique (merchant_id, merchant_ref)
);
create index refunds_payment on refunds (payment_id);

create table payouts (
  id bigint primary key,
  merchant_id bigint not null references merchants(id),
  dialect text not null,
  rail text not null,
  merchant_ref text not null,
  state text not null check (state in ('pending', 'succeeded', 'failed')),
  failure_code text,
  amount_minor bigint not null check (amount_minor > 0),
  fee_minor bigint not null default 0 check (fee_minor >= 0),
  currency text not null,
  payee_account_id bigint references accounts(id),
  payee_phone text,
  callback_url text,
  details jsonb not null default '{}',
  request_hash text not null,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  unique (merchant_id, dialect, merchant_ref)
);
create sequence payouts_id_seq start with 70000000000001;

create table journal_entries (
  id bigserial primary key,
  kind text not null check (kind in ('payment', 'refund', 'payout', 'funding', 'adjustment')),
  payment_id bigint references payments(id),
  refund_id bigint references refunds(id),
  payout_id bigint references payouts(id),
  created_at timestamptz not null
);
create index journal_entries_payment on journal_entries (payment_id) where payment_id is not null;

create table postings (
  id bigserial primary key,
  entry_id bigint not null references journal_entries(id),
  account_id bigint not null references accounts(id),
  currency text not null,
  amount_minor bigint not null check (amount_minor <> 0)
);
create index postings_account on postings (account_id);
create index postings_entry on postings (entry_id);

create table outbox (
  id bigserial primary key,
  merchant_id bigint not null references merchants(id),
  event text not null,
  payment_id bigint references payments(id),
  refund_id bigint references refunds(id),
  payout_id bigint references payouts(id),
  url text not null,
  -- the exact bytes sent on every attempt: redeliveries are identical
  body text not null,
  content_type text not null default 'application/json',
  -- '2xx': any 2xx acknowledges; 'json_success': 2xx with {"success": true} (IntouchPay)
  ack text not null default '2xx' check (ack in ('2xx', 'json_success')),
  state text not null default 'pending' check (state in ('pending', 'delivered', 'dead')),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null,
  locked_until timestamptz,
  created_at timestamptz not null,
  delivered_at timestamptz
);
create index outbox_due on outbox (next_attempt_at) where state = 'pending';

create table delivery_attempts (
  id bigserial primary key,
  outbox_id bigint not null references outbox(id),
  attempt integer not null,
  status_code integer,
  latency_ms integer not null,
  error text,
  response_excerpt text,
  created_at timestamptz not null default now()
);
create index delivery_attempts_outbox on delivery_attempts (outbox_id);
