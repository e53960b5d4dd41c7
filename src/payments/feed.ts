// The change feed: every committed state change of a payment or payout goes through here.
// In-process listeners hear it at once; other nodes hear it through Postgres NOTIFY, sent
// after the commit (see Payments.publish), so only committed changes are announced.
import { makeRoom } from '../bounded-map.ts';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { decodePayment, encodePayment, type PaymentRecord, type PayoutRecord } from './model.ts';

export const FEED_CHANNEL = 'paygate_changes';

export type Change =
  | { type: 'payment'; payment: PaymentRecord }
  | { type: 'payout'; payout: PayoutRecord };

export class ChangeFeed {
  private readonly ee = new EventEmitter();
  constructor() {
    this.ee.setMaxListeners(0);
  }
  publish(change: Change): void {
    this.ee.emit('change', change);
  }
  subscribe(fn: (c: Change) => void): () => void {
    this.ee.on('change', fn);
    return () => this.ee.off('change', fn);
  }
}

/** Postgres refuses notification payloads of 8,000 bytes or more. */
const NOTIFY_PAYLOAD_MAX_BYTES = 7_900;
const MAC_CHARS = 22; // 16 bytes of HMAC-SHA256, base64url

/** A node's word that it is there (at start, then every PEER_HELLO_MS; and in answer to a node it had not heard). */
export const HELLO = '{"t":"hello"}';

/**
 * One change as other nodes hear it, a JSON message. It carries the whole payment when it fits
 * in a notification on its own (their status caches take it without reading the row), else its
 * id and version (they read it).
 */
export function announcementOf(nodeId: string, c: Change): string {
  if (c.type === 'payout') return JSON.stringify({ t: 'payout', id: c.payout.id });
  const json = `{"t":"payment","id":${JSON.stringify(c.payment.id)},"v":${c.payment.version},"p":${encodePayment(c.payment)}}`;
  if (Buffer.byteLength(json) + 2 + headerBytes(nodeId) <= NOTIFY_PAYLOAD_MAX_BYTES) return json;
  return JSON.stringify({ t: 'payment', id: c.payment.id, v: c.payment.version });
}

/**
 * Messages packed into as few notifications as fit, in order: "<node id> <mac> [<message>,…]".
 * Each notification costs the database a queue entry and every listening node a message to
 * read and a MAC to check, whatever it carries; under load one statement announces hundreds of
 * changes. Any role that can connect to the database may NOTIFY on any channel, so the JSON is
 * signed with a key the gateway's nodes derive from their shared PAYGATE_SECRET_KEY.
 */
export function packAnnouncements(nodeId: string, key: Buffer, messages: readonly string[]): string[] {
  const room = NOTIFY_PAYLOAD_MAX_BYTES - headerBytes(nodeId) - 2; // the brackets
  const payloads: string[] = [];
  let group: string[] = [];
  let bytes = 0;
  const flush = () => {
    if (!group.length) return;
    const json = `[${group.join(',')}]`;
    payloads.push(`${nodeId} ${mac(key, json)} ${json}`);
    group = [];
    bytes = 0;
  };
  for (const m of messages) {
    const size = Buffer.byteLength(m);
    if (group.length && bytes + 1 + size > room) flush(); // 1: the comma
    bytes += (group.length ? 1 : 0) + size;
    group.push(m);
  }
  flush();
  return payloads;
}

function headerBytes(nodeId: string): number {
  return Buffer.byteLength(nodeId) + 1 + MAC_CHARS + 1;
}

export type Announcement =
  | { kind: 'own' }
  | { kind: 'payment'; from: string; id: string; version: number; payment: PaymentRecord | null }
  | { kind: 'hello'; from: string }
  | { kind: 'other'; from: string };

/**
 * Reads a notification: its messages in order, or null when it is not a well-formed
 * announcement signed with the key. A single message not in an array (as nodes before packing
 * sent them, during a rolling upgrade) reads as one.
 */
export function decodeAnnouncement(ownNodeId: string, key: Buffer, payload: string): Announcement[] | null {
  const a = payload.indexOf(' ');
  const b = payload.indexOf(' ', a + 1);
  if (a <= 0 || b <= a) return null;
  const from = payload.slice(0, a);
  if (from === ownNodeId) return [{ kind: 'own' }];
  const json = payload.slice(b + 1);
  const got = Buffer.from(payload.slice(a + 1, b));
  const want = Buffer.from(mac(key, json));
  if (got.length !== want.length || !timingSafeEqual(got, want)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return null;
  }
  const out: Announcement[] = [];
  for (const msg of Array.isArray(parsed) ? parsed : [parsed]) {
    const m = decodeMessage(from, msg);
    if (m === null) return null;
    out.push(m);
  }
  return out;
}

function decodeMessage(from: string, msg: { t?: unknown; id?: unknown; v?: unknown; p?: Record<string, unknown> } | null): Announcement | null {
  if (typeof msg !== 'object' || msg === null) return null;
  if (msg.t === 'hello') return { kind: 'hello', from };
  if (msg.t !== 'payment') return { kind: 'other', from };
  if (typeof msg.id !== 'string' || typeof msg.v !== 'number') return null;
  const payment = msg.p ? decodePayment(msg.p) : null; // throws on a malformed record
  if (payment && (payment.id !== msg.id || payment.version !== msg.v)) return null;
  return { kind: 'payment', from, id: msg.id, version: msg.v, payment };
}

function mac(key: Buffer, json: string): string {
  return createHmac('sha256', key).update(json, 'utf8').digest().subarray(0, 16).toString('base64url');
}

/** How long another node counts as present after this node last heard from it. */
export const PEER_TTL_MS = 15_000;
/** How often every node says it is there (well inside PEER_TTL_MS: a lost hello is not a gap). */
export const PEER_HELLO_MS = 5_000;
const PEERS_MAX = 1_000;

/**
 * The other nodes of this gateway that this node heard from lately (any signed notification,
 * hellos included). Changes are announced only while there is one: a NOTIFY costs the
 * database about as much with no other listener as with many (measured: a lone node pays a
 * third of its throughput for announcements nobody reads). A node that has just started is
 * heard at once (its hello) and answered, so both know each other within a round trip; a
 * change made before that is caught up by the periodic catch-up, as a lost notification is.
 */
export class Peers {
  private readonly lastHeard = new Map<string, number>();
  constructor(private readonly now_ms: () => number = () => performance.now()) {}

  /** Notes a signed notification from another node; true when it was not present (answer it with a hello). */
  heard(nodeId: string): boolean {
    const now = this.now_ms();
    const last = this.lastHeard.get(nodeId);
    this.lastHeard.delete(nodeId); // re-inserted last: the map stays in order of hearing
    makeRoom(this.lastHeard, PEERS_MAX).set(nodeId, now);
    return last === undefined || now - last > PEER_TTL_MS;
  }

  /** Whether any other node was heard within PEER_TTL_MS. */
  present(): boolean {
    const now = this.now_ms();
    for (const [id, at] of this.lastHeard) {
      if (now - at <= PEER_TTL_MS) return true;
      this.lastHeard.delete(id); // oldest first: the rest are newer
    }
    return false;
  }
}
