// Rate limits: a token bucket per client IP for all traffic, and a failure counter per IP and
// per credential that blocks brute force. Limited requests get HTTP 429 with Retry-After.
// In memory, per node: a node's limits are its own share of the whole.
import { BoundedMap } from '../bounded-map.ts';

export interface RateLimitConfig {
  /** Sustained requests per second per IP (0: no limit), and the burst above it. */
  ip_per_s: number;
  ip_burst: number;
  /** Authentication failures allowed per window before the IP or credential is blocked. */
  ip_auth_failures: number;
  credential_auth_failures: number;
  window_ms: number;
}

export const DEFAULT_RATE_LIMITS: RateLimitConfig = {
  ip_per_s: 5000,
  ip_burst: 10000,
  ip_auth_failures: 50,
  credential_auth_failures: 10,
  window_ms: 60_000,
};

/** Bound on tracked keys; the oldest are dropped past it (memory stays bounded under spoofed floods). */
const MAX_KEYS = 100_000;

interface Bucket { tokens: number; at_ms: number }
interface Failures { count: number; window_start_ms: number }

export class RateLimiter {
  private readonly buckets = new BoundedMap<Bucket>(MAX_KEYS);
  // Separate maps: a flood of new IPs must not push a credential's count out.
  private readonly ipFailures = new Map<string, Failures>();
  private readonly credFailures = new Map<string, Failures>();
  constructor(readonly cfg: RateLimitConfig, private readonly now_ms: () => number = Date.now) {}

  /** Takes one request token for this IP; returns seconds to wait when none is left. */
  take(ip: string): number | null {
    if (this.cfg.ip_per_s <= 0) return null;
    const now = this.now_ms();
    let b = this.buckets.get(ip);
    if (!b) {
      this.buckets.set(ip, (b = { tokens: this.cfg.ip_burst, at_ms: now }));
    }
    b.tokens = Math.min(this.cfg.ip_burst, b.tokens + ((now - b.at_ms) / 1000) * this.cfg.ip_per_s);
    b.at_ms = now;
    if (b.tokens < 1) return Math.max(1, Math.ceil((1 - b.tokens) / this.cfg.ip_per_s));
    b.tokens -= 1;
    return null;
  }

  /** Seconds until this IP / credential may try to authenticate again, or null. */
  blocked(ip: string, credential?: string): number | null {
    const a = this.blockedKey(this.ipFailures, ip, this.cfg.ip_auth_failures);
    const c = credential ? this.blockedKey(this.credFailures, credential, this.cfg.credential_auth_failures) : null;
    return a ?? c;
  }

  /** One failed authentication from this IP (the app counts every 401 answer here). */
  authFailed(ip: string): void {
    this.count(this.ipFailures, ip, this.cfg.ip_auth_failures);
  }

  /** One failed authentication of this credential ("<dialect>:<identifier>"), from any IP. */
  credentialFailed(credential: string): void {
    this.count(this.credFailures, credential, this.cfg.credential_auth_failures);
  }

  private count(map: Map<string, Failures>, key: string, limit: number): void {
    const now = this.now_ms();
    let f = map.get(key);
    if (!f || now - f.window_start_ms >= this.cfg.window_ms) {
      if (!f && map.size >= MAX_KEYS) this.evictOne(map, limit, now);
      map.set(key, (f = { count: 0, window_start_ms: now }));
    }
    f.count++;
  }

  /** Drops the oldest entry that is not blocking anything right now (a block is never evicted). */
  private evictOne(map: Map<string, Failures>, limit: number, now: number): void {
    let scanned = 0;
    for (const [k, f] of map) {
      if (f.count < limit || now - f.window_start_ms >= this.cfg.window_ms) {
        map.delete(k);
        return;
      }
      if (++scanned >= 1000) break; // bounded work; the map may briefly exceed MAX_KEYS
    }
  }

  private blockedKey(map: Map<string, Failures>, key: string, limit: number): number | null {
    const f = map.get(key);
    if (!f) return null;
    const left_ms = this.cfg.window_ms - (this.now_ms() - f.window_start_ms);
    if (left_ms <= 0) {
      map.delete(key);
      return null;
    }
    return f.count >= limit ? Math.ceil(left_ms / 1000) : null;
  }
}
