// The change feed: every committed state change of a payment or payout goes through here.
// In-process listeners hear it at once; other nodes hear it through Postgres NOTIFY, sent
// after the commit (see Payments.publish), so only committed changes are announced.
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

/**
 * A change as other nodes hear it: "<node id> <mac> <json>". The JSON carries the whole payment
 * when it fits (their status caches take it without reading the row), else its id and version
 * (they read it). Any role that can connect to the database may NOTIFY on any channel, so the
 * JSON is signed with a key the gateway's nodes derive from their shared PAYGATE_SECRET_KEY.
 */
export function encodeAnnouncement(nodeId: string, key: Buffer, c: Change): string {
  let json: string;
  if (c.type === 'payout') json = JSON.stringify({ t: 'payout', id: c.payout.id });
  else {
    json = `{"t":"payment","id":${JSON.stringify(c.payment.id)},"v":${c.payment.version},"p":${encodePayment(c.payment)}}`;
    if (Buffer.byteLength(json) + nodeId.length + MAC_CHARS + 2 > NOTIFY_PAYLOAD_MAX_BYTES) json = JSON.stringify({ t: 'payment', id: c.payment.id, v: c.payment.version });
  }
  return `${nodeId} ${mac(key, json)} ${json}`;
}

export type Announcement =
  | { kind: 'own' }
  | { kind: 'payment'; id: string; version: number; payment: PaymentRecord | null }
  | { kind: 'other' };

/** Reads a notification; null when it is not a well-formed announcement signed with the key. */
export function decodeAnnouncement(ownNodeId: string, key: Buffer, payload: string): Announcement | null {
  const a = payload.indexOf(' ');
  const b = payload.indexOf(' ', a + 1);
  if (a <= 0 || b <= a) return null;
  if (payload.slice(0, a) === ownNodeId) return { kind: 'own' };
  const json = payload.slice(b + 1);
  const got = Buffer.from(payload.slice(a + 1, b));
  const want = Buffer.from(mac(key, json));
  if (got.length !== want.length || !timingSafeEqual(got, want)) return null;
  let msg: { t?: unknown; id?: unknown; v?: unknown; p?: Record<string, unknown> };
  try {
    msg = JSON.parse(json);
  } catch {
    return null;
  }
  if (msg.t !== 'payment') return { kind: 'other' };
  if (typeof msg.id !== 'string' || typeof msg.v !== 'number') return null;
  const payment = msg.p ? decodePayment(msg.p) : null; // throws on a malformed record
  if (payment && (payment.id !== msg.id || payment.version !== msg.v)) return null;
  return { kind: 'payment', id: msg.id, version: msg.v, payment };
}

function mac(key: Buffer, json: string): string {
  return createHmac('sha256', key).update(json, 'utf8').digest().subarray(0, 16).toString('base64url');
}
