// Money is an integer count of minor units (bigint) with its currency. Decimal text is
// parsed exactly, digit by digit, never through a float. All rounding lives in this file.
import { type Currency, exponentOf, isCurrency } from './currency.ts';

export interface Money {
  readonly amount_minor: bigint;
  readonly currency: Currency;
}

export class MoneyError extends Error {
  constructor(
    readonly code: 'invalid_amount' | 'too_many_decimals' | 'negative' | 'too_large' | 'unknown_currency' | 'not_whole',
    message: string,
  ) {
    super(message);
  }
}

/** Largest number of significant digits accepted in an amount (keeps every value exact in SQL bigint and JS). */
export const MAX_AMOUNT_DIGITS = 15;
export const MAX_AMOUNT_MINOR = 10n ** BigInt(MAX_AMOUNT_DIGITS) - 1n;

const DECIMAL_RE = /^(\d+)(?:\.(\d*))?$/;

export interface ParseOptions {
  /** Only whole major units are accepted (ibous, IntouchPay). */
  whole?: boolean;
}

/**
 * Parses "60", "0.01", "50.0" or a JSON number to minor units of `currency`.
 * Numbers are read through their shortest decimal text (what JSON sent), so 0.1 is "0.1".
 * Refuses negatives, NaN, exponents, more decimals than the currency has and > 15 digits.
 */
export function parseAmount(input: unknown, currency: string, opts: ParseOptions = {}): bigint {
  if (!isCurrency(currency)) throw new MoneyError('unknown_currency', `unknown currency ${String(currency)}`);
  let text: string;
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) throw new MoneyError('invalid_amount', 'amount must be a finite number');
    text = String(input);
  } else if (typeof input === 'bigint') {
    text = input.toString();
  } else if (typeof input === 'string') {
    text = input.trim();
  } else {
    throw new MoneyError('invalid_amount', 'amount must be a decimal number');
  }
  if (text.startsWith('-')) throw new MoneyError('negative', 'amount must not be negative');
  const m = DECIMAL_RE.exec(text);
  if (!m) throw new MoneyError('invalid_amount', `amount "${text.slice(0, 32)}" is not a plain decimal number`);
  const intPart = m[1]!;
  let frac = m[2] ?? '';
  const exp = exponentOf(currency);
  // Trailing zeros carry no value: "50.0" is fine for a zero-decimal currency.
  const significantFrac = frac.replace(/0+$/, '');
  if (opts.whole && significantFrac.length > 0) throw new MoneyError('not_whole', 'amount must be a whole number');
  if (significantFrac.length > exp) {
    throw new MoneyError('too_many_decimals', `amount has more decimals than ${currency} allows (${exp})`);
  }
  frac = significantFrac.padEnd(exp, '0');
  const digits = (intPart + frac).replace(/^0+(?=\d)/, '');
  if (digits.length > MAX_AMOUNT_DIGITS) throw new MoneyError('too_large', `amount exceeds ${MAX_AMOUNT_DIGITS} digits`);
  const minor = BigInt(digits);
  assertAmount(minor);
  return minor;
}

export function assertAmount(minor: bigint): void {
  if (typeof minor !== 'bigint') throw new Error(`amount_minor must be a bigint, got ${typeof minor}`);
  if (minor < 0n || minor > MAX_AMOUNT_MINOR) throw new Error(`amount_minor out of range: ${minor}`);
}

export type FormatStyle =
  /** "200", "0.01", "12.5": no trailing zeros, no point for whole amounts. */
  | 'compact'
  /** All the currency's decimals: "200.00", "0.01"; "200" for RWF. */
  | 'fixed'
  /** At least one decimal: "50.0", "0.01", "100000.0" (FlexPay, IntouchPay balance). */
  | 'min1';

export function formatAmount(minor: bigint, currency: Currency, style: FormatStyle = 'compact'): string {
  const exp = exponentOf(currency);
  const neg = minor < 0n;
  const abs = neg ? -minor : minor;
  const s = abs.toString().padStart(exp + 1, '0');
  const intPart = exp === 0 ? s : s.slice(0, -exp);
  let frac = exp === 0 ? '' : s.slice(-exp);
  if (style === 'compact') frac = frac.replace(/0+$/, '');
  if (style === 'min1') {
    frac = frac.replace(/0+$/, '');
    if (frac === '') frac = '0';
  }
  return (neg ? '-' : '') + intPart + (frac ? '.' + frac : '');
}

/** Whole major units, for dialects whose amounts are integers (ibous). Refuses fractional values. */
export function toWholeMajor(minor: bigint, currency: Currency): string {
  const unit = 10n ** BigInt(exponentOf(currency));
  if (minor % unit !== 0n) throw new Error(`amount ${minor} ${currency} is not whole`);
  return (minor / unit).toString();
}

/** Basis points: 1 bps = 0.01 %. 10_000 bps = 100 %. */
export const BPS_PER_UNIT = 10_000n;

/**
 * amount × rate_bps / 10 000, rounded half up (away from zero for these non-negative values)
 * to the currency's minor unit. The one rounding rule for fees and surcharges.
 * Example: 1 minor unit (0.01 USD) at 200 bps = 0.02 → rounds to 0; 25 at 200 bps = 0.5 → 1.
 */
export function applyRateBps(amount_minor: bigint, rate_bps: bigint): bigint {
  assertAmount(amount_minor);
  if (rate_bps < 0n) throw new Error('rate must not be negative');
  const num = amount_minor * rate_bps;
  return (num + BPS_PER_UNIT / 2n) / BPS_PER_UNIT;
}

/** Parses a percentage like 2, "2", "1.5" into basis points (at most two decimals, 0–100 %). */
export function parsePercentToBps(input: unknown): bigint {
  const text = typeof input === 'number' ? (Number.isFinite(input) ? String(input) : '') : typeof input === 'string' ? input.trim() : '';
  const m = /^(\d{1,3})(?:\.(\d{1,2})0*)?$/.exec(text);
  if (!m) throw new MoneyError('invalid_amount', 'rate must be a percentage between 0 and 100 with at most two decimals');
  const bps = BigInt(m[1]!) * 100n + BigInt((m[2] ?? '').padEnd(2, '0'));
  if (bps > BPS_PER_UNIT) throw new MoneyError('too_large', 'rate must be at most 100');
  return bps;
}
