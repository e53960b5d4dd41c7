// The change feed: every committed state change of a payment or payout goes through here.
// In-process listeners hear it at once; other nodes hear it through Postgres NOTIFY
// (sent inside the same transaction, so only committed changes are announced).
import { EventEmitter } from 'node:events';
import type { PaymentRecord, PayoutRecord } from './model.ts';

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
