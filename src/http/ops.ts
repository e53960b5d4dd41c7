// Operations endpoints: health, readiness, Prometheus metrics, OpenAPI document and docs page.
import type { FastifyInstance } from 'fastify';
import type { GatewayContext } from '../gateway.ts';

/** Latency histogram buckets, seconds. */
const BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

interface RouteStats {
  count: Map<string, number>; // by status code
  buckets: number[];
  sum_s: number;
  total: number;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export async function registerOps(app: FastifyInstance, ctx: GatewayContext): Promise<void> {
  const stats = new Map<string, RouteStats>();
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const key = `${req.method} ${route}`;
    let s = stats.get(key);
    if (!s) stats.set(key, (s = { count: new Map(), buckets: BUCKETS_S.map(() => 0), sum_s: 0, total: 0 }));
    const code = String(reply.statusCode);
    s.count.set(code, (s.count.get(code) ?? 0) + 1);
    const t_s = reply.elapsedTime / 1000;
    s.sum_s += t_s;
    s.total++;
    BUCKETS_S.forEach((b, i) => {
      if (t_s <= b) s!.buckets[i]!++;
    });
  });

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
    try {
      await ctx.db.query('select 1');
      return { status: 'ready', engine: ctx.db.engine };
    } catch {
      return reply.code(503).send({ status: 'unavailable' });
    }
  });

  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    const lines: string[] = [];
    lines.push('# HELP paygate_http_requests_total HTTP requests by route and status.', '# TYPE paygate_http_requests_total counter');
    for (const [key, s] of stats) {
      const [method, route] = key.split(' ');
      for (const [code, n] of s.count) lines.push(`paygate_http_requests_total{method="${method}",route="${route}",status="${code}"} ${n}`);
    }
    lines.push('# HELP paygate_http_request_duration_seconds Request latency.', '# TYPE paygate_http_request_duration_seconds histogram');
    for (const [key, s] of stats) {
      const [method, route] = key.split(' ');
      const l = `method="${method}",route="${route}"`;
      BUCKETS_S.forEach((b, i) => lines.push(`paygate_http_request_duration_seconds_bucket{${l},le="${b}"} ${s.buckets[i]}`));
      lines.push(`paygate_http_request_duration_seconds_bucket{${l},le="+Inf"} ${s.total}`);
      lines.push(`paygate_http_request_duration_seconds_sum{${l}} ${s.sum_s}`);
      lines.push(`paygate_http_request_duration_seconds_count{${l}} ${s.total}`);
    }
    const byState = await ctx.db.query<{ state: string; n: bigint }>('select state, count(*)::int8 as n from payments group by state');
    lines.push('# HELP paygate_payments Payments by state.', '# TYPE paygate_payments gauge');
    for (const r of byState) lines.push(`paygate_payments{state="${r.state}"} ${r.n}`);
    const outbox = await ctx.db.query<{ state: string; n: bigint }>('select state, count(*)::int8 as n from outbox group by state');
    lines.push('# HELP paygate_callbacks Outbox rows by state.', '# TYPE paygate_callbacks gauge');
    for (const r of outbox) lines.push(`paygate_callbacks{state="${r.state}"} ${r.n}`);
    lines.push('# HELP paygate_group_commit_statements_total Group-commit statements run by this node.', '# TYPE paygate_group_commit_statements_total counter');
    lines.push('# HELP paygate_group_commit_items_total Requests carried by those statements.', '# TYPE paygate_group_commit_items_total counter');
    lines.push('# HELP paygate_group_commit_seconds_total Wall time of those statements (from sending to the answer).', '# TYPE paygate_group_commit_seconds_total counter');
    for (const [op, st] of Object.entries({ ...ctx.payments.batching(), ...ctx.payers.batching() })) {
      lines.push(`paygate_group_commit_statements_total{op="${op}"} ${st.batches}`, `paygate_group_commit_items_total{op="${op}"} ${st.items}`, `paygate_group_commit_seconds_total{op="${op}"} ${(st.busy_ms / 1000).toFixed(6)}`);
    }
    // Pays from a payer account by where their facts came from: memory (this node's own
    // payments and other nodes' announcements) or a read first (a cross-node miss).
    lines.push('# HELP paygate_pay_facts_total Wallet and subscriber pays by where the payment\'s facts came from.', '# TYPE paygate_pay_facts_total counter');
    lines.push(`paygate_pay_facts_total{source="memory"} ${ctx.payments.payFacts.known}`, `paygate_pay_facts_total{source="read"} ${ctx.payments.payFacts.read}`);
    // The status cache: a growing share of ring reads says PAYGATE_STATUS_CACHE_HOT_ENTRIES is
    // below the payments being polled; of database reads, PAYGATE_STATUS_CACHE_ENTRIES below those read.
    const cached = ctx.status.entries;
    lines.push('# HELP paygate_status_cache_entries Payments in this node\'s status cache, by tier (hot: decoded; ring: encoded, off the heap).', '# TYPE paygate_status_cache_entries gauge');
    lines.push(`paygate_status_cache_entries{tier="hot"} ${cached.hot}`, `paygate_status_cache_entries{tier="ring"} ${cached.ring}`);
    lines.push('# HELP paygate_status_cache_reads_total Status reads of this node by where they were answered from.', '# TYPE paygate_status_cache_reads_total counter');
    for (const [source, n] of Object.entries(ctx.status.reads)) lines.push(`paygate_status_cache_reads_total{source="${source}"} ${n}`);
    // Refused pay statements: each pay they carried ran again the full way (contention).
    lines.push('# HELP paygate_pay_statements_refused_total Pay statements the database refused as a whole; their pays took the full path.', '# TYPE paygate_pay_statements_refused_total counter');
    lines.push(`paygate_pay_statements_refused_total ${ctx.payments.payRefused.statements}`);
    reply.type('text/plain; version=0.0.4').send(lines.join('\n') + '\n');
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.get('/docs', { schema: { hide: true } }, async (_req, reply) => {
    const doc = app.swagger() as any;
    const rows: string[] = [];
    for (const [path, ops] of Object.entries<any>(doc.paths ?? {})) {
      for (const [method, op] of Object.entries<any>(ops)) {
        rows.push(`<tr><td><code>${method.toUpperCase()}</code></td><td><code>${escapeHtml(path)}</code></td><td>${escapeHtml((op.tags ?? []).join(', '))}</td><td>${escapeHtml(op.summary ?? '')}${op.description ? `<br><small>${escapeHtml(op.description)}</small>` : ''}</td></tr>`);
      }
    }
    reply.type('text/html; charset=utf-8').header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'").send(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>Paygate API</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:1rem;max-width:70rem}td{padding:.3rem .5rem;border-bottom:1px solid #ddd;vertical-align:top}</style></head>
<body><h1>Paygate API</h1><p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3).</p><table>${rows.join('')}</table></body></html>`);
  });
}
