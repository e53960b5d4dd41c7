// The polling baseline: a bare Fastify server (same Node, same Fastify, no database, no auth)
// whose one route answers the JSON the gateway's polling endpoint answered. Configured by env:
// BARE_METHOD, BARE_PATH, BARE_BODY (the exact response body), BARE_STATUS.
import Fastify from 'fastify';

const method = (process.env.BARE_METHOD ?? 'GET').toUpperCase() as 'GET' | 'POST';
const path = process.env.BARE_PATH ?? '/';
const body = process.env.BARE_BODY ?? '{}';
const status = Number(process.env.BARE_STATUS ?? 200);
const app = Fastify({ logger: false });
app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, s, done) => done(null, s));
app.route({ method, url: path, handler: async (_req, reply) => reply.code(status).type('application/json; charset=utf-8').send(body) });
const address = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(JSON.stringify({ ready: true, url: address, pid: process.pid }) + '\n');
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
