import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { applyRateBps, CURRENCY_EXPONENTS, type Currency, formatAmount, MAX_AMOUNT_MINOR, MoneyError, parseAmount, parsePercentToBps, toWholeMajor } from './index.ts';

const currencies = Object.keys(CURRENCY_EXPONENTS) as Currency[];

test('ISO 4217 table has the currencies the dialects need with their exponents', () => {
  assert.deepEqual(
    ['HTG', 'USD', 'CDF', 'RWF', 'KHR', 'EUR', 'XOF', 'KES'].map((c) => [c, CURRENCY_EXPONENTS[c as Currency]]),
    [['HTG', 2], ['USD', 2], ['CDF', 2], ['RWF', 0], ['KHR', 2], ['EUR', 2], ['XOF', 0], ['KES', 2]],
  );
});

test('parses decimal strings and JSON numbers exactly', () => {
  assert.equal(parseAmount('60', 'HTG'), 6000n);
  assert.equal(parseAmount('0.01', 'USD'), 1n);
  assert.equal(parseAmount(0.01, 'USD'), 1n);
  assert.equal(parseAmount(0.1, 'USD'), 10n);
  assert.equal(parseAmount('50.0', 'CDF'), 5000n);
  assert.equal(parseAmount('50.0', 'RWF'), 50n, 'a trailing zero is not a decimal');
  assert.equal(parseAmount('1000', 'RWF'), 1000n);
  assert.equal(parseAmount('007.50', 'USD'), 750n);
  assert.equal(parseAmount('999999999999999', 'RWF'), 999999999999999n);
  assert.equal(parseAmount('9999999999999.99', 'USD'), 999999999999999n);
});

test('refuses what is not an exact amount', () => {
  const bad: [unknown, string, MoneyError['code']][] = [
    ['0.001', 'USD', 'too_many_decimals'],
    ['1.5', 'RWF', 'too_many_decimals'],
    ['-1', 'USD', 'negative'],
    [-0.5, 'USD', 'negative'],
    [Number.NaN, 'USD', 'invalid_amount'],
    [Infinity, 'USD', 'invalid_amount'],
    ['1e3', 'USD', 'invalid_amount'],
    [1e21, 'USD', 'invalid_amount'],
    ['', 'USD', 'invalid_amount'],
    ['abc', 'USD', 'invalid_amount'],
    ['1,5', 'USD', 'invalid_amount'],
    ['0x10', 'USD', 'invalid_amount'],
    ['1 000', 'USD', 'invalid_amount'],
    [null, 'USD', 'invalid_amount'],
    [{}, 'USD', 'invalid_amount'],
    ['1000000000000000', 'RWF', 'too_large'],
    ['10000000000000.00', 'USD', 'too_large'],
    ['1', 'XXX', 'unknown_currency'],
  ];
  for (const [input, cur, code] of bad) {
    assert.throws(() => parseAmount(input, cur), (e: unknown) => e instanceof MoneyError && e.code === code, `${String(input)} ${cur}`);
  }
  assert.throws(() => parseAmount('1.5', 'HTG', { whole: true }), (e: unknown) => e instanceof MoneyError && e.code === 'not_whole');
  assert.equal(parseAmount('60.00', 'HTG', { whole: true }), 6000n);
});

test('formats in the shapes the dialects need', () => {
  assert.equal(formatAmount(20000n, 'HTG'), '200');
  assert.equal(formatAmount(1n, 'USD'), '0.01');
  assert.equal(formatAmount(5000n, 'CDF', 'min1'), '50.0');
  assert.equal(formatAmount(100000n, 'RWF', 'min1'), '100000.0');
  assert.equal(formatAmount(5150n, 'CDF', 'min1'), '51.5');
  assert.equal(formatAmount(1n, 'USD', 'fixed'), '0.01');
  assert.equal(formatAmount(20000n, 'HTG', 'fixed'), '200.00');
  assert.equal(formatAmount(200n, 'RWF', 'fixed'), '200');
  assert.equal(toWholeMajor(6000n, 'HTG'), '60');
  assert.throws(() => toWholeMajor(6001n, 'HTG'));
});

test('property: format then parse is the identity, in every style and currency', () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: MAX_AMOUNT_MINOR }), fc.constantFrom(...currencies), fc.constantFrom('compact', 'fixed', 'min1' as const), (minor, cur, style) => {
      assert.equal(parseAmount(formatAmount(minor, cur, style), cur), minor);
    }),
    { numRuns: 2000 },
  );
});

test('property: parsing a JSON number is exact for every cent value', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 9_999_999_999 }), (cents) => {
      const n = Number(formatAmount(BigInt(cents), 'USD'));
      assert.equal(parseAmount(JSON.parse(JSON.stringify(n)), 'USD'), BigInt(cents));
    }),
    { numRuns: 2000 },
  );
});

test('fees round half up in one place', () => {
  assert.equal(applyRateBps(1n, 200n), 0n, '2% of 0.01 USD is 0.0002: rounds to 0');
  assert.equal(applyRateBps(25n, 200n), 1n, '0.5 minor rounds up');
  assert.equal(applyRateBps(24n, 200n), 0n);
  assert.equal(applyRateBps(10000n, 200n), 200n);
  assert.equal(applyRateBps(MAX_AMOUNT_MINOR, 10000n), MAX_AMOUNT_MINOR);
  assert.equal(applyRateBps(12345n, 0n), 0n);
  assert.equal(parsePercentToBps(2), 200n);
  assert.equal(parsePercentToBps('1.5'), 150n);
  assert.equal(parsePercentToBps('0'), 0n);
  for (const bad of ['-1', '101', 'abc', '1.234', '', null, Number.NaN]) assert.throws(() => parsePercentToBps(bad), String(bad));
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: MAX_AMOUNT_MINOR }), fc.bigInt({ min: 0n, max: 10000n }), (a, r) => {
      const fee = applyRateBps(a, r);
      assert.ok(fee >= 0n && fee <= a);
      // Within half a minor unit of the exact value.
      const exact2 = a * r * 2n;
      assert.ok(fee * 20000n - exact2 <= 10000n && exact2 - fee * 20000n < 10000n);
    }),
  );
});
