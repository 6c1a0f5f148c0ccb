/**
 * The local stand-in for source D: the market events REST simulator on MARKET_SIM_PORT,
 * managed while MARKET_API_URL points here.
 */
import { httpSimulatorService } from './http-simulator.ts';

export const marketSimService = httpSimulatorService({
  name: 'market',
  portEnv: 'MARKET_SIM_PORT',
  port: (config) => config.marketSimPort,
  urls: (config) => [config.marketApiUrl],
  describe: (config) => `events ${config.marketApiUrl.href}`,
});
