// Payer-side steps for the SDK live tests, driven through Paygate's payer JSON APIs
// (docs/wallet.md, docs/kesspay.md, docs/mobile-money.md) and the card checkout page
// (docs/card.md) with plain HTTP form posts.
import assert from 'node:assert/strict';
import { PNG } from 'pngjs';
import jsqrModule from 'jsqr';
import { eventually, type TestGateway } from '../harness.ts';

// jsqr is CommonJS: its default export is the function under NodeNext typing, or `.default` at run time
type JsQR = typeof jsqrModule extends { default: infer F } ? F : typeof jsqrModule;
const jsQR = ((jsqrModule as any).default ?? jsqrModule) as JsQR;

export interface Answer { status: number; body: any; text: string }

async function call(url: string, method: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(url, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: any = null;
  try { parsed = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, body: parsed, text };
}

/** A wallet app session: POST /wallet/api/login, then bearer calls. */
export async function walletSession(t: TestGateway, phone: string, pin: string) {
  const login = await call(`${t.url}/wallet/api/login`, 'POST', { phone, pin });
  assert.equal(login.status, 200, login.text);
  const token = login.body.token as string;
  const api = (method: string, path: string, body?: unknown) => call(`${t.url}/wallet/api/${path}`, method, body, { authorization: `Bearer ${token}` });
  return {
    api,
    /** Pays the payment behind a scanned QR text / pay URL with the PIN. */
    async pay(qr: string) {
      const r = await api('POST', 'pay', { qr, pin });
      assert.equal(r.status, 200, r.text);
      return r.body;
    },
    async decline(qr: string) {
      const r = await api('POST', 'decline', { qr });
      assert.equal(r.status, 200, r.text);
      return r.body;
    },
    async resolve(qr: string) {
      const r = await api('POST', 'resolve', { qr });
      assert.equal(r.status, 200, r.text);
      return r.body;
    },
    /** Balance (minor units) of the wallet in `currency`. */
    async balance(currency: string): Promise<bigint> {
      const r = await api('GET', 'balance');
      assert.equal(r.status, 200, r.text);
      return BigInt(r.body.wallets.find((w: any) => w.currency === currency).balance_minor);
    },
    /** A fresh one-time payment code for Quick Pay (GET /wallet/api/code). */
    async code(): Promise<string> {
      const r = await api('GET', 'code');
      assert.equal(r.status, 200, r.text);
      return r.body.code;
    },
    /** Approves the first Quick Pay confirmation waiting for this wallet's PIN. */
    async approvePending(): Promise<string> {
      const item = await eventually(async () => (await api('GET', 'code/confirmations')).body.items[0]);
      const r = await api('POST', `code/confirmations/${item.payment_id}/approve`, { pin });
      assert.equal(r.status, 200, r.text);
      return item.payment_id;
    },
    async confirmJsapi(prepay_id: string) {
      const r = await api('POST', `jsapi/${prepay_id}/confirm`, { pin });
      assert.equal(r.status, 200, r.text);
      return r.body;
    },
  };
}

/** Downloads a QR code PNG and returns the text it encodes. */
export async function decodeQrPng(url: string): Promise<string> {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /image\/png/);
  const png = PNG.sync.read(Buffer.from(await res.arrayBuffer()));
  const qr = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  assert.ok(qr, 'the PNG holds a readable QR code');
  return qr.data;
}

/** The handset simulator's JSON API (docs/mobile-money.md). */
export function handset(t: TestGateway, phone: string, pin: string) {
  const api = (method: string, path: string, body?: unknown) => call(`${t.url}/handset/api/${phone}/${path}`, method, body);
  return {
    /** Waits for the prompt of `payment` (or any prompt) and approves it with the PIN. */
    async approve(match?: (p: any) => boolean) {
      const prompt = await eventually(async () => {
        const r = await api('GET', 'prompts');
        assert.equal(r.status, 200, r.text);
        return (r.body.prompts as any[]).find((p) => !match || match(p));
      });
      const r = await api('POST', `prompts/${prompt.id}/approve`, { pin });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.result, 'approved');
      return { prompt, answer: r.body };
    },
    async balance(currency: string): Promise<bigint> {
      const r = await api('GET', 'balance');
      assert.equal(r.status, 200, r.text);
      return BigInt(r.body.balances.find((b: any) => b.currency === currency)?.balance_minor ?? 0);
    },
  };
}

/**
 * A browser-less payer on the hosted card checkout page: GET the page, read its CSRF token
 * from the HTML, POST the card form. Returns the answer to the form post (not followed).
 */
export async function payOnCheckout(checkoutUrl: string, card = '4242 4242 4242 4242') {
  const page = await fetch(checkoutUrl);
  assert.equal(page.status, 200);
  const html = await page.text();
  const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
  assert.ok(csrf, 'the checkout page carries a CSRF token');
  const u = new URL(checkoutUrl);
  const form = new URLSearchParams({ csrf, card_number: card, exp: '12/30', cvv: '123', holder: 'Jean Mukendi' });
  return { html, answer: await fetch(`${u.origin}${u.pathname}/pay`, { method: 'POST', body: form, redirect: 'manual' }) };
}
