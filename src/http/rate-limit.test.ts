import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startGateway } from '../../test/harness.ts';
import { RateLimiter } from './rate-limit.ts';

test('an IP that keeps failing authentication is blocked with 429 and Retry-After, until the window passes', async () => {
  const t = await startGateway({ env: { PAYGATE_RATE_IP_AUTH_FAILURES: '5' } });
  try {
    for (let i = 0; i < 5; i++) {
      const r = await fetch(t.url + '/admin/merchants', { headers: { authorization: 'Bearer wrong' } });
      assert.equal(r.status, 401);
    }
    const blocked = await fetch(t.url + '/admin/merchants', { headers: { authorization: 'Bearer test-admin-token' } });
    assert.equal(blocked.status, 429, 'even the right token waits: the IP is blocked');
    assert.ok(Number(blocked.headers.get('retry-after')) > 0);
    assert.equal((await blocked.json()).error.code, 'rate_limited');
    t.clock.advance(61_000);
    const ok = await fetch(t.url + '/admin/merchants', { headers: { authorization: 'Bearer test-admin-token' } });
    assert.equal(ok.status, 200);
  } finally {
    await t.close();
  }
});

test('requests past the per-IP rate get 429', async () => {
  const t = await startGateway({ env: { PAYGATE_RATE_IP_PER_S: '1', PAYGATE_RATE_IP_BURST: '3' } });
  try {
    const codes: number[] = [];
    for (let i = 0; i < 5; i++) codes.push((await fetch(t.url + '/healthz')).status);
    assert.deepEqual(codes, [200, 200, 200, 429, 429]);
    t.clock.advance(2_000);
    assert.equal((await fetch(t.url + '/healthz')).status, 200);
  } finally {
    await t.close();
  }
});

test('behind a trusted proxy, each client IP from X-Forwarded-For has its own bucket', async () => {
  const t = await startGateway({ env: { PAYGATE_RATE_IP_PER_S: '1', PAYGATE_RATE_IP_BURST: '1', PAYGATE_TRUST_PROXY: '127.0.0.1' } });
  try {
    const from = (ip: string) => fetch(t.url + '/healthz', { headers: { 'x-forwarded-for': ip } }).then((r) => r.status);
    assert.equal(await from('203.0.113.1'), 200);
    assert.equal(await from('203.0.113.1'), 429);
    assert.equal(await from('203.0.113.2'), 200, 'another client is not throttled by the first');
  } finally {
    await t.close();
  }
});

test('a flood of failures from new addresses does not unblock a blocked credential', () => {
  let now = 0;
  const rl = new RateLimiter({ ip_per_s: 0, ip_burst: 0, ip_auth_failures: 3, credential_auth_failures: 2, window_ms: 60_000 }, () => now);
  rl.credentialFailed('ibous:key');
  rl.credentialFailed('ibous:key');
  assert.ok(rl.blocked('198.51.100.1', 'ibous:key'));
  for (let i = 0; i < 120_000; i++) rl.authFailed(`2001:db8::${i.toString(16)}`);
  assert.ok(rl.blocked('198.51.100.1', 'ibous:key'), 'still blocked');
  now += 61_000;
  assert.equal(rl.blocked('198.51.100.1', 'ibous:key'), null, 'until the window passes');
});
