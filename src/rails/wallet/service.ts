// Wallet actions shared by the web pages and the JSON API: log in with phone + PIN, look up a
// scanned payment, pay it from the phone's wallet in the payment's currency, decline it.
// Money moves only through the core (ctx.payments.pay / fail).
import { CoreError } from '../../errors.ts';
import type { GatewayContext } from '../../gateway.ts';
import type { AccountRow } from '../../ledger/ledger.ts';
import { type Currency, formatAmount, isCurrency } from '../../money/index.ts';
import type { PaymentRecord } from '../../payments/model.ts';
import { normalizePhone } from '../payers.ts';
import { TOKEN_RE } from './links.ts';

export const HISTORY_MAX = 50;

export interface PaymentView {
  token: string;
  payment_id: string;
  merchant: string;
  item: string;
  amount: string;
  /** Minor units as a decimal string (JSON has no bigint; and a reply without one serialises without the serializer's fallback). */
  amount_minor: string;
  currency: Currency;
  /** pending | succeeded | failed | expired | cancelled | partially_refunded | refunded */
  state: string;
  payable: boolean;
  expires_at: string | null;
}

export class WalletService {
  constructor(private readonly ctx: GatewayContext) {}

  /** Wallets of a phone, lowest id first. */
  wallets(phone: string): Promise<AccountRow[]> {
    return this.ctx.payers.byPhone('wallet', phone);
  }

  /**
   * Checks phone + PIN against the phone's wallet (of `currency` when given, else its first).
   * Unknown phones get the same answer as a wrong PIN. Wrong PINs count toward the lockout.
   */
  async authenticate(phoneInput: unknown, pin: unknown, currency?: Currency): Promise<{ phone: string; account: AccountRow; wallets: AccountRow[] }> {
    const phone = normalizePhone(phoneInput);
    if (!phone) throw new CoreError('invalid_request', 'enter the phone number with the country code, e.g. 50937000000');
    if (typeof pin !== 'string' || !/^\d{4,6}$/.test(pin)) throw new CoreError('invalid_request', 'the PIN is 4 to 6 digits');
    const wallets = await this.wallets(phone);
    if (!wallets.length) throw new CoreError('unauthorized', 'wrong phone number or PIN');
    let account = wallets[0]!;
    if (currency) {
      const inCurrency = wallets.find((w) => w.currency === currency);
      if (!inCurrency) {
        // Check the PIN first so this answer says nothing to someone who does not know it.
        await this.ctx.payers.checkPin(account.id, pin);
        throw new CoreError('currency_mismatch', `this phone has no ${currency} wallet`);
      }
      account = inCurrency;
    }
    await this.ctx.payers.checkPin(account.id, pin);
    return { phone, account, wallets };
  }

  /** The wallet payment behind a token, or null. */
  async payment(token: unknown): Promise<PaymentRecord | null> {
    if (typeof token !== 'string' || !TOKEN_RE.test(token)) return null;
    const p = await this.ctx.status.getByToken(token);
    return p && p.rail === 'wallet' ? p : null;
  }

  async view(p: PaymentRecord): Promise<PaymentView> {
    const merchant = await this.ctx.merchants.get(p.merchant_id);
    const expired = p.state === 'pending' && p.expires_at !== null && p.expires_at <= this.ctx.clock.now();
    const state = expired ? 'expired' : p.state;
    return {
      token: p.token,
      payment_id: p.id,
      merchant: payeeName(p, merchant?.name),
      item: String(p.details.item ?? p.description ?? ''),
      amount: formatAmount(p.amount_minor + p.surcharge_minor, p.currency, 'fixed'),
      amount_minor: String(p.amount_minor + p.surcharge_minor),
      currency: p.currency,
      state,
      payable: state === 'pending',
      expires_at: p.expires_at ? p.expires_at.toISOString() : null,
    };
  }

  /** Pays from the phone's wallet in the payment's currency after checking its PIN. */
  async pay(p: PaymentRecord, phone: unknown, pin: unknown): Promise<{ payment: PaymentRecord; account: AccountRow }> {
    if (p.state !== 'pending') throw new CoreError('invalid_state', stateMessage(p.state), { state: p.state });
    // PIN check and payment in one statement as a rule (Payers.payWithPin). Without a wallet
    // id (a malformed phone or PIN, no wallet in the payment's currency) authenticate gives
    // the answer: it refuses; it finds the wallet only if one was created meanwhile.
    const normalized = normalizePhone(phone);
    const known = normalized && typeof pin === 'string' && /^\d{4,6}$/.test(pin) ? await this.ctx.payers.idOf('wallet', normalized, p.currency) : null;
    const account_id = known ?? (await this.authenticate(phone, pin, p.currency)).account.id;
    return this.ctx.payers.payWithPin(p.id, account_id, pin, { wallet_phone_last4: normalized!.slice(-4) });
  }

  /** Declines a pending payment (status 3 for the merchant). The caller has authenticated the payer. */
  async decline(p: PaymentRecord): Promise<PaymentRecord> {
    if (p.state !== 'pending') throw new CoreError('invalid_state', stateMessage(p.state), { state: p.state });
    return this.ctx.payments.fail(p.id, 'failed', 'declined');
  }

  async history(phone: string, currency: Currency | undefined, limit: number) {
    const wallets = (await this.wallets(phone)).filter((w) => !currency || w.currency === currency);
    const items = [];
    for (const w of wallets) {
      for (const h of await this.ctx.payers.history(w.id, limit)) {
        items.push({ ...h, amount: formatAmount(h.amount_minor, h.currency as Currency, 'fixed'), account_id: w.id });
      }
    }
    items.sort((a, b) => (BigInt(a.entry_id) < BigInt(b.entry_id) ? 1 : -1));
    return items.slice(0, limit);
  }
}

export function walletJson(a: AccountRow) {
  // balance_minor as a decimal string, as the reply serializer would write the bigint, without its fallback (toJson).
  return { account_id: a.id, currency: a.currency, balance: formatAmount(a.balance_minor, a.currency, 'fixed'), balance_minor: String(a.balance_minor) };
}

export function stateMessage(state: string): string {
  switch (state) {
    case 'succeeded':
    case 'partially_refunded':
    case 'refunded':
      return 'this payment has already been paid';
    case 'expired':
      return 'this payment has expired';
    case 'failed':
      return 'this payment was declined';
    case 'cancelled':
      return 'this payment was cancelled';
    default:
      return `this payment is ${state}`;
  }
}

export function currencyParam(v: unknown): Currency | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const s = String(v).trim().toUpperCase();
  if (!isCurrency(s)) throw new CoreError('invalid_request', 'currency must be an ISO 4217 code');
  return s;
}

/** Who the payer pays: the sub-store / store name the dialect recorded, else the merchant's name. */
export async function payeeOf(ctx: GatewayContext, p: PaymentRecord): Promise<string> {
  return payeeName(p, (await ctx.merchants.get(p.merchant_id))?.name);
}

/** KessPay names a sub-store as the payee (details.payee_name); otherwise the merchant's own name. */
export function payeeName(p: PaymentRecord, merchantName: string | undefined): string {
  return typeof p.details.payee_name === 'string' && p.details.payee_name ? p.details.payee_name : merchantName ?? '';
}
