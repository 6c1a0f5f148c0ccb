/**
 * A local API simulator (Node, under simulators/<name>/main.ts) run as a background process
 * on a port of its own, managed only while the source's configured URLs point at this
 * machine. The weather and market simulators are both this.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../config.ts';
import { isLocalHost } from '../../config.ts';
import { serverDir } from '../paths.ts';
import { runningPid, startDaemon, stopDaemon, waitUntilReady } from '../process.ts';
import type { InfraContext, LocalService, ServiceStatus } from '../service.ts';

export interface HttpSimulatorSpec {
  /** Service name and simulators/<name>/main.ts. */
  readonly name: string;
  /** The variable naming the port, for messages. */
  readonly portEnv: string;
  readonly port: (config: Config) => number;
  /** The source URLs the simulator stands in for. */
  readonly urls: (config: Config) => readonly URL[];
  /** One line describing the URLs, for `lake infra status`. */
  readonly describe: (config: Config) => string;
}

export function httpSimulatorService(spec: HttpSimulatorSpec): LocalService {
  const main = fileURLToPath(new URL(`../../../simulators/${spec.name}/main.ts`, import.meta.url));
  const localUrls = (config: Config): URL[] => spec.urls(config).filter((u) => isLocalHost(u.hostname.replace(/^\[|\]$/g, '')));
  const simulatorUrl = (config: Config): string => `http://127.0.0.1:${spec.port(config)}`;

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
  const portMismatches = (config: Config): string[] =>
    localUrls(config)
      .filter((u) => Number(u.port || (u.protocol === 'https:' ? 443 : 80)) !== spec.port(config))
      .map((u) => `${u.href} is local but the simulator listens on ${spec.portEnv} ${spec.port(config)}`);

  return {
    name: spec.name,
    managed: (config) => localUrls(config).length > 0,

    async provision() {
      // Plain Node: nothing to build or download.
    },

    async start({ config }: InfraContext) {
      const dir = serverDir(config, spec.name);
      if (runningPid(dir) !== undefined && (await ready(config))) return;
      const pid = startDaemon({
        dir,
        command: process.execPath,
        args: ['--import', 'tsx', main, '--port', String(spec.port(config))],
        cwd: path.dirname(main),
      });
      await waitUntilReady({ name: `${spec.name} simulator`, pid, logDir: dir, timeoutMs: 30_000, ready: () => ready(config) });
    },

    stop: ({ config }) => stopDaemon(serverDir(config, spec.name)),

    async status(config): Promise<ServiceStatus> {
      const pid = runningPid(serverDir(config, spec.name));
      return {
        name: spec.name,
        address: simulatorUrl(config),
        managed: this.managed(config),
        running: await ready(config),
        ...(pid !== undefined ? { pid } : {}),
        notes: [spec.describe(config), ...portMismatches(config)],
      };
    },
  };
}
