// Every feature module the gateway serves. One line per module; each is an encapsulated
// Fastify plugin (its own routes, error handler and hooks).
import type { FastifyInstance } from 'fastify';
import type { GatewayContext } from './gateway.ts';
import admin from './merchants/routes.ts';
import ibous from './dialects/ibous/index.ts';
import kesspay from './dialects/kesspay/index.ts';
import intouchpay from './dialects/intouchpay/index.ts';
import flexpay from './dialects/flexpay/index.ts';
import wallet from './rails/wallet/index.ts';
import walletCodes from './rails/wallet/codes-routes.ts';
import mobileMoney from './rails/mobile-money/index.ts';
import card from './rails/card/index.ts';

export interface GatewayModule {
  name: string;
  prefix?: string;
  register(app: FastifyInstance, ctx: GatewayContext): Promise<void>;
}

export const MODULES: GatewayModule[] = [admin, ibous, kesspay, intouchpay, flexpay, wallet, walletCodes, mobileMoney, card];
