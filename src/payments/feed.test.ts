import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHmac, randomBytes } from 'node:crypto';
import { announcementOf, decodeAnnouncement, HELLO, packAnnouncements, PEER_TTL_MS, Peers } from './feed.ts';
import type { PaymentRecord } from './model.ts';

test('peers: a node is present from its first word until PEER_TTL_MS of silence; a returning node is new again', () => {
  let now = 1_000;
  const peers = new Peers(() => now);
  assert.equal(peers.present(), false);
  assert.equal(peers.heard('b'), true, 'first heard: answer it');
  assert.equal(peers.heard('b'), false);
  assert.equal(peers.present(), true);
  now += PEER_TTL_MS;
  assert.equal(peers.present(), true, 'still within the TTL');
  assert.equal(peers.heard('c'), true);
  now += 1;
  assert.equal(peers.present(), true, 'c is newer');
  now += PEER_TTL_MS;
  assert.equal(peers.present(), false);
  assert.equal(peers.heard('b'), true, 'silent past the TTL: new again');
});

test('a hello is signed and says who sent it; the own one is skipped', () => {
  const key = randomBytes(32);
  const encodeHello = (nodeId: string, k: Buffer) => packAnnouncements(nodeId, k, [HELLO])[0]!;
  assert.deepEqual(decodeAnnouncement('me', key, encodeHello('node1', key)), [{ kind: 'hello', from: 'node1' }]);
  assert.deepEqual(decodeAnnouncement('node1', key, encodeHello('node1', key)), [{ kind: 'own' }]);
  assert.equal(decodeAnnouncement('me', randomBytes(32), encodeHello('node1', key)), null, 'another key: not ours');
});

const payment = (i: number, description: string | null = null): PaymentRecord => ({
  id: String(1000 + i), merchant_id: '7', dialect: 'ibous', rail: 'wallet', merchant_ref: `ref-${i}`, public_ref: String(1000 + i), token: `tok${i}`,
  state: 'pending', failure_code: null, amount_minor: 150n + BigInt(i), surcharge_minor: 0n, fee_minor: 0n, refunded_minor: 0n, currency: 'HTG',
  description, payer_account_id: null, payer_name: null, callback_url: null, details: { item: 'x' }, version: 1,
  created_at: new Date('2026-12-01T10:00:00Z'), updated_at: new Date('2026-12-01T10:00:00Z'), expires_at: new Date('2026-12-01T10:15:00Z'), completed_at: null,
});

test('changes are packed several to a notification, each under the limit, and read back in order', () => {
  const key = randomBytes(32);
  const messages = [HELLO, ...Array.from({ length: 120 }, (_, i) => announcementOf('node1', { type: 'payment', payment: payment(i) }))];
  const payloads = packAnnouncements('node1', key, messages);
  assert.ok(payloads.length > 1 && payloads.length < 20, `${messages.length} messages in ${payloads.length} notifications`);
  for (const p of payloads) assert.ok(Buffer.byteLength(p) < 8000, `Postgres takes a payload under 8,000 bytes: ${Buffer.byteLength(p)}`);
  const read = payloads.flatMap((p) => decodeAnnouncement('me', key, p)!);
  assert.equal(read.length, messages.length);
  assert.deepEqual(read[0], { kind: 'hello', from: 'node1' });
  read.slice(1).forEach((a, i) => {
    assert.equal(a.kind, 'payment');
    if (a.kind !== 'payment') return;
    assert.deepEqual([a.from, a.id, a.version], ['node1', String(1000 + i), 1]);
    assert.deepEqual(a.payment, payment(i), 'the whole record, bigints and dates included');
  });
  // One changed byte in any notification: the whole notification is refused.
  const forged = payloads[0]!.replace('"v":1', '"v":9');
  assert.notEqual(forged, payloads[0]);
  assert.equal(decodeAnnouncement('me', key, forged), null);
});

test('a payment too large for a notification is announced by id and version; a single unpacked message still reads', () => {
  const key = randomBytes(32);
  const big = announcementOf('node1', { type: 'payment', payment: payment(1, 'd'.repeat(9000)) });
  assert.deepEqual(JSON.parse(big), { t: 'payment', id: '1001', v: 1 });
  const [p] = packAnnouncements('node1', key, [big]);
  assert.deepEqual(decodeAnnouncement('me', key, p!), [{ kind: 'payment', from: 'node1', id: '1001', version: 1, payment: null }]);
  // As a node before packing sent it (one object, not an array), during a rolling upgrade;
  // the MAC is the first 16 bytes of HMAC-SHA256 over the JSON, base64url.
  const mac = (json: string) => createHmac('sha256', key).update(json, 'utf8').digest().subarray(0, 16).toString('base64url');
  assert.deepEqual(decodeAnnouncement('me', key, `node1 ${mac(big)} ${big}`), [{ kind: 'payment', from: 'node1', id: '1001', version: 1, payment: null }]);
  assert.equal(decodeAnnouncement('me', key, `node1 ${mac(big)} [${big}]`), null, 'the MAC covers the exact JSON');
});
