// Request logging: each request's lines carry its request id, and at a level that drops
// request lines no per-request child logger is made (LazyRequestLogger).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { makeLogger } from '../gateway.ts';
import { startGateway } from '../../test/harness.ts';
import { LazyRequestLogger } from './app.ts';

test('request log lines carry the request id, one id per request', async () => {
  const t = await startGateway({ log: true });
  try {
    for (const path of ['/healthz', '/nope', '/healthz']) await fetch(t.url + path);
    await new Promise((r) => setTimeout(r, 200)); // let the log stream flush
    const lines = readFileSync(t.logFile!, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { reqId?: string; msg?: string; res?: { statusCode: number } });
    const incoming = lines.filter((l) => l.msg === 'incoming request');
    const completed = lines.filter((l) => l.msg === 'request completed');
    assert.equal(incoming.length, 3);
    assert.deepEqual(completed.map((l) => l.reqId), incoming.map((l) => l.reqId), 'each completion under its request id');
    assert.equal(new Set(incoming.map((l) => l.reqId)).size, 3);
    assert.ok(incoming.every((l) => typeof l.reqId === 'string' && l.reqId.length > 0));
    assert.deepEqual(completed.map((l) => l.res!.statusCode), [200, 404, 200]);
  } finally {
    await t.close();
  }
});

test('a request logger makes its child only for a line its level keeps', () => {
  const out: string[] = [];
  const parent = makeLogger('warn', new Writable({ write(c, _e, cb) { out.push(String(c)); cb(); } }));
  let children = 0;
  const child = parent.child.bind(parent);
  parent.child = ((...a: Parameters<typeof child>) => { children++; return child(...a); }) as typeof parent.child;
  const lazy = new LazyRequestLogger(parent, { reqId: 'req-7' }, {});
  lazy.info('dropped');
  lazy.debug({ x: 1 }, 'dropped too');
  assert.equal(children, 0, 'no child for lines the level drops');
  assert.equal(lazy.level, 'warn');
  lazy.warn({ body: { api_secret: 's3cr3t' } }, 'kept');
  lazy.error('kept too');
  assert.equal(children, 1, 'one child, made once');
  const lines = out.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(lines.map((l) => [l.reqId, l.msg]), [['req-7', 'kept'], ['req-7', 'kept too']]);
  assert.deepEqual(lines[0]!.body, { api_secret: '[redacted]' }, 'the parent\'s redaction applies');
});
