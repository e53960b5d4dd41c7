// The baselines of scenarios 1 and 3: a bare Fastify server (same Node, same Fastify, no
// database, no auth) whose one route answers the JSON the gateway answered. Configured by env:
// BARE_METHOD, BARE_PATH, BARE_BODY (the exact response body), BARE_STATUS; the answer can
// also be set after the start (PUT /__bare {"status", "body"}), so the process can be started
// while the gateway is still being set up.
import Fastify from 'fastify';

const method = (process.env.BARE_METHOD ?? 'GET').toUpperCase() as 'GET' | 'POST';
const path = process.env.BARE_PATH ?? '/';
let body = process.env.BARE_BODY ?? '{}';
let status = Number(process.env.BARE_STATUS ?? 200);
const app = Fastify({ logger: false });
app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, s, done) => done(null, s));
app.route({ method, url: path, handler: async (_req, reply) => reply.code(status).type('application/json; charset=utf-8').send(body) });
app.put('/__bare', async (req) => {
  const b = req.body as { status: number; body: string };
  status = b.status;
  body = b.body;
  return { ok: true };
});
const address = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(JSON.stringify({ ready: true, url: address, pid: process.pid }) + '\n');
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
