// Demo data created on first start: one merchant with credentials for every dialect, and
// payers for every rail. Its credentials are kept in the data dir so each start can print them.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Gateway } from './gateway.ts';
import type { MerchantCredentials } from './merchants/service.ts';

export const DEMO_MERCHANT = 'Demo Shop';
export const DEMO_PIN = '1234';
export const DEMO_PAYERS = [
  { kind: 'wallet', name: 'Olriche Rosier', phone: '50937000001', currency: 'HTG', balance: '100000' },
  { kind: 'wallet', name: 'Olriche Rosier', phone: '50937000001', currency: 'USD', balance: '500.00' },
  { kind: 'wallet', name: 'Sokha Chan', phone: '85512000001', currency: 'USD', balance: '1000.00' },
  { kind: 'subscriber', name: 'Jean Mugisha', phone: '250788123456', currency: 'RWF', balance: '500000' },
  { kind: 'subscriber', name: 'Grace Mbuyi', phone: '243810000001', currency: 'CDF', balance: '1000000' },
  { kind: 'subscriber', name: 'Grace Mbuyi', phone: '243810000001', currency: 'USD', balance: '1000.00' },
] as const;

export interface DemoInfo {
  merchant_id: string;
  credentials: MerchantCredentials;
  webhook_secret: string;
}

export async function ensureDemo(gw: Gateway): Promise<DemoInfo | null> {
  const file = join(gw.config.dataDir, 'demo.json');
  const existing = await gw.merchants.findByName(DEMO_MERCHANT);
  if (existing) {
    if (!existsSync(file)) return null;
    const info = JSON.parse(readFileSync(file, 'utf8')) as DemoInfo;
    return info.merchant_id === existing.id ? info : null;
  }
  const { merchant, credentials, webhook_secret } = await gw.merchants.create(DEMO_MERCHANT);
  for (const p of DEMO_PAYERS) await gw.payers.create(p.kind, { ...p, pin: DEMO_PIN });
  const info: DemoInfo = { merchant_id: merchant.id, credentials, webhook_secret };
  writeFileSync(file, JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
  return info;
}
