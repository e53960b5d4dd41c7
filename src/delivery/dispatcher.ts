// Delivers outbox rows at least once. Rows are claimed with FOR UPDATE SKIP LOCKED and a
// lease, so several dispatchers (nodes) never send the same attempt twice. Each attempt is
// logged; failures are retried on the published schedule and dead-lettered after the last.
import type { Clock } from '../clock.ts';
import type { Merchants } from '../merchants/service.ts';
import type { Db } from '../store/db.ts';
import { sign, SIGNATURE_HEADER } from './signature.ts';
import { callbackUrlError } from './ssrf.ts';
import type { Logger } from 'pino';

export interface DeliveryConfig {
  base_ms: number;
  factor: number;
  cap_ms: number;
  maxAttempts: number;
  timeout_ms: number;
  poll_ms: number;
}

/** Delay before attempt n+1 after n failed attempts: base × factor^(n-1), capped. */
export function retryDelay_ms(failedAttempts: number, c: DeliveryConfig): number {
  return Math.min(c.cap_ms, c.base_ms * c.factor ** Math.max(0, failedAttempts - 1));
}

export const RESPONSE_EXCERPT_BYTES = 1024;

/** Text a Postgres text column accepts: no NUL (decoded UTF-8 has no lone surrogates). */
function storable(s: string | null): string | null {
  return s === null ? null : s.replace(/\u0000/g, '\uFFFD');
}
/** Bytes read from a receiver's answer at most; the rest is discarded. */
export const RESPONSE_MAX_BYTES = 64 * 1024;
const BATCH = 20;
/** How long a claimed row stays ours: longer than one attempt can take. */
const LEASE_MS = 60_000;

/**
 * The receiver's answer, up to `max` bytes (the rest is discarded), and the error that cut it
 * short if any (a time-out or a reset in the middle of the body): what was read is kept.
 */
async function readLimited(res: Response, max: number): Promise<{ text: string; error: unknown }> {
  const chunks: Uint8Array[] = [];
  let error: unknown = null;
  if (res.body) {
    const reader = res.body.getReader();
    let size = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > max) {
          await reader.cancel().catch(() => {});
          break;
        }
        chunks.push(value);
      }
    } catch (e) {
      error = e;
      await reader.cancel().catch(() => {});
    }
  }
  return { text: Buffer.concat(chunks).toString('utf8'), error };
}

/** The app's answer says `{"success": true}` (apps in loosely typed languages answer "true" as often as true). */
function answeredSuccess(text: string): boolean {
  try {
    const success = JSON.parse(text)?.success;
    return success === true || success === 'true';
  } catch {
    return false;
  }
}

/** An attempt's error as logged. */
function describe(e: unknown, timeout_ms: number): string {
  return (e as Error)?.name === 'TimeoutError' ? `timed out after ${timeout_ms} ms` : String((e as Error)?.message ?? e).slice(0, 500);
}

export class Dispatcher {
  private loop: Promise<void> | null = null;
  private running: Promise<void> | null = null;
  private stopped = true;
  private wake: (() => void) | null = null;

