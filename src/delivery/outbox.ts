// The outbox: callbacks are rows written in the same transaction as the state change they
// announce; the dispatcher delivers them later, at least once.
import type { Queryable } from '../store/db.ts';

export type Ack = '2xx' | 'json_success';

export interface OutboxMessage {
  event: string;
  url: string;
  /** Exact bytes to send on every attempt. */
  body: string;
  content_type?: string;
  ack?: Ack;
}

export const MAX_CALLBACK_BODY_BYTES = 16 * 1024;

export async function enqueue(
  q: Queryable,
  merchant_id: string,
  msg: OutboxMessage,
  refs: { payment_id?: string; refund_id?: string; payout_id?: string },
  now: Date,
): Promise<string> {
  if (Buffer.byteLength(msg.body) > MAX_CALLBACK_BODY_BYTES) throw new Error('callback body too large');
  const [row] = await q.query<{ id: bigint }>(
    `insert into outbox (merchant_id, event, payment_id, refund_id, payout_id, url, body, content_type, ack, next_attempt_at, created_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) returning id`,
    [merchant_id, msg.event, refs.payment_id ?? null, refs.refund_id ?? null, refs.payout_id ?? null, msg.url, msg.body, msg.content_type ?? 'application/json', msg.ack ?? '2xx', now],
  );
  return String(row!.id);
}
