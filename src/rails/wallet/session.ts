// Wallet app sessions: a stateless token (phone + expiry, HMAC-signed with a key derived
// from PAYGATE_SECRET_KEY), sent as `Authorization: Bearer` by the mobile app or as the
// `pg_wallet` cookie by the web pages. Obtained by logging in with phone + PIN.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Clock } from '../../clock.ts';
import type { Sealer } from '../../merchants/secrets.ts';

export const WALLET_SESSION_COOKIE = 'pg_wallet';
export const WALLET_SESSION_TTL_MS = 30 * 60_000;

export interface WalletSession {
  phone: string;
  exp_ms: number;
}

export class WalletSessions {
  private readonly key: Buffer;
  constructor(sealer: Sealer, private readonly clock: Clock) {
    this.key = sealer.derive('wallet-session');
  }

  issue(phone: string): string {
    const body = Buffer.from(JSON.stringify({ phone, exp_ms: this.clock.now().getTime() + WALLET_SESSION_TTL_MS })).toString('base64url');
    return `${body}.${this.mac(body)}`;
  }

  verify(token: string | undefined): WalletSession | null {
    if (!token || token.length > 512) return null;
    const [body, mac] = token.split('.');
    if (!body || !mac) return null;
    const want = Buffer.from(this.mac(body));
    const got = Buffer.from(mac);
    if (got.length !== want.length || !timingSafeEqual(got, want)) return null;
    try {
      const s = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as WalletSession;
      return typeof s.phone === 'string' && typeof s.exp_ms === 'number' && s.exp_ms > this.clock.now().getTime() ? s : null;
    } catch {
      return null;
    }
  }

  /** The session of a request: bearer token first, then the cookie. */
  fromRequest(req: FastifyRequest): WalletSession | null {
    const h = req.headers.authorization;
    if (h?.startsWith('Bearer ')) return this.verify(h.slice(7));
    const cookie = req.headers.cookie ?? '';
    const m = new RegExp(`(?:^|;\\s*)${WALLET_SESSION_COOKIE}=([^;]+)`).exec(cookie);
    return this.verify(m?.[1]);
  }

  private mac(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}