  constructor(
    private readonly db: Db,
    private readonly merchants: Merchants,
    private readonly clock: Clock,
    private readonly cfg: DeliveryConfig,
    private readonly allowPrivate: boolean,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = (async () => {
      while (!this.stopped) {
        await this.runOnce().catch((err) => this.log.error({ err }, 'dispatcher pass failed'));
        if (this.stopped) break;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, this.cfg.poll_ms);
          this.wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        this.wake = null;
      }
    })();
  }

  /** Ask for a pass now (after a commit that wrote outbox rows). */
  kick(): void {
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }

  /** Passes run (each is one claiming query), for the tests. */
  readonly stats = { passes: 0 };

  /** One pass: claim due rows and attempt each once. Returns how many were attempted. */
  async runOnce(): Promise<number> {
    if (this.running) {
      await this.running;
    }
    this.stats.passes++;
    let count = 0;
    this.running = (async () => {
      const now = this.clock.now();
      const rows = await this.db.query(
        `update outbox set locked_until = $1::timestamptz + interval '${LEASE_MS} milliseconds', attempts = attempts + 1
          where id in (select id from outbox where state = 'pending' and next_attempt_at <= $1 and (locked_until is null or locked_until < $1)
                        order by next_attempt_at limit ${BATCH} for update skip locked)
          returning id, merchant_id, url, body, content_type, ack, attempts, locked_until`,
        [now],
      );
      count = rows.length;
      // One row's trouble (e.g. a result that cannot be recorded) must not stop the others.
      await Promise.all(rows.map((r) => this.attempt(r).catch((err) => this.log.error({ err, outbox_id: String(r.id) }, 'callback attempt not recorded'))));
    })();
    try {
      await this.running;
    } finally {
      this.running = null;
    }
    return count;
  }

  private async attempt(r: Record<string, any>): Promise<void> {
    const started = performance.now();
    let status: number | null = null;
    let error: string | null = null;
    let excerpt: string | null = null;
    let ok = false;
    try {
      const urlErr = await callbackUrlError(r.url, this.allowPrivate);
      if (urlErr) throw new Error(`callback URL refused: ${urlErr}`);
      const secret = await this.merchants.webhookSecret(String(r.merchant_id));
      const t_s = Math.floor(this.clock.now().getTime() / 1000);
      const res = await fetch(r.url, {
        method: 'POST',
        headers: { 'content-type': r.content_type, [SIGNATURE_HEADER]: sign(r.body, secret, t_s), 'user-agent': 'Paygate-Callbacks/1' },
        body: r.body,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.cfg.timeout_ms),
      });
      status = res.status;
      const body = await readLimited(res, RESPONSE_MAX_BYTES);
      const text = body.text;
      excerpt = text.slice(0, RESPONSE_EXCERPT_BYTES);
      ok = res.status >= 200 && res.status < 300;
      // A 2xx status is the acknowledgement where the dialect asks for no more: an answer body
      // cut short afterwards (a time-out, a reset) is noted, and the callback is not sent again.
      const cut = body.error ? `answer cut short: ${describe(body.error, this.cfg.timeout_ms)}` : null;
      if (ok && r.ack === 'json_success') {
        ok = !body.error && answeredSuccess(text);
        if (!ok) error = cut ?? 'receiver did not answer {"success": true}';
      } else if (!ok) error = `HTTP ${res.status}`;
      else error = cut;
    } catch (e) {
      error = describe(e, this.cfg.timeout_ms);
    }
    const latency_ms = Math.round(performance.now() - started);
    const now = this.clock.now();
    const attempts = Number(r.attempts);
    const dead = !ok && attempts >= this.cfg.maxAttempts;
    await this.db.tx(async (q) => {
      // Only while the claim is still ours: past the lease another node may own the row.
      const upd = await q.query(
        `update outbox set state = $2, locked_until = null, next_attempt_at = $3, delivered_at = case when $2 = 'delivered' then $4::timestamptz else delivered_at end
          where id = $1 and locked_until = $5 returning id`,
        [r.id, ok ? 'delivered' : dead ? 'dead' : 'pending', new Date(now.getTime() + (ok || dead ? 0 : retryDelay_ms(attempts, this.cfg))), now, r.locked_until],
      );
      if (!upd.length) this.log.warn({ outbox_id: String(r.id) }, 'callback lease lost before the result was recorded');
      // Receivers' text goes into Postgres text columns, which cannot hold NUL.
      await q.query(`insert into delivery_attempts (outbox_id, attempt, status_code, latency_ms, error, response_excerpt, created_at) values ($1, $2, $3, $4, $5, $6, $7)`, [
        r.id, attempts, status, latency_ms, storable(error), storable(excerpt), now,
      ]);
    });
    this.log.info({ outbox_id: String(r.id), attempt: attempts, status, latency_ms, ok, error }, 'callback attempt');
  }

  /** Operator redelivery: a delivered or dead row goes back to pending, due now. */
  async redeliver(outbox_id: string): Promise<boolean> {
    const rows = await this.db.query(
      `update outbox set state = 'pending', next_attempt_at = $2, locked_until = null where id = $1 returning id`,
      [outbox_id, this.clock.now()],
    );
    if (rows.length) this.kick();
    return rows.length > 0;
  }
}
