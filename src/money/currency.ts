// ISO 4217 currencies the gateway knows, with their minor-unit exponents.
// A currency missing here cannot be used anywhere: parsing refuses it.
export const CURRENCY_EXPONENTS = {
  HTG: 2, USD: 2, CDF: 2, RWF: 0, KHR: 2, EUR: 2, XOF: 0, KES: 2,
  XAF: 0, GBP: 2, UGX: 0, TZS: 2, ZAR: 2, NGN: 2, GHS: 2, CAD: 2, DOP: 2, JPY: 0,
} as const satisfies Record<string, number>;

export type Currency = keyof typeof CURRENCY_EXPONENTS;

export function isCurrency(code: unknown): code is Currency {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(CURRENCY_EXPONENTS, code);
}

export function exponentOf(currency: Currency): number {
  const e = CURRENCY_EXPONENTS[currency];
  if (e === undefined) throw new Error(`unknown currency ${currency}`);
  return e;
}
