import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { decodeAnnouncement, encodeHello, PEER_TTL_MS, Peers } from './feed.ts';

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
  assert.deepEqual(decodeAnnouncement('me', key, encodeHello('node1', key)), { kind: 'hello', from: 'node1' });
  assert.deepEqual(decodeAnnouncement('node1', key, encodeHello('node1', key)), { kind: 'own' });
  assert.equal(decodeAnnouncement('me', randomBytes(32), encodeHello('node1', key)), null, 'another key: not ours');
});
