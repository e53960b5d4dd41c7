// Core errors carry a stable code; each dialect maps codes to its own wire format.
export type CoreErrorCode =
  | 'not_found'
  | 'reference_conflict'
  | 'invalid_state'
  | 'insufficient_funds'
  | 'expired'
  | 'invalid_request'
  | 'unauthorized'
  | 'locked'
  | 'refund_exceeds_payment'
  | 'currency_mismatch';

export class CoreError extends Error {
  constructor(
    readonly code: CoreErrorCode,
    message: string,
    readonly detail: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export function isCoreError(err: unknown, code?: CoreErrorCode): err is CoreError {
  return err instanceof CoreError && (code === undefined || err.code === code);
}
