-- Wallet payment codes (KessPay Quick Pay): one-time numeric codes the wallet app shows
-- and a merchant scans. Only a keyed hash of the code is stored, never the code itself.
-- Written only by src/rails/wallet/codes.ts.
create table wallet_payment_codes (
  id bigserial primary key,
  -- hex HMAC-SHA256 of the code with a key derived from PAYGATE_SECRET_KEY
  code_hash text not null unique,
  account_id bigint not null references accounts(id),
  created_at timestamptz not null,
  expires_at timestamptz not null,
  used_at timestamptz,
  -- the payment the code was spent on
  payment_id bigint references payments(id),
  -- true while that payment waits for the payer's PIN (above the quick-pay limit)
  needs_pin boolean not null default false
);
create index wallet_payment_codes_account on wallet_payment_codes (account_id, expires_at);
create index wallet_payment_codes_needs_pin on wallet_payment_codes (account_id) where needs_pin;
