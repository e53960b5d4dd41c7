// Payers: wallets (e-wallet rail) and mobile-money subscribers. Both have a phone, a name,
// a PIN and a balance account; wrong PINs count toward a lockout.
import { BoundedMap } from '../bounded-map.ts';
import type { Clock } from '../clock.ts';
import { CoreError } from '../errors.ts';
import { getAccount, type AccountRow, toAccount } from '../ledger/ledger.ts';
import { type PinHasher, verifyLegacyPin } from '../merchants/secrets.ts';
import { type Currency, isCurrency, parseAmount } from '../money/index.ts';
import type { PaymentRecord } from '../payments/model.ts';
import type { Payments } from '../payments/service.ts';
import type { Db } from '../store/db.ts';
import { GroupCommit } from '../store/group-commit.ts';

export type PayerKind = 'wallet' | 'subscriber';

/** Wrong PINs in a row before the account locks, and for how long. */
export const PIN_MAX_FAILURES = 5;
export const PIN_LOCK_MS = 15 * 60_000;
export const PAYER_NAME_MAX = 100;

/** Digits only, country code first, no '+': "250788123456". */
export function normalizePhone(input: unknown): string | null {
  if (typeof input !== 'string' && typeof input !== 'number') return null;
  const s = String(input).trim().replace(/^\+/, '');
  return /^[1-9]\d{7,14}$/.test(s) ? s : null;
}

/** Mobile network from the number's prefix (Rwanda and DR Congo operators). */
export function networkOf(phone: string): string | null {
  const prefixes: [string, string][] = [
    ['25078', 'MTN'], ['25079', 'MTN'], ['25072', 'AIRTEL'], ['25073', 'AIRTEL'],
    ['24381', 'VODACOM'], ['24382', 'VODACOM'], ['24383', 'VODACOM'], ['24384', 'ORANGE'], ['24385', 'ORANGE'], ['24389', 'ORANGE'],
    ['24397', 'AIRTEL'], ['24399', 'AIRTEL'], ['24390', 'AFRICELL'],
    ['509', 'DIGICEL'], ['855', 'KH'],
  ];
  for (const [p, n] of prefixes) if (phone.startsWith(p)) return n;
  return null;
}

export interface NewPayer {
  name: unknown;
  phone: unknown;
  pin: unknown;
  currency: unknown;
  balance?: unknown;
}

/** An account id as stored (bigint digits); anything else is an account that does not exist. */
function assertAccountId(account_id: string): void {
  if (!/^\d{1,18}$/.test(account_id)) throw new CoreError('not_found', 'account not found');
}

export class Payers {
  constructor(private readonly db: Db, private readonly payments: Payments, private readonly clock: Clock, private readonly pins: PinHasher) {}

  async create(kind: PayerKind, input: NewPayer): Promise<AccountRow> {
    const name = typeof input.name === 'string' ? input.name.trim() : '';
    if (!name || name.length > PAYER_NAME_MAX) throw new CoreError('invalid_request', `name must be 1–${PAYER_NAME_MAX} characters`);
    const phone = normalizePhone(input.phone);
    if (!phone) throw new CoreError('invalid_request', 'phone must be 8–15 digits with the country code, e.g. 250788123456');
    if (typeof input.pin !== 'string' || !/^\d{4,6}$/.test(input.pin)) throw new CoreError('invalid_request', 'pin must be 4 to 6 digits');
    if (!isCurrency(input.currency)) throw new CoreError('invalid_request', 'currency must be a known ISO 4217 code');
    const currency: Currency = input.currency;
    let balance = 0n;
    try {
      balance = input.balance === undefined || input.balance === null ? 0n : parseAmount(input.balance, currency);
    } catch (e) {
      throw new CoreError('invalid_request', `balance: ${(e as Error).message}`);
    }
    const network = kind === 'subscriber' ? networkOf(phone) : null;
    // The id first: the stored PIN is bound to it.
    const [{ id }] = (await this.db.query<{ id: string }>(`select nextval('accounts_id_seq')::text as id`)) as [{ id: string }];
    const rows = await this.db.query(
      `insert into accounts (id, kind, currency, name, phone, network, pin_hash) values ($1, $2, $3, $4, $5, $6, $7)
       on conflict do nothing returning *`,
      [id, kind, currency, name, phone, network, this.pins.hash(id, input.pin)],
    );
    if (!rows.length) throw new CoreError('reference_conflict', `a ${kind} with this phone and currency already exists`);
    const acct = toAccount(rows[0]!);
    if (balance > 0n) await this.payments.fund(acct.id, balance, currency);
    return (await getAccount(this.db, acct.id))!;
  }

