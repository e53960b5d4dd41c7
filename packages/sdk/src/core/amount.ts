import { ValidationError } from './errors.ts';

/**
 * An amount: a decimal string in major units ("60", "0.01", "1500.50") or a bigint in
 * minor units of the currency (6000n HTG = "60", 1n USD = "0.01"). JS numbers are refused:
 * floats cannot carry money exactly.
 */
export type Amount = string | bigint;

/** ISO 4217 minor-unit exponents for the currencies these providers use (and a few more). */
export const CURRENCY_EXPONENTS: Readonly<Record<string, number>> = {
  HTG: 2,
  USD: 2,
  KHR: 2,
  RWF: 0,
  CDF: 2,
  EUR: 2,
  XAF: 0,
  XOF: 0,
  JPY: 0,
};

export interface AmountRules {
  /** Currency, used for the minor-unit exponent of bigint amounts and the max decimals. */
  currency?: string;
  /** Override the exponent (decimals) for the currency. */
  exponent?: number;
  /** The wire format only carries whole numbers (ibous INT, IntouchPay whole RWF). */
  integerOnly?: boolean;
  /** Allow zero (default false: amounts must be > 0). */
  allowZero?: boolean;
}

const DECIMAL = /^(\d+)(?:\.(\d+))?$/;

/**
 * Validate and canonicalize an amount to a decimal string in major units: no leading zeros
 * in the integer part, no trailing zeros in the fraction ("60.00" -> "60", "0.10" -> "0.1").
 */
export function toDecimalAmount(value: unknown, field: string, rules: AmountRules = {}): string {
  const exponent = rules.exponent ?? (rules.currency ? CURRENCY_EXPONENTS[rules.currency.toUpperCase()] : undefined);
  let intPart: string;
  let frac: string;
  if (typeof value === 'number') {
    throw new ValidationError(
      field,
      `amount given as a JS number (${value}); pass a decimal string like "${value}" or a bigint in minor units`,
    );
  } else if (typeof value === 'bigint') {
    if (value < 0n) throw new ValidationError(field, 'amount must not be negative');
    if (exponent === undefined) {
      throw new ValidationError(
        field,
        `bigint amounts are minor units, but the exponent of currency ${rules.currency ?? '(none)'} is unknown; pass a decimal string`,
      );
    }
    const digits = value.toString().padStart(exponent + 1, '0');
    intPart = digits.slice(0, digits.length - exponent);
    frac = digits.slice(digits.length - exponent);
  } else if (typeof value === 'string') {
    const m = DECIMAL.exec(value.trim());
    if (!m) throw new ValidationError(field, `not a decimal amount: ${JSON.stringify(value)}`);
    intPart = m[1] ?? '0';
    frac = m[2] ?? '';
  } else {
    throw new ValidationError(field, 'amount is required (decimal string or bigint minor units)');
  }
  intPart = intPart.replace(/^0+(?=\d)/, '');
  frac = frac.replace(/0+$/, '');
  if (exponent !== undefined && frac.length > exponent) {
    throw new ValidationError(field, `${rules.currency ?? 'amount'} allows at most ${exponent} decimals`);
  }
  if (rules.integerOnly && frac.length > 0) {
    throw new ValidationError(field, 'this API only accepts whole amounts');
  }
  if (!rules.allowZero && /^0+$/.test(intPart) && frac === '') {
    throw new ValidationError(field, 'amount must be greater than zero');
  }
  return frac ? `${intPart}.${frac}` : intPart;
}
