// Fastify assembly: limits, parsers, logging, error mapping, and one encapsulated plugin per
// module (admin API, each dialect, each rail). Each dialect sets its own error handler.
import formbody from '@fastify/formbody';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { GatewayContext } from '../gateway.ts';
import { MODULES } from '../modules.ts';
import { registerOps } from './ops.ts';

/** JSON that carries bigint as a decimal string (money never becomes a float). */
export function toJson(value: unknown): string {
  // Most answers (the dialects' wire shapes) hold no bigint: plain JSON.stringify, several
  // times faster than one with a replacer, which it refuses a bigint to (TypeError).
  try {
    return JSON.stringify(value);
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    return JSON.stringify(value, bigintAsString);
  }
}
function bigintAsString(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * A request's logger, made on first use. Fastify makes one child logger per request, and a
 * pino child (its bindings serialised and redacted) costs more than most requests ever log at
 * the usual levels (measured: 2% of the gateway's CPU while polling, at level warn). A line
 * the parent's level drops is dropped here without making the child.
 */
export class LazyRequestLogger {
  private real: Logger | null = null;
  constructor(private readonly parent: Logger, private readonly bindings: Record<string, unknown>, private readonly opts: object) {}
  private emit(level: Level, args: unknown[]): void {
    if (!this.parent.isLevelEnabled(level)) return;
    this.real ??= this.parent.child(this.bindings, this.opts);
    (this.real[level] as (...a: unknown[]) => void)(...args);
  }
  get level(): string { return this.real?.level ?? this.parent.level; }
  fatal(...a: unknown[]): void { this.emit('fatal', a); }
  error(...a: unknown[]): void { this.emit('error', a); }
  warn(...a: unknown[]): void { this.emit('warn', a); }
  info(...a: unknown[]): void { this.emit('info', a); }
  debug(...a: unknown[]): void { this.emit('debug', a); }
  trace(...a: unknown[]): void { this.emit('trace', a); }
  silent(): void {}
  isLevelEnabled(level: string): boolean { return this.parent.isLevelEnabled(level); }
  child(bindings: Record<string, unknown>, opts?: object): Logger {
    this.real ??= this.parent.child(this.bindings, this.opts);
    return this.real.child(bindings, opts);
  }
}

export async function buildApp(ctx: GatewayContext): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    loggerInstance: ctx.log as unknown as FastifyBaseLogger,
    // A route-level log level needs its own child at once; otherwise the child waits for a line.
    childLoggerFactory: (logger, bindings, opts) =>
      'level' in opts ? logger.child(bindings, opts) : (new LazyRequestLogger(logger as unknown as Logger, bindings, opts) as unknown as FastifyBaseLogger),
    bodyLimit: ctx.config.bodyLimit_bytes,
    // Behind a load balancer, the client IP (for rate limits) comes from X-Forwarded-For.
    trustProxy: ctx.config.trustProxy as boolean,
    // Header names with stray spaces (ibous' own example) are normalised by the ibous plugin.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    return503OnClosing: true,
    connectionTimeout: 30_000,
    requestTimeout: 120_000,
    // Malformed URLs and over-long path parameters are refused before routing: answer in the
    // app's error shape without echoing the (client-controlled) path back.
    frameworkErrors: (err, _req, reply: any) => {
      const long = err.code === 'FST_ERR_MAX_PARAM_LENGTH';
      reply.code(long ? 414 : 400).send({ error: { code: long ? 'uri_too_long' : 'bad_request', message: long ? 'a path segment is too long' : 'malformed URL' } });
    },
  });
  app.setReplySerializer((payload) => toJson(payload));
  await app.register(formbody, { bodyLimit: ctx.config.bodyLimit_bytes, parser: (s) => Object.fromEntries(new URLSearchParams(s)) });
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Paygate', version: '0.1.0', description: 'ibous, KessPay, IntouchPay and FlexPay APIs on one core, plus the operator and payer APIs.' },
      // Security schemes routes may name in `schema.security`.
      components: {
        securitySchemes: {
          operatorToken: { type: 'http', scheme: 'bearer', description: 'PAYGATE_ADMIN_TOKEN, for /admin/*' },
          walletSession: { type: 'http', scheme: 'bearer', description: 'Wallet session from POST /wallet/api/login' },
          kesspayToken: { type: 'http', scheme: 'bearer', description: 'JWT from the KessPay token operation' },
          flexpayToken: { type: 'http', scheme: 'bearer', description: "The merchant's FlexPay token" },
        },
      },
    },
  });

  // Anything not answered by a module's own handler: a JSON error, never a stack trace.
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) req.log.error({ err }, 'unhandled error');
    reply.code(status).send({ error: { code: status === 500 ? 'internal_error' : (err.code ?? 'bad_request'), message: status === 500 ? 'internal error' : err.message } });
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ error: { code: 'not_found', message: `no route for ${req.method} ${req.url.split('?')[0]!.slice(0, 200)}` } });
  });

  // Rate limits (docs/reliability.md): every request takes a token from its IP's bucket; an IP
  // that keeps failing authentication (401 answers, counted here; dialects also count failures
  // per credential through ctx.limits) is blocked for the rest of the window.
  const limits = ctx.limits;
  app.addHook('onRequest', async (req, reply) => {
    const wait_s = limits.take(req.ip) ?? limits.blocked(req.ip);
    if (wait_s !== null) {
      return reply.code(429).header('retry-after', String(wait_s)).send({ success: false, error: { code: 'rate_limited', message: `too many requests: retry in ${wait_s} s` } });
    }
  });
  app.addHook('onResponse', async (req, reply) => {
    if (reply.statusCode === 401) limits.authFailed(req.ip);
  });

  // Graceful shutdown: Fastify answers a request arriving while it closes with 503 and
  // `Connection: close`, but a request already in flight would keep its keep-alive socket
  // open for keepAliveTimeout (72 s) after its answer, and close() waits for that socket.
  // So every answer sent while closing closes its connection (the client does not reuse it).
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });

  await registerOps(app, ctx);
  for (const mod of MODULES) {
    await app.register(async (scope) => mod.register(scope, ctx), { prefix: mod.prefix ?? '' });
  }
  return app;
}
