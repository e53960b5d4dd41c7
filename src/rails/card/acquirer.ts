// Card processing sits behind the Acquirer interface: the checkout page collects the card,
// the acquirer says approved / declined / 3-D Secure challenge / processing error. The
// built-in TestAcquirer answers from a fixed table of test cards (docs/card.md).
import { createHmac, randomBytes } from 'node:crypto';

export type CardBrand = 'visa' | 'mastercard';

export interface CardInput {
  /** Digits only, Luhn-checked, Visa or Mastercard. Lives only for the request. */
  number: string;
  exp_month: number;
  exp_year: number;
  cvv: string;
  holder: string;
}

export type DeclineReason = 'insufficient_funds' | 'do_not_honour' | 'expired_card' | 'authentication_failed';

export type AuthorizeResult =
  | { outcome: 'approved'; authorization_code: string }
  | { outcome: 'declined'; reason: DeclineReason }
  | { outcome: 'challenge'; challenge_ref: string }
  | { outcome: 'error'; reason: 'processing_error' };

export interface AuthorizeRequest {
  card: CardInput;
  brand: CardBrand;
  amount_minor: bigint;
  currency: string;
  /** The payment's public reference (FlexPay orderNumber). */
  payment_ref: string;
}

export interface Acquirer {
  readonly name: string;
  authorize(req: AuthorizeRequest): Promise<AuthorizeResult>;
  /** The payer's answer to a 3-D Secure challenge: approved or declined (authentication_failed). */
  completeChallenge(challenge_ref: string, code: string): Promise<AuthorizeResult>;
}

/** Test cards of the built-in acquirer. Any other valid Visa/Mastercard number is approved. */
export const TEST_CARDS: Record<string, { brand: CardBrand; behaviour: string }> = {
  '4242424242424242': { brand: 'visa', behaviour: 'approved' },
  '5555555555554444': { brand: 'mastercard', behaviour: 'approved' },
  '4000000000009995': { brand: 'visa', behaviour: 'declined: insufficient_funds' },
  '5105105105105100': { brand: 'mastercard', behaviour: 'declined: insufficient_funds' },
  '4000000000000002': { brand: 'visa', behaviour: 'declined: do_not_honour' },
  '4000000000000069': { brand: 'visa', behaviour: 'declined: expired_card' },
  '4000000000003220': { brand: 'visa', behaviour: '3-D Secure challenge (code 123456 approves)' },
  '5200000000001096': { brand: 'mastercard', behaviour: '3-D Secure challenge (code 123456 approves)' },
  '4000000000000119': { brand: 'visa', behaviour: 'processing error (payment stays pending, payer may retry)' },
};

/** The one 3-D Secure code the test acquirer accepts. */
export const TEST_3DS_CODE = '123456';

export class TestAcquirer implements Acquirer {
  readonly name = 'test';
  async authorize(req: AuthorizeRequest): Promise<AuthorizeResult> {
    switch (req.card.number) {
      case '4000000000009995':
      case '5105105105105100':
        return { outcome: 'declined', reason: 'insufficient_funds' };
      case '4000000000000002':
        return { outcome: 'declined', reason: 'do_not_honour' };
      case '4000000000000069':
        return { outcome: 'declined', reason: 'expired_card' };
      case '4000000000003220':
      case '5200000000001096':
        return { outcome: 'challenge', challenge_ref: 'ch_' + randomBytes(12).toString('hex') };
      case '4000000000000119':
        return { outcome: 'error', reason: 'processing_error' };
      default:
        return { outcome: 'approved', authorization_code: authCode() };
    }
  }
  async completeChallenge(_challenge_ref: string, code: string): Promise<AuthorizeResult> {
    return code === TEST_3DS_CODE ? { outcome: 'approved', authorization_code: authCode() } : { outcome: 'declined', reason: 'authentication_failed' };
  }
}

function authCode(): string {
  const A = 'ABCDEFGHJKLMNPQRSTUVWXYZ0123456789';
  const b = randomBytes(11);
  return Array.from(b, (x) => A[x % A.length]).join('');
}

// ---- card number checks (the page's inline script does the same, live) -------------------

export function luhnValid(digits: string): boolean {
  if (!/^\d{12,19}$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** Visa: 4…, 13/16/19 digits. Mastercard: 51–55 or 2221–2720, 16 digits. Anything else: null (refused). */
export function brandOf(digits: string): CardBrand | null {
  if (/^4\d{12}(\d{3}){0,2}$/.test(digits)) return 'visa';
  if (digits.length === 16) {
    const p2 = Number(digits.slice(0, 2));
    const p4 = Number(digits.slice(0, 4));
    if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return 'mastercard';
  }
  return null;
}

/** Same card → same fingerprint, without the number being recoverable (HMAC under a derived key). */
export function cardFingerprint(key: Buffer, digits: string): string {
  return createHmac('sha256', key).update(digits).digest('hex').slice(0, 32);
}
