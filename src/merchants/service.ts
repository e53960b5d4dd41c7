// Merchants and their credentials for every dialect. Lookups used on hot paths (polling)
// are served from memory after the first hit; credentials do not change once issued.
import { randomBytes, randomInt } from 'node:crypto';
import { CoreError } from '../errors.ts';
import type { Db } from '../store/db.ts';
import { randomSecret, type Sealer, sha256Hex, sha256Matches } from './secrets.ts';

export type Dialect = 'ibous' | 'kesspay' | 'intouchpay' | 'flexpay';

export interface Merchant {
  id: string;
  name: string;
  settings: Record<string, any>;
  created_at: Date;
}

export interface MerchantCredentials {
  ibous: { api_key: string; api_secret: string };
  kesspay: { user: string; password: string; store_id: string };
  intouchpay: { username: string; accountno: string; partner_password: string };
  flexpay: { merchant: string; token: string };
}

export interface CredentialRow {
  merchant_id: string;
  dialect: Dialect;
  identifier: string;
  secret_hash: string | null;
  secret_enc: string | null;
  extra: Record<string, any>;
}

export const MERCHANT_NAME_MAX = 200;
export const MERCHANT_SETTINGS_MAX_BYTES = 4096;

function toMerchant(r: Record<string, any>): Merchant {
  return { id: String(r.id), name: r.name, settings: r.settings ?? {}, created_at: r.created_at };
}

function toCred(r: Record<string, any>): CredentialRow {
  return { merchant_id: String(r.merchant_id), dialect: r.dialect, identifier: r.identifier, secret_hash: r.secret_hash, secret_enc: r.secret_enc, extra: r.extra ?? {} };
}

export class Merchants {
  private readonly credCache = new Map<string, CredentialRow>();
  private readonly merchantCache = new Map<string, Merchant>();
  constructor(private readonly db: Db, private readonly sealer: Sealer) {}

  async create(name: string, opts: { fee_bps?: Record<string, number>; settings?: Record<string, unknown> } = {}): Promise<{ merchant: Merchant; credentials: MerchantCredentials; webhook_secret: string }> {
    const clean = typeof name === 'string' ? name.trim() : '';
    if (!clean || clean.length > MERCHANT_NAME_MAX) throw new CoreError('invalid_request', `name must be 1–${MERCHANT_NAME_MAX} characters`);
    const hex = (n: number) => randomBytes(n).toString('hex');
    const credentials: MerchantCredentials = {
      ibous: { api_key: hex(13), api_secret: hex(16) },
      kesspay: { user: 'kp_' + hex(6), password: randomSecret(18), store_id: String(randomInt(100000, 999999)) },
      intouchpay: { username: 'ip_' + hex(5), accountno: '2501' + String(randomInt(10_000_000, 99_999_999)), partner_password: randomSecret(18) },
      flexpay: { merchant: 'M' + hex(4).toUpperCase(), token: 'fp_' + randomSecret(32) },
    };
    const webhook_secret = 'whsec_' + randomSecret(24);
    const merchant = await this.db.tx(async (q) => {
      const [m] = await q.query(`insert into merchants (name, webhook_secret_enc, settings) values ($1, $2, $3) returning *`, [
        clean,
        this.sealer.seal(webhook_secret),
        JSON.stringify(opts.settings ?? {}),
      ]);
      const id = String(m!.id);
      const rows: [Dialect, string, string | null, string | null, Record<string, unknown>][] = [
        ['ibous', credentials.ibous.api_key, sha256Hex(credentials.ibous.api_secret), null, {}],
        ['kesspay', credentials.kesspay.user, sha256Hex(credentials.kesspay.password), null, { store_id: credentials.kesspay.store_id }],
        ['intouchpay', credentials.intouchpay.username, null, this.sealer.seal(credentials.intouchpay.partner_password), { accountno: credentials.intouchpay.accountno }],
        // FlexPay authenticates by bearer token alone: the token's hash is also its lookup key.
        ['flexpay', credentials.flexpay.merchant, sha256Hex(credentials.flexpay.token), null, {}],
      ];
      for (const [dialect, identifier, hash, enc, extra] of rows) {
        await q.query(`insert into merchant_credentials (merchant_id, dialect, identifier, secret_hash, secret_enc, extra) values ($1, $2, $3, $4, $5, $6)`, [
          id, dialect, identifier, hash, enc, JSON.stringify(extra),
        ]);
      }
      for (const [rail, bps] of Object.entries(opts.fee_bps ?? {})) {
        await q.query(`insert into merchant_fees (merchant_id, rail, rate_bps) values ($1, $2, $3)`, [id, rail, bps]);
      }
      return toMerchant(m!);
    });
    return { merchant, credentials, webhook_secret };
  }

