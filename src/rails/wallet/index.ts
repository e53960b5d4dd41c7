import type { GatewayModule } from '../../modules.ts';

// Not built yet: see the open issue for this module.
const mod: GatewayModule = {
  name: 'wallet',
  async register() {},
};
export default mod;
