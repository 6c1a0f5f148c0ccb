/**
 * The local stand-ins for sources A and B: a real FTP server (pyftpdlib) and an HTTP
 * file server over `<data>/sim/files`, run as one background process. Managed only
 * while SOURCE_A_URL / SOURCE_B_URL point at this machine.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../config.ts';
import { isLocalHost } from '../../config.ts';
import { ftpServerPython } from '../../../simulators/files/ftp-file-server.ts';
import { serverDir } from '../paths.ts';
import { portOpen, runningPid, startDaemon, stopDaemon, waitUntilReady } from '../process.ts';
import type { InfraContext, LocalService, ServiceStatus } from '../service.ts';

const SERVERS = fileURLToPath(new URL('../../../simulators/files/servers.ts', import.meta.url));

/** Folder the simulators serve: `source_a/…`, `source_b/…`. */
export function simulatedFilesDir(config: Config): string {
  return path.join(config.dataDir, 'sim', 'files');
}

function hosts(config: Config): string[] {
  return [config.sourceAUrl, config.sourceBUrl].map((u) => {
    try {
      return new URL(u).hostname;
    } catch {
      return '';
    }
  });
}

async function ready(config: Config): Promise<boolean> {
  return (await portOpen('127.0.0.1', config.fileSimFtpPort)) && (await portOpen('127.0.0.1', config.fileSimHttpPort));
}

export const fileSourcesService: LocalService = {
  name: 'sources',
  managed: (config) => hosts(config).some(isLocalHost),

  async provision({ config }: InfraContext) {
    await ftpServerPython(config);
  },

  async start({ config }: InfraContext) {
    const dir = serverDir(config, 'sources');
    if (runningPid(dir) !== undefined && (await ready(config))) return;
    for (const source of ['source_a', 'source_b']) mkdirSync(path.join(simulatedFilesDir(config), source), { recursive: true });
    const pid = startDaemon({
      dir,
      command: process.execPath,
      args: ['--import', 'tsx', SERVERS, '--root', simulatedFilesDir(config), '--ftp-port', String(config.fileSimFtpPort), '--http-port', String(config.fileSimHttpPort)],
      cwd: path.dirname(SERVERS),
    });
    await waitUntilReady({ name: 'file source simulators', pid, logDir: dir, timeoutMs: 60_000, ready: () => ready(config) });
  },

  stop: ({ config }) => stopDaemon(serverDir(config, 'sources')),

  async status(config): Promise<ServiceStatus> {
    const pid = runningPid(serverDir(config, 'sources'));
    return {
      name: 'sources',
      address: `ftp://127.0.0.1:${config.fileSimFtpPort} http://127.0.0.1:${config.fileSimHttpPort}`,
      managed: this.managed(config),
      running: await ready(config),
      ...(pid !== undefined ? { pid } : {}),
      notes: [`serving ${simulatedFilesDir(config)} (generate files with: npx lake simulate files …)`],
    };
  },
};