  async get(id: string): Promise<Merchant | null> {
    const hit = this.merchantCache.get(id);
    if (hit) return hit;
    if (!/^\d{1,18}$/.test(id)) return null;
    const rows = await this.db.query('select * from merchants where id = $1', [id]);
    if (!rows.length) return null;
    const m = toMerchant(rows[0]!);
    this.merchantCache.set(id, m);
    return m;
  }

  /** Merges settings (dialect options such as accepted currencies) and sets fee rates per rail. */
  async update(id: string, patch: { settings?: Record<string, unknown>; fee_bps?: Record<string, number> }): Promise<Merchant> {
    const settings = patch.settings ?? {};
    if (JSON.stringify(settings).length > MERCHANT_SETTINGS_MAX_BYTES) throw new CoreError('invalid_request', `settings must be at most ${MERCHANT_SETTINGS_MAX_BYTES} bytes of JSON`);
    const m = await this.db.tx(async (q) => {
      const rows = await q.query('update merchants set settings = settings || $2::jsonb where id = $1 returning *', [id, JSON.stringify(settings)]);
      if (!rows.length) throw new CoreError('not_found', 'merchant not found');
      for (const [rail, bps] of Object.entries(patch.fee_bps ?? {})) {
        await q.query(`insert into merchant_fees (merchant_id, rail, rate_bps) values ($1, $2, $3) on conflict (merchant_id, rail) do update set rate_bps = excluded.rate_bps`, [id, rail, bps]);
      }
      return toMerchant(rows[0]!);
    });
    this.merchantCache.set(id, m);
    return m;
  }

  async list(limit = 100, after?: string): Promise<Merchant[]> {
    const rows = await this.db.query('select * from merchants where ($1::bigint is null or id > $1) order by id limit $2', [after ?? null, limit]);
    return rows.map(toMerchant);
  }

  async findByName(name: string): Promise<Merchant | null> {
    const rows = await this.db.query('select * from merchants where name = $1 order by id limit 1', [name]);
    return rows.length ? toMerchant(rows[0]!) : null;
  }

  /** The credential row of a dialect identifier (api_key, user, username, merchant code). */
  async credential(dialect: Dialect, identifier: string): Promise<CredentialRow | null> {
    // NUL cannot be stored in a Postgres text value (the query would fail): no such identifier.
    if (typeof identifier !== 'string' || identifier.length === 0 || identifier.length > 128 || identifier.includes('\u0000')) return null;
    const key = dialect + '\0' + identifier;
    const hit = this.credCache.get(key);
    if (hit) return hit;
    const rows = await this.db.query('select * from merchant_credentials where dialect = $1 and identifier = $2', [dialect, identifier]);
    if (!rows.length) return null;
    const c = toCred(rows[0]!);
    this.credCache.set(key, c);
    return c;
  }

  async credentialOf(merchant_id: string, dialect: Dialect): Promise<CredentialRow | null> {
    const rows = await this.db.query('select * from merchant_credentials where merchant_id = $1 and dialect = $2', [merchant_id, dialect]);
    return rows.length ? toCred(rows[0]!) : null;
  }

  /** identifier + secret → merchant id, or null. Constant-time on the secret. */
  async authenticate(dialect: Dialect, identifier: string, secret: string): Promise<CredentialRow | null> {
    const c = await this.credential(dialect, identifier);
    // Hashed and compared also when unknown, so timing does not reveal which identifiers exist.
    const ok = sha256Matches(typeof secret === 'string' ? secret : '', c?.secret_hash ?? null);
    return c && ok ? c : null;
  }

  /** Bearer-token dialects (FlexPay): the token's hash finds the credential. */
  async authenticateToken(dialect: Dialect, token: string): Promise<CredentialRow | null> {
    if (typeof token !== 'string' || token.length === 0 || token.length > 512) return null;
    const hash = sha256Hex(token);
    const key = dialect + '\0#' + hash;
    const hit = this.credCache.get(key);
    if (hit) return hit;
    const rows = await this.db.query('select * from merchant_credentials where dialect = $1 and secret_hash = $2', [dialect, hash]);
    if (!rows.length) return null;
    const c = toCred(rows[0]!);
    this.credCache.set(key, c);
    return c;
  }

  /** The plain secret a protocol needs (IntouchPay partner password). */
  plainSecret(c: CredentialRow): string {
    if (!c.secret_enc) throw new Error('credential has no sealed secret');
    return this.sealer.open(c.secret_enc);
  }

  async webhookSecret(merchant_id: string): Promise<string> {
    const rows = await this.db.query('select webhook_secret_enc from merchants where id = $1', [merchant_id]);
    if (!rows.length) throw new CoreError('not_found', 'merchant not found');
    return this.sealer.open(rows[0]!.webhook_secret_enc);
  }
}
