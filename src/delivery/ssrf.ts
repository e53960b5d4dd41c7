// Callbacks go to merchants' servers, never to the gateway's own network: private,
// loopback, link-local and other special addresses are refused unless allowed (tests).
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

export const CALLBACK_URL_MAX = 2048;

function v4ToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => (a << 8) + Number(o), 0) >>> 0;
}

const V4_BLOCKED: [string, number][] = [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
];

export function isPrivateAddress(ip: string): boolean {
  const kind = isIP(ip);
  if (kind === 4) {
    const n = v4ToInt(ip);
    return V4_BLOCKED.some(([base, bits]) => (n >>> (32 - bits)) === (v4ToInt(base) >>> (32 - bits)));
  }
  if (kind === 6) {
    const s = ip.toLowerCase();
    if (s === '::' || s === '::1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(s);
    if (mapped) return isPrivateAddress(mapped[1]!);
    return /^(fc|fd|fe8|fe9|fea|feb|ff)/.test(s);
  }
  return true;
}

/** Syntax only: absolute http(s), bounded length, no credentials in the URL. */
export function callbackUrlSyntaxError(url: unknown): string | null {
  if (typeof url !== 'string' || url.length === 0) return 'must be a URL';
  if (url.length > CALLBACK_URL_MAX) return `must be at most ${CALLBACK_URL_MAX} characters`;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'must be an absolute http(s) URL';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'must be an absolute http(s) URL';
  if (u.username || u.password) return 'must not carry credentials';
  return null;
}

/** Full check, resolving the host: null when the URL may receive callbacks. */
export async function callbackUrlError(url: unknown, allowPrivate: boolean): Promise<string | null> {
  const syntax = callbackUrlSyntaxError(url);
  if (syntax) return syntax;
  if (allowPrivate) return null;
  const host = new URL(url as string).hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.internal')) return 'must not point to a private address';
  let addrs: string[];
  if (isIP(host)) addrs = [host];
  else {
    try {
      addrs = (await lookup(host, { all: true })).map((a) => a.address);
    } catch {
      return 'host does not resolve';
    }
  }
  if (addrs.some(isPrivateAddress)) return 'must not point to a private, loopback or link-local address';
  return null;
}
