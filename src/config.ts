// Configuration from the environment (and CLI flags, which win). Every variable is listed
// in the README's configuration table.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_RATE_LIMITS, type RateLimitConfig } from './http/rate-limit.ts';

export interface Config {
  host: string;
  port: number;
  /** Base of absolute URLs handed out (QR images, pay pages); default the listening address. */
  publicUrl?: string;
  dataDir: string;
  databaseUrl?: string;
  adminToken: string;
  /** 32-byte key for encrypting protocol secrets and signing tokens. */
  secretKey: Buffer;
  allowPrivateCallbacks: boolean;
  logLevel: string;
  /** Create the demo merchant and payers on first start. */
  demo: boolean;
  /** Default merchant fee per rail, basis points. */
  defaultFeeBps: number;
  /** Lifetimes of pending payments per rail, ms. */
  paymentTtl_ms: Record<string, number>;
  /** Delivery retry schedule: first retry after base, ×factor each time, capped; dead after maxAttempts. */
  delivery: { base_ms: number; factor: number; cap_ms: number; maxAttempts: number; timeout_ms: number; poll_ms: number };
  bodyLimit_bytes: number;
  sweep_ms: number;
  /** Status cache catch-up interval on a shared Postgres (bounds staleness when a notification is lost). */
  cacheCatchUp_ms: number;
  /** Payments the status cache holds at most (each about 1 kB, off the JS heap). */
  statusCacheEntries: number;
  /** Of those, the most recently put or read back kept decoded on the heap (polling them decodes nothing). */
  statusCacheHotEntries: number;
  rateLimits: RateLimitConfig;
  /** Which proxies' X-Forwarded-For to believe for the client IP (rate limits): false, true, hop count or address list. */
  trustProxy: boolean | number | string;
}

export interface ConfigOverrides {
  host?: string;
  port?: number;
  dataDir?: string;
  databaseUrl?: string;
}

function atLeast(n: number, min: number, name: string): number {
  if (n < min) throw new Error(`${name} must be at least ${min}, got ${n}`);
  return n;
}

function int(v: string | undefined, dflt: number): number {
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`expected an integer, got "${v}"`);
  return n;
}

/** Reads a secret from the env, else from the data dir, else generates and keeps it there. */
function persistentSecret(dataDir: string, file: string, envValue: string | undefined, make: () => string): string {
  if (envValue) return envValue;
  const path = join(dataDir, file);
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const value = make();
  writeFileSync(path, value + '\n', { mode: 0o600 });
  return value;
}

function trustProxyOf(v: string | undefined): boolean | number | string {
  if (!v || v === '0' || v === 'false') return false;
  if (v === 'true') return true;
  if (/^\d+$/.test(v)) return Number(v);
  return v; // comma-separated addresses / CIDRs of the load balancers
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, over: ConfigOverrides = {}): Config {
  const dataDir = resolve(over.dataDir ?? env.PAYGATE_DATA_DIR ?? '.paygate');
  const keyText = persistentSecret(dataDir, 'secret.key', env.PAYGATE_SECRET_KEY, () => randomBytes(32).toString('hex'));
  const secretKey = /^[0-9a-f]{64}$/i.test(keyText) ? Buffer.from(keyText, 'hex') : Buffer.from(keyText, 'utf8');
  if (secretKey.length < 32) throw new Error('PAYGATE_SECRET_KEY must be 64 hex characters (32 bytes) or at least 32 characters');
  const adminToken = persistentSecret(dataDir, 'admin.token', env.PAYGATE_ADMIN_TOKEN, () => 'pgadm_' + randomBytes(24).toString('base64url'));
  return {
    host: over.host ?? env.HOST ?? '127.0.0.1',
    port: over.port ?? int(env.PORT, 8080),
    publicUrl: env.PAYGATE_PUBLIC_URL?.replace(/\/+$/, '') || undefined,
    dataDir,
    databaseUrl: over.databaseUrl ?? (env.DATABASE_URL || undefined),
    adminToken,
    secretKey: secretKey.length === 32 ? secretKey : Buffer.from(secretKey.subarray(0, 32)),
    allowPrivateCallbacks: env.PAYGATE_ALLOW_PRIVATE_CALLBACKS === '1',
    logLevel: env.PAYGATE_LOG_LEVEL ?? 'info',
    demo: env.PAYGATE_DEMO !== '0',
    defaultFeeBps: int(env.PAYGATE_DEFAULT_FEE_BPS, 0),
    paymentTtl_ms: {
      wallet: int(env.PAYGATE_WALLET_TTL_MS, 10 * 60_000),
      'mobile-money': int(env.PAYGATE_MOBILE_MONEY_TTL_MS, 60_000),
      card: int(env.PAYGATE_CARD_TTL_MS, 30 * 60_000),
    },
    delivery: {
      base_ms: int(env.PAYGATE_DELIVERY_BASE_MS, 1_000),
      factor: 4,
      cap_ms: int(env.PAYGATE_DELIVERY_CAP_MS, 3_600_000),
      maxAttempts: int(env.PAYGATE_DELIVERY_MAX_ATTEMPTS, 10),
      timeout_ms: int(env.PAYGATE_DELIVERY_TIMEOUT_MS, 5_000),
      poll_ms: int(env.PAYGATE_DELIVERY_POLL_MS, 500),
    },
    bodyLimit_bytes: int(env.PAYGATE_BODY_LIMIT_BYTES, 64 * 1024),
    sweep_ms: int(env.PAYGATE_SWEEP_MS, 1_000),
    cacheCatchUp_ms: int(env.PAYGATE_CACHE_CATCHUP_MS, 1_000),
    statusCacheEntries: atLeast(int(env.PAYGATE_STATUS_CACHE_ENTRIES, 200_000), 1_000, 'PAYGATE_STATUS_CACHE_ENTRIES'),
    statusCacheHotEntries: atLeast(int(env.PAYGATE_STATUS_CACHE_HOT_ENTRIES, 16_384), 100, 'PAYGATE_STATUS_CACHE_HOT_ENTRIES'),
    trustProxy: trustProxyOf(env.PAYGATE_TRUST_PROXY),
    rateLimits: {
      ...DEFAULT_RATE_LIMITS,
      ip_per_s: int(env.PAYGATE_RATE_IP_PER_S, DEFAULT_RATE_LIMITS.ip_per_s),
      ip_burst: int(env.PAYGATE_RATE_IP_BURST, DEFAULT_RATE_LIMITS.ip_burst),
      ip_auth_failures: int(env.PAYGATE_RATE_IP_AUTH_FAILURES, DEFAULT_RATE_LIMITS.ip_auth_failures),
      credential_auth_failures: int(env.PAYGATE_RATE_CREDENTIAL_AUTH_FAILURES, DEFAULT_RATE_LIMITS.credential_auth_failures),
    },
  };
}
