-- Card rail: 3-D Secure challenges waiting for the payer's code. Holds only what may be
-- kept about a card (brand, last four digits, HMAC fingerprint), never the number or CVV.
create table card_challenges (
  payment_id bigint primary key,
  challenge_ref text not null,
  brand text not null check (brand in ('visa', 'mastercard')),
  last4 text not null check (last4 ~ '^[0-9]{4}$'),
  fingerprint text not null check (length(fingerprint) = 32),
  created_at timestamptz not null
);
