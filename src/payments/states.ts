// Explicit state machines: the only transitions the core will make. Anything else is refused.
export type PaymentState = 'pending' | 'succeeded' | 'failed' | 'expired' | 'cancelled' | 'partially_refunded' | 'refunded';
export type PayoutState = 'pending' | 'succeeded' | 'failed';

export const PAYMENT_TRANSITIONS: Record<PaymentState, readonly PaymentState[]> = {
  pending: ['succeeded', 'failed', 'expired', 'cancelled'],
  succeeded: ['partially_refunded', 'refunded'],
  partially_refunded: ['partially_refunded', 'refunded'],
  failed: [],
  expired: [],
  cancelled: [],
  refunded: [],
};

/** Payouts are decided in their creating transaction (succeeded, or failed for a short balance); none moves later. */
export const PAYOUT_TRANSITIONS: Record<PayoutState, readonly PayoutState[]> = {
  pending: ['succeeded', 'failed'],
  succeeded: [],
  failed: [],
};

/** States a transition to `to` may start from (used in UPDATE … WHERE state = ANY(…)). */
export function sourcesOf(to: PaymentState): PaymentState[] {
  return (Object.keys(PAYMENT_TRANSITIONS) as PaymentState[]).filter((s) => PAYMENT_TRANSITIONS[s].includes(to));
}

/** Money was taken from the payer (refunds possible). */
export function isPaid(state: PaymentState): boolean {
  return state === 'succeeded' || state === 'partially_refunded' || state === 'refunded';
}
