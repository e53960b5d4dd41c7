// The wallet rail: the web app a wallet QR code opens (pages) and the JSON API of the mobile
// wallet app. Payment codes and in-app pay live in codes-routes.ts (their own module).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { GatewayContext } from '../../gateway.ts';
import type { GatewayModule } from '../../modules.ts';
import { apiErrorHandler, registerWalletApi } from './api.ts';
import { Csrf, html, sendPage } from './pages.ts';
import { WalletService } from './service.ts';
import { WalletSessions } from './session.ts';
import { registerWalletPages } from './web.ts';

const mod: GatewayModule = {
  name: 'wallet',
  async register(app: FastifyInstance, ctx: GatewayContext) {
    const wallet = new WalletService(ctx);
    const sessions = new WalletSessions(ctx.sealer, ctx.clock);
    const csrf = new Csrf(ctx.sealer, () => ctx.publicUrl().startsWith('https:'));
    app.setErrorHandler((err, req: FastifyRequest, reply: FastifyReply) => {
      if (req.url.startsWith('/wallet/api/')) return apiErrorHandler(err, req, reply);
      const e = err as { statusCode?: number };
      const status = e.statusCode && e.statusCode >= 400 && e.statusCode < 500 ? e.statusCode : 500;
      if (status === 500) req.log.error({ err }, 'wallet page error');
      return sendPage(reply, status, 'Error', () => html`<h1>Something went wrong</h1><p class="msg err">${status === 500 ? 'Please try again.' : 'The request could not be read.'}</p>`);
    });
    await registerWalletApi(app, ctx, wallet, sessions);
    await registerWalletPages(app, ctx, wallet, sessions, csrf);
  },
};
export default mod;
