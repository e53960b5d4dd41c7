// `paygate` command line: serve, migrate, verify, and operator-API helpers.
import { parseArgs } from 'node:util';
import { loadConfig, type ConfigOverrides } from '../config.ts';
import { DEMO_PAYERS, DEMO_PIN, ensureDemo } from '../demo.ts';
import { createGateway, makeLogger } from '../gateway.ts';
import { verifyLedger } from '../ledger/verify.ts';
import { openDb } from '../store/db.ts';
import { migrate } from '../store/migrate.ts';

const USAGE = `usage: paygate <command> [options]

commands:
  serve                 run the gateway (--port, --host, --data-dir; PORT, HOST, PAYGATE_DATA_DIR, DATABASE_URL)
  migrate               apply database migrations and exit
  verify                check every ledger invariant; exits 1 with the offending ids
  merchant create NAME  create a merchant (operator API)       [--json] [--url URL] [--token T]
  wallet create         create a wallet                         --name --phone --pin --currency [--balance] [--json]
  subscriber create     create a mobile-money subscriber        --name --phone --pin --currency [--balance] [--json]
`;

function overrides(v: Record<string, unknown>): ConfigOverrides {
  const o: ConfigOverrides = {};
  if (typeof v.port === 'string') {
    const n = Number(v.port);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--port must be 0–65535`);
    o.port = n;
  }
  if (typeof v.host === 'string') o.host = v.host;
  if (typeof v['data-dir'] === 'string') o.dataDir = v['data-dir'];
  if (typeof v['database-url'] === 'string') o.databaseUrl = v['database-url'];
  return o;
}

const OPTIONS = {
  port: { type: 'string' }, host: { type: 'string' }, 'data-dir': { type: 'string' }, 'database-url': { type: 'string' },
  json: { type: 'boolean' }, url: { type: 'string' }, token: { type: 'string' },
  name: { type: 'string' }, phone: { type: 'string' }, pin: { type: 'string' }, currency: { type: 'string' }, balance: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  const [cmd, sub, ...rest] = positionals;
  if (values.help || !cmd) {
    process.stdout.write(USAGE);
    return;
  }
  const config = loadConfig(process.env, overrides(values));
  switch (cmd) {
    case 'serve':
      return serve(config);
    case 'migrate': {
      const db = await openDb({ databaseUrl: config.databaseUrl, dataDir: config.databaseUrl ? undefined : config.dataDir + '/db' });
      const applied = await migrate(db);
      await db.close();
      console.log(applied.length ? `applied: ${applied.join(', ')}` : 'up to date');
      return;
    }
    case 'verify': {
      const db = await openDb({ databaseUrl: config.databaseUrl, dataDir: config.databaseUrl ? undefined : config.dataDir + '/db' });
      await migrate(db);
      const violations = await verifyLedger(db);
      await db.close();
      if (values.json) console.log(JSON.stringify({ ok: violations.length === 0, violations }));
      else if (!violations.length) console.log('ok: every invariant holds');
      else for (const v of violations) console.log(`FAILED ${v.check}: ${v.ids.slice(0, 50).join(', ')}`);
      process.exitCode = violations.length ? 1 : 0;
      return;
    }
    case 'merchant':
    case 'wallet':
    case 'subscriber': {
      if (sub !== 'create') throw new Error(`unknown command: ${cmd} ${sub ?? ''}\n${USAGE}`);
      const base = (values.url ?? process.env.PAYGATE_URL ?? `http://127.0.0.1:${config.port}`).replace(/\/+$/, '');
      const body = cmd === 'merchant'
        ? { name: values.name ?? rest.join(' ') }
        : { name: values.name, phone: values.phone, pin: values.pin, currency: values.currency, balance: values.balance };
      const res = await fetch(`${base}/admin/${cmd === 'merchant' ? 'merchants' : cmd + 's'}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${values.token ?? config.adminToken}` },
        body: JSON.stringify(body),
      });
      const out = await res.json();
      if (values.json) console.log(JSON.stringify(out, null, 2));
      else if (res.ok) console.log(`created ${cmd} ${out.id}${out.name ? ` (${out.name})` : ''}\n${JSON.stringify(out, null, 2)}`);
      else console.error(`error: ${out?.error?.message ?? res.status}`);
      process.exitCode = res.ok ? 0 : 1;
      return;
    }
    default:
      throw new Error(`unknown command: ${cmd}\n${USAGE}`);
  }
}

async function serve(config: ReturnType<typeof loadConfig>): Promise<void> {
  const gw = await createGateway(config, { log: makeLogger(config.logLevel) });
  const url = await gw.listen();
  const demo = config.demo ? await ensureDemo(gw) : null;
  const lines = [
    '',
    `Paygate is listening on ${url}  (database: ${gw.db.engine}${gw.db.engine === 'pglite' ? `, ${config.dataDir}/db` : ''})`,
    `  operator token : ${config.adminToken}   (Authorization: Bearer …, for /admin/*)`,
    `  API docs       : ${url}/docs   OpenAPI: ${url}/openapi.json`,
    `  wallet app     : ${url}/wallet/   handset simulator: ${url}/handset/   health: ${url}/healthz`,
  ];
  if (demo) {
    const c = demo.credentials;
    lines.push(
      `Demo merchant "Demo Shop" (id ${demo.merchant_id}); callbacks are signed with ${demo.webhook_secret}`,
      `  ibous      API-TOKEN-KEY=${c.ibous.api_key} API-TOKEN-SECRET=${c.ibous.api_secret}`,
      `  KessPay    user=${c.kesspay.user} password=${c.kesspay.password} store_id=${c.kesspay.store_id}`,
      `  IntouchPay username=${c.intouchpay.username} accountno=${c.intouchpay.accountno} partner_password=${c.intouchpay.partner_password}`,
      `  FlexPay    merchant=${c.flexpay.merchant} token=${c.flexpay.token}`,
      `Demo payers (PIN ${DEMO_PIN}):`,
      ...DEMO_PAYERS.map((p) => `  ${p.kind.padEnd(10)} ${p.phone.padEnd(13)} ${p.name.padEnd(15)} ${p.balance} ${p.currency}`),
    );
  }
  process.stdout.write(lines.join('\n') + '\n\n');
  let closing = false;
  const shutdown = async (sig: string) => {
    if (closing) return;
    closing = true;
    gw.log.info({ sig }, 'shutting down: finishing in-flight requests');
    await gw.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}
