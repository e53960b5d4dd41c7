// The payments core: the only writer of payments, refunds, payouts, their journal entries
// and their outbox rows. Each state change is one transaction holding the new state, the
// ledger postings and the outbox rows; the change feed hears it after the commit.
import { hash, randomBytes, randomFillSync } from 'node:crypto';
import type { Clock } from '../clock.ts';
import { CoreError } from '../errors.ts';
import { applyRateBps, assertAmount, type Currency, isCurrency } from '../money/index.ts';
import { ACCOUNT_SELECT, type AccountRow, assertBalanced, merchantAccount, postEntry, systemAccount, toAccount } from '../ledger/ledger.ts';
import { enqueue, MAX_CALLBACK_BODY_BYTES, type OutboxMessage } from '../delivery/outbox.ts';
import { type Db, type Queryable } from '../store/db.ts';
import { GroupCommit, refusedByDatabase } from '../store/group-commit.ts';
import { announcementOf, type Change, type ChangeFeed, FEED_CHANNEL, HELLO, packAnnouncements, Peers } from './feed.ts';
import { type PaymentRecord, type PayoutRecord, type Rail, type RefundRecord, toPayment, toPayout, toRefund } from './model.ts';
import { isPaid, type PaymentState, sourcesOf } from './states.ts';
import { makeRoom } from '../bounded-map.ts';

export type CallbackEvent =
  | { kind: 'payment'; payment: PaymentRecord }
  | { kind: 'refund'; payment: PaymentRecord; refund: RefundRecord }
  | { kind: 'payout'; payout: PayoutRecord };

/** A dialect turns core events into its own callback bodies (or none). */
export type CallbackBuilder = (ev: CallbackEvent) => OutboxMessage | OutboxMessage[] | null;

export interface CreatePaymentInput {
  merchant_id: string;
  dialect: string;
  rail: Rail;
  /** The merchant's own reference, unique per merchant and dialect; null when the dialect has none. */
  merchant_ref: string | null;
  amount_minor: bigint;
  surcharge_minor?: bigint;
  currency: Currency;
  description?: string | null;
  callback_url?: string | null;
  details?: Record<string, unknown>;
  /** Wire id to show instead of the numeric id (FlexPay orderNumber). */
  public_ref?: string;
  /** Lifetime of the pending payment; default per rail. */
  ttl_ms?: number;
  /** What must be identical for a retry to count as the same request (beyond amount and currency). */
  fingerprint?: Record<string, unknown>;
}

export type PaySource = { kind: 'account'; account_id: string } | { kind: 'card'; details?: Record<string, unknown> };

export interface RefundInput {
  payment_id: string;
  merchant_id: string;
  merchant_ref?: string | null;
  amount_minor: bigint;
  reason?: string | null;
}

export interface PayoutInput {
  merchant_id: string;
  dialect: string;
  rail: Rail;
  merchant_ref: string;
  payee_account_id: string;
  amount_minor: bigint;
  /** Charged to the merchant on top of the amount, credited to the fee account. */
  fee_minor?: bigint;
  currency: Currency;
  callback_url?: string | null;
  details?: Record<string, unknown>;
  fingerprint?: Record<string, unknown>;
}

export interface PaymentsOptions {
  db: Db;
  clock: Clock;
  feed: ChangeFeed;
  paymentTtl_ms: Record<string, number>;
  defaultFeeBps: number;
  /** Signs this node's change notifications (shared by the nodes of one gateway). */
  announceKey: Buffer;
}

