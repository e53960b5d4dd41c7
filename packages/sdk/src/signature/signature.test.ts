import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { checkPaygateSignature, signPaygatePayload, timingSafeEqual, verifyPaygateSignature } from './signature.ts';

const SECRET = 'whsec_test_123';
const BODY = '{"code":"0","reference":"MLOPN5472452","orderNumber":"9bsTX7qXdpQe243815877848"}';
const T = 1_700_000_000;

function independent(t: number, body: string, secret = SECRET): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

test('signPaygatePayload matches an independent HMAC-SHA256 of "<t>.<body>"', async () => {
  assert.equal(await signPaygatePayload(BODY, SECRET, { t: T }), independent(T, BODY));
  assert.equal(await signPaygatePayload(new TextEncoder().encode(BODY), SECRET, { t: T }), independent(T, BODY));
});

test('verify: valid header within tolerance', async () => {
  const h = independent(T, BODY);
  assert.equal(await verifyPaygateSignature(BODY, h, SECRET, { now: T + 299 }), true);
  assert.equal(await verifyPaygateSignature(BODY, h, SECRET, { now: T - 299 }), true);
  assert.equal(await verifyPaygateSignature(new TextEncoder().encode(BODY), h, SECRET, { now: T }), true);
  assert.equal(await verifyPaygateSignature(BODY, ` t=${T} , v1=${h.split('v1=')[1]} `, SECRET, { now: T }), true);
});

test('verify: default tolerance 300 s; custom tolerance', async () => {
  const h = independent(T, BODY);
  assert.deepEqual(await checkPaygateSignature(BODY, h, SECRET, { now: T + 301 }), {
    ok: false,
    timestamp: T,
    reason: 'timestamp_out_of_tolerance',
  });
  assert.equal(await verifyPaygateSignature(BODY, h, SECRET, { now: T + 301, tolerance_s: 600 }), true);
  assert.equal(await verifyPaygateSignature(BODY, h, SECRET, { now: T + 11, tolerance_s: 10 }), false);
  const fresh = await signPaygatePayload(BODY, SECRET);
  assert.equal(await verifyPaygateSignature(BODY, fresh, SECRET), true, 'uses the clock by default');
});

test('verify: tampered body, wrong secret, malformed headers', async () => {
  const h = independent(T, BODY);
  const opts = { now: T };
  assert.equal((await checkPaygateSignature(BODY + ' ', h, SECRET, opts)).reason, 'signature_mismatch');
  assert.equal(await verifyPaygateSignature(BODY, h, 'other', opts), false);
  assert.equal(await verifyPaygateSignature(BODY, independent(T + 1, BODY), SECRET, opts), true, 'within tolerance');
  assert.equal(await verifyPaygateSignature(BODY, h.replace(`t=${T}`, `t=${T + 1}`), SECRET, opts), false, 't is signed');
  for (const bad of ['', null, undefined, 'v1=abcd', `t=${T}`, `t=abc,v1=${'0'.repeat(64)}`, `t=${T},v1=zz`, `t=${T},v1=abc`]) {
    const r = await checkPaygateSignature(BODY, bad, SECRET, opts);
    assert.equal(r.ok, false);
    assert.equal(r.reason, 'malformed_header', String(bad));
  }
  assert.equal(await verifyPaygateSignature(BODY, `t=${T},v1=${'0'.repeat(64)}`, SECRET, opts), false);
});

test('verify: several v1 entries (secret rotation), any match is enough', async () => {
  const good = independent(T, BODY).split('v1=')[1];
  const old = independent(T, BODY, 'old').split('v1=')[1];
  assert.equal(await verifyPaygateSignature(BODY, `t=${T},v1=${old},v1=${good}`, SECRET, { now: T }), true);
  assert.equal(await verifyPaygateSignature(BODY, `t=${T},v1=${old}`, SECRET, { now: T }), false);
});

test('timingSafeEqual', () => {
  assert.equal(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])), true);
  assert.equal(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3])), false);
  assert.equal(timingSafeEqual(new Uint8Array([1]), new Uint8Array([1, 2])), false);
});
