// Links into the wallet web app, shared by the dialects that hand out wallet QR codes.
import type { GatewayContext } from '../../gateway.ts';

/** The URL a wallet QR code encodes: the pay page of one payment, found by its unguessable token. */
export function walletPayUrl(ctx: Pick<GatewayContext, 'publicUrl'>, token: string): string {
  return `${ctx.publicUrl()}/wallet/pay/${encodeURIComponent(token)}`;
}

/** Payment tokens are 24 base64url characters (src/payments/service.ts newToken); bound what we look up. */
export const TOKEN_RE = /^[A-Za-z0-9_-]{16,64}$/;

/** The token inside a scanned QR text: a full pay URL, a path, or the bare token. */
export function tokenFromScan(text: unknown): string | null {
  if (typeof text !== 'string') return null;
  const s = text.trim();
  if (s.length > 2048) return null;
  const m = /\/wallet\/pay\/([A-Za-z0-9_-]{16,64})(?:[/?#].*)?$/.exec(s);
  if (m) return m[1]!;
  return TOKEN_RE.test(s) ? s : null;
}
