import type { GatewayModule } from '../../modules.ts';

// Payment codes (KessPay Quick Pay) and in-app confirmation: see issue 4.
const mod: GatewayModule = {
  name: 'wallet-codes',
  async register() {},
};
export default mod;