  /**
   * The id of a phone's payer account in a currency, from memory after the first lookup: an
   * account's kind, phone and currency never change and accounts are never deleted, so the
   * mapping cannot go stale (a phone without an account is not remembered).
   */
  async idOf(kind: PayerKind, phone: string, currency: Currency): Promise<string | null> {
    const key = `${kind}:${phone}:${currency}`;
    const hit = this.ids.get(key);
    if (hit) return hit;
    const [a] = await this.byPhone(kind, phone, currency);
    if (!a) return null;
    this.ids.set(key, a.id);
    return a.id;
  }
  private static readonly IDS_MAX = 100_000;
  private readonly ids = new BoundedMap<string>(Payers.IDS_MAX);

  async byPhone(kind: PayerKind, phone: string, currency?: Currency): Promise<AccountRow[]> {
    const p = normalizePhone(phone);
    if (!p) return [];
    const rows = await this.db.query(
      `select * from accounts where kind = $1 and phone = $2 and ($3::text is null or currency = $3) order by id`,
      [kind, p, currency ?? null],
    );
    return rows.map(toAccount);
  }

  get(id: string): Promise<AccountRow | null> {
    return getAccount(this.db, id);
  }

  /**
   * Checks a payer's PIN; PIN_MAX_FAILURES wrong PINs in a row lock the account for
   * PIN_LOCK_MS. One UPDATE compares the keyed hash and counts: a right PIN resets the count,
   * a wrong one adds to it and locks at the limit, a locked account is not compared at all.
   * The row lock orders concurrent guesses, so they cannot slip past the lock: at most
   * PIN_MAX_FAILURES PINs are ever compared per lock window. Answers the account as it is
   * after the check.
   */
  checkPin(account_id: string, pin: unknown): Promise<AccountRow> {
    return this.checkPinOnce(account_id, pin, false);
  }

  /** `retried`: a concurrent right PIN replaced a legacy hash while this check ran; once only. */
  private async checkPinOnce(account_id: string, pin: unknown, retried: boolean): Promise<AccountRow> {
    const now = this.clock.now();
    assertAccountId(account_id);
    const r = await this.pinChecks.submit({ account_id, candidate: this.candidate(account_id, pin), now });
    if (!r) return this.checkLegacyPin(account_id, pin, now, retried);
    if (r.x_ok) return toAccount(r);
    this.wrongPin(Number(r.pin_failures));
  }

  /** The keyed hash to compare; not a PIN at all is compared as one that never matches (it still counts as a failure). */
  private candidate(account_id: string, pin: unknown): string {
    return typeof pin === 'string' && pin.length <= 12 ? this.pins.hash(account_id, pin) : '-';
  }

  /**
   * Checks the payer's PIN, then pays the payment from the payer's account: the same answers
   * as checkPin followed by payments.payFrom (a wrong PIN pays nothing; a right one, then the
   * payment's own answer), in one statement in the common case (Payments.payWithPin). Answers
   * the payment and the payer's account right after it.
   */
  async payWithPin(payment_id: string, account_id: string, pin: unknown, extraDetails: Record<string, unknown>): Promise<{ payment: PaymentRecord; account: AccountRow }> {
    assertAccountId(account_id);
    const r = await this.payments.payWithPin(payment_id, account_id, { candidate: this.candidate(account_id, pin), max_failures: PIN_MAX_FAILURES, lock_ms: PIN_LOCK_MS }, extraDetails);
    if (r.pin === 'paid') return { payment: r.payment, account: r.account };
    if (r.pin === 'wrong') this.wrongPin(r.failures);
    const account = r.pin === 'right' ? r.account : await this.checkPin(account_id, pin);
    const paid = await this.payments.payFrom(payment_id, account_id, extraDetails);
    return { payment: paid.payment, account: { ...account, balance_minor: paid.payer_balance_minor } };
  }

  /** Group-commit statistics of the PIN checks (for /metrics). */
  batching(): { pin_check: GroupCommit<never, never>['stats'] } {
    return { pin_check: { ...this.pinChecks.stats } };
  }

  /**
   * PIN checks that arrive together run as one UPDATE (group commit: one statement and one
   * commit for many payers). Per row it is exactly the single check: compare, count, lock at
   * the limit; a locked or legacy account is not updated and gets undefined (the caller's
   * slow path answers it). One check per account per batch, accounts in id order.
   */
  private readonly pinChecks = new GroupCommit<{ account_id: string; candidate: string; now: Date }, Record<string, any> | undefined>(
    async (items) => {
      const sorted = [...items].sort((a, b) => (BigInt(a.account_id) < BigInt(b.account_id) ? -1 : 1));
      // An expired lock starts a fresh count (the old failures belong to the lock that ended).
      const rows = await this.db.query(
        // The rows locked first in id order (LockRows above the Sort), whatever plan the UPDATE
        // gets: the order of every other writer of balances and PIN counters.
        `with l as materialized (select id from accounts where id = any($1::bigint[]) order by id for update)
         update accounts a
            set pin_failures = case when a.pin_hash = v.candidate then 0 else (case when a.locked_until is not null then 0 else a.pin_failures end) + 1 end,
                locked_until = case when a.pin_hash <> v.candidate and (case when a.locked_until is not null then 0 else a.pin_failures end) + 1 >= $3
                                    then v.at + $4 * interval '1 millisecond' else null end
           from unnest($1::bigint[], $2::text[], $5::timestamptz[]) as v(id, candidate, at)
          where a.id = v.id and a.id in (select id from l) and a.pin_hash like 'h1$%' and (a.locked_until is null or a.locked_until <= v.at)
          returning a.*, a.pin_hash = v.candidate as x_ok`,
        [sorted.map((x) => x.account_id), sorted.map((x) => x.candidate), PIN_MAX_FAILURES, PIN_LOCK_MS, sorted.map((x) => x.now.toISOString())],
      );
      const byId = new Map(rows.map((row) => [String(row.id), row]));
      return items.map((x) => byId.get(x.account_id));
    },
    // Running batches never share an account (keys), so they never wait on each other. Two at
    // once, not more (creates run one at a time, Payments.creates, for the same reason): each is
    // a Postgres process taking a share of the cores from this node's event loop. Measured on 2
    // cores (docs/benchmark-history.md, eleventh pass): logins at half their maximum rate had p99
    // 13-24 ms at 2 against 22-26 ms at 4, the same maximum rate, larger batches.
    { max: 200, keys: (x) => [x.account_id], concurrency: 2, afterSend: (fn) => this.db.afterSend(fn) },
  );