function hashRequest(obj: Record<string, unknown>): string {
  const sorted = Object.fromEntries(Object.keys(obj).sort().map((k) => [k, obj[k]]));
  const canon = JSON.stringify(sorted, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  return hash('sha256', canon); // hex, as stored: the canonical text must never change
}

/**
 * An unguessable payment token: 18 bytes from the CSPRNG, base64url. The bytes are drawn 4 KiB
 * at a time (as crypto.randomUUID does), not one call per token; each byte serves one token.
 */
export function newToken(): string {
  if (tokenPoolAt + TOKEN_BYTES > tokenPool.length) {
    randomFillSync(tokenPool);
    tokenPoolAt = 0;
  }
  const token = tokenPool.toString('base64url', tokenPoolAt, tokenPoolAt + TOKEN_BYTES);
  tokenPoolAt += TOKEN_BYTES;
  return token;
}
const TOKEN_BYTES = 18;
const tokenPool = Buffer.alloc(TOKEN_BYTES * 227);
let tokenPoolAt = tokenPool.length;

const ID_RE = /^\d{1,18}$/;

/** A payment about to be inserted, every value computed beforehand. */
interface NewPaymentRow {
  merchant_id: string;
  dialect: string;
  rail: Rail;
  merchant_ref: string | null;
  public_ref: string | null;
  token: string;
  amount_minor: bigint;
  surcharge_minor: bigint;
  currency: Currency;
  description: string | null;
  callback_url: string | null;
  /** JSON text. */
  details: string;
  request_hash: string;
  created_at: Date;
  expires_at: Date;
}

/** A payment the group-committed statement paid, with its payer's balance right after. */
interface PaidInBatch {
  payment: PaymentRecord;
  payer_balance_minor: bigint;
}

/** One payment of a group-committed pay statement, every value computed beforehand. */
interface PayItem {
  p: PaymentRecord;
  payer: PayFacts['payer'];
  fee_minor: bigint;
  /** merchant_fees.rate_bps as read (-1: none); the statement checks it is still so. */
  fee_bps_seen: number;
  now: Date;
  extra_details: string;
  postings: { account_id: string; amount_minor: bigint }[];
  messages: OutboxMessage[];
  /** The PIN to compare on the locked payer row first, or null (no PIN check in this statement). */
  pin: PinCheck | null;
}

/** What the statement did for one item: paid or not; and, when a PIN was asked, how it compared. */
interface PayOutcome {
  paid: PaidInBatch | null;
  pin: { ok: boolean; failures: number; account: AccountRow } | null;
}

/** A PIN to check in the paying statement: its keyed hash and the lockout policy (the caller's). */
export interface PinCheck {
  candidate: string;
  /** Wrong PINs in a row that lock the account. */
  max_failures: number;
  lock_ms: number;
}

/** See Payments.payWithPin. */
export type PinnedPay =
  | { pin: 'paid'; payment: PaymentRecord; payer_balance_minor: bigint; account: AccountRow }
  | { pin: 'right'; account: AccountRow }
  | { pin: 'wrong'; failures: number }
  | { pin: 'unchecked' };

/** The columns of a row that start with `prefix`, without it. */
function unprefixed(r: Record<string, any>, prefix: string): Record<string, any> {
  return Object.fromEntries(Object.entries(r).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
}

/** What the one-statement pay needs to know beforehand. */
interface PayFacts {
  p: PaymentRecord;
  payer: { id: string; kind: string; currency: string; name: string | null };
  fee_bps: number | null;
  merchant_account: string;
  fees_account: string;
}

export class Payments {
  private readonly builders = new Map<string, CallbackBuilder>();
  private readonly outboxWatchers: (() => void)[] = [];
  private readonly announceQueue: string[] = [];
  /** This process's id in its change notifications. */
  readonly nodeId = randomBytes(6).toString('hex');
  /** The other nodes heard from lately: changes are announced while there is one. */
  readonly peers = new Peers();
  private static readonly ANNOUNCE_QUEUE_MAX = 50_000;
  private announcing: Promise<void> | null = null;
  /** Pays that found their facts in memory, and those that read them first (another node's payment not announced here yet, a first payer). */
  readonly payFacts = { known: 0, read: 0 };
  /** Pay statements the database refused as a whole (their pays then took the full path). */
  readonly payRefused = { statements: 0 };
  constructor(private readonly o: PaymentsOptions) {
    // Every payment change this node hears of (its own, and other nodes' announcements, which
    // carry the whole record) keeps the pay facts current: a payment created on another node
    // is paid here without a read first, and one that is no longer pending is dropped.
    o.feed.subscribe((c) => {
      if (c.type === 'payment') this.remember(c.payment);
    });
  }

  /** Group-commit counters of this node (statements run, requests they carried, largest batch). */
  batching(): { create: GroupCommit<never, never>['stats']; pay: GroupCommit<never, never>['stats'] } {
    return { create: { ...this.creates.stats }, pay: { ...this.pays.stats } };
  }

  /** fn runs after each commit that wrote outbox rows (the dispatcher's wake-up). */
  onOutbox(fn: () => void): void {
    this.outboxWatchers.push(fn);
  }

  /** Whether the event has callbacks: the builders are functions of the event, so this is what afterChange wrote. */
  private callsBack(ev: CallbackEvent): boolean {
    try {
      return this.messagesOf(ev).length > 0;
    } catch {
      return true; // nothing was written then, and a spare wake-up costs one query
    }
  }

  registerCallbacks(dialect: string, builder: CallbackBuilder): void {
    this.builders.set(dialect, builder);
  }

  // ---- reads -------------------------------------------------------------------------

  async get(id: string, q: Queryable = this.o.db): Promise<PaymentRecord | null> {
    if (!ID_RE.test(id)) return null;
    const rows = await q.query('select * from payments where id = $1', [id]);
    return rows.length ? toPayment(rows[0]!) : null;
  }
  /** Several payments by id (unknown ids are left out), for cache resynchronisation. */
  async getMany(ids: string[]): Promise<PaymentRecord[]> {
    const ok = ids.filter((id) => ID_RE.test(id));
    if (!ok.length) return [];
    const rows = await this.o.db.query('select * from payments where id = any($1::bigint[])', [ok]);
    return rows.map(toPayment);
  }
  /**
   * The status cache's catch-up: payments changed since `since` (oldest first, at most
   * `limit`) as id and version, and the time of the last one. Only changed ones (version > 1,
   * the partial index payments_changed): a payment as created cannot be newer than a cached
   * copy, and a busy node creates far more payments than it changes. Answered as ONE row
   * holding "id:version,id:version,…": a catch-up
   * pass reads thousands of rows every second under load, and parsing them as rows (three
   * fields and a date each) stalled the event loop for tens of milliseconds per pass.
   */
  async changedSince(since: Date, limit: number): Promise<{ changed: { id: string; version: number }[]; last_updated_at: Date | null }> {
    const [row] = await this.o.db.query<{ list: string | null; last_at: Date | null }>(
      `select string_agg(id::text || ':' || version::text, ',' order by updated_at, id) as list, max(updated_at) as last_at
         from (select id, version, updated_at from payments where updated_at >= $1 and version > 1 order by updated_at limit $2) s`,
      [since, limit],
    );
    const changed = row?.list ? row.list.split(',').map((kv) => {
      const i = kv.indexOf(':');
      return { id: kv.slice(0, i), version: Number(kv.slice(i + 1)) };
    }) : [];
    return { changed, last_updated_at: row?.last_at ?? null };
  }
  async getByRef(merchant_id: string, dialect: string, merchant_ref: string): Promise<PaymentRecord | null> {
    const rows = await this.o.db.query('select * from payments where merchant_id = $1 and dialect = $2 and merchant_ref = $3', [merchant_id, dialect, merchant_ref]);
    return rows.length ? toPayment(rows[0]!) : null;
  }
  async getByPublicRef(public_ref: string): Promise<PaymentRecord | null> {
    const rows = await this.o.db.query('select * from payments where public_ref = $1', [public_ref]);
    return rows.length ? toPayment(rows[0]!) : null;
  }
  async getByToken(token: string): Promise<PaymentRecord | null> {
    const rows = await this.o.db.query('select * from payments where token = $1', [token]);
    return rows.length ? toPayment(rows[0]!) : null;
  }
  async refundsOf(payment_id: string, q: Queryable = this.o.db): Promise<RefundRecord[]> {
    const rows = await q.query('select * from refunds where payment_id = $1 order by id', [payment_id]);
    return rows.map(toRefund);
  }
  async getRefundByRef(merchant_id: string, merchant_ref: string): Promise<RefundRecord | null> {
    const rows = await this.o.db.query('select * from refunds where merchant_id = $1 and merchant_ref = $2', [merchant_id, merchant_ref]);
    return rows.length ? toRefund(rows[0]!) : null;
  }
  async getPayout(id: string): Promise<PayoutRecord | null> {
    if (!ID_RE.test(id)) return null;
    const rows = await this.o.db.query('select * from payouts where id = $1', [id]);
    return rows.length ? toPayout(rows[0]!) : null;
  }
  async getPayoutByRef(merchant_id: string, dialect: string, merchant_ref: string): Promise<PayoutRecord | null> {
    const rows = await this.o.db.query('select * from payouts where merchant_id = $1 and dialect = $2 and merchant_ref = $3', [merchant_id, dialect, merchant_ref]);
    return rows.length ? toPayout(rows[0]!) : null;
  }

  // ---- create ------------------------------------------------------------------------

  /** Creates a pending payment; a retry with the same merchant_ref and parameters returns the original. */
  async create(input: CreatePaymentInput): Promise<{ payment: PaymentRecord; replayed: boolean }> {
    assertAmount(input.amount_minor);
    if (input.amount_minor <= 0n) throw new CoreError('invalid_request', 'amount must be greater than zero');
    const surcharge = input.surcharge_minor ?? 0n;
    assertAmount(surcharge);
    if (!isCurrency(input.currency)) throw new CoreError('invalid_request', 'unknown currency');
    const now = this.o.clock.now();
    const ttl = input.ttl_ms ?? this.o.paymentTtl_ms[input.rail] ?? 600_000;
    const request_hash = hashRequest({
      rail: input.rail,
      amount: input.amount_minor,
      surcharge,
      currency: input.currency,
      description: input.description ?? null,
      ...(input.fingerprint ?? {}),
    });
    const row: NewPaymentRow = {
      merchant_id: input.merchant_id, dialect: input.dialect, rail: input.rail, merchant_ref: input.merchant_ref, public_ref: input.public_ref ?? null,
      token: newToken(), amount_minor: input.amount_minor, surcharge_minor: surcharge, currency: input.currency, description: input.description ?? null,
      callback_url: input.callback_url ?? null, details: JSON.stringify(input.details ?? {}), request_hash, created_at: now, expires_at: new Date(now.getTime() + ttl),
    };
    const batched = await this.creates.submit(row);
    const created = 'done' in batched ? batched.done : await this.createOne(row);
    if (!created.replayed) {
      this.publish({ type: 'payment', payment: created.payment }, null); // a create writes no outbox rows
    }
    return created;
  }

  /**
   * One payment, one statement, no explicit transaction. A retry racing the original waits on
   * the unique index, finds the committed row and reads it.
   */
  private async createOne(r: NewPaymentRow): Promise<{ payment: PaymentRecord; replayed: boolean }> {
    const rows = await this.o.db.query(
      `with n as (select nextval('payments_id_seq') as id)
       insert into payments (id, merchant_id, dialect, rail, merchant_ref, public_ref, token, state, amount_minor, surcharge_minor,
                             currency, description, callback_url, details, request_hash, created_at, updated_at, expires_at)
       select n.id, $1, $2, $3, $4, coalesce($5, n.id::text), $6, 'pending', $7, $8, $9, $10, $11, $12, $13, $14, $14, $15 from n
        where exists (select 1 from merchants m where m.id = $1) -- the merchant reference, proven here (no foreign key)
       on conflict (merchant_id, dialect, merchant_ref) do nothing
       returning *`,
      [r.merchant_id, r.dialect, r.rail, r.merchant_ref, r.public_ref, r.token, r.amount_minor, r.surcharge_minor,
        r.currency, r.description, r.callback_url, r.details, r.request_hash, r.created_at, r.expires_at],
    );
    if (rows.length) return { payment: toPayment(rows[0]!), replayed: false };
    const existing = await this.o.db.query('select * from payments where merchant_id = $1 and dialect = $2 and merchant_ref = $3', [r.merchant_id, r.dialect, r.merchant_ref]);
    // Nothing inserted and nothing there: the merchant does not exist.
    if (!existing.length) throw new CoreError('not_found', 'merchant not found');
    const p = toPayment(existing[0]!);
    if (existing[0]!.request_hash !== r.request_hash) {
      throw new CoreError('reference_conflict', 'this reference was already used with different parameters', { payment_id: p.id });
    }
    return { payment: p, replayed: true };
  }

  /**
   * Creates that arrived together, as one insert (group commit). Rows are matched back by
   * their token (unique, drawn for each request). A request whose row did not come back (its
   * reference exists: a retry or a conflict) and every request of a batch the database
   * refused runs on its own through createOne, which gives the exact answer.
   */
  private readonly creates = new GroupCommit<NewPaymentRow, { done: { payment: PaymentRecord; replayed: boolean } } | { alone: true }>(
    async (rs) => {
      // Alone: the single statement, run here so that it counts against the statements in
      // flight (requests arriving meanwhile queue and go together); its errors reach its caller.
      if (rs.length === 1) return [{ done: await this.createOne(rs[0]!) }];
      let rows: Record<string, any>[];
      try {
        rows = await this.o.db.query(
          `with v as (
             select nextval('payments_id_seq') as id, v.*
               from unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::text[],
                           $10::text[], $11::text[], $12::text[], $13::text[], $14::timestamptz[], $15::timestamptz[])
                 as v(merchant_id, dialect, rail, merchant_ref, public_ref, token, amount_minor, surcharge_minor, currency,
                      description, callback_url, details, request_hash, created_at, expires_at)
           )
           insert into payments (id, merchant_id, dialect, rail, merchant_ref, public_ref, token, state, amount_minor, surcharge_minor,
                                 currency, description, callback_url, details, request_hash, created_at, updated_at, expires_at)
           select id, merchant_id, dialect, rail, merchant_ref, coalesce(public_ref, id::text), token, 'pending', amount_minor, surcharge_minor,
                  currency, description, callback_url, details::jsonb, request_hash, created_at, created_at, expires_at from v
            where exists (select 1 from merchants m where m.id = v.merchant_id) -- proven here (no foreign key); a row left out goes alone
           on conflict (merchant_id, dialect, merchant_ref) do nothing
           returning *`,
          [rs.map((r) => r.merchant_id), rs.map((r) => r.dialect), rs.map((r) => r.rail), rs.map((r) => r.merchant_ref), rs.map((r) => r.public_ref),
            rs.map((r) => r.token), rs.map((r) => r.amount_minor.toString()), rs.map((r) => r.surcharge_minor.toString()), rs.map((r) => r.currency),
            rs.map((r) => r.description), rs.map((r) => r.callback_url), rs.map((r) => r.details), rs.map((r) => r.request_hash),
            rs.map((r) => r.created_at.toISOString()), rs.map((r) => r.expires_at.toISOString())],
        );
      } catch (err) {
        // Refused by the database (nothing was written): each request on its own. Anything
        // else (a lost connection, maybe after the commit) is the answer of every request.
        if (!refusedByDatabase(err)) throw err;
        return rs.map(() => ({ alone: true as const }));
      }
      const byToken = new Map(rows.map((row) => [row.token as string, row]));
      return rs.map((r) => {
        const row = byToken.get(r.token);
        return row ? { done: { payment: toPayment(row), replayed: false } } : { alone: true as const };
      });
    },
    {
      max: 200,
      afterSend: (fn) => this.o.db.afterSend(fn),
      // One insert at a time: the requests that arrive meanwhile go together in the next one.
      // Each statement in flight is a Postgres process taking a share of the cores from this
      // node's one event loop, and every statement costs the machine about 0.7 ms whatever its
      // size. Measured on 2 cores (docs/benchmark-history.md, sixteenth pass): one lane against two
      // gave batches of 4-6 instead of 2-3 at half load, 25% less CPU per create, a 15% higher
      // maximum rate (batches of 16 instead of 8); four lanes had made the tail worse (tenth pass).
      concurrency: 1,
      // A reference (or a wire id) once per batch: a duplicate waits and then finds the first.
      keys: (r) => [...(r.merchant_ref === null ? [] : [`ref:${r.merchant_id}:${r.dialect}:${r.merchant_ref}`]), ...(r.public_ref === null ? [] : [`pub:${r.public_ref}`])],
    },
  );

  // ---- pay ---------------------------------------------------------------------------

  /**
   * Takes the money: payer (or card clearing) → merchant balance (less the merchant fee) and
   * fee account (fee plus surcharge). Refused unless the payment is pending and unexpired;
   * insufficient funds leaves it pending (the rail decides whether that fails the payment).
   */
  async pay(payment_id: string, source: PaySource, extraDetails: Record<string, unknown> = {}): Promise<PaymentRecord> {
    return (await this.payWithBalance(payment_id, source, extraDetails)).payment;
  }

  /** `pay` from a payer account, answering also the payer's balance right after the payment. */
  async payFrom(payment_id: string, account_id: string, extraDetails: Record<string, unknown> = {}): Promise<{ payment: PaymentRecord; payer_balance_minor: bigint }> {
    const r = await this.payWithBalance(payment_id, { kind: 'account', account_id }, extraDetails);
    if (r.payer_balance_minor !== null) return { payment: r.payment, payer_balance_minor: r.payer_balance_minor };
    const [a] = await this.o.db.query<{ balance_minor: bigint }>('select balance_minor from accounts where id = $1', [account_id]);
    return { payment: r.payment, payer_balance_minor: BigInt(a!.balance_minor) };
  }

  private async payWithBalance(payment_id: string, source: PaySource, extraDetails: Record<string, unknown>): Promise<{ payment: PaymentRecord; payer_balance_minor: bigint | null }> {
    const now = this.o.clock.now();
    if (source.kind === 'account' && ID_RE.test(payment_id)) {
      const fast = (await this.payInOneStatement(payment_id, source.account_id, extraDetails, now))?.paid;
      if (fast) {
        this.publish({ type: 'payment', payment: fast.payment }, { kind: 'payment', payment: fast.payment });
        return fast;
      }
    }
    const out = await this.o.db.tx(async (q): Promise<{ expired: PaymentRecord } | { paid: PaymentRecord }> => {
      // One round trip: the locked payment with everything the posting needs (payer account,
      // fee rate, merchant and fee accounts); accounts not created yet are created below.
      const payerId = source.kind === 'account' ? (ID_RE.test(source.account_id) ? source.account_id : '0') : null;
      const rows = await q.query(
        `select p.*,
                (select rate_bps from merchant_fees f where f.merchant_id = p.merchant_id and f.rail = p.rail) as x_fee_bps,
                (select id from accounts a where a.kind = 'merchant' and a.merchant_id = p.merchant_id and a.currency = p.currency) as x_merchant_account,
                (select id from accounts a where a.kind = 'fees' and a.currency = p.currency) as x_fees_account,
                (select json_build_object('id', a.id::text, 'kind', a.kind, 'currency', a.currency, 'name', a.name) from accounts a where a.id = $2::bigint) as x_payer
           from payments p where p.id = $1 for update of p`,
        [payment_id, payerId],
      );
      if (!rows.length) throw new CoreError('not_found', 'payment not found');
      const row = rows[0]!;
      const p = toPayment(row);
      // Expired, whether the sweeper got there first or not, is one answer for the payer.
      if (p.state === 'expired') throw new CoreError('expired', 'payment has expired', { state: p.state });
      if (p.state !== 'pending') throw new CoreError('invalid_state', `payment is ${p.state}`, { state: p.state });
      if (p.expires_at && p.expires_at <= now) {
        return { expired: await this.transition(q, p, 'expired', 'expired', now) };
      }
      let sourceAccount: string;
      let payerName: string | null = null;
      let payerAccountId: string | null = null;
      if (source.kind === 'account') {
        const acct = (typeof row.x_payer === 'string' ? JSON.parse(row.x_payer) : row.x_payer) as { id: string; kind: string; currency: string; name: string | null } | null;
        if (!acct || !['wallet', 'subscriber'].includes(acct.kind)) throw new CoreError('not_found', 'payer account not found');
        if (acct.currency !== p.currency) throw new CoreError('currency_mismatch', `payer account is in ${acct.currency}, payment in ${p.currency}`);
        sourceAccount = String(acct.id);
        payerName = acct.name;
        payerAccountId = sourceAccount;
      } else {
        sourceAccount = await systemAccount(q, 'card_clearing', p.currency);
      }
      const feeBps = row.x_fee_bps === null || row.x_fee_bps === undefined ? this.o.defaultFeeBps : Number(row.x_fee_bps);
      const fee = applyRateBps(p.amount_minor, BigInt(feeBps));
      const merchant = row.x_merchant_account != null ? String(row.x_merchant_account) : await merchantAccount(q, p.merchant_id, p.currency);
      const fees = row.x_fees_account != null ? String(row.x_fees_account) : await systemAccount(q, 'fees', p.currency);
      await postEntry(q, {
        kind: 'payment',
        payment_id: p.id,
        created_at: now,
        postings: [
          { account_id: sourceAccount, currency: p.currency, amount_minor: -(p.amount_minor + p.surcharge_minor) },
          { account_id: merchant, currency: p.currency, amount_minor: p.amount_minor - fee },
          { account_id: fees, currency: p.currency, amount_minor: fee + p.surcharge_minor },
        ],
      });
      const details = { ...extraDetails, ...(source.kind === 'card' ? source.details ?? {} : {}) };
      const upd = await q.query(
        `update payments set state = 'succeeded', fee_minor = $2, payer_account_id = $3, payer_name = $4, completed_at = $5, updated_at = $5,
                details = details || $6::jsonb, version = version + 1
          where id = $1 and state = 'pending' returning *`,
        [p.id, fee, payerAccountId, payerName, now, JSON.stringify(details)],
      );
      const paid = toPayment(upd[0]!);
      await this.afterChange(q, { kind: 'payment', payment: paid }, now);
      return { paid };
    });
    if ('expired' in out) {
      this.publish({ type: 'payment', payment: out.expired }, { kind: 'payment', payment: out.expired });
      throw new CoreError('expired', 'payment has expired');
    }
    this.publish({ type: 'payment', payment: out.paid }, { kind: 'payment', payment: out.paid });
    return { payment: out.paid, payer_balance_minor: null };
  }

  /**
   * Checks the payer's PIN and pays from its account in ONE statement (group-committed with
   * other pays): the PIN counters and the balance of the payer row change together, under the
   * lock, so concurrent guesses are counted in order exactly as by Payers.checkPin. Answers:
   * - paid: the PIN was right and the payment is made (with the payer's account right after);
   * - right: the PIN was right (its counter reset) but this statement did not pay (not pending,
   *   expired, short balance, stale facts): the caller pays the usual way for the exact answer;
   * - wrong: the PIN was wrong; `failures` in a row now (the lock is set at the limit);
   * - unchecked: nothing was compared nor written (locked account, a PIN stored in another
   *   form, unknown facts, a refused statement): the caller checks the PIN the usual way.
   * The lockout policy is the caller's (Payers): this only carries it into the statement.
   */
  async payWithPin(payment_id: string, account_id: string, check: PinCheck, extraDetails: Record<string, unknown> = {}): Promise<PinnedPay> {
    if (!ID_RE.test(payment_id)) return { pin: 'unchecked' };
    const r = await this.payInOneStatement(payment_id, account_id, extraDetails, this.o.clock.now(), check);
    if (!r || !r.pin) return { pin: 'unchecked' };
    if (!r.pin.ok) return { pin: 'wrong', failures: r.pin.failures };
    if (!r.paid) return { pin: 'right', account: r.pin.account };
    this.publish({ type: 'payment', payment: r.paid.payment }, { kind: 'payment', payment: r.paid.payment });
    return { pin: 'paid', payment: r.paid.payment, payer_balance_minor: r.paid.payer_balance_minor, account: r.pin.account };
  }

  /**
   * The common case of `pay` (a pending, unexpired payment paid from a payer account whose
   * merchant and fee accounts exist) in at most two round trips and no explicit transaction:
   * a read of the payment with what the posting needs (skipped when this node created the
   * payment), then ONE statement that moves the payment to succeeded (guarded by its version,
   * state and expiry), applies the postings to the balances (non-negative check in the
   * UPDATE), writes the journal entry, its postings and the outbox rows, and, when asked,
   * checks the payer's PIN first. Postgres runs a single statement atomically and answers
   * after its commit, so the guarantees are those of the full transaction; row locks are held
   * for one statement and its commit instead of eight round trips. Anything unusual makes the
   * statement leave that payment alone (or abort itself if the balances did not all move) and
   * answers paid: null; the caller then runs the full transaction, which gives the exact answer.
   * Null: nothing was tried.
   */
  private async payInOneStatement(payment_id: string, account_id: string, extraDetails: Record<string, unknown>, now: Date, pin?: PinCheck): Promise<PayOutcome | null> {
    if (!ID_RE.test(account_id)) return null;
    const known = this.known(payment_id, account_id);
    let k: PayFacts;
    if (known) {
      k = known;
      this.payFacts.known++;
    } else {
      this.payFacts.read++;
      const rows = await this.o.db.query(
        `select p.*,
                (select rate_bps from merchant_fees f where f.merchant_id = p.merchant_id and f.rail = p.rail) as x_fee_bps,
                (select id from accounts a where a.kind = 'merchant' and a.merchant_id = p.merchant_id and a.currency = p.currency) as x_merchant_account,
                (select id from accounts a where a.kind = 'fees' and a.currency = p.currency) as x_fees_account,
                (select json_build_object('id', a.id::text, 'kind', a.kind, 'currency', a.currency, 'name', a.name) from accounts a where a.id = $2::bigint) as x_payer
           from payments p where p.id = $1`,
        [payment_id, account_id],
      );
      if (!rows.length) return null;
      const row = rows[0]!;
      const acct = (typeof row.x_payer === 'string' ? JSON.parse(row.x_payer) : row.x_payer) as PayFacts['payer'] | null;
      if (!acct || row.x_merchant_account == null || row.x_fees_account == null) return null;
      k = {
        p: toPayment(row), payer: { id: String(acct.id), kind: acct.kind, currency: acct.currency, name: acct.name },
        fee_bps: row.x_fee_bps == null ? null : Number(row.x_fee_bps), merchant_account: String(row.x_merchant_account), fees_account: String(row.x_fees_account),
      };
      this.learn(k);
    }
    const { p, payer: acct } = k;
    if (p.state !== 'pending' || (p.expires_at && p.expires_at <= now)) return null;
    if (!['wallet', 'subscriber'].includes(acct.kind) || acct.currency !== p.currency) return null;
    const feeBps = k.fee_bps ?? this.o.defaultFeeBps;
    const fee = applyRateBps(p.amount_minor, BigInt(feeBps));
    const postings = [
      { account_id: String(acct.id), currency: p.currency, amount_minor: -(p.amount_minor + p.surcharge_minor) },
      { account_id: k.merchant_account, currency: p.currency, amount_minor: p.amount_minor - fee },
      { account_id: k.fees_account, currency: p.currency, amount_minor: fee + p.surcharge_minor },
    ].filter((x) => x.amount_minor !== 0n);
    assertBalanced(postings);
    const details = { ...p.details, ...extraDetails };
    // What the row will be once paid: the callback builders see exactly this record.
    const expected: PaymentRecord = {
      ...p, state: 'succeeded', fee_minor: fee, payer_account_id: String(acct.id), payer_name: acct.name,
      completed_at: now, updated_at: now, details, version: p.version + 1,
    };
    const out = await this.pays.submit({
      p, payer: acct, fee_minor: fee, fee_bps_seen: k.fee_bps ?? -1, now, extra_details: JSON.stringify(extraDetails),
      postings, messages: this.messagesOf({ kind: 'payment', payment: expected }), pin: pin ?? null,
    });
    // A wrong PIN says nothing about the facts: the payment stays known as it was. Otherwise
    // the payment is paid, or was not (expired, short, changed meanwhile: the facts may be stale).
    if (!(out?.pin && !out.pin.ok)) {
      this.recent.delete(p.id);
      if (!out?.paid) this.forget(k);
    }
    return out;
  }

  /**
   * Pays that arrived together, as ONE statement (group commit). In order: the payments are
   * locked (id order), then the payers' accounts (account-id order, the order of every other
   * writer of balances and PIN counters), read as locked. Each asked-for PIN is compared on its
   * locked payer row. The payments move to succeeded (each guarded by its version, state,
   * expiry, fee rate, payer, balance and PIN), the balance changes of those that moved are
   * summed per account, each payer row is updated once with its debit and its PIN counters
   * (the non-negative check in the UPDATE), the credits to merchants and fees are appended to
   * account_credits (no row every payment locks: migration 060), and the journal entries,
   * postings and outbox rows are written. A single statement is atomic and is answered after
   * its commit. A payment whose guard fails is left out (paid: null; the caller runs the full
   * transaction, which gives the exact answer). If an account did not change as expected (a
   * concurrent change), the statement aborts itself (a failing cast in the final select),
   * nothing stays (PIN counters neither), and every item answers null, as on a deadlock.
   */
  private readonly pays = new GroupCommit<PayItem, PayOutcome | null>(
    async (unsorted) => {
      const items = [...unsorted].sort((a, b) => (BigInt(a.p.id) < BigInt(b.p.id) ? -1 : 1));
      const post = items.flatMap((it) => it.postings.map((x) => [it.p.id, x.account_id, x.amount_minor.toString()] as const));
      const msgs = items.flatMap((it) => it.messages.map((m) => [it.p.id, m] as const));
      let rows: Record<string, any>[];
      try {
        rows = await this.o.db.query(
          `with v as (
             select * from unnest($1::bigint[], $2::int[], $3::bigint[], $4::bigint[], $5::text[], $6::timestamptz[], $7::text[], $8::int[],
                                  $18::text[], $19::int[], $20::bigint[], $21::bigint[], $22::bigint[], $23::bigint[])
               as v(id, version, fee, payer, payer_name, at, extra, fee_bps, pin, pin_max, pin_lock_ms, merchant, amount, surcharge)
           ), lp as materialized (
             -- The payments locked first, in id order, whatever plan the UPDATE gets.
             select id from payments where id in (select id from v) order by id for update
           ), la as materialized (
             -- Then the payers' accounts, the only rows this statement debits, in account-id
             -- order (LockRows runs above the Sort; the count makes lp run first). Merchants and
             -- the fees account are credited through account_credits and never locked here.
             -- Locked rows are read as they are now, not as the statement's snapshot saw them:
             -- the PIN is compared and the balance checked on the row this statement updates.
             select a.id, a.kind, a.currency, a.name, a.balance_minor, a.pin_hash, a.pin_failures, a.locked_until
               from accounts a
              where a.id in (select payer from v) and (select count(*) from lp) >= 0
              order by a.id for update
           ), c as (
             select v.*, la.kind, la.currency, la.name, la.balance_minor,
                    v.pin is not null and la.pin_hash like 'h1$%' and (la.locked_until is null or la.locked_until <= v.at) as pin_checked,
                    la.pin_hash = v.pin as pin_ok,
                    -- An expired lock starts a fresh count (the old failures belong to the lock that ended).
                    case when la.locked_until is not null then 0 else la.pin_failures end as pin_failures_before
               from v join la on la.id = v.payer
           ), pay as (
             update payments p set state = 'succeeded', fee_minor = c.fee, payer_account_id = c.payer, payer_name = c.payer_name,
                    completed_at = c.at, updated_at = c.at, details = p.details || c.extra::jsonb, version = p.version + 1
               from c
              where p.id = c.id and (c.pin is null or (c.pin_checked and c.pin_ok))
                and p.version = c.version and p.state = 'pending' and (p.expires_at is null or p.expires_at > c.at)
                -- The postings were computed from these (a record heard from another node included).
                and p.merchant_id = c.merchant and p.amount_minor = c.amount and p.surcharge_minor = c.surcharge
                and coalesce((select rate_bps from merchant_fees f where f.merchant_id = p.merchant_id and f.rail = p.rail), -1) = c.fee_bps
                and c.kind in ('wallet', 'subscriber') and c.currency = p.currency and c.name is not distinct from c.payer_name
                and c.balance_minor >= p.amount_minor + p.surcharge_minor
             -- The journal entry's id is drawn here, so its postings need no join back to it.
             returning p.*, nextval('journal_entries_id_seq') as x_entry_id
           ), x as (
             select x.pid, x.a, x.m, pay.currency, pay.x_entry_id from unnest($9::bigint[], $10::bigint[], $11::bigint[]) as x(pid, a, m) join pay on pay.id = x.pid
           ), mv as (
             select a, currency, sum(m) as m from x group by a, currency having sum(m) <> 0
           ), cr as (
             -- Credits (merchants, fees): appended, so no two pay statements wait on one row.
             -- A pay moves money only from payers (negative) to merchants and fees (positive);
             -- the checks in the final select abort the statement if a sign meets the other kind
             -- of account (a credit to a payer, a debit that is not a locked payer's).
             select a, currency, m from mv where m > 0
           ), pins as (
             -- A right PIN resets the count; a wrong one adds to it and locks at the limit.
             select c.payer as id, case when c.pin_ok then 0 else c.pin_failures_before + 1 end as failures,
                    case when not c.pin_ok and c.pin_failures_before + 1 >= c.pin_max then c.at + c.pin_lock_ms * interval '1 millisecond' end as locked_until
               from c where c.pin_checked
           ), au as (
             -- One change per account row: a row is never updated twice in one statement.
             select coalesce(mv.a, pins.id) as id, mv.currency, coalesce(mv.m, 0) as m, pins.id is not null as pin, pins.failures, pins.locked_until
               from (select * from mv where m < 0) mv full join pins on pins.id = mv.a
           ), moved as (
             -- The new balance and its check read the payer as locked (la), not the target row
             -- as this statement's snapshot saw it: a credit committed in between (a refund, a
             -- top-up) is in la's row and not in the snapshot's (and the balance CHECK runs on
             -- the new row before Postgres would notice the newer version).
             update accounts a set balance_minor = la.balance_minor + au.m,
                    pin_failures = case when au.pin then au.failures else a.pin_failures end,
                    locked_until = case when au.pin then au.locked_until else a.locked_until end
               from au join la on la.id = au.id
              where a.id = au.id and (au.currency is null or la.currency = au.currency)
                and (au.m >= 0 or la.kind not in ('wallet', 'subscriber', 'merchant') or la.balance_minor + au.m >= 0)
             returning a.*
           ), ic as (
             insert into account_credits (account_id, amount_minor) select a, m from cr
           ), e as (
             insert into journal_entries (id, kind, payment_id, created_at) select pay.x_entry_id, 'payment', pay.id, pay.completed_at from pay
           ), po as (
             insert into postings (entry_id, account_id, currency, amount_minor) select x.x_entry_id, x.a, x.currency, x.m from x
           ), ob as (
             insert into outbox (merchant_id, event, payment_id, url, body, content_type, ack, next_attempt_at, created_at)
             select pay.merchant_id, o.ev, pay.id, o.url, o.body, o.ct, o.ack, pay.completed_at, pay.completed_at
               from unnest($12::bigint[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[]) as o(pid, ev, url, body, ct, ack)
               join pay on pay.id = o.pid
           )
           select pay.*, c.id as x_item, pay.id is not null as x_paid, c.pin_checked as x_pin_checked, c.pin_ok as x_pin_ok, pins.failures as x_pin_failures,
                  m.id as xa_id, m.kind as xa_kind, m.currency as xa_currency, m.merchant_id as xa_merchant_id, m.name as xa_name, m.phone as xa_phone,
                  m.network as xa_network, m.balance_minor as xa_balance_minor, m.settings as xa_settings, m.created_at as xa_created_at,
                  -- Also the proof that every posting's account exists (postings have no foreign key):
                  -- each has a non-zero movement, so a debited account that is not there is one au
                  -- row that moved lacks, and a credited one a cr row without its account (accounts
                  -- are never deleted nor change currency: no lock needed). Credits go to no payer.
                  case when (select count(*) from moved) = (select count(*) from au)
                        and (select count(*) from cr) = (select count(*) from cr join accounts a on a.id = cr.a and a.currency = cr.currency and a.kind not in ('wallet', 'subscriber'))
                       then 0
                       else ('paygate: accounts not all changed for payment ' || c.id)::int end as x_check
             from c left join pay on pay.id = c.id left join pins on pins.id = c.payer left join moved m on m.id = c.payer`,
          [items.map((it) => it.p.id), items.map((it) => it.p.version), items.map((it) => it.fee_minor.toString()), items.map((it) => it.payer.id),
            items.map((it) => it.payer.name), items.map((it) => it.now.toISOString()), items.map((it) => it.extra_details), items.map((it) => it.fee_bps_seen),
            post.map((x) => x[0]), post.map((x) => x[1]), post.map((x) => x[2]),
            msgs.map(([id]) => id), msgs.map(([, m]) => m.event), msgs.map(([, m]) => m.url), msgs.map(([, m]) => m.body),
            msgs.map(([, m]) => m.content_type ?? 'application/json'), msgs.map(([, m]) => m.ack ?? '2xx'),
            items.map((it) => it.pin?.candidate ?? null), items.map((it) => it.pin?.max_failures ?? 0), items.map((it) => it.pin?.lock_ms ?? 0),
            items.map((it) => it.p.merchant_id), items.map((it) => it.p.amount_minor.toString()), items.map((it) => it.p.surcharge_minor.toString())],
        );
      } catch (err) {
        // The database refused the statement, so it changed nothing (a short balance after all,
        // a deadlock, a serialization failure): each payment goes the full way and gets its
        // exact answer. A lost connection may have lost the answer to a commit: not retried.
        if (!refusedByDatabase(err)) throw err;
        this.payRefused.statements++;
        return items.map(() => null);
      }
      const byId = new Map(rows.map((r) => [String(r.x_item), r]));
      return unsorted.map((it): PayOutcome | null => {
        const r = byId.get(it.p.id);
        if (!r) return null;
        const paid = r.x_paid ? { payment: toPayment(r), payer_balance_minor: BigInt(r.xa_balance_minor) } : null;
        if (!it.pin) return paid ? { paid, pin: null } : null;
        if (!r.x_pin_checked) return null;
        const account = toAccount(unprefixed(r, 'xa_'));
        // Read back what was written: a right PIN leaves no failures, a wrong one at least one.
        if (r.x_pin_ok !== (Number(r.x_pin_failures) === 0) || String(account.id) !== it.payer.id) throw new Error(`invariant: PIN check of account ${it.payer.id} read back inconsistent`);
        return { paid, pin: { ok: r.x_pin_ok === true, failures: Number(r.x_pin_failures), account } };
      });
    },
    // One payment and one payer once per batch: each payer's check covers exactly its debit,
    // and its row is changed once.
    { max: 200, keys: (it) => [`p:${it.p.id}`, `a:${it.payer.id}`], afterSend: (fn) => this.o.db.afterSend(fn) },
  );

  // What this node knows from its own work and from the change feed, so the common pay needs
  // no read first. Every fact is checked again inside the paying statement (payment version,
  // merchant, amounts, fee rate, payer kind and name; account ids never change): a stale one
  // makes the statement change nothing, the entry is dropped and the full transaction decides.
  private readonly recent = new Map<string, PaymentRecord>();
  private readonly payerFacts = new Map<string, PayFacts['payer']>();
  private readonly feeRates = new Map<string, number | null>();
  private readonly accountIds = new Map<string, string>();
  private static readonly CACHE_MAX = 10_000;

  private remember(p: PaymentRecord): void {
    const cur = this.recent.get(p.id);
    if (cur && cur.version >= p.version) return;
    if (p.state !== 'pending') this.recent.delete(p.id);
    else if (cur) this.recent.set(p.id, p);
    else makeRoom(this.recent, Payments.CACHE_MAX).set(p.id, p);
  }
  private known(payment_id: string, account_id: string): PayFacts | null {
    const p = this.recent.get(payment_id);
    const payer = this.payerFacts.get(account_id);
    const fee = this.feeRates.get(`${p?.merchant_id}:${p?.rail}`);
    const merchant_account = this.accountIds.get(`m:${p?.merchant_id}:${p?.currency}`);
    const fees_account = this.accountIds.get(`f:${p?.currency}`);
    if (!p || !payer || fee === undefined || !merchant_account || !fees_account) return null;
    return { p, payer, fee_bps: fee, merchant_account, fees_account };
  }
  private learn(k: PayFacts): void {
    makeRoom(this.payerFacts, Payments.CACHE_MAX).set(k.payer.id, k.payer);
    makeRoom(this.feeRates, Payments.CACHE_MAX).set(`${k.p.merchant_id}:${k.p.rail}`, k.fee_bps);
    makeRoom(this.accountIds, Payments.CACHE_MAX).set(`m:${k.p.merchant_id}:${k.p.currency}`, k.merchant_account);
    this.accountIds.set(`f:${k.p.currency}`, k.fees_account);
  }
  private forget(k: PayFacts): void {
    this.recent.delete(k.p.id);
    this.payerFacts.delete(k.payer.id);
    this.feeRates.delete(`${k.p.merchant_id}:${k.p.rail}`);
  }

  /** Outbox messages a change asks for (checked before anything is written). */
  private messagesOf(ev: CallbackEvent): OutboxMessage[] {
    const dialect = ev.kind === 'payout' ? ev.payout.dialect : ev.payment.dialect;
    const builder = this.builders.get(dialect);
    const built = builder ? builder(ev) : null;
    const msgs = built === null ? [] : Array.isArray(built) ? built : [built];
    for (const m of msgs) if (Buffer.byteLength(m.body) > MAX_CALLBACK_BODY_BYTES) throw new Error('callback body too large');
    return msgs;
  }

  /** Ends a pending payment without money moving: declined, cancelled, expired. */
  async fail(payment_id: string, to: 'failed' | 'cancelled' | 'expired', failure_code: string): Promise<PaymentRecord> {
    const now = this.o.clock.now();
    const p = await this.o.db.tx(async (q) => {
      const rows = await q.query('select * from payments where id = $1 for update', [payment_id]);
      if (!rows.length) throw new CoreError('not_found', 'payment not found');
      const cur = toPayment(rows[0]!);
      if (cur.state === to && cur.failure_code === failure_code) return null; // idempotent
      if (cur.state !== 'pending') throw new CoreError('invalid_state', `payment is ${cur.state}`, { state: cur.state });
      return this.transition(q, cur, to, failure_code, now);
    });
    if (p === null) return (await this.get(payment_id))!;
    this.publish({ type: 'payment', payment: p }, { kind: 'payment', payment: p });
    return p;
  }

  private async transition(q: Queryable, p: PaymentRecord, to: PaymentState, failure_code: string | null, now: Date): Promise<PaymentRecord> {
    const upd = await q.query(
      `update payments set state = $2, failure_code = $3, updated_at = $4, completed_at = $4, version = version + 1
        where id = $1 and state = any($5::text[]) returning *`,
      [p.id, to, failure_code, now, sourcesOf(to)],
    );
    if (!upd.length) throw new CoreError('invalid_state', `payment cannot go from ${p.state} to ${to}`);
    const next = toPayment(upd[0]!);
    await this.afterChange(q, { kind: 'payment', payment: next }, now);
    return next;
  }

  /** Expires pending payments whose time is up; several nodes may run it at once (SKIP LOCKED). */
  async expireDue(limit = 200): Promise<number> {
    const now = this.o.clock.now();
    const expired = await this.o.db.tx(async (q) => {
      const rows = await q.query(
        `update payments set state = 'expired', failure_code = 'expired', updated_at = $1, completed_at = $1, version = version + 1
          where id in (select id from payments where state = 'pending' and expires_at <= $1 order by expires_at limit $2 for update skip locked)
          returning *`,
        [now, limit],
      );
      const ps = rows.map(toPayment);
      for (const p of ps) await this.afterChange(q, { kind: 'payment', payment: p }, now);
      return ps;
    });
    for (const p of expired) this.publish({ type: 'payment', payment: p }, { kind: 'payment', payment: p });
    return expired.length;
  }

  // ---- refunds -----------------------------------------------------------------------

  /**
   * Gives back part or all of a paid payment, from the merchant's balance to where the money
   * came from. The payment row is locked, so concurrent refunds never exceed the amount.
   */
  async refund(input: RefundInput): Promise<{ refund: RefundRecord; payment: PaymentRecord; replayed: boolean }> {
    assertAmount(input.amount_minor);
    if (input.amount_minor <= 0n) throw new CoreError('invalid_request', 'refund amount must be greater than zero');
    const now = this.o.clock.now();
    const request_hash = hashRequest({ payment_id: input.payment_id, amount: input.amount_minor });
    const out = await this.o.db.tx(async (q) => {
      const rows = await q.query('select * from payments where id = $1 and merchant_id = $2 for update', [input.payment_id, input.merchant_id]);
      if (!rows.length) throw new CoreError('not_found', 'payment not found');
      const p = toPayment(rows[0]!);
      if (input.merchant_ref) {
        const prev = await q.query('select * from refunds where merchant_id = $1 and merchant_ref = $2', [input.merchant_id, input.merchant_ref]);
        if (prev.length) {
          if (prev[0]!.request_hash !== request_hash) throw new CoreError('reference_conflict', 'this refund reference was already used with different parameters');
          return { refund: toRefund(prev[0]!), payment: p, replayed: true };
        }
      }
      if (!isPaid(p.state)) throw new CoreError('invalid_state', `payment is ${p.state}`, { state: p.state });
      const refunded = p.refunded_minor + input.amount_minor;
      if (refunded > p.amount_minor) {
        throw new CoreError('refund_exceeds_payment', 'refunds would exceed the amount paid', { refundable_minor: String(p.amount_minor - p.refunded_minor) });
      }
      // The reference may be taken meanwhile by a refund of another payment (a lock we do not
      // hold): then nothing is inserted, and it is a conflict, not a 500.
      const [r] = await q.query(
        `insert into refunds (payment_id, merchant_id, merchant_ref, amount_minor, currency, state, reason, request_hash, created_at)
         values ($1, $2, $3, $4, $5, 'succeeded', $6, $7, $8) on conflict (merchant_id, merchant_ref) do nothing returning *`,
        [p.id, p.merchant_id, input.merchant_ref ?? null, input.amount_minor, p.currency, input.reason ?? null, request_hash, now],
      );
      if (!r) throw new CoreError('reference_conflict', 'this refund reference was already used with different parameters');
      const refund = toRefund(r);
      const merchant = await merchantAccount(q, p.merchant_id, p.currency);
      const back = p.payer_account_id ?? (await systemAccount(q, 'card_clearing', p.currency));
      await postEntry(q, {
        kind: 'refund',
        payment_id: p.id,
        refund_id: refund.id,
        created_at: now,
        postings: [
          { account_id: merchant, currency: p.currency, amount_minor: -input.amount_minor },
          { account_id: back, currency: p.currency, amount_minor: input.amount_minor },
        ],
      });
      const to: PaymentState = refunded === p.amount_minor ? 'refunded' : 'partially_refunded';
      const upd = await q.query(
        `update payments set refunded_minor = $2, state = $3, updated_at = $4, version = version + 1
          where id = $1 and state = any($5::text[]) returning *`,
        [p.id, refunded, to, now, sourcesOf(to)],
      );
      if (!upd.length) throw new CoreError('invalid_state', `payment cannot go from ${p.state} to ${to}`);
      const payment = toPayment(upd[0]!);
      await this.afterChange(q, { kind: 'refund', payment, refund }, now);
      return { refund, payment, replayed: false };
    });
    if (!out.replayed) this.publish({ type: 'payment', payment: out.payment }, { kind: 'refund', payment: out.payment, refund: out.refund });
    return out;
  }

  // ---- payouts -----------------------------------------------------------------------

  /**
   * Pays out from the merchant's balance to a payer account, synchronously. A short balance
   * records a failed payout (the reference is used; a retry answers the same).
   */
  async payout(input: PayoutInput): Promise<{ payout: PayoutRecord; replayed: boolean }> {
    assertAmount(input.amount_minor);
    if (input.amount_minor <= 0n) throw new CoreError('invalid_request', 'payout amount must be greater than zero');
    const fee = input.fee_minor ?? 0n;
    assertAmount(fee);
    const now = this.o.clock.now();
    const request_hash = hashRequest({ payee: input.payee_account_id, amount: input.amount_minor, fee, currency: input.currency, ...(input.fingerprint ?? {}) });
    const out = await this.o.db.tx(async (q) => {
      const payee = await q.query('select id, kind, currency, phone from accounts where id = $1', [input.payee_account_id]);
      if (!payee.length || !['wallet', 'subscriber'].includes(payee[0]!.kind)) throw new CoreError('not_found', 'payee account not found');
      if (payee[0]!.currency !== input.currency) throw new CoreError('currency_mismatch', 'payee account currency differs');
      const merchant = await merchantAccount(q, input.merchant_id, input.currency);
      const fees = await systemAccount(q, 'fees', input.currency);
      // Lock every balance the payout may move, in account-id order (the order of every other
      // writer of balances, so none waits on another in a cycle): the decision below must hold
      // until commit.
      await q.query('select id from accounts where id = any($1::bigint[]) order by id for no key update', [[merchant, input.payee_account_id, fees]]);
      // Then the balance, pending credits included, in a snapshot taken under the lock (credits
      // are folded only under their account's lock, so none is being folded now; new ones only
      // add). postEntry folds them in before the debit.
      const [bal] = await q.query<{ balance_minor: bigint }>(`${ACCOUNT_SELECT} where a.id = $1`, [merchant]);
      const enough = bal!.balance_minor >= input.amount_minor + fee;
      const ins = await q.query(
        `insert into payouts (id, merchant_id, dialect, rail, merchant_ref, state, failure_code, amount_minor, fee_minor, currency,
                              payee_account_id, payee_phone, callback_url, details, request_hash, created_at, updated_at)
         values (nextval('payouts_id_seq'), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)
         on conflict (merchant_id, dialect, merchant_ref) do nothing returning *`,
        [input.merchant_id, input.dialect, input.rail, input.merchant_ref, enough ? 'succeeded' : 'failed', enough ? null : 'insufficient_funds',
          input.amount_minor, fee, input.currency, input.payee_account_id, payee[0]!.phone, input.callback_url ?? null,
          JSON.stringify(input.details ?? {}), request_hash, now],
      );
      if (!ins.length) {
        const prev = await q.query('select * from payouts where merchant_id = $1 and dialect = $2 and merchant_ref = $3', [input.merchant_id, input.dialect, input.merchant_ref]);
        if (prev[0]!.request_hash !== request_hash) throw new CoreError('reference_conflict', 'this reference was already used with different parameters');
        return { payout: toPayout(prev[0]!), replayed: true };
      }
      const payout = toPayout(ins[0]!);
      if (enough) {
        await postEntry(q, {
          kind: 'payout',
          payout_id: payout.id,
          created_at: now,
          postings: [
            { account_id: merchant, currency: input.currency, amount_minor: -(input.amount_minor + fee) },
            { account_id: input.payee_account_id, currency: input.currency, amount_minor: input.amount_minor },
            { account_id: fees, currency: input.currency, amount_minor: fee },
          ],
        });
      }
      await this.afterChange(q, { kind: 'payout', payout }, now);
      return { payout, replayed: false };
    });
    if (!out.replayed) this.publish({ type: 'payout', payout: out.payout }, { kind: 'payout', payout: out.payout });
    return out;
  }

  // ---- internals ---------------------------------------------------------------------

  /** Outbox rows of a change, inside its transaction (other nodes hear of it after the commit: publish). */
  private async afterChange(q: Queryable, ev: CallbackEvent, now: Date): Promise<void> {
    const dialect = ev.kind === 'payout' ? ev.payout.dialect : ev.payment.dialect;
    const builder = this.builders.get(dialect);
    const built = builder ? builder(ev) : null;
    const msgs = built === null ? [] : Array.isArray(built) ? built : [built];
    const merchant_id = ev.kind === 'payout' ? ev.payout.merchant_id : ev.payment.merchant_id;
    for (const m of msgs) {
      await enqueue(q, merchant_id, m, {
        payment_id: ev.kind === 'payout' ? undefined : ev.payment.id,
        refund_id: ev.kind === 'refund' ? ev.refund.id : undefined,
        payout_id: ev.kind === 'payout' ? ev.payout.id : undefined,
      }, now);
    }
  }

  /**
   * After the commit: this node's feed hears the change at once; other nodes hear it through
   * NOTIFY. The NOTIFY is not sent inside the change's transaction: Postgres serialises the
   * commits of all transactions that notify (one global lock held across the WAL flush), which
   * capped the whole gateway at one commit per disk flush. Instead the announcements of all
   * changes committed meanwhile go out together in one statement, packed several to a
   * notification, in a transaction of their own with asynchronous commit (a node that misses
   * one catches up within the catch-up interval, or on its next cache miss or resync).
   */
  private publish(c: Change, ev: CallbackEvent | null): void {
    this.o.feed.publish(c);
    // The change committed outbox rows: the dispatcher is woken for them (only then: a wake-up
    // is a query, and most changes of most dialects call nobody back).
    if (ev && this.outboxWatchers.length && this.callsBack(ev)) for (const fn of this.outboxWatchers) fn();
    // Other nodes hear of it only if there are any (see Peers).
    if (this.peers.present()) this.queueAnnouncement(announcementOf(this.nodeId, c));
  }

  /** Tells the other nodes this one is there (see Peers). */
  hello(): void {
    this.queueAnnouncement(HELLO);
  }

  private queueAnnouncement(message: string): void {
    this.announceQueue.push(message);
    // A stuck notifier must not grow memory without bound: the oldest go (catch-up covers them).
    if (this.announceQueue.length > Payments.ANNOUNCE_QUEUE_MAX) this.announceQueue.splice(0, this.announceQueue.length - Payments.ANNOUNCE_QUEUE_MAX);
    if (!this.announcing) this.announcing = this.announce();
  }

  private async announce(): Promise<void> {
    // The changes committed in this turn of the event loop go in the first statement together
    // (under load many answers arrive in one turn); later ones queue behind it.
    await new Promise((r) => setImmediate(r));
    while (this.announceQueue.length) {
      // Packed several to a notification, signed, with this node's id: the node hears its own
      // notifications too, and skips them unread.
      await this.o.db.notify(FEED_CHANNEL, packAnnouncements(this.nodeId, this.o.announceKey, this.announceQueue.splice(0, 1000)));
    }
    this.announcing = null;
  }

  /** A merchant's available balance in a currency (0 when it never had one). */
  async merchantBalance(merchant_id: string, currency: Currency): Promise<bigint> {
    if (!ID_RE.test(merchant_id)) return 0n;
    const rows = await this.o.db.query<{ balance_minor: bigint }>(`${ACCOUNT_SELECT} where a.kind = 'merchant' and a.merchant_id = $1 and a.currency = $2`, [merchant_id, currency]);
    return rows.length ? BigInt(rows[0]!.balance_minor) : 0n;
  }

  /** Credits a payer account from the float (demo data, operator top-ups). */
  async fund(account_id: string, amount_minor: bigint, currency: Currency): Promise<void> {
    assertAmount(amount_minor);
    if (amount_minor === 0n) return;
    const now = this.o.clock.now();
    await this.o.db.tx(async (q) => {
      const float = await systemAccount(q, 'float', currency);
      await postEntry(q, {
        kind: 'funding',
        created_at: now,
        postings: [
          { account_id: float, currency, amount_minor: -amount_minor },
          { account_id, currency, amount_minor },
        ],
      });
    });
  }
}
