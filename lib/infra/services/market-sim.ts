/**
 * The local stand-in for source D: the market events REST simulator, run as a background
 * process on MARKET_SIM_PORT. Managed only while MARKET_API_URL points at this machine.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../config.ts';
import { isLocalHost } from '../../config.ts';
import { serverDir } from '../paths.ts';
import { runningPid, startDaemon, stopDaemon, waitUntilReady } from '../process.ts';
import type { InfraContext, LocalService, ServiceStatus } from '../service.ts';

const MAIN = fileURLToPath(new URL('../../../simulators/market/main.ts', import.meta.url));

const isLocal = (config: Config): boolean => isLocalHost(config.marketApiUrl.hostname.replace(/^\[|\]$/g, ''));

const simulatorUrl = (config: Config): string => `http://127.0.0.1:${config.marketSimPort}`;

/** The simulator answers its stats: a bare open port could be some other program. */
async function ready(config: Config): Promise<boolean> {
  try {
    const res = await fetch(`${simulatorUrl(config)}/__sim/stats`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

/** A local URL on another port than the simulator's would find nothing there. */
function portMismatches(config: Config): string[] {
  const u = config.marketApiUrl;
  if (!isLocal(config) || Number(u.port || (u.protocol === 'https:' ? 443 : 80)) === config.marketSimPort) return [];
  return [`${u.href} is local but the simulator listens on MARKET_SIM_PORT ${config.marketSimPort}`];
}

export const marketSimService: LocalService = {
  name: 'market',
  managed: isLocal,

  async provision() {
    // Plain Node: nothing to build or download.
  },

  async start({ config }: InfraContext) {
    const dir = serverDir(config, 'market');
    if (runningPid(dir) !== undefined && (await ready(config))) return;
    const pid = startDaemon({
      dir,
      command: process.execPath,
      args: ['--import', 'tsx', MAIN, '--port', String(config.marketSimPort)],
      cwd: path.dirname(MAIN),
    });
    await waitUntilReady({ name: 'market simulator', pid, logDir: dir, timeoutMs: 30_000, ready: () => ready(config) });
  },

  stop: ({ config }) => stopDaemon(serverDir(config, 'market')),

  async status(config): Promise<ServiceStatus> {
    const pid = runningPid(serverDir(config, 'market'));
    return {
      name: 'market',
      address: simulatorUrl(config),
      managed: this.managed(config),
      running: await ready(config),
      ...(pid !== undefined ? { pid } : {}),
      notes: [`events ${config.marketApiUrl.href}`, ...portMismatches(config)],
    };
  },
};
