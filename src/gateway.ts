// The composition root: opens the database, runs migrations, wires the core services and
// background jobs, and builds the HTTP app with every dialect and rail.
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { type Clock, systemClock } from './clock.ts';
import type { Config } from './config.ts';
import { Dispatcher } from './delivery/dispatcher.ts';
import { buildApp } from './http/app.ts';
import { RateLimiter } from './http/rate-limit.ts';
import { foldCredits } from './ledger/ledger.ts';
import { Merchants } from './merchants/service.ts';
import { PinHasher, Sealer } from './merchants/secrets.ts';
import { ChangeFeed, decodeAnnouncement, FEED_CHANNEL, PEER_HELLO_MS } from './payments/feed.ts';
import { Payments } from './payments/service.ts';
import { StatusCache } from './payments/status-cache.ts';
import { Payers } from './rails/payers.ts';
import { type Db, openDb } from './store/db.ts';
import { migrate } from './store/migrate.ts';

/** What dialects and rails get to work with. Dialects use the services, never `db`. */
export interface GatewayContext {
  config: Config;
  clock: Clock;
  log: Logger;
  /** For rails' own tables only (sessions, prompts); core tables belong to the services. */
  db: Db;
  payments: Payments;
  status: StatusCache;
  merchants: Merchants;
  payers: Payers;
  feed: ChangeFeed;
  dispatcher: Dispatcher;
  sealer: Sealer;
  /** Per-IP request buckets and authentication-failure blocks (src/http/rate-limit.ts). */
  limits: RateLimiter;
  /** Absolute base URL for links handed to merchants and payers (no trailing slash). */
  publicUrl(): string;
}

export interface Gateway extends GatewayContext {
  app: FastifyInstance;
  /** Starts listening and the background jobs; resolves with the base URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["api-token-secret"]',
  'req.headers["api-token-key"]',
  'req.headers.cookie',
  '*.password',
  '*.pin',
  '*.partner_password',
  '*.token',
  '*.api_secret',
  '*.card_number',
  '*.cvv',
];

export function makeLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, destination as any);
}

export async function createGateway(config: Config, opts: { clock?: Clock; log?: Logger; db?: Db } = {}): Promise<Gateway> {
  const clock = opts.clock ?? systemClock;
  const log = opts.log ?? makeLogger(config.logLevel);
  const db = opts.db ?? (await openDb({ databaseUrl: config.databaseUrl, dataDir: config.databaseUrl ? undefined : config.dataDir + '/db' }));
  await migrate(db);
  const feed = new ChangeFeed();
  const sealer = new Sealer(config.secretKey);
  const announceKey = sealer.derive('change-feed');
  let unsigned = 0;
  const payments = new Payments({ db, clock, feed, paymentTtl_ms: config.paymentTtl_ms, defaultFeeBps: config.defaultFeeBps, announceKey });
  const merchants = new Merchants(db, sealer);
  const payers = new Payers(db, payments, clock, new PinHasher(sealer.derive('payer-pin')));
  const status = new StatusCache(payments, feed, config.statusCacheEntries, config.statusCacheHotEntries);
  const dispatcher = new Dispatcher(db, merchants, clock, config.delivery, config.allowPrivateCallbacks, log.child({ mod: 'delivery' }));
  // New outbox rows are due at once: wake the dispatcher after the commit that wrote them.
  payments.onOutbox(() => dispatcher.kick());

  let baseUrl = config.publicUrl ?? `http://${config.host}:${config.port}`;
  const ctx: GatewayContext = {
    config, clock, log, db, payments, status, merchants, payers, feed, dispatcher, sealer,
    limits: new RateLimiter(config.rateLimits, () => clock.now().getTime()),
    publicUrl: () => config.publicUrl ?? baseUrl,
  };
  const app = await buildApp(ctx);

  // Other nodes' changes: a signed notification carries the payment (or, if too large, its
  // id and version, and the row is read); it is published here as if the change were local.
  const unlisten = await db.listen(FEED_CHANNEL, (payload) => {
    let messages;
    try {
      messages = decodeAnnouncement(payments.nodeId, announceKey, payload);
    } catch {
      messages = null; // signed but not a payment record this node understands
    }
    if (messages === null) {
      if (unsigned++ % 1000 === 0) log.warn({ channel: FEED_CHANNEL }, 'change notification not signed by this gateway, or not understood: ignored');
      return;
    }
    for (const a of messages) {
      if (a.kind === 'own') return;
      // Another node: it is there (changes are announced while one is); a node not heard
      // lately (just started) is answered at once, so it knows of this one too.
      if (payments.peers.heard(a.from)) payments.hello();
      if (a.kind !== 'payment') continue;
      const known = status.peek(a.id);
      if (known && known.version >= a.version) continue;
      if (a.payment) feed.publish({ type: 'payment', payment: a.payment });
      else payments.get(a.id).then((p) => p && feed.publish({ type: 'payment', payment: p }), () => {});
    }
  }, () => {
    // The listening connection was lost and is back: catch up on what was missed meanwhile.
    payments.hello();
    status.resync().then((n) => log.warn({ updated: n }, 'change feed reconnected; status cache resynchronised'), (err) => log.error({ err }, 'status cache resync failed'));
  });

  // On a shared server other nodes change payments too: every catch-up interval, re-read the
  // cached payments changed since the last pass (minus a margin for clock skew between nodes),
  // so a lost notification leaves a status stale for one interval at most.
  let catchUp: NodeJS.Timeout | null = null;
  let watermark = clock.now();
  const CATCH_UP_MARGIN_MS = 5_000;
  const startCatchUp = () => {
    if (db.engine !== 'postgres' || config.cacheCatchUp_ms <= 0) return;
    let running = false;
    catchUp = setInterval(() => {
      if (running) return;
      running = true;
      const passStart = clock.now();
      status.catchUp(new Date(watermark.getTime() - CATCH_UP_MARGIN_MS))
        // After a full page, continue from its last row (plus the margin again) next time.
        .then((r) => { watermark = r.next_since ? new Date(r.next_since.getTime() + CATCH_UP_MARGIN_MS) : passStart; }, (err) => log.error({ err }, 'status cache catch-up failed'))
        .finally(() => { running = false; });
    }, config.cacheCatchUp_ms);
  };

  let sweeper: NodeJS.Timeout | null = null;
  let hello: NodeJS.Timeout | null = null;
  const gw: Gateway = {
    ...ctx,
    app,
    async listen() {
      const address = await app.listen({ host: config.host, port: config.port });
      const u = new URL(address);
      baseUrl = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${u.port}`;
      dispatcher.start();
      startCatchUp();
      payments.hello();
      hello = setInterval(() => payments.hello(), PEER_HELLO_MS);
      sweeper = setInterval(() => {
        payments.expireDue().catch((err) => log.error({ err }, 'expiry sweep failed'));
        // Pending credits into their balances, so account_credits stays small (ledger.ts).
        foldCredits(db).catch((err) => log.error({ err }, 'credit fold failed'));
      }, config.sweep_ms);
      return gw.publicUrl();
    },
    async close() {
      if (sweeper) clearInterval(sweeper);
      if (catchUp) clearInterval(catchUp);
      if (hello) clearInterval(hello);
      await app.close(); // finishes in-flight requests first
      await dispatcher.stop();
      status.close();
      await unlisten();
      await db.close();
    },
  };
  return gw;
}
