// Small HTTP clients for the reliability suite and the chaos run: each dialect's merchant calls
// and the payer steps (wallet JSON API, handset JSON API), exactly as an integrator sends them.
import { createHash } from 'node:crypto';

export interface Creds {
  ibous: { api_key: string; api_secret: string };
  intouchpay: { username: string; accountno: string; partner_password: string };
  flexpay: { merchant: string; token: string };
  kesspay?: { user: string; password: string; store_id?: string };
}

export interface Answer { status: number; text: string; body: any; headers: Headers }

export async function call(url: string, init: RequestInit & { timeout_ms?: number } = {}): Promise<Answer> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(init.timeout_ms ?? 30_000) });
  const text = await res.text();
  let body: any = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  return { status: res.status, text, body, headers: res.headers };
}

export const json = (b: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(b) });

export function intouchTimestamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

export function intouchAuth(c: Creds['intouchpay'], at: Date = new Date()) {
  const timestamp = intouchTimestamp(at);
  const password = createHash('sha256').update(c.username + c.accountno + c.partner_password + timestamp).digest('hex');
  return { username: c.username, accountno: c.accountno, timestamp, password };
}

export function intouch(base: string, c: Creds['intouchpay'], path: string, fields: Record<string, string>, at?: Date) {
  return call(`${base}/api/${path}/`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...intouchAuth(c, at), ...fields }).toString(),
  });
}

export function ibous(base: string, c: Creds['ibous'], path: string, params: Record<string, unknown>) {
  return call(`${base}/api/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'API-TOKEN-KEY': c.api_key, 'API-TOKEN-SECRET': c.api_secret },
    body: JSON.stringify(params),
  });
}

export function flexpay(base: string, c: Creds['flexpay'], path: string, body?: Record<string, unknown>) {
  return call(`${base}${path}`, body === undefined
    ? { headers: { authorization: `Bearer ${c.token}` } }
    : { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${c.token}` }, body: JSON.stringify(body) });
}

/** The ibous QR token: the last path segment of `qrcode_img` (`/qrcd/<token>.png`). */
export function qrToken(qrcode_img: string): string {
  return new URL(qrcode_img).pathname.split('/').pop()!.replace(/\.png$/, '');
}

export async function walletLogin(base: string, phone: string, pin: string, currency?: string): Promise<string> {
  const r = await call(`${base}/wallet/api/login`, json({ phone, pin, ...(currency ? { currency } : {}) }));
  if (r.status !== 200) throw new Error(`wallet login ${phone}: ${r.status} ${r.text}`);
  return r.body.token;
}

export function walletPay(base: string, session: string, token: string, pin: string) {
  return call(`${base}/wallet/api/pay`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${session}` }, body: JSON.stringify({ token, pin }) });
}

export async function handsetApprove(base: string, phone: string, payment_id: string, pin: string): Promise<Answer | null> {
  const p = await call(`${base}/handset/api/${phone}/prompts`);
  const prompt = (p.body?.prompts ?? []).find((x: any) => x.payment_id === payment_id);
  if (!prompt) return null;
  return call(`${base}/handset/api/${phone}/prompts/${prompt.id}/approve`, json({ pin }));
}

// ---- KessPay (seed 001) -------------------------------------------------------------------

/** A KessPay API token (lasts 60 s on the gateway's clock). */
export async function kessToken(base: string, c: NonNullable<Creds['kesspay']>): Promise<string> {
  const r = await call(`${base}/kesspay/api/token`, json({ user: c.user, password: c.password }));
  if (r.status !== 200 || r.body?.success !== true) throw new Error(`kesspay token: ${r.status} ${r.text}`);
  return r.body.data.token;
}

/** A KessPay operation (`/kesspay/api/<op>`) with a Bearer token; `raw` is sent as the body text as is. */
export function kess(base: string, token: string, op: string, body: Record<string, unknown> | string) {
  return call(`${base}/kesspay/api/${op}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** Quick Pay body with the 18-digit auth_code as an unquoted JSON number, as the seed writes it. */
export function quickPayBody(fields: Record<string, unknown>, code: string): string {
  return JSON.stringify(fields).replace(/}$/, `,"auth_code":${code}}`);
}

/** A fresh one-time payment code of the logged-in wallet (`GET /wallet/api/code`). */
export async function walletCode(base: string, session: string, currency?: string): Promise<string> {
  const r = await call(`${base}/wallet/api/code${currency ? `?currency=${currency}` : ''}`, { headers: { authorization: `Bearer ${session}` } });
  if (r.status !== 200) throw new Error(`wallet code: ${r.status} ${r.text}`);
  return r.body.code;
}

/** The wallet pay token of a KessPay Native Pay `qr_code` (`/wallet/pay/<token>`). */
export function payUrlToken(qr_code: string): string {
  return new URL(qr_code).pathname.split('/').pop()!;
}
