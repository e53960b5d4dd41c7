// Paygate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>"> keyed per merchant.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'Paygate-Signature';

export function sign(body: string, secret: string, t_s: number): string {
  const v1 = createHmac('sha256', secret).update(`${t_s}.${body}`).digest('hex');
  return `t=${t_s},v1=${v1}`;
}

export function verify(body: string, header: string, secret: string, now_s: number, tolerance_s = 300): boolean {
  const parts = Object.fromEntries(header.split(',').map((kv) => kv.split('=', 2) as [string, string]));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || !parts.v1 || Math.abs(now_s - t) > tolerance_s) return false;
  const want = Buffer.from(sign(body, secret, t).split('v1=')[1]!, 'hex');
  const got = Buffer.from(parts.v1, 'hex');
  return got.length === want.length && timingSafeEqual(got, want);
}