  private wrongPin(failures: number): never {
    const left = Math.max(0, PIN_MAX_FAILURES - failures);
    if (left === 0) throw new CoreError('locked', 'too many wrong PINs: the account is locked for 15 minutes');
    throw new CoreError('unauthorized', `wrong PIN (${left} ${left === 1 ? 'try' : 'tries'} left)`, { tries_left: left });
  }

  /**
   * Locked, unknown, or a PIN stored before keyed hashes (salted scrypt): each check first
   * reserves one attempt in a single UPDATE (refused while locked), then compares; a right PIN
   * gives its attempt back and stores the keyed hash in place of the old one.
   */
  private async checkLegacyPin(account_id: string, pin: unknown, now: Date, retried: boolean): Promise<AccountRow> {
    const [r] = await this.db.query<{ pin_failures: number; pin_hash: string }>(
      `update accounts
          set pin_failures = (case when locked_until is not null then 0 else pin_failures end) + 1,
              locked_until = case when (case when locked_until is not null then 0 else pin_failures end) + 1 >= $2 then $3::timestamptz else null end
        where id = $1 and pin_hash like 's1$%' and (locked_until is null or locked_until <= $4)
        returning pin_failures, pin_hash`,
      [account_id, PIN_MAX_FAILURES, new Date(now.getTime() + PIN_LOCK_MS), now],
    );
    if (!r) {
      const rows = await this.db.query('select locked_until, pin_hash from accounts where id = $1 and pin_hash is not null', [account_id]);
      if (!rows.length) throw new CoreError('not_found', 'account not found');
      const locked = rows[0]!.locked_until !== null && new Date(rows[0]!.locked_until) > now;
      // A concurrent right PIN replaced the old hash meanwhile: the keyed check answers.
      if (!locked && String(rows[0]!.pin_hash).startsWith('h1$') && !retried) return this.checkPinOnce(account_id, pin, true);
      if (!locked) throw new Error(`invariant: account ${account_id} has a PIN in an unknown form`);
      throw new CoreError('locked', 'too many wrong PINs: try again later', { locked_until: new Date(rows[0]!.locked_until).toISOString() });
    }
    const reserved = Number(r.pin_failures);
    const ok = typeof pin === 'string' && pin.length <= 12 && (await verifyLegacyPin(pin, r.pin_hash));
    if (!ok) this.wrongPin(reserved);
    // The attempt was not a failure: back to zero, unless other attempts were reserved
    // meanwhile (then only ours is given back, and their lock, if any, stays).
    const reset = await this.db.query('update accounts set pin_failures = 0, locked_until = null where id = $1 and pin_failures = $2 returning id', [account_id, reserved]);
    if (!reset.length) await this.db.query('update accounts set pin_failures = greatest(pin_failures - 1, 0) where id = $1', [account_id]);
    await this.db.query('update accounts set pin_hash = $3 where id = $1 and pin_hash = $2', [account_id, r.pin_hash, this.pins.hash(account_id, pin as string)]);
    return (await this.get(account_id))!;
  }

  async history(account_id: string, limit = 20): Promise<{ entry_id: string; kind: string; amount_minor: bigint; currency: string; created_at: Date; payment_id: string | null }[]> {
    const rows = await this.db.query(
      `select e.id, e.kind, p.amount_minor, p.currency, e.created_at, e.payment_id
         from postings p join journal_entries e on e.id = p.entry_id
        where p.account_id = $1 order by e.id desc limit $2`,
      [account_id, limit],
    );
    return rows.map((r) => ({ entry_id: String(r.id), kind: r.kind, amount_minor: r.amount_minor, currency: r.currency, created_at: r.created_at, payment_id: r.payment_id == null ? null : String(r.payment_id) }));
  }
}
