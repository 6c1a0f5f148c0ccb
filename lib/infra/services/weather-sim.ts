/**
 * The local stand-in for source C: the Open-Meteo-shaped weather simulator, run as a
 * background process on WEATHER_SIM_PORT. Managed only while WEATHER_FORECAST_URL or
 * WEATHER_ARCHIVE_URL points at this machine.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../config.ts';
import { isLocalHost } from '../../config.ts';
import { serverDir } from '../paths.ts';
import { runningPid, startDaemon, stopDaemon, waitUntilReady } from '../process.ts';
import type { InfraContext, LocalService, ServiceStatus } from '../service.ts';

const MAIN = fileURLToPath(new URL('../../../simulators/weather/main.ts', import.meta.url));

const localUrls = (config: Config): URL[] => [config.weatherForecastUrl, config.weatherArchiveUrl].filter((u) => isLocalHost(u.hostname.replace(/^\[|\]$/g, '')));

const simulatorUrl = (config: Config): string => `http://127.0.0.1:${config.weatherSimPort}`;

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
  return localUrls(config)
    .filter((u) => Number(u.port || (u.protocol === 'https:' ? 443 : 80)) !== config.weatherSimPort)
    .map((u) => `${u.href} is local but the simulator listens on WEATHER_SIM_PORT ${config.weatherSimPort}`);
}

export const weatherSimService: LocalService = {
  name: 'weather',
  managed: (config) => localUrls(config).length > 0,

  async provision() {
    // Plain Node: nothing to build or download.
  },

  async start({ config }: InfraContext) {
    const dir = serverDir(config, 'weather');
    if (runningPid(dir) !== undefined && (await ready(config))) return;
    const pid = startDaemon({
      dir,
      command: process.execPath,
      args: ['--import', 'tsx', MAIN, '--port', String(config.weatherSimPort)],
      cwd: path.dirname(MAIN),
    });
    await waitUntilReady({ name: 'weather simulator', pid, logDir: dir, timeoutMs: 30_000, ready: () => ready(config) });
  },

  stop: ({ config }) => stopDaemon(serverDir(config, 'weather')),

  async status(config): Promise<ServiceStatus> {
    const pid = runningPid(serverDir(config, 'weather'));
    return {
      name: 'weather',
      address: simulatorUrl(config),
      managed: this.managed(config),
      running: await ready(config),
      ...(pid !== undefined ? { pid } : {}),
      notes: [`forecast ${config.weatherForecastUrl.href}, archive ${config.weatherArchiveUrl.href}`, ...portMismatches(config)],
    };
  },
};
