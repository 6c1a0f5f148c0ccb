/**
 * MinIO as the local S3. Built once with `go install` at a pinned pseudo-version
 * (upstream tags are not semver, so `@latest` would drift) into the cache folder.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { isLocalHost, type Config } from '../../config.ts';
import { createS3Client, ensureBucket } from '../../clients/s3.ts';
import { cachePath, serverDir } from '../paths.ts';
import { requireTool, run, runningPid, startDaemon, stopDaemon, waitUntilReady } from '../process.ts';
import type { InfraContext, LocalService, ServiceStatus } from '../service.ts';

export const MINIO_MODULE = 'github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c';

function minioBinary(config: Config): string {
  return cachePath(config, 'bin', 'minio');
}

function endpoint(config: Config): { host: string; port: number } {
  return { host: config.s3Endpoint.hostname, port: Number(config.s3Endpoint.port || 80) };
}

async function minioReady(config: Config): Promise<boolean> {
  try {
    const res = await fetch(new URL('/minio/health/ready', config.s3Endpoint), { signal: AbortSignal.timeout(1000) });
    return res.ok;
  } catch {
    return false;
  }
}

export const minioService: LocalService = {
  name: 'minio',
  managed: (config) => isLocalHost(config.s3Endpoint.hostname),

  async provision({ config, progress }: InfraContext) {
    if (existsSync(minioBinary(config))) return;
    const go = await requireTool('go', 'to build MinIO', 'Install Go 1.24 or newer (https://go.dev/doc/install).');
    progress(`building MinIO with go install (first time only, about 4-5 minutes on 2 cores) into ${path.dirname(minioBinary(config))}`);
    await run(go, ['install', MINIO_MODULE], {
      what: `go install ${MINIO_MODULE}`,
      env: { ...process.env, GOBIN: path.dirname(minioBinary(config)), GOFLAGS: '-mod=mod' },
      cwd: config.cacheDir,
    });
  },

  async start({ config, progress }: InfraContext) {
    const dir = serverDir(config, 'minio');
    if (!(runningPid(dir) !== undefined && (await minioReady(config)))) {
      const { host, port } = endpoint(config);
      const pid = startDaemon({
        dir,
        command: minioBinary(config),
        args: ['server', path.join(dir, 'data'), '--address', `${host}:${port}`, '--console-address', `${host}:${config.minioConsolePort}`, '--quiet'],
        env: {
          ...process.env,
          MINIO_ROOT_USER: config.s3AccessKeyId,
          MINIO_ROOT_PASSWORD: config.s3SecretAccessKey,
          MINIO_UPDATE: 'off',
        },
      });
      await waitUntilReady({ name: 'MinIO', pid, logDir: dir, timeoutMs: 60_000, ready: () => minioReady(config) });
    }
    const s3 = createS3Client(config);
    try {
      await ensureBucket(s3, config.s3Bucket);
    } finally {
      s3.destroy();
    }
    progress(`bucket ${config.s3Bucket} ready`);
  },

  stop: ({ config }) => stopDaemon(serverDir(config, 'minio')),

  async status(config): Promise<ServiceStatus> {
    const pid = runningPid(serverDir(config, 'minio'));
    return {
      name: 'minio',
      address: config.s3Endpoint.toString(),
      managed: this.managed(config),
      running: await minioReady(config),
      ...(pid !== undefined ? { pid } : {}),
      notes: [`bucket s3://${config.s3Bucket}`, `console http://${config.s3Endpoint.hostname}:${config.minioConsolePort}`],
    };
  },
};
